/**
 * Every bus event the domain publishes, typed in one place, and the topics they go to. Events are hints sent
 * after a change commits: subscribers re-read the database, so a lost hint delays an update, never loses it.
 * Topics: `project:<id>` for everything about a project; `user:<id>` for a user's project list.
 */
import type { Bus } from './adapters/bus/types.js'
import type { Sql, SqlExecutor } from './adapters/sql/types.js'

export interface EventMap {
  ProjectCreated: { projectId: string; userId: string }
  ProjectUpdated: { projectId: string }
  /** `userIds`: the members at deletion, whose project lists lose it. */
  ProjectDeleted: { projectId: string; userIds: string[] }
  /** A user gained (role set) or lost (role null) access to a project. */
  ProjectRoleChanged: { projectId: string; userId: string; role: string | null; actorId: string | null }
  ModelCreated: { projectId: string; modelId: string }
  ModelUpdated: { projectId: string; modelId: string }
  ModelDeleted: { projectId: string; modelId: string }
  VersionCreated: { projectId: string; modelId: string; versionId: string }
  /** `previousModelId` is set when the version moved to another model. */
  VersionUpdated: { projectId: string; modelId: string; versionId: string; previousModelId?: string }
  VersionDeleted: { projectId: string; modelId: string; versionId: string }
  VersionReceived: { projectId: string; versionId: string; userId: string; sourceApplication: string }
  /** A file upload was queued (`created`) or its conversion status changed. */
  FileUploadUpdated: { projectId: string; fileUploadId: string; created: boolean }
  /** A thread (`threadId` null) or a reply to `threadId` was posted. */
  CommentCreated: { projectId: string; commentId: string; threadId: string | null }
  CommentUpdated: { projectId: string; commentId: string; threadId: string | null }
  /** Archived (resolved), reopened (`archived` false) or deleted. */
  CommentArchived: { projectId: string; commentId: string; threadId: string | null; archived: boolean }
}

export type EventType = keyof EventMap
export type TrussEvent = { [K in EventType]: { type: K } & EventMap[K] }[EventType]
export type EventOf<K extends EventType> = Extract<TrussEvent, { type: K }>

export const projectTopic = (projectId: string): string => `project:${projectId}`
export const userTopic = (userId: string): string => `user:${userId}`

/** The topics an event goes to: its project, and the user whose project list it changes. */
export function topicsOf(event: TrussEvent): string[] {
  const topics = [projectTopic(event.projectId)]
  if (event.type === 'ProjectCreated' || event.type === 'ProjectRoleChanged') topics.push(userTopic(event.userId))
  if (event.type === 'ProjectDeleted') topics.push(...event.userIds.map(userTopic))
  return topics
}

export interface EventLogger {
  warn(obj: object, msg?: string): void
}

/**
 * The bus topic idle job workers listen on (jobs/queue.ts re-exports it): a message there is only a hint
 * to look at the jobs table now.
 */
export const JOBS_TOPIC = 'jobs'

/**
 * Write `events` to the change feed's outbox inside the change's transaction, one row per topic (a rolled-back
 * change writes none). Call it last in the transaction: a row's seq is taken here and becomes visible at
 * commit, so the shorter that window, the shorter other nodes wait on the hole (tailer.ts).
 */
export async function recordEvents(tx: SqlExecutor, events: readonly TrussEvent[]): Promise<void> {
  const topics: string[] = []
  const projects: string[] = []
  const types: string[] = []
  const payloads: string[] = []
  for (const event of events) {
    for (const topic of topicsOf(event)) {
      topics.push(topic)
      projects.push(event.projectId)
      types.push(event.type)
      payloads.push(JSON.stringify(event))
    }
  }
  if (topics.length === 0) return
  await tx.query(
    `INSERT INTO outbox (topic, project_id, type, payload)
     SELECT topic, project_id, type, payload::jsonb
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS e(topic, project_id, type, payload, n)
     ORDER BY n`,
    [topics, projects, types, payloads],
  )
}

/**
 * Run `work` in one transaction that also records the events `eventsOf` derives from its result; returns both,
 * so the caller can `publishEvents` them once committed.
 */
export async function commitWithEvents<T>(
  sql: Pick<Sql, 'transaction'>,
  work: (tx: SqlExecutor) => Promise<T>,
  eventsOf: (result: T) => TrussEvent[],
): Promise<{ result: T; events: TrussEvent[] }> {
  return sql.transaction(async (tx) => {
    const result = await work(tx)
    const events = eventsOf(result)
    await recordEvents(tx, events)
    return { result, events }
  })
}

/**
 * After events were recorded (`recordEvents`) and their change committed: the events on their topics (hints
 * for bus listeners such as `busSubscribe`), then one hint on `JOBS_TOPIC`, which is also the nudge every
 * node's change-feed tailer reads the outbox on (modules/realtime/tailer.ts). The job hint because the change's
 * transaction may have enqueued work (webhook deliveries and preview renders are enqueued by activity
 * sinks, which do not see the commit). A failed publish is logged, not thrown: the change is already
 * durable, subscribers catch up on their next read and workers on their next poll.
 */
export async function publishEvents(
  bus: Pick<Bus, 'publish'> | undefined,
  events: readonly TrussEvent[],
  logger?: EventLogger,
): Promise<void> {
  if (bus === undefined) return
  for (const event of events) {
    for (const topic of topicsOf(event)) {
      try {
        await bus.publish(topic, event)
      } catch (err) {
        logger?.warn({ err, topic, event: event.type }, 'could not publish an event')
      }
    }
  }
  if (events.length === 0) return
  try {
    await bus.publish(JOBS_TOPIC, { kinds: null })
  } catch (err) {
    logger?.warn({ err, topic: JOBS_TOPIC }, 'could not publish a job hint')
  }
}

/** Narrow a message received from the bus to an event (bus payloads are untyped JSON). */
export function isTrussEvent(message: unknown): message is TrussEvent {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string' &&
    typeof (message as { projectId?: unknown }).projectId === 'string'
  )
}

/**
 * The outbox sequence number of an event as the change feed delivered it (modules/realtime/tailer.ts), kept on
 * the event object under a symbol so it never reaches JSON; subscription payloads built from an event carry it
 * on (`withSeqOf`), and the realtime transport reports it to clients that asked (`extensions.truss.seq`).
 */
export const EVENT_SEQ: unique symbol = Symbol('truss.seq')

export function seqOf(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const seq = (value as { [EVENT_SEQ]?: unknown })[EVENT_SEQ]
  return typeof seq === 'number' ? seq : undefined
}

/** `value` marked with `source`'s seq (when it has one); returns `value`. */
export function withSeqOf<T>(value: T, source: unknown): T {
  const seq = seqOf(source)
  if (seq !== undefined && typeof value === 'object' && value !== null) {
    Object.defineProperty(value, EVENT_SEQ, { value: seq, enumerable: false, configurable: true })
  }
  return value
}
