/**
 * Redis bus for many nodes: one connection for commands, one in subscriber mode (Redis allows only
 * pub/sub commands on a subscribed connection). Messages and values are JSON. Every key and channel
 * carries `keyPrefix`, so several deployments (or test runs) can share one Redis.
 */
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { assertLimit, guardHandler, rateLimitResult, secondsToMs, toJson } from './memory.js'
import { BusClosed, BusConfigError, type Bus, type BusHandler } from './types.js'

export interface RedisBusOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://` for TLS. */
  url: string
  /** Prepended to every key and channel; default `truss:`. */
  keyPrefix?: string
  logger: Logger
  /** How long start-up waits for Redis before failing; default 10 s. */
  connectTimeoutMs?: number
}

/**
 * One fixed window per key: the first hit starts the window (PEXPIRE), later hits only count. Atomic,
 * so a crash can never leave a counter without expiry. Returns [count, ms left in the window].
 */
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return { count, left }
`

interface Topic {
  handlers: Set<(message: unknown, topic: string) => void>
  /** Resolves once Redis confirmed the SUBSCRIBE; later subscribers of the topic wait for it too. */
  ready: Promise<unknown>
}

export async function createRedisBus(options: RedisBusOptions): Promise<Bus> {
  const where = redactedUrl(options.url)
  const prefix = options.keyPrefix ?? 'truss:'
  const { logger } = options
  const commands = new Redis(options.url, {
    lazyConnect: true,
    connectionName: 'truss-bus',
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    // Fail a command after a few reconnect attempts instead of queueing it for ever.
    maxRetriesPerRequest: 3,
  })
  const subscriber = commands.duplicate({ connectionName: 'truss-bus-sub' })
  const lastError = watchErrors([commands, subscriber], logger)
  await connectOrExplain([commands, subscriber], where, lastError)

  const topics = new Map<string, Topic>()
  let closed = false
  const kvKey = (key: string): string => `${prefix}kv:${key}`
  const limitKey = (key: string): string => `${prefix}rl:${key}`
  const channelOf = (topic: string): string => `${prefix}${topic}`

  subscriber.on('message', (channel: string, raw: string) => {
    const topic = channel.slice(prefix.length)
    const entry = topics.get(topic)
    if (!entry || !channel.startsWith(prefix)) return
    let message: unknown
    try {
      message = JSON.parse(raw)
    } catch (error) {
      logger.warn({ err: error, channel }, 'dropped a bus message that is not JSON')
      return
    }
    for (const handler of [...entry.handlers]) handler(message, topic)
  })

  function assertOpen(): void {
    if (closed) throw new BusClosed()
  }

  async function unsubscribe(topic: string, handler: (message: unknown, topic: string) => void): Promise<void> {
    const entry = topics.get(topic)
    if (!entry?.handlers.delete(handler) || entry.handlers.size > 0) return
    topics.delete(topic)
    // Commands on one connection run in order, so a SUBSCRIBE issued after this one wins.
    if (!closed) await subscriber.unsubscribe(channelOf(topic))
  }

  return {
    kind: 'redis',

    async publish(topic, message) {
      assertOpen()
      await commands.publish(channelOf(topic), toJson(message))
    },

    async subscribe(topic: string, handler: BusHandler) {
      assertOpen()
      const guarded = guardHandler(handler, logger)
      let entry = topics.get(topic)
      if (!entry) {
        entry = { handlers: new Set(), ready: subscriber.subscribe(channelOf(topic)) }
        topics.set(topic, entry)
      }
      entry.handlers.add(guarded)
      try {
        await entry.ready
      } catch (error) {
        // Every caller waiting on this SUBSCRIBE gets the error; the next subscribe tries afresh.
        if (topics.get(topic) === entry) topics.delete(topic)
        throw error
      }
      return () => unsubscribe(topic, guarded)
    },

    async get<T>(key: string) {
      assertOpen()
      const json = await commands.get(kvKey(key))
      return json === null ? null : (JSON.parse(json) as T)
    },

    async set(key, value, ttlSeconds) {
      assertOpen()
      const json = toJson(value)
      // PX rather than EX: sub-second TTLs (presence heartbeats, tests) keep their precision.
      if (ttlSeconds === undefined) await commands.set(kvKey(key), json)
      else await commands.set(kvKey(key), json, 'PX', secondsToMs(ttlSeconds, 'ttlSeconds'))
    },

    async del(key) {
      assertOpen()
      await commands.del(kvKey(key))
    },

    async hit(key, limit, windowSeconds) {
      assertOpen()
      assertLimit(limit)
      const windowMs = secondsToMs(windowSeconds, 'windowSeconds')
      const reply = await commands.eval(HIT_SCRIPT, 1, limitKey(key), String(windowMs))
      const [count, msLeft] = parseHitReply(reply)
      return rateLimitResult(count, limit, msLeft, Date.now())
    },

    async ping() {
      assertOpen()
      await Promise.all([commands.ping(), subscriber.ping()])
    },

    async close() {
      if (closed) return
      closed = true
      topics.clear()
      await Promise.allSettled([commands.quit(), subscriber.quit()])
    },
  }
}

function parseHitReply(reply: unknown): [number, number] {
  if (Array.isArray(reply) && typeof reply[0] === 'number' && typeof reply[1] === 'number') {
    return [reply[0], reply[1]]
  }
  throw new Error(`unexpected reply from the rate-limit script: ${JSON.stringify(reply)}`)
}

/** Logs connection errors (ioredis reconnects on its own) and remembers the last one for start-up. */
function watchErrors(clients: Redis[], logger: Logger): () => Error | undefined {
  let last: Error | undefined
  for (const client of clients) {
    client.on('error', (error: Error) => {
      last = error
      logger.warn({ err: error }, 'redis connection error')
    })
  }
  return () => last
}

async function connectOrExplain(clients: Redis[], where: string, lastError: () => Error | undefined): Promise<void> {
  try {
    await Promise.all(clients.map((client) => client.connect()))
  } catch (error) {
    // Without this, ioredis would keep retrying in the background of a process that failed to start.
    for (const client of clients) client.disconnect()
    const cause = lastError() ?? error
    const detail = cause instanceof Error ? cause.message : String(cause)
    throw new BusConfigError('REDIS_URL', `cannot connect to Redis at ${where}; check REDIS_URL (${detail})`, {
      cause,
    })
  }
}

/** The URL without its password, for messages; refuses what is not a Redis URL. */
function redactedUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new BusConfigError('REDIS_URL', 'REDIS_URL is not a valid URL (expected redis://host:6379)')
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new BusConfigError('REDIS_URL', 'REDIS_URL must start with redis:// or rediss://')
  }
  return `${parsed.protocol}//${parsed.hostname}:${parsed.port || '6379'}${parsed.pathname}`
}
