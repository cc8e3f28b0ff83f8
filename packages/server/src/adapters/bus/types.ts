/**
 * Bus interface: publish/subscribe between server nodes, a key-value store with TTL (presence,
 * caches), and rate limits. In-process for one node; Redis for many.
 */

export type BusHandler = (message: unknown, topic: string) => void

export interface RateLimitResult {
  allowed: boolean
  /** Requests left in the window after this one. */
  remaining: number
  /** When the window resets. */
  resetAt: Date
  /** Seconds to wait before retrying (0 when allowed). */
  retryAfterSeconds: number
}

export interface Bus {
  readonly kind: 'memory' | 'redis'
  /** Publish a JSON-serializable message to every subscriber of `topic` on every node. */
  publish(topic: string, message: unknown): Promise<void>
  /** Subscribe; resolves once the subscription is active. Returns the unsubscribe function. */
  subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>>
  /** Key-value with optional TTL in seconds. Values are JSON-serializable. */
  get<T = unknown>(key: string): Promise<T | null>
  set(key: string, value: unknown, ttlSeconds?: number): Promise<void>
  del(key: string): Promise<void>
  /**
   * Count one hit against `key` in a fixed window of `windowSeconds`; allowed while the count is
   * at most `limit`.
   */
  hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitResult>
  ping(): Promise<void>
  close(): Promise<void>
}

/** The bus configuration is unusable; `variable` names the setting to fix. */
export class BusConfigError extends Error {
  readonly code = 'CONFIG'
  constructor(
    readonly variable: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'BusConfigError'
  }
}

/** A call on a bus after `close()`. */
export class BusClosed extends Error {
  readonly code = 'UNAVAILABLE'
  constructor() {
    super('the bus is closed')
    this.name = 'BusClosed'
  }
}
