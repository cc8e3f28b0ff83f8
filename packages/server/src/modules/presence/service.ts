/**
 * Presence: who views which project, model and version now (Speckle's viewer-activity broadcast). A viewer
 * heartbeats its state (camera, selection) every third of the TTL; each heartbeat renews its session in the
 * store and is published on the project's presence topic, so subscribers on every node receive it. A session
 * without a heartbeat for `ttlSeconds` is swept, and its end is published once (DISCONNECTED), by whichever
 * node's sweeper took it out of the store. Callers authorize; this service trusts its inputs.
 */
import type { Logger } from 'pino'
import type { Bus } from '../../adapters/bus/types.js'
import { Forbidden } from '../../errors.js'
import type { JsonObject, PresenceSession, PresenceStore } from './store.js'

export type ViewerActivityStatus = 'VIEWING' | 'DISCONNECTED'

/** Speckle's `ViewerUserActivityMessage`, as published on the bus. */
export interface ViewerActivityMessage {
  sessionId: string
  userId: string | null
  userName: string
  status: ViewerActivityStatus
  state: JsonObject | null
  resourceIdString: string
  lastSeenAt: string
}

/** What the presence topic carries (`type` and `projectId` make it read as a change-feed event). */
export interface ViewerActivityEvent {
  type: 'ViewerUserActivity'
  projectId: string
  message: ViewerActivityMessage
}

export const presenceTopic = (projectId: string): string => `presence:${projectId}`

export function isViewerActivityEvent(value: unknown): value is ViewerActivityEvent {
  const event = value as Partial<ViewerActivityEvent> | null
  return (
    event?.type === 'ViewerUserActivity' && typeof event.projectId === 'string' && typeof event.message === 'object'
  )
}

export interface BroadcastInput {
  projectId: string
  resourceIdString: string
  sessionId: string
  userId: string | null
  userName: string
  status: ViewerActivityStatus
  state: JsonObject | null
}

export interface PresenceService {
  readonly ttlSeconds: number
  /** Renew (VIEWING) or end (DISCONNECTED) a session and tell the project's subscribers. */
  broadcast(input: BroadcastInput): Promise<void>
  /** The project's live sessions. */
  present(projectId: string): Promise<PresenceSession[]>
  /** Which of `userIds` have a live session anywhere. */
  online(userIds: readonly string[]): Promise<Set<string>>
  /** Take the expired sessions out and publish their DISCONNECTED; returns how many this node ended. */
  sweep(): Promise<number>
  /** Sweep on a timer (every quarter TTL, between 0.1 and 5 s). */
  start(): void
  /** Stop the timer (the store is closed by its owner). */
  close(): Promise<void>
}

export interface PresenceServiceDeps {
  store: PresenceStore
  bus: Pick<Bus, 'publish'>
  ttlSeconds: number
  logger: Logger
  now?: () => number
  /** Sessions one sweep takes out at most; the next sweep takes the rest. */
  sweepBatch?: number
}

export function sweepIntervalMs(ttlSeconds: number): number {
  return Math.min(5_000, Math.max(100, (ttlSeconds * 1000) / 4))
}

export function createPresenceService(deps: PresenceServiceDeps): PresenceService {
  const { store, bus, logger, ttlSeconds } = deps
  const now = deps.now ?? Date.now
  const ttlMs = Math.round(ttlSeconds * 1000)
  const batch = deps.sweepBatch ?? 500
  let timer: NodeJS.Timeout | undefined
  let sweeping: Promise<number> | null = null

  const publish = (projectId: string, message: ViewerActivityMessage): Promise<void> => {
    const event: ViewerActivityEvent = { type: 'ViewerUserActivity', projectId, message }
    return bus.publish(presenceTopic(projectId), event)
  }

  async function sweepOnce(): Promise<number> {
    let ended = 0
    while (true) {
      const expired = await store.sweep(now(), batch)
      for (const session of expired) {
        await publish(session.projectId, { ...messageOf(session), status: 'DISCONNECTED', state: null }).catch(
          (err: unknown) => logger.warn({ err, projectId: session.projectId }, 'could not publish a presence expiry'),
        )
      }
      ended += expired.length
      if (expired.length < batch) return ended
    }
  }

  function sweep(): Promise<number> {
    // One sweep at a time per node; a timer tick during a slow sweep joins it.
    sweeping ??= sweepOnce().finally(() => (sweeping = null))
    return sweeping
  }

  return {
    ttlSeconds,

    async broadcast(input) {
      const at = now()
      const session: PresenceSession = {
        projectId: input.projectId,
        sessionId: input.sessionId,
        resourceIdString: input.resourceIdString,
        userId: input.userId,
        userName: input.userName,
        state: input.status === 'VIEWING' ? input.state : null,
        lastSeenAt: at,
      }
      const result =
        input.status === 'VIEWING'
          ? await store.touch(session, at + ttlMs)
          : await store.remove(input.projectId, input.sessionId, input.userId)
      if (result === 'taken') throw new Forbidden('This viewer session belongs to another user')
      await publish(input.projectId, { ...messageOf(session), status: input.status })
    },

    present: (projectId) => store.list(projectId, now()),
    online: (userIds) => store.online(userIds, now()),

    sweep,

    start() {
      if (timer) return
      timer = setInterval(() => {
        sweep().catch((err: unknown) => logger.warn({ err }, 'presence sweep failed'))
      }, sweepIntervalMs(ttlSeconds))
      timer.unref()
    },

    async close() {
      clearInterval(timer)
      timer = undefined
      await sweeping?.catch(() => undefined)
    },
  }
}

export function messageOf(session: PresenceSession): ViewerActivityMessage {
  return {
    sessionId: session.sessionId,
    userId: session.userId,
    userName: session.userName,
    status: 'VIEWING',
    state: session.state,
    resourceIdString: session.resourceIdString,
    lastSeenAt: new Date(session.lastSeenAt).toISOString(),
  }
}
