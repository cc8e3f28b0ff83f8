/** One contract for both presence stores: in process, and Redis on 127.0.0.1:6379 (a key prefix per run). */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { createMemoryBus } from '../../adapters/bus/memory.js'
import { createMemoryPresenceStore } from './memory.js'
import { createRedisPresenceStore } from './redis.js'
import { createPresenceService, isViewerActivityEvent, presenceTopic, type ViewerActivityEvent } from './service.js'
import type { PresenceSession, PresenceStore } from './store.js'

const REDIS_URL = 'redis://127.0.0.1:6379'
const silent = pino({ level: 'silent' })
const prefix = `truss-test:${randomBytes(6).toString('hex')}:presence:`
const opened: PresenceStore[] = []

afterAll(async () => {
  for (const store of opened) await store.close()
  const redis = new Redis(REDIS_URL)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  await redis.quit()
})

const session = (over: Partial<PresenceSession> = {}): PresenceSession => ({
  projectId: `p${randomBytes(4).toString('hex')}`,
  sessionId: 's1',
  resourceIdString: 'm1',
  userId: 'u1',
  userName: 'Ada',
  state: { ui: { camera: { position: [1, 2, 3], target: [0, 0, 0] }, selection: ['o1'] } },
  lastSeenAt: 1000,
  ...over,
})

function presenceStoreContract(name: string, make: () => Promise<PresenceStore>) {
  describe(`presence store contract: ${name}`, () => {
    it('lists a session until its TTL passes, and a heartbeat renews it', async () => {
      const store = await make()
      const s = session()
      expect(await store.touch(s, 2000)).toBe('created')
      expect((await store.list(s.projectId, 1999)).map((x) => x.sessionId)).toEqual(['s1'])
      expect(await store.touch({ ...s, lastSeenAt: 1500 }, 3000)).toBe('renewed')
      expect(await store.list(s.projectId, 2500)).toEqual([{ ...s, lastSeenAt: 1500 }])
      expect(await store.list(s.projectId, 3000)).toEqual([])
    })

    it('sweeps an expired session exactly once, however many sweep at once', async () => {
      const store = await make()
      const s = session()
      await store.touch(s, 2000)
      await store.touch({ ...s, sessionId: 's2' }, 9000)
      expect(await store.sweep(1999, 100)).not.toContainEqual(expect.objectContaining({ projectId: s.projectId }))
      const swept = await Promise.all([store.sweep(2000, 100), store.sweep(2000, 100), store.sweep(2000, 100)])
      const mine = swept.flat().filter((x) => x.projectId === s.projectId)
      expect(mine.map((x) => x.sessionId)).toEqual(['s1'])
      expect((await store.list(s.projectId, 2000)).map((x) => x.sessionId)).toEqual(['s2'])
    })

    it("refuses another user's session id and removes only the owner's", async () => {
      const store = await make()
      const s = session()
      await store.touch(s, 5000)
      expect(await store.touch({ ...s, userId: 'u2' }, 5000)).toBe('taken')
      expect(await store.remove(s.projectId, 's1', 'u2')).toBe('taken')
      expect(await store.remove(s.projectId, 's1', 'u1')).toBe('removed')
      expect(await store.remove(s.projectId, 's1', 'u1')).toBe('absent')
      expect(await store.list(s.projectId, 1000)).toEqual([])
      expect(await store.sweep(10_000, 100)).not.toContainEqual(expect.objectContaining({ projectId: s.projectId }))
    })

    it('tells which users are online (a live session in any project)', async () => {
      const store = await make()
      const tag = randomBytes(3).toString('hex')
      await store.touch(session({ userId: `a${tag}` }), 5000)
      await store.touch(session({ userId: null, sessionId: 'anon' }), 5000)
      await store.touch(session({ userId: `b${tag}` }), 2000)
      expect([...(await store.online([`a${tag}`, `b${tag}`, `c${tag}`], 3000))]).toEqual([`a${tag}`])
    })
  })
}

presenceStoreContract('memory', () => Promise.resolve(createMemoryPresenceStore()))
presenceStoreContract('redis', async () => {
  const store = await createRedisPresenceStore({ url: REDIS_URL, keyPrefix: prefix, keyTtlMs: 60_000, logger: silent })
  opened.push(store)
  return store
})

describe('presence service', () => {
  it('publishes heartbeats, and one DISCONNECTED when the TTL passes without one (injected clock)', async () => {
    let now = 10_000
    const bus = createMemoryBus({ logger: silent })
    const store = createMemoryPresenceStore()
    const presence = createPresenceService({ store, bus, ttlSeconds: 2, logger: silent, now: () => now })
    const seen: ViewerActivityEvent[] = []
    await bus.subscribe(presenceTopic('p1'), (m) => void (isViewerActivityEvent(m) && seen.push(m)))
    const input = { projectId: 'p1', resourceIdString: 'm1', sessionId: 's1', userId: 'u1', userName: 'Ada' }
    await presence.broadcast({ ...input, status: 'VIEWING', state: { ui: { selection: [] } } })
    now += 1500
    await presence.broadcast({ ...input, status: 'VIEWING', state: { ui: { selection: ['o1'] } } })
    now += 1999
    expect(await presence.sweep()).toBe(0)
    expect((await presence.present('p1')).length).toBe(1)
    now += 1
    expect(await presence.sweep()).toBe(1)
    expect(await presence.sweep()).toBe(0)
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen.map((e) => e.message.status)).toEqual(['VIEWING', 'VIEWING', 'DISCONNECTED'])
    expect(seen[2]!.message).toMatchObject({ sessionId: 's1', userId: 'u1', state: null })
    expect(await presence.present('p1')).toEqual([])
    await presence.close()
    await bus.close()
  })
})
