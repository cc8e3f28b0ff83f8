/**
 * One contract for every bus, run against the in-process bus (two buses on one hub, with a fake
 * clock) and the Redis bus (two connection pairs on redis://127.0.0.1:6379, a fresh key prefix per
 * run, real time).
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BusClosed, BusConfigError, createBus, createMemoryBus, createMemoryHub, type Bus } from './index.js'

const silent = pino({ level: 'silent' })
const REDIS_URL = 'redis://127.0.0.1:6379'

export interface BusContractOptions {
  /** A new bus on the same backing store as the others: another server node. */
  makeNode: () => Promise<Bus>
  /** Let `ms` pass: a real sleep for Redis, a clock step for a fake clock. */
  wait: (ms: number) => Promise<void>
}

export function busContract(name: string, { makeNode, wait }: BusContractOptions): void {
  describe(`bus contract: ${name}`, () => {
    let a: Bus
    let b: Bus
    // Unique names per test: the nodes are shared between tests.
    const unique = (label: string): string => `${label}:${randomUUID()}`

    beforeAll(async () => {
      ;[a, b] = await Promise.all([makeNode(), makeNode()])
    })
    afterAll(async () => {
      await Promise.all([a?.close(), b?.close()])
    })

    it('delivers a message to every subscriber of the topic and to no other topic', async () => {
      const topic = unique('project')
      const other = unique('other')
      const first = collect()
      const second = collect()
      const wrong = collect()
      await a.subscribe(topic, first.handler)
      await a.subscribe(topic, second.handler)
      await a.subscribe(other, wrong.handler)
      await b.publish(topic, { versionId: 'v1', n: 1 })
      await b.publish(topic, { versionId: 'v2', n: 2 })
      expect(await first.next(2)).toEqual([
        { message: { versionId: 'v1', n: 1 }, topic },
        { message: { versionId: 'v2', n: 2 }, topic },
      ])
      expect(await second.next(2)).toHaveLength(2)
      // Messages from one publisher arrive in order: had `other` received anything, it would be here.
      await b.publish(other, 'marker')
      expect(await wrong.next(1)).toEqual([{ message: 'marker', topic: other }])
    })

    it('stops delivery to an unsubscribed handler and keeps it for the others', async () => {
      const topic = unique('thread')
      const leaving = collect()
      const staying = collect()
      const unsubscribe = await a.subscribe(topic, leaving.handler)
      await a.subscribe(topic, staying.handler)
      await b.publish(topic, 1)
      await leaving.next(1)
      await unsubscribe()
      await b.publish(topic, 2)
      expect((await staying.next(2)).map((m) => m.message)).toEqual([1, 2])
      expect(leaving.received.map((m) => m.message)).toEqual([1])
    })

    it('lets two nodes see each other’s messages', async () => {
      const topic = unique('presence')
      const onA = collect()
      const onB = collect()
      await a.subscribe(topic, onA.handler)
      await b.subscribe(topic, onB.handler)
      await a.publish(topic, { from: 'a' })
      await b.publish(topic, { from: 'b' })
      expect((await onA.next(2)).map((m) => m.message)).toEqual([{ from: 'a' }, { from: 'b' }])
      expect((await onB.next(2)).map((m) => m.message)).toEqual([{ from: 'a' }, { from: 'b' }])
    })

    it('keeps delivering to other handlers when one throws or rejects', async () => {
      const topic = unique('fragile')
      const healthy = collect()
      await a.subscribe(topic, () => {
        throw new Error('handler bug')
      })
      await a.subscribe(topic, async () => {
        throw new Error('async handler bug')
      })
      await a.subscribe(topic, healthy.handler)
      await b.publish(topic, 'still here')
      expect(await healthy.next(1)).toEqual([{ message: 'still here', topic }])
    })

    it('refuses a message JSON cannot carry', async () => {
      await expect(a.publish(unique('t'), undefined)).rejects.toBeInstanceOf(TypeError)
    })

    it('gets, sets, overwrites and deletes JSON values shared by all nodes', async () => {
      const key = unique('cache')
      expect(await a.get(key)).toBeNull()
      await a.set(key, { user: 'u1', roles: ['owner'], n: 1.5, none: null })
      expect(await b.get(key)).toEqual({ user: 'u1', roles: ['owner'], n: 1.5, none: null })
      await b.set(key, 'replaced')
      expect(await a.get<string>(key)).toBe('replaced')
      await a.del(key)
      expect(await b.get(key)).toBeNull()
      await expect(a.del(key)).resolves.toBeUndefined()
    })

    it('refuses a TTL that is not a positive number of seconds', async () => {
      await expect(a.set(unique('k'), 1, 0)).rejects.toBeInstanceOf(RangeError)
      await expect(a.set(unique('k'), 1, -1)).rejects.toBeInstanceOf(RangeError)
      await expect(a.hit(unique('k'), 1, 0)).rejects.toBeInstanceOf(RangeError)
      await expect(a.hit(unique('k'), 1.5, 1)).rejects.toBeInstanceOf(RangeError)
    })

    it('expires a value after its TTL and keeps values without one', async () => {
      const short = unique('presence')
      const lasting = unique('setting')
      const renewed = unique('renewed')
      await a.set(short, { online: true }, 1)
      await a.set(lasting, 'kept')
      await a.set(renewed, 'ttl', 1)
      await a.set(renewed, 'no ttl any more')
      expect(await b.get(short)).toEqual({ online: true })
      await wait(1200)
      expect(await b.get(short)).toBeNull()
      expect(await b.get(lasting)).toBe('kept')
      expect(await b.get(renewed)).toBe('no ttl any more')
      await a.del(lasting)
      await a.del(renewed)
    })

    it('allows `limit` hits per window, then refuses until the window resets', async () => {
      const key = unique('limit')
      const started = Date.now()
      for (const remaining of [2, 1, 0]) {
        expect(await a.hit(key, 3, 1)).toMatchObject({ allowed: true, remaining, retryAfterSeconds: 0 })
      }
      // Another node counts against the same window.
      const refused = await b.hit(key, 3, 1)
      expect(refused).toMatchObject({ allowed: false, remaining: 0 })
      expect(refused.retryAfterSeconds).toBeGreaterThan(0)
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(1)
      expect(refused.resetAt.getTime()).toBeGreaterThan(started)
      expect((await a.hit(unique('limit'), 3, 1)).allowed).toBe(true)
      await wait(1200)
      expect(await a.hit(key, 3, 1)).toMatchObject({ allowed: true, remaining: 2, retryAfterSeconds: 0 })
    })

    it('answers ping', async () => {
      await expect(a.ping()).resolves.toBeUndefined()
    })

    it('closes: stops delivery to the closed node and refuses further calls', async () => {
      const node = await makeNode()
      const topic = unique('closing')
      const onClosed = collect()
      const onOpen = collect()
      await node.subscribe(topic, onClosed.handler)
      await a.subscribe(topic, onOpen.handler)
      await node.close()
      await node.close()
      await b.publish(topic, 'after close')
      await onOpen.next(1)
      expect(onClosed.received).toEqual([])
      await expect(node.publish(topic, 1)).rejects.toBeInstanceOf(BusClosed)
      await expect(node.get('k')).rejects.toBeInstanceOf(BusClosed)
      await expect(node.ping()).rejects.toBeInstanceOf(BusClosed)
    })
  })
}

