import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createMemoryBus, createMemoryHub, type Bus } from '../../adapters/bus/index.js'
import { createRealtimeHub, SubscriberLagged } from './hub.js'
import { flush } from './test-utils/socket.js'

const logger = pino({ level: 'silent' })

/** A memory bus that counts live bus subscriptions per topic. */
function countingBus(bus: Bus): { bus: Bus; live: Map<string, number> } {
  const live = new Map<string, number>()
  const counted: Bus = {
    ...bus,
    publish: (topic, message) => bus.publish(topic, message),
    async subscribe(topic, handler) {
      const unsubscribe = await bus.subscribe(topic, handler)
      live.set(topic, (live.get(topic) ?? 0) + 1)
      return async () => {
        live.set(topic, (live.get(topic) ?? 0) - 1)
        await unsubscribe()
      }
    },
  }
  return { bus: counted, live }
}

async function collect<T>(iterator: AsyncIterator<T>, count: number): Promise<T[]> {
  const values: T[] = []
  while (values.length < count) {
    const next = await iterator.next()
    if (next.done) break
    values.push(next.value)
  }
  return values
}

describe('realtime hub', () => {
  it('shares one bus subscription per topic between local subscribers and delivers each event to all', async () => {
    const { bus, live } = countingBus(createMemoryBus({ logger }))
    const hub = createRealtimeHub({ bus })
    const a = hub.subscribe('project:p1')
    const b = hub.subscribe('project:p1')
    await Promise.all([a.ready, b.ready])
    expect(live.get('project:p1')).toBe(1)
    expect(hub.isListening('project:p1')).toBe(true)
    expect(hub.stats()).toEqual({ topics: 1, subscribers: 2 })

    await hub.publish('project:p1', { seq: 1 })
    await hub.publish('project:p1', { seq: 2 })
    expect(await collect(a, 2)).toEqual([{ seq: 1 }, { seq: 2 }])
    expect(await collect(b, 2)).toEqual([{ seq: 1 }, { seq: 2 }])
  })

  it('leaves the bus topic when the last local subscriber leaves', async () => {
    const { bus, live } = countingBus(createMemoryBus({ logger }))
    const hub = createRealtimeHub({ bus })
    const a = hub.subscribe('t')
    const b = hub.subscribe('t')
    await a.ready
    await a.return()
    await flush()
    expect(live.get('t')).toBe(1)
    await b.return()
    await flush()
    expect(live.get('t')).toBe(0)
    expect(hub.stats()).toEqual({ topics: 0, subscribers: 0 })
    expect(hub.isListening('t')).toBe(false)
    // A new subscriber subscribes afresh.
    const c = hub.subscribe('t')
    await c.ready
    expect(live.get('t')).toBe(1)
  })

  it('ends a pending next() when the subscriber returns', async () => {
    const hub = createRealtimeHub({ bus: createMemoryBus({ logger }) })
    const a = hub.subscribe('t')
    const pending = a.next()
    await a.return()
    await expect(pending).resolves.toEqual({ value: undefined, done: true })
    await expect(a.next()).resolves.toEqual({ value: undefined, done: true })
  })

  it('delivers an event published on one node to subscribers on another', async () => {
    const shared = createMemoryHub()
    const busA = createMemoryBus({ logger, hub: shared })
    const busB = createMemoryBus({ logger, hub: shared })
    const hubA = createRealtimeHub({ bus: busA })
    const hubB = createRealtimeHub({ bus: busB })
    const onB = hubB.subscribe('project:p1')
    const onA = hubA.subscribe('project:p1')
    await Promise.all([onA.ready, onB.ready])
    await hubA.publish('project:p1', { id: 'v1' })
    expect(await collect(onB, 1)).toEqual([{ id: 'v1' }])
    expect(await collect(onA, 1)).toEqual([{ id: 'v1' }])
  })

  it('drops a subscriber that lags past its queue bound and keeps serving the others', async () => {
    const hub = createRealtimeHub({ bus: createMemoryBus({ logger }), maxQueuedEvents: 3 })
    const slow = hub.subscribe('t')
    const fast = hub.subscribe('t')
    await slow.ready
    const received: unknown[] = []
    const reading = (async () => {
      for await (const event of fast) {
        received.push(event)
        if (received.length === 5) break
      }
    })()
    for (let seq = 1; seq <= 5; seq += 1) await hub.publish('t', { seq })
    await flush()
    await reading
    expect(received).toHaveLength(5)
    // The three queued events are discarded with the subscriber; it learns why.
    await expect(slow.next()).rejects.toBeInstanceOf(SubscriberLagged)
    await expect(slow.next()).resolves.toEqual({ value: undefined, done: true })
    expect(hub.stats().subscribers).toBe(0)
  })

  it('ends every subscription on close', async () => {
    const { bus, live } = countingBus(createMemoryBus({ logger }))
    const hub = createRealtimeHub({ bus })
    const a = hub.subscribe('t1')
    const b = hub.subscribe('t2')
    await Promise.all([a.ready, b.ready])
    const pending = a.next()
    await hub.close()
    await expect(pending).resolves.toMatchObject({ done: true })
    await expect(b.next()).resolves.toMatchObject({ done: true })
    expect(live.get('t1')).toBe(0)
    expect(live.get('t2')).toBe(0)
    await expect(hub.subscribe('t3').next()).resolves.toMatchObject({ done: true })
  })
})
