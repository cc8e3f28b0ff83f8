import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createMemoryBus } from '../../adapters/bus/index.js'
import { createConnection, type ConnectionOptions } from './connection.js'
import { createRealtimeHub, type RealtimeHub } from './hub.js'
import type { ProtocolKind } from './protocol.js'
import {
  testSchema,
  verifyTestToken,
  VERSIONS_SUBSCRIPTION,
  type TestContext,
  type TestPrincipal,
} from './test-utils/schema.js'
import { FakeClock, flush, TestSocket } from './test-utils/socket.js'

const logger = pino({ level: 'silent' })

function setup(kind: ProtocolKind, overrides: Partial<ConnectionOptions<TestPrincipal, TestContext>> = {}) {
  const hub: RealtimeHub = createRealtimeHub({ bus: createMemoryBus({ logger }) })
  const clock = new FakeClock()
  const socket = new TestSocket()
  const connection = createConnection<TestPrincipal, TestContext>('c1', socket, kind, {
    schema: testSchema,
    verifyToken: verifyTestToken,
    buildContext: (principal) => ({ principal, subscribe: hub.subscribe }),
    keepAliveMs: 10_000,
    initTimeoutMs: 5_000,
    maxSubscriptions: 3,
    maxBufferedBytes: 1000,
    clock,
    logger,
    ...overrides,
  })
  socket.onClose = () => connection.closed()
  const send = (message: unknown) => connection.receive(JSON.stringify(message))
  /** Wait until the hub listens to `topic` (the subscription is live). */
  const live = async (topic: string) => {
    for (let i = 0; i < 20 && !hub.isListening(topic); i += 1) await flush(1)
    expect(hub.isListening(topic)).toBe(true)
  }
  return { hub, clock, socket, connection, send, live }
}

const start = (id: string, projectId = 'p1') => ({
  type: 'start',
  id,
  payload: { query: VERSIONS_SUBSCRIPTION, variables: { id: projectId } },
})
const subscribe = (id: string, projectId = 'p1') => ({ ...start(id, projectId), type: 'subscribe' })

