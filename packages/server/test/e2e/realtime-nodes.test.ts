/**
 * Two nodes, each with its own Fastify server, gateway, hub and Redis bus (one Redis, a key prefix per
 * test): an event published on node A reaches subscribers on node B. Needs Redis on 127.0.0.1:6379.
 */
import { randomBytes } from 'node:crypto'
import { createClient } from 'graphql-ws'
import { Redis } from 'ioredis'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { createBus, type Bus } from '../../src/adapters/bus/index.js'
import { RawClient, silent, startNode, VERSIONS, type Node } from './realtime-harness.js'

const REDIS_URL = 'redis://127.0.0.1:6379'
let prefix: string
let buses: Bus[] = []
let nodes: Node[] = []
const cleanups: Array<() => void> = []

beforeEach(async () => {
  prefix = `truss-test:${randomBytes(6).toString('hex')}:`
  buses = [
    await createBus({ redisUrl: REDIS_URL, keyPrefix: prefix, logger: silent }),
    await createBus({ redisUrl: REDIS_URL, keyPrefix: prefix, logger: silent }),
  ]
  nodes = [await startNode(buses[0]!), await startNode(buses[1]!)]
})

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup()
  for (const node of nodes) await node.close()
  for (const bus of buses) await bus.close()
  // Pub/sub leaves no keys; sweep the prefix anyway so a failed run leaves nothing behind.
  const redis = new Redis(REDIS_URL)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  await redis.quit()
})

describe('realtime across two nodes on one Redis', () => {
  it('delivers an event published on node A to a legacy subscriber on node B and a modern one on node A', async () => {
    const [a, b] = nodes as [Node, Node]
    const legacy = new RawClient(b.wsUrl)
    cleanups.push(() => legacy.close())
    expect(await legacy.init({ Authorization: 'Bearer good' })).toEqual({ type: 'connection_ack' })
    legacy.send({ type: 'start', id: '1', payload: { query: VERSIONS, variables: { id: 'p1' } } })

    const modern = createClient({
      url: a.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: 'other' },
      retryAttempts: 0,
    })
    cleanups.push(() => void modern.dispose())
    const onA: unknown[] = []
    modern.subscribe(
      { query: VERSIONS, variables: { id: 'p1' } },
      { next: (v) => onA.push(v), error: () => undefined, complete: () => undefined },
    )

    await vi.waitFor(() => expect(b.hub.isListening('project:p1') && a.hub.isListening('project:p1')).toBe(true))
    await buses[0]!.publish('project:p1', { id: 'v1', type: 'CREATED', seq: 1 })

    const expected = { data: { projectVersionsUpdated: { id: 'v1', type: 'CREATED', seq: 1 } } }
    expect(await legacy.next()).toEqual({ type: 'data', id: '1', payload: expected })
    await vi.waitFor(() => expect(onA).toEqual([expected]))
  })

  it('shares one Redis subscription per topic per node and leaves it with the last subscriber', async () => {
    const [a, b] = nodes as [Node, Node]
    const clients = [new RawClient(b.wsUrl), new RawClient(b.wsUrl)]
    cleanups.push(() => clients.forEach((client) => client.close()))
    // Two principals: identical subscriptions of one principal would share a single hub subscriber (shared.ts).
    for (const [index, client] of clients.entries()) {
      await client.init({ Authorization: index === 0 ? 'good' : 'other' })
      client.send({ type: 'start', id: `s${index}`, payload: { query: VERSIONS, variables: { id: 'p2' } } })
    }
    await vi.waitFor(() => expect(b.hub.stats()).toEqual({ topics: 1, subscribers: 2 }))
    await vi.waitFor(() => expect(b.hub.isListening('project:p2')).toBe(true))
    const redis = new Redis(REDIS_URL)
    try {
      const channel = `${prefix}project:p2`
      const count = async () => ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1]
      // Node B's bus subscribed once for both sockets; node A has no subscriber.
      expect(await count()).toBe(1)

      await a.hub.publish('project:p2', { id: 'v9', type: 'UPDATED', seq: 9 })
      for (const client of clients)
        expect(await client.next()).toMatchObject({
          type: 'data',
          payload: { data: { projectVersionsUpdated: { id: 'v9' } } },
        })

      clients[0]!.send({ type: 'stop', id: 's0' })
      expect(await clients[0]!.next()).toEqual({ type: 'complete', id: 's0' })
      expect(await count()).toBe(1)
      clients[1]!.close()
      await vi.waitFor(async () => expect(await count()).toBe(0))
    } finally {
      await redis.quit()
    }
  })
})