// ---- helpers ----

interface Received {
  message: unknown
  topic: string
}

/** A handler that records what it gets; `next(n)` waits (bounded) until `n` messages arrived. */
function collect(timeoutMs = 2000) {
  const received: Received[] = []
  let wake: (() => void) | undefined
  return {
    received,
    handler: (message: unknown, topic: string) => {
      received.push({ message, topic })
      wake?.()
    },
    async next(count: number): Promise<Received[]> {
      const deadline = Date.now() + timeoutMs
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} messages, got ${received.length}`)
        await new Promise<void>((resolve) => {
          wake = resolve
          setTimeout(resolve, 20)
        })
      }
      return received.slice(0, count)
    },
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

// ---- the in-process bus, on a fake clock ----

let fakeNow = Date.now()
const hub = createMemoryHub({ now: () => fakeNow })
busContract('memory', {
  makeNode: async () => createMemoryBus({ hub, logger: silent }),
  wait: async (ms) => {
    fakeNow += ms
  },
})

describe('memory bus', () => {
  it('delivers on a later turn, never inside publish', async () => {
    const bus = await createBus({ logger: silent })
    const seen = collect()
    await bus.subscribe('t', seen.handler)
    await bus.publish('t', 1)
    expect(seen.received).toEqual([])
    await seen.next(1)
    await bus.close()
  })

  it('keeps buses on different hubs apart', async () => {
    const [one, two] = [await createBus({ logger: silent }), await createBus({ logger: silent })]
    const seen = collect()
    await two.subscribe('t', seen.handler)
    await one.set('k', 1)
    await one.publish('t', 'not for two')
    await two.publish('t', 'for two')
    expect((await seen.next(1)).map((m) => m.message)).toEqual(['for two'])
    expect(await two.get('k')).toBeNull()
    await Promise.all([one.close(), two.close()])
  })

  it('hands each subscriber its own copy of a message', async () => {
    const bus = await createBus({ logger: silent })
    const original = { list: [1] }
    const first = collect()
    const second = collect()
    await bus.subscribe('t', (message) => {
      ;(message as { list: number[] }).list.push(2)
      first.handler(message, 't')
    })
    await bus.subscribe('t', second.handler)
    await bus.publish('t', original)
    await first.next(1)
    expect((await second.next(1))[0].message).toEqual({ list: [1] })
    expect(original).toEqual({ list: [1] })
    await bus.close()
  })
})

// ---- the Redis bus, on a real Redis ----

// A fresh prefix per run: parallel runs and other suites on the same Redis do not collide.
const keyPrefix = `truss-test:${randomUUID()}:`
busContract('redis', {
  makeNode: () => createBus({ redisUrl: REDIS_URL, keyPrefix, logger: silent }),
  wait: sleep,
})

describe('redis bus', () => {
  let admin: Redis

  beforeAll(async () => {
    admin = new Redis(REDIS_URL)
  })
  afterAll(async () => {
    // Clean up everything this run wrote, then check nothing is left.
    for (const key of await keysWithPrefix(admin, keyPrefix)) await admin.del(key)
    expect(await keysWithPrefix(admin, keyPrefix)).toEqual([])
    await admin.quit()
  })

  it('stores keys and channels under its key prefix', async () => {
    // A prefix of its own, so keys the contract left to expire do not show up here.
    const own = `${keyPrefix}own:`
    const bus = await createBus({ redisUrl: REDIS_URL, keyPrefix: own, logger: silent })
    await bus.set('prefixed', 1)
    await bus.hit('prefixed', 5, 60)
    expect((await keysWithPrefix(admin, own)).sort()).toEqual([`${own}kv:prefixed`, `${own}rl:prefixed`])
    const seen = collect()
    await bus.subscribe('raw', seen.handler)
    await admin.publish(`${own}raw`, JSON.stringify({ from: 'outside' }))
    expect(await seen.next(1)).toEqual([{ message: { from: 'outside' }, topic: 'raw' }])
    await bus.close()
  })

  it('drops a message that is not JSON and keeps delivering', async () => {
    const bus = await createBus({ redisUrl: REDIS_URL, keyPrefix, logger: silent })
    const seen = collect()
    await bus.subscribe('mixed', seen.handler)
    await admin.publish(`${keyPrefix}mixed`, 'not json {')
    await admin.publish(`${keyPrefix}mixed`, '"json"')
    expect((await seen.next(1)).map((m) => m.message)).toEqual(['json'])
    await bus.close()
  })

  it('names REDIS_URL for a malformed URL without echoing the password', async () => {
    const error = await createBus({ redisUrl: 'http://:sekret-value@127.0.0.1', logger: silent }).catch((e) => e)
    expect(error).toBeInstanceOf(BusConfigError)
    expect((error as BusConfigError).variable).toBe('REDIS_URL')
    expect((error as Error).message).not.toContain('sekret-value')
  })

  it('names REDIS_URL when Redis cannot be reached, without echoing the password', async () => {
    const error = await createBus({ redisUrl: 'redis://:sekret-value@127.0.0.1:9', logger: silent }).catch((e) => e)
    expect(error).toBeInstanceOf(BusConfigError)
    expect((error as Error).message).toContain('REDIS_URL')
    expect((error as Error).message).toContain('redis://127.0.0.1:9')
    expect((error as Error).message).not.toContain('sekret-value')
  })
})

async function keysWithPrefix(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    keys.push(...batch)
    cursor = next
  } while (cursor !== '0')
  return keys
}
