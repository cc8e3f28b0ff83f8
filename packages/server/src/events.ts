/**
 * Every bus event the domain publishes, typed in one place, and the topics they go to. Events are hints sent
 * after a change commits: subscribers re-read the database, so a lost hint delays an update, never loses it.
 * Topics: `project:<id>` for everything about a project; `user:<id>` for a user's project list.
 */
import type { Bus } from './adapters/bus/types.js'

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
 * Publish events after their change committed, then one hint to the job workers: the change's
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
