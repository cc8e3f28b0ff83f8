/**
 * Redis presence store (scaled mode): nothing about a session lives in one node's memory.
 * Keys, under `keyPrefix` (default `truss:presence:`):
 * - `p:<projectId>:z` sorted set: sessionId scored by its expiry (epoch ms);
 * - `p:<projectId>:h` hash: sessionId → `<owner>\n<session JSON>`;
 * - `u:<userId>` sorted set: `<projectId>\n<sessionId>` by expiry (who is online);
 * - `expiry` sorted set: `<projectId>\n<sessionId>` by expiry, what every node's sweeper reads.
 * Each command is one Lua script (one round trip, atomic): a heartbeat is 1 call of 6–8 commands, and a
 * sweep's ZREM answering 1 is what makes exactly one node announce a session's end. The per-project and
 * per-user keys also carry a PEXPIRE of twice the TTL, so a deployment that stops leaves nothing behind.
 * The scripts build key names from the prefix, which a single Redis (not Redis Cluster) allows.
 */
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { ownerOf, type PresenceSession, type PresenceStore, type RemoveResult } from './store.js'

export interface RedisPresenceStoreOptions {
  url: string
  keyPrefix?: string
  /** Idle keys disappear after this long (twice the TTL). */
  keyTtlMs: number
  logger: Logger
}

// KEYS: z, h, expiry, user. ARGV: sessionId, member, owner, json, expiresAt, keyTtlMs.
const TOUCH = `
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old and string.sub(old, 1, #ARGV[3] + 1) ~= ARGV[3] .. '\\n' then return -1 end
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. '\\n' .. ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[2])
  redis.call('PEXPIRE', KEYS[4], ARGV[6])
end
if old then return 0 end
return 1
`

// KEYS: z, h, expiry, user. ARGV: sessionId, member, owner.
const REMOVE = `
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
if string.sub(old, 1, #ARGV[3] + 1) ~= ARGV[3] .. '\\n' then return -1 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[2])
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[4], ARGV[2]) end
return 1
`

// KEYS: z, h. ARGV: now. Drops the expired (lazily) and answers the live sessions' records.
const LIST = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
`

// KEYS: expiry. ARGV: now, limit, prefix. Answers the records of the sessions this call took out.
const SWEEP = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, member in ipairs(due) do
  if redis.call('ZREM', KEYS[1], member) == 1 then
    local nl = string.find(member, '\\n', 1, true)
    local pid = string.sub(member, 1, nl - 1)
    local sid = string.sub(member, nl + 1)
    local h = ARGV[3] .. 'p:' .. pid .. ':h'
    local z = ARGV[3] .. 'p:' .. pid .. ':z'
    local old = redis.call('HGET', h, sid)
    local score = redis.call('ZSCORE', z, sid)
    -- A heartbeat renewed the session in the project's set after this entry was due: keep it.
    if score and tonumber(score) > tonumber(ARGV[1]) then
      redis.call('ZADD', KEYS[1], score, member)
    else
      redis.call('HDEL', h, sid)
      redis.call('ZREM', z, sid)
      if old then
        local owner = string.sub(old, 1, string.find(old, '\\n', 1, true) - 1)
        if owner ~= '' then redis.call('ZREM', ARGV[3] .. 'u:' .. owner, member) end
        table.insert(out, old)
      end
    end
  end
end
return out
`

const ONLINE = `
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('ZCOUNT', key, '(' .. ARGV[1], '+inf')
end
return out
`

export async function createRedisPresenceStore(options: RedisPresenceStoreOptions): Promise<PresenceStore> {
  const prefix = options.keyPrefix ?? 'truss:presence:'
  const redis = new Redis(options.url, { lazyConnect: true, connectionName: 'truss-presence', maxRetriesPerRequest: 3 })
  redis.on('error', (error: Error) => options.logger.warn({ err: error }, 'presence redis connection error'))
  await redis.connect()
  const keys = (projectId: string) => ({ z: `${prefix}p:${projectId}:z`, h: `${prefix}p:${projectId}:h` })
  const member = (projectId: string, sessionId: string): string => `${projectId}\n${sessionId}`
  const userKey = (owner: string): string => `${prefix}u:${owner === '' ? '-' : owner}`
  const expiryKey = `${prefix}expiry`

  return {
    kind: 'redis',

    async touch(session, expiresAt) {
      const { z, h } = keys(session.projectId)
      const owner = ownerOf(session.userId)
      const reply = await redis.eval(
        TOUCH,
        4,
        z,
        h,
        expiryKey,
        userKey(owner),
        session.sessionId,
        member(session.projectId, session.sessionId),
        owner,
        JSON.stringify(session),
        String(expiresAt),
        String(options.keyTtlMs),
      )
      return reply === -1 ? 'taken' : reply === 1 ? 'created' : 'renewed'
    },

    async remove(projectId, sessionId, userId): Promise<RemoveResult> {
      const { z, h } = keys(projectId)
      const owner = ownerOf(userId)
      const reply = await redis.eval(
        REMOVE,
        4,
        z,
        h,
        expiryKey,
        userKey(owner),
        sessionId,
        member(projectId, sessionId),
        owner,
      )
      return reply === -1 ? 'taken' : reply === 1 ? 'removed' : 'absent'
    },

    async list(projectId, now) {
      const { z, h } = keys(projectId)
      const reply = (await redis.eval(LIST, 2, z, h, String(now))) as (string | null)[]
      return reply.flatMap((raw) => (raw === null ? [] : [parseRecord(raw)]))
    },

    async sweep(now, limit) {
      const reply = (await redis.eval(SWEEP, 1, expiryKey, String(now), String(limit), prefix)) as string[]
      return reply.map(parseRecord)
    },

    async online(userIds, now) {
      if (userIds.length === 0) return new Set()
      const reply = (await redis.eval(ONLINE, userIds.length, ...userIds.map(userKey), String(now))) as number[]
      return new Set(userIds.filter((_, i) => (reply[i] ?? 0) > 0))
    },

    async close() {
      await redis.quit().catch(() => redis.disconnect())
    },
  }
}

/** `<owner>\n<json>` → the session. */
function parseRecord(raw: string): PresenceSession {
  return JSON.parse(raw.slice(raw.indexOf('\n') + 1)) as PresenceSession
}
