/**
 * Presence store: the live viewer sessions, each renewed by its heartbeat and gone when its TTL passes
 * without one. Two implementations with one contract (store.contract.test.ts): in-process (`memory.ts`,
 * the embedded default) and Redis (`redis.ts`, when `REDIS_URL` is set), so in scaled mode no session lives
 * in one node's memory. Time is passed in (`now`, ms), so expiry is tested without sleeping.
 */

export type JsonObject = Record<string, unknown>

/** One browser tab (or connector) viewing a project's resources. */
export interface PresenceSession {
  projectId: string
  /** Chosen by the client, one per tab; unique within a project. */
  sessionId: string
  /** What the session views (Speckle's resource id string, e.g. `modelId@versionId`); '' is the project page. */
  resourceIdString: string
  /** Null for an anonymous viewer of a public project. */
  userId: string | null
  userName: string
  /** Speckle's serialized viewer state (`ui.camera`, `ui.selection`, …), or null. */
  state: JsonObject | null
  /** Epoch ms of the last heartbeat. */
  lastSeenAt: number
}

/** `taken`: another user's session holds this id (a session belongs to the user who started it). */
export type TouchResult = 'created' | 'renewed' | 'taken'
export type RemoveResult = 'removed' | 'absent' | 'taken'

export interface PresenceStore {
  readonly kind: 'memory' | 'redis'
  /** Create or renew a session until `expiresAt` (epoch ms). */
  touch(session: PresenceSession, expiresAt: number): Promise<TouchResult>
  /** End a session of `userId` (null: anonymous) at once. */
  remove(projectId: string, sessionId: string, userId: string | null): Promise<RemoveResult>
  /** The project's sessions live at `now`. */
  list(projectId: string, now: number): Promise<PresenceSession[]>
  /**
   * Take up to `limit` sessions whose TTL passed by `now` out of the store and return them. A session is
   * returned to exactly one caller, however many nodes sweep at once: only that one announces its end.
   */
  sweep(now: number, limit: number): Promise<PresenceSession[]>
  /** Which of `userIds` have any live session (in any project) at `now`. */
  online(userIds: readonly string[], now: number): Promise<Set<string>>
  close(): Promise<void>
}

/** The owner key a session is stored under: the user id, '' for anonymous sessions. */
export const ownerOf = (userId: string | null): string => userId ?? ''
