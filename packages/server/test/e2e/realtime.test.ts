/**
 * The realtime gateway over real WebSockets on one node: the legacy protocol with raw frames (as Speckle's
 * clients), the modern one with the `graphql-ws` npm client, refusals, stop, malformed frames, slow readers.
 */
import { createClient, type Client } from 'graphql-ws'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { createMemoryBus, type Bus } from '../../src/adapters/bus/index.js'
import { RawClient, silent, startNode, VERSIONS, type Node } from './realtime-harness.js'

let bus: Bus
let node: Node
const clients: Array<{ close(): void }> = []

beforeEach(async () => {
  bus = createMemoryBus({ logger: silent })
  node = await startNode(bus, { keepAliveSeconds: 0.05 })
})

afterEach(async () => {
  for (const client of clients.splice(0)) client.close()
  await node.close()
  await bus.close()
})

function raw(protocols?: string | string[], url = node.wsUrl): RawClient {
  const client = new RawClient(url, protocols)
  clients.push(client)
  return client
}

const start = (id: string, projectId: string) => ({
  type: 'start',
  id,
  payload: { query: VERSIONS, variables: { id: projectId } },
})

async function listening(topic: string, on: Node = node): Promise<void> {
  await vi.waitFor(() => expect(on.hub.isListening(topic)).toBe(true), { timeout: 5000, interval: 5 })
}

describe('realtime e2e, legacy protocol (graphql-ws) with raw frames', () => {
  it('acknowledges, keeps alive, streams events and completes on stop', async () => {
    const client = raw()
    expect(await client.init({ Authorization: 'Bearer good' })).toEqual({ type: 'connection_ack' })
    expect(client.ws.protocol).toBe('graphql-ws')
    client.send(start('1', 'p1'))
    client.send(start('2', 'p2'))
    await listening('project:p1')
    await listening('project:p2')
    await node.hub.publish('project:p1', { id: 'v1', type: 'CREATED', seq: 1 })
    expect(await client.next()).toEqual({
      type: 'data',
      id: '1',
      payload: { data: { projectVersionsUpdated: { id: 'v1', type: 'CREATED', seq: 1 } } },
    })

    client.send({ type: 'stop', id: '1' })
    expect(await client.next()).toEqual({ type: 'complete', id: '1' })
    await vi.waitFor(() => expect(node.hub.isListening('project:p1')).toBe(false))
    // Published in order: had p1 still been delivered, it would arrive before the p2 sentinel.
    await node.hub.publish('project:p1', { id: 'v2', type: 'CREATED', seq: 2 })
    await node.hub.publish('project:p2', { id: 'v3', type: 'CREATED', seq: 3 })
    expect(await client.next()).toMatchObject({ type: 'data', id: '2' })
    await vi.waitFor(() => expect(client.kaCount).toBeGreaterThan(2))
  })

  it.each([
    [{}, 'You need a token to subscribe'],
    [{ headers: { Authorization: 'Bearer nope' } }, 'Your token is not valid.'],
  ])('refuses connection_init %j with connection_error, then closes', async (payload, message) => {
    const client = raw()
    expect(await client.init(payload)).toEqual({ type: 'connection_error', payload: { message } })
    expect((await client.closed).code).toBe(1011)
  })

  it('answers malformed frames with protocol errors and keeps serving', async () => {
    const client = raw()
    await client.init({ authorization: 'good' })
    client.send('this is not json')
    expect(await client.next()).toEqual({ type: 'connection_error', payload: { message: 'Message is not valid JSON' } })
    client.send({ type: 'start', id: 'bad', payload: { query: { evil: true } } })
    expect(await client.next()).toMatchObject({ type: 'error', id: 'bad' })
    client.ws.send(Buffer.from([0xff, 0x00, 0x7b]), { binary: true })
    expect(await client.next()).toMatchObject({ type: 'connection_error' })
    client.send({ type: 'start', id: 'q', payload: { query: '{ whoami }' } })
    expect(await client.next()).toEqual({ type: 'data', id: 'q', payload: { data: { whoami: 'user-1' } } })
    expect(await client.next()).toEqual({ type: 'complete', id: 'q' })
  })

  it('closes with 1002 when the client offers no subprotocol', async () => {
    const client = raw([])
    expect((await client.closed).code).toBe(1002)
  })

  it('refuses an upgrade on another path with 404', async () => {
    const ws = new WebSocket(`${node.url.replace('http', 'ws')}/elsewhere`, 'graphql-ws')
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0))
      ws.once('error', () => resolve(-1))
    })
    expect(status).toBe(404)
  })

  it('disconnects a client that stops reading instead of buffering for it', async () => {
    await node.close()
    node = await startNode(bus, { maxBufferedBytes: 256 * 1024 })
    const client = raw()
    await client.init({ Authorization: 'good' })
    client.send({
      type: 'start',
      id: '1',
      payload: { query: 'subscription { projectVersionsUpdated(id: "big") { id blob } }' },
    })
    await listening('project:big')
    client.ws.pause()
    const blob = 'x'.repeat(100_000)
    // 40 MB in all: far past the kernel's socket buffers and the 256 KiB bound.
    for (let seq = 0; seq < 400 && node.gateway.stats().connections > 0; seq += 1) {
      await node.hub.publish('project:big', { id: `v${seq}`, type: 'CREATED', seq, blob })
      await new Promise((resolve) => setImmediate(resolve))
    }
    await vi.waitFor(() => expect(node.gateway.stats().connections).toBe(0), { timeout: 5000 })
    expect(node.hub.stats().subscribers).toBe(0)
    client.ws.resume()
    expect((await client.closed).code).toBe(1006)
  })

  it('runs one execution per event for identical subscriptions of one principal, one per principal', async () => {
    const [first, second, stranger] = [raw(), raw(), raw()]
    await first.init({ Authorization: 'good' })
    await second.init({ Authorization: 'good' })
    await stranger.init({ Authorization: 'other' })
    const startedBefore = node.gateway.stats().subscriptionsStarted
    for (const client of [first, second, stranger]) client.send(start('s', 'p5'))
    await vi.waitFor(() =>
      expect(node.gateway.stats()).toEqual({
        connections: 3,
        subscriptions: 3,
        sharedExecutions: 2,
        sharedSubscribers: 3,
        // Each went live once (authorized and listening), shared or not.
        subscriptionsStarted: startedBefore + 3,
        slowConsumersDropped: 0,
      }),
    )
    await listening('project:p5')
    await node.hub.publish('project:p5', { id: 'v5', type: 'CREATED', seq: 5 })
    const expected = {
      type: 'data',
      id: 's',
      payload: { data: { projectVersionsUpdated: { id: 'v5', type: 'CREATED', seq: 5 } } },
    }
    for (const client of [first, second, stranger]) expect(await client.next()).toEqual(expected)
  })

  it('delivers small and 64 KiB+ events intact and in order, between keep-alives and ws’s own pongs', async () => {
    // Events are written to the TCP socket as prebuilt frames, beside `ws`'s own control frames.
    const clients = [raw(), raw()]
    let pongs = 0
    for (const client of clients) {
      await client.init({ Authorization: 'good' })
      client.ws.on('pong', () => (pongs += 1))
      client.send({
        type: 'start',
        id: 's',
        payload: { query: 'subscription { projectVersionsUpdated(id: "p7") { id blob } }' },
      })
    }
    await vi.waitFor(() => expect(node.gateway.stats().sharedSubscribers).toBe(2))
    await listening('project:p7')
    const blobOf = (seq: number) => (seq % 2 === 0 ? 'é'.repeat(40_000) : `small ${seq}`)
    for (let seq = 0; seq < 8; seq += 1) {
      for (const client of clients) client.ws.ping()
      await node.hub.publish('project:p7', { id: `v${seq}`, type: 'CREATED', seq, blob: blobOf(seq) })
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    for (const client of clients) {
      for (let seq = 0; seq < 8; seq += 1) {
        expect(await client.next()).toEqual({
          type: 'data',
          id: 's',
          payload: { data: { projectVersionsUpdated: { id: `v${seq}`, blob: blobOf(seq) } } },
        })
      }
    }
    await vi.waitFor(() => expect(pongs).toBe(16))
    expect(Math.min(...clients.map((client) => client.kaCount))).toBeGreaterThan(1)
    expect(node.gateway.stats().connections).toBe(2)
  })

  it('closes open connections with 1001 when the app closes', async () => {
    const client = raw()
    await client.init({ Authorization: 'good' })
    client.send(start('1', 'p1'))
    await listening('project:p1')
    await node.close()
    expect((await client.closed).code).toBe(1001)
    expect(node.hub.stats().subscribers).toBe(0)
    node = await startNode(bus)
  })
})