describe('realtime connection, legacy protocol (graphql-ws)', () => {
  it('acknowledges a valid token, sends ka at once and then every keep-alive period', async () => {
    const { socket, send, clock, connection } = setup('legacy')
    send({ type: 'connection_init', payload: { Authorization: 'Bearer good' } })
    await flush()
    expect(socket.take()).toEqual([{ type: 'connection_ack' }, { type: 'ka' }])
    clock.advance(9_999)
    expect(socket.take()).toEqual([])
    clock.advance(1)
    expect(socket.take()).toEqual([{ type: 'ka' }])
    clock.advance(20_000)
    expect(socket.take()).toEqual([{ type: 'ka' }, { type: 'ka' }])
    connection.closed()
    expect(clock.pending()).toBe(0)
  })

  it.each([
    [{}, 'You need a token to subscribe'],
    [{ Authorization: 'Bearer wrong' }, 'Your token is not valid.'],
  ])('refuses connection_init %j with connection_error and closes', async (payload, message) => {
    const { socket, send, clock } = setup('legacy')
    send({ type: 'connection_init', payload })
    await flush()
    expect(socket.take()).toEqual([{ type: 'connection_error', payload: { message } }])
    expect(socket.closedWith?.code).toBe(1011)
    expect(clock.pending()).toBe(0)
  })

  it('refuses when verifying the token throws, without crashing', async () => {
    const { socket, send } = setup('legacy', {
      verifyToken: () => Promise.reject(new Error('database down')),
    })
    send({ type: 'connection_init', payload: { authorization: 'good' } })
    await flush()
    expect(socket.take()[0]?.type).toBe('connection_error')
    expect(socket.closedWith?.code).toBe(1011)
  })

  it('streams events as data until stop, then answers complete and leaves the topic', async () => {
    const { socket, send, hub, live } = setup('legacy')
    send({ type: 'connection_init', payload: { headers: { Authorization: 'Bearer good' } } })
    await flush()
    socket.take()
    send(start('1'))
    await live('project:p1')
    await hub.publish('project:p1', { id: 'v1', type: 'CREATED', seq: 1 })
    await flush()
    expect(socket.take()).toEqual([
      {
        type: 'data',
        id: '1',
        payload: { data: { projectVersionsUpdated: { id: 'v1', type: 'CREATED', seq: 1, blob: null } } },
      },
    ])
    send({ type: 'stop', id: '1' })
    expect(socket.take()).toEqual([{ type: 'complete', id: '1' }])
    await hub.publish('project:p1', { id: 'v2', type: 'CREATED' })
    await flush()
    expect(socket.take()).toEqual([])
    expect(hub.stats()).toEqual({ topics: 0, subscribers: 0 })
  })

  it('answers start before connection_init with an error for that operation', async () => {
    const { socket, send } = setup('legacy')
    send(start('1'))
    await flush()
    expect(socket.take()).toEqual([{ type: 'error', id: '1', payload: { message: expect.any(String) } }])
    expect(socket.closedWith).toBeNull()
  })

  it('answers malformed frames with protocol errors and stays open', async () => {
    const { socket, connection, send } = setup('legacy')
    send({ type: 'connection_init', payload: { Authorization: 'good' } })
    await flush()
    socket.take()
    connection.receive('{not json')
    connection.receive('"a string"')
    send({ type: 'start', id: '9', payload: { query: 42 } })
    send({ type: 'bogus' })
    connection.receive('{"type":"start","id":"x","payload":{"query":"{ whoami }","variables":[1]}}')
    expect(socket.take()).toEqual([
      { type: 'connection_error', payload: { message: 'Message is not valid JSON' } },
      { type: 'connection_error', payload: { message: expect.stringContaining('Invalid message') } },
      { type: 'error', id: '9', payload: { message: expect.stringContaining('payload.query') } },
      { type: 'connection_error', payload: { message: expect.stringContaining('Invalid message') } },
      { type: 'error', id: 'x', payload: { message: expect.stringContaining('payload.variables') } },
    ])
    expect(socket.closedWith).toBeNull()
    // Still serving.
    send({ type: 'start', id: 'q', payload: { query: '{ whoami }' } })
    await flush()
    expect(socket.take()).toEqual([
      { type: 'data', id: 'q', payload: { data: { whoami: 'user-1' } } },
      { type: 'complete', id: 'q' },
    ])
  })

  it('answers a query that does not parse with error, and one that does not validate with data errors + complete', async () => {
    const { socket, send } = setup('legacy')
    send({ type: 'connection_init', payload: { Authorization: 'good' } })
    await flush()
    socket.take()
    send({ type: 'start', id: 'a', payload: { query: 'subscription {' } })
    send({ type: 'start', id: 'b', payload: { query: 'subscription { nope }' } })
    await flush()
    const [parseError, invalid, complete] = socket.take()
    expect(parseError).toMatchObject({
      type: 'error',
      id: 'a',
      payload: { message: expect.stringContaining('Syntax') },
    })
    expect(invalid).toMatchObject({
      type: 'data',
      id: 'b',
      payload: { errors: [{ message: expect.stringContaining('nope') }] },
    })
    expect(complete).toEqual({ type: 'complete', id: 'b' })
  })

  it('reports a subscribe resolver that throws as data errors then complete', async () => {
    const { socket, send } = setup('legacy')
    send({ type: 'connection_init', payload: { Authorization: 'good' } })
    await flush()
    socket.take()
    send({ type: 'start', id: 'r', payload: { query: 'subscription { refused }' } })
    await flush()
    expect(socket.take()).toEqual([
      {
        type: 'data',
        id: 'r',
        payload: { errors: [expect.objectContaining({ message: 'You do not have access to this project' })] },
      },
      { type: 'complete', id: 'r' },
    ])
  })

  it('caps the subscriptions one connection may run', async () => {
    const { socket, send, hub } = setup('legacy')
    send({ type: 'connection_init', payload: { Authorization: 'good' } })
    await flush()
    socket.take()
    for (const id of ['1', '2', '3', '4']) send(start(id, `p${id}`))
    await flush()
    expect(socket.take()).toEqual([
      { type: 'error', id: '4', payload: { message: 'Too many subscriptions on this connection (at most 3)' } },
    ])
    expect(hub.stats().subscribers).toBe(3)
  })

  it('ends every subscription when the connection closes', async () => {
    const { socket, send, hub, live, clock } = setup('legacy')
    send({ type: 'connection_init', payload: { Authorization: 'good' } })
    await flush()
    send(start('1', 'p1'))
    send(start('2', 'p2'))
    await live('project:p2')
    expect(hub.stats().subscribers).toBe(2)
    socket.close(1000, 'bye')
    await flush()
    expect(hub.stats()).toEqual({ topics: 0, subscribers: 0 })
    expect(clock.pending()).toBe(0)
  })

  it('replaces a running operation when a start reuses its id', async () => {
    const { socket, send, hub, live } = setup('legacy')
    send({ type: 'connection_init', payload: { Authorization: 'good' } })
    await flush()
    socket.take()
    send(start('1', 'p1'))
    await live('project:p1')
    send(start('1', 'p2'))
    await live('project:p2')
    await flush()
    expect(hub.stats()).toEqual({ topics: 1, subscribers: 1 })
  })

  it('closes a client whose send buffer passes the bound with 4008, and cuts it a second later', async () => {
    const { socket, send, hub, live, clock } = setup('legacy')
    send({ type: 'connection_init', payload: { Authorization: 'good' } })
    await flush()
    send(start('1'))
    await live('project:p1')
    socket.take()
    socket.bufferedAmount = 1001
    await hub.publish('project:p1', { id: 'v1', type: 'CREATED' })
    await flush()
    expect(socket.take()).toEqual([])
    expect(socket.closedWith?.code).toBe(4008)
    expect(hub.stats().subscribers).toBe(0)
    clock.advance(1000)
    expect(socket.terminated).toBe(true)
  })

  it('closes a connection whose token no longer grants access when checked again (4403), keeps the others', async () => {
    let archived = false
    const { socket, send, connection } = setup('legacy', {
      verifyToken: async (token) => verifyTestToken(token),
      mayConnect: () => !archived,
    })
    send({ type: 'connection_init', payload: { Authorization: 'good' } })
    await flush()
    await connection.recheck()
    expect(socket.closedWith).toBeNull()
    archived = true
    await connection.recheck()
    expect(socket.closedWith?.code).toBe(4403)
  })

  it('refuses an archived user at connection_init', async () => {
    const { socket, send } = setup('modern', { mayConnect: () => false })
    send({ type: 'connection_init', payload: { Authorization: 'good' } })
    await flush()
    expect(socket.closedWith?.code).toBe(4403)
  })

  it('closes a connection that never sends connection_init (4408)', () => {
    const { socket, clock } = setup('legacy')
    clock.advance(5_000)
    expect(socket.closedWith?.code).toBe(4408)
  })

  it('closes on connection_terminate', async () => {
    const { socket, send } = setup('legacy')
    send({ type: 'connection_terminate' })
    expect(socket.closedWith?.code).toBe(1000)
  })
})

