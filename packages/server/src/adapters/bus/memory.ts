/**
 * In-process bus for a single node. The shared state (subscribers, values, rate-limit windows) lives
 * in a `MemoryHub`, which plays the part Redis plays for the Redis bus: buses created on one hub see
 * each other's messages, so tests can run several "nodes" in one process. The clock is injectable so
 * TTLs and windows can be tested without sleeping.
 */
import type { Logger } from 'pino'
import { BusClosed, type Bus, type BusHandler, type RateLimitResult } from './types.js'

/** Expired entries are dropped lazily on read, and swept at most this often on write. */
const SWEEP_INTERVAL_MS = 60_000

interface Subscription {
  active: boolean
  deliver(message: unknown, topic: string): void
}

export interface MemoryHub {
  readonly now: () => number
  publish(topic: string, json: string): void
  addSubscription(topic: string, subscription: Subscription): void
  removeSubscription(topic: string, subscription: Subscription): void
  getValue(key: string): string | null
  setValue(key: string, json: string, ttlMs?: number): void
  deleteValue(key: string): void
  hit(key: string, limit: number, windowMs: number): RateLimitResult
}

export function createMemoryHub(options: { now?: () => number } = {}): MemoryHub {
  const now = options.now ?? Date.now
  const subscriptions = new Map<string, Set<Subscription>>()
  const values = new Map<string, { json: string; expiresAt: number }>()
  const windows = new Map<string, { count: number; resetAt: number }>()
  let lastSweep = now()

  function sweep(): void {
    const at = now()
    if (at - lastSweep < SWEEP_INTERVAL_MS) return
    lastSweep = at
    for (const [key, entry] of values) if (entry.expiresAt <= at) values.delete(key)
    for (const [key, window] of windows) if (window.resetAt <= at) windows.delete(key)
  }

  return {
    now,

    publish(topic, json) {
      // Subscribers at publish time, delivered on a later turn like a network hop; one that
      // unsubscribes before then no longer receives it.
      const targets = [...(subscriptions.get(topic) ?? [])]
      if (targets.length === 0) return
      setImmediate(() => {
        for (const subscription of targets) {
          // Each subscriber parses its own copy, as each Redis subscriber would.
          if (subscription.active) subscription.deliver(JSON.parse(json), topic)
        }
      })
    },

    addSubscription(topic, subscription) {
      const set = subscriptions.get(topic) ?? new Set()
      set.add(subscription)
      subscriptions.set(topic, set)
    },

    removeSubscription(topic, subscription) {
      subscription.active = false
      const set = subscriptions.get(topic)
      set?.delete(subscription)
      if (set?.size === 0) subscriptions.delete(topic)
    },

    getValue(key) {
      const entry = values.get(key)
      if (!entry) return null
      if (entry.expiresAt <= now()) {
        values.delete(key)
        return null
      }
      return entry.json
    },

    setValue(key, json, ttlMs) {
      sweep()
      values.set(key, { json, expiresAt: ttlMs === undefined ? Infinity : now() + ttlMs })
    },

    deleteValue(key) {
      values.delete(key)
    },

    hit(key, limit, windowMs) {
      sweep()
      const at = now()
      let window = windows.get(key)
      if (!window || window.resetAt <= at) {
        window = { count: 0, resetAt: at + windowMs }
        windows.set(key, window)
      }
      window.count += 1
      return rateLimitResult(window.count, limit, window.resetAt - at, at)
    },
  }
}

export interface MemoryBusOptions {
  /** Share one hub between buses to simulate several nodes; each bus gets its own hub otherwise. */
  hub?: MemoryHub
  /** Handler errors are logged here. */
  logger: Logger
}

export function createMemoryBus(options: MemoryBusOptions): Bus {
  const hub = options.hub ?? createMemoryHub()
  const { logger } = options
  const own = new Set<{ topic: string; subscription: Subscription }>()
  let closed = false

  function assertOpen(): void {
    if (closed) throw new BusClosed()
  }

  return {
    kind: 'memory',

    async publish(topic, message) {
      assertOpen()
      hub.publish(topic, toJson(message))
    },

    async subscribe(topic, handler) {
      assertOpen()
      const entry = { topic, subscription: { active: true, deliver: guardHandler(handler, logger) } }
      hub.addSubscription(topic, entry.subscription)
      own.add(entry)
      return async () => {
        hub.removeSubscription(topic, entry.subscription)
        own.delete(entry)
      }
    },

    async get<T>(key: string) {
      assertOpen()
      const json = hub.getValue(key)
      return json === null ? null : (JSON.parse(json) as T)
    },

    async set(key, value, ttlSeconds) {
      assertOpen()
      hub.setValue(key, toJson(value), ttlSeconds === undefined ? undefined : secondsToMs(ttlSeconds, 'ttlSeconds'))
    },

    async del(key) {
      assertOpen()
      hub.deleteValue(key)
    },

    async hit(key, limit, windowSeconds) {
      assertOpen()
      assertLimit(limit)
      return hub.hit(key, limit, secondsToMs(windowSeconds, 'windowSeconds'))
    },

    async ping() {
      assertOpen()
    },

    async close() {
      closed = true
      for (const { topic, subscription } of own) hub.removeSubscription(topic, subscription)
      own.clear()
    },
  }
}

// ---- shared with the Redis bus ----

/** Values cross the bus as JSON, so both buses refuse what JSON cannot carry. */
export function toJson(value: unknown): string {
  const json = JSON.stringify(value)
  if (json === undefined) throw new TypeError('bus values must be JSON-serializable (got undefined or a function)')
  return json
}

export function secondsToMs(seconds: number, name: string): number {
  if (!Number.isFinite(seconds) || seconds <= 0) throw new RangeError(`${name} must be a positive number of seconds`)
  return Math.max(1, Math.round(seconds * 1000))
}

export function assertLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError('limit must be a non-negative integer')
}

export function rateLimitResult(count: number, limit: number, msLeft: number, now: number): RateLimitResult {
  const allowed = count <= limit
  return {
    allowed,
    remaining: Math.max(0, limit - count),
    resetAt: new Date(now + msLeft),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(msLeft / 1000)),
  }
}

/** A throwing (or rejecting) handler must not stop delivery to the others; its error is logged. */
export function guardHandler(handler: BusHandler, logger: Logger): (message: unknown, topic: string) => void {
  const report = (error: unknown, topic: string): void => logger.error({ err: error, topic }, 'bus handler failed')
  return (message, topic) => {
    try {
      const result: unknown = handler(message, topic)
      if (result instanceof Promise) result.catch((error: unknown) => report(error, topic))
    } catch (error) {
      report(error, topic)
    }
  }
}
