/**
 * Bus adapter: publish/subscribe between server nodes, key-value with TTL (presence, caches) and
 * fixed-window rate limits. In-process for one node; Redis when `REDIS_URL` is set.
 */
import { pino, type Logger } from 'pino'
import { createMemoryBus } from './memory.js'
import { createRedisBus } from './redis.js'
import type { Bus } from './types.js'

export * from './types.js'
export { createMemoryBus, createMemoryHub, type MemoryBusOptions, type MemoryHub } from './memory.js'
export { createRedisBus, type RedisBusOptions } from './redis.js'

export async function createBus(options: { redisUrl?: string; keyPrefix?: string; logger?: Logger }): Promise<Bus> {
  const logger = options.logger ?? pino({ name: 'bus' })
  if (options.redisUrl) return createRedisBus({ url: options.redisUrl, keyPrefix: options.keyPrefix, logger })
  return createMemoryBus({ logger })
}