describe('realtime connection, modern protocol (graphql-transport-ws)', () => {
  it('acknowledges, answers ping with pong and sends no ka', async () => {
    const { socket, send, clock } = setup('modern')
    send({ type: 'connection_init', payload: { Authorization: 'Bearer good' } })
    await flush()
    send({ type: 'ping' })
    clock.advance(60_000)
    expect(socket.take()).toEqual([{ type: 'connection_ack' }, { type: 'pong' }])
  })

  it('refuses a bad token by closing with 4403', async () => {
    const { socket, send } = setup('modern')
    send({ type: 'connection_init', payload: { Authorization: 'Bearer wrong' } })
    await flush()
    expect(socket.take()).toEqual([])
    expect(socket.closedWith?.code).toBe(4403)
  })

  it('streams next messages until the client completes', async () => {
    const { socket, send, hub, live } = setup('modern')
    send({ type: 'connection_init', payload: { Authorization: 'good' } })
    await flush()
    socket.take()
    send(subscribe('s1'))
    await live('project:p1')
    await hub.publish('project:p1', { id: 'v1', type: 'CREATED' })
    await flush()
    expect(socket.take()).toEqual([
      {
        type: 'next',
        id: 's1',
        payload: { data: { projectVersionsUpdated: { id: 'v1', type: 'CREATED', seq: null, blob: null } } },
      },
    ])
    send({ type: 'complete', id: 's1' })
    await hub.publish('project:p1', { id: 'v2', type: 'CREATED' })
    await flush()
    expect(socket.take()).toEqual([])
    expect(hub.stats().subscribers).toBe(0)
  })

  it('answers an invalid operation with error', async () => {
    const { socket, send } = setup('modern')
    send({ type: 'connection_init', payload: { Authorization: 'good' } })
    await flush()
    socket.take()
    send({ type: 'subscribe', id: 'x', payload: { query: 'subscription { nope }' } })
    await flush()
    expect(socket.take()).toEqual([
      { type: 'error', id: 'x', payload: [expect.objectContaining({ message: expect.stringContaining('nope') })] },
    ])
  })

  it.each([
    ['subscribe before connection_ack', [subscribe('1')], 4401],
    ['a second connection_init', [{ type: 'connection_init', payload: { Authorization: 'good' } }], 4429],
    ['a reused subscription id', [subscribe('1'), subscribe('1')], 4409],
    ['a malformed frame', [{ type: 'subscribe', id: 1 }], 4400],
  ])('closes on %s', async (_name, messages, code) => {
    const { socket, send } = setup('modern')
    if (code !== 4401) {
      send({ type: 'connection_init', payload: { Authorization: 'good' } })
      await flush()
    }
    for (const message of messages) send(message)
    await flush()
    expect(socket.closedWith?.code).toBe(code)
  })
})