describe('realtime e2e, modern protocol (graphql-transport-ws) with the graphql-ws client', () => {
  function modern(token: string): Client {
    const client = createClient({
      url: node.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${token}` },
      retryAttempts: 0,
      lazy: true,
    })
    clients.push({ close: () => void client.dispose() })
    return client
  }

  it('streams events to a subscription and stops when the client unsubscribes', async () => {
    const client = modern('good')
    const events: unknown[] = []
    let done = false
    const unsubscribe = client.subscribe(
      { query: VERSIONS, variables: { id: 'p1' } },
      { next: (value) => events.push(value), error: (error) => events.push({ error }), complete: () => (done = true) },
    )
    await listening('project:p1')
    await node.hub.publish('project:p1', { id: 'v1', type: 'CREATED', seq: 1 })
    await vi.waitFor(() => expect(events).toHaveLength(1))
    expect(events[0]).toEqual({ data: { projectVersionsUpdated: { id: 'v1', type: 'CREATED', seq: 1 } } })
    unsubscribe()
    await vi.waitFor(() => expect(node.hub.isListening('project:p1')).toBe(false))
    expect(done).toBe(true)
  })

  it('runs a query over the socket', async () => {
    const client = modern('other')
    const result = await new Promise((resolve, reject) => {
      let value: unknown
      client.subscribe(
        { query: '{ whoami }' },
        { next: (v) => (value = v), error: reject, complete: () => resolve(value) },
      )
    })
    expect(result).toEqual({ data: { whoami: 'user-2' } })
  })

  it('refuses a bad token with close code 4403', async () => {
    const client = modern('nope')
    const error = await new Promise<unknown>((resolve) => {
      client.subscribe(
        { query: VERSIONS, variables: { id: 'p1' } },
        { next: () => undefined, error: resolve, complete: () => resolve(null) },
      )
    })
    expect(error).toMatchObject({ code: 4403 })
  })

  it('closes with 4400 on a malformed frame', async () => {
    const client = raw('graphql-transport-ws')
    await client.opened
    expect(client.ws.protocol).toBe('graphql-transport-ws')
    client.send({ type: 'connection_init', payload: { Authorization: 'good' } })
    expect(await client.next()).toEqual({ type: 'connection_ack' })
    client.send({ type: 'subscribe', id: 42 })
    expect((await client.closed).code).toBe(4400)
  })
})
