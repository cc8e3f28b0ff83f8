/**
 * Presence module: live viewer sessions with heartbeats and TTLs (`service.ts`), kept in process or in Redis
 * (`store.ts`, `memory.ts`, `redis.ts`), and Speckle's viewer-activity GraphQL (`graphql.ts`).
 */
import type { Logger } from 'pino'
import { createMemoryPresenceStore } from './memory.js'
import { createRedisPresenceStore } from './redis.js'
import type { PresenceStore } from './store.js'

export * from './store.js'
export * from './service.js'
export { createMemoryPresenceStore } from './memory.js'
export { createRedisPresenceStore } from './redis.js'

/** Redis when `redisUrl` is set (as the bus), else in process. */
export function createPresenceStore(options: {
  redisUrl?: string
  ttlSeconds: number
  keyPrefix?: string
  logger: Logger
}): Promise<PresenceStore> {
  if (!options.redisUrl) return Promise.resolve(createMemoryPresenceStore())
  return createRedisPresenceStore({
    url: options.redisUrl,
    keyPrefix: options.keyPrefix,
    keyTtlMs: Math.max(1000, Math.round(options.ttlSeconds * 2000)),
    logger: options.logger,
  })
}
