import {
  GraphQLInt,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  type GraphQLFieldConfig,
} from 'graphql'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createMemoryBus } from '../../adapters/bus/index.js'
import { createConnection } from './connection.js'
import { createRealtimeHub } from './hub.js'
import type { ProtocolKind } from './protocol.js'
import { canonicalKey, createSharedSubscriptions } from './shared.js'
import { verifyTestToken, type TestContext, type TestPrincipal } from './test-utils/schema.js'
import { FakeClock, flush, frameText, TestSocket } from './test-utils/socket.js'

const logger = pino({ level: 'silent' })

/** Keeps the raw text and the bytes of every frame, to compare what was actually sent. */
class RawSocket extends TestSocket {
  readonly raw: string[] = []
  readonly buffers: Buffer[] = []
  override sendFrame(frame: Buffer): void {
    super.sendFrame(frame)
    this.raw.push(frameText(frame))
    this.buffers.push(frame)
  }
}

/**
 * A schema that counts executions: each event's `execution` is the number of times graphql-js resolved an
 * event so far, so two payloads carrying the same number came from one execution. `viewer` reads the
 * principal, as Speckle payloads may (a project's role for the caller). `allowed` is the access list the
 * subscribe resolver checks, mutable to revoke access between two subscriptions.
 */
function countingSchema() {
  const counter = { executions: 0 }
  const allowed = new Set(['user-1', 'user-2'])
  const Event = new GraphQLObjectType<{ id: string; execution: number; viewer: string }>({
    name: 'Event',
    fields: {
      id: { type: new GraphQLNonNull(GraphQLString) },
      execution: { type: new GraphQLNonNull(GraphQLInt) },
      viewer: { type: new GraphQLNonNull(GraphQLString) },
    },
  })
  const events: GraphQLFieldConfig<unknown, TestContext, { id: string }> = {
    type: new GraphQLNonNull(Event),
    args: { id: { type: new GraphQLNonNull(GraphQLString) } },
    subscribe: (_source, args, context) => {
      if (!allowed.has(context.principal.userId)) throw new Error('You do not have access to this project')
      return context.subscribe(`project:${args.id}`)
    },
    resolve: (event, _args, context) => {
      counter.executions += 1
      return { id: (event as { id: string }).id, execution: counter.executions, viewer: context.principal.userId }
    },
  }
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLString } } }),
    subscription: new GraphQLObjectType<unknown, TestContext>({ name: 'Subscription', fields: { events } }),
  })
  return { schema, counter, allowed }
}

const QUERY = 'subscription ($id: String!) { events(id: $id) { id execution viewer } }'

function setup() {
  const hub = createRealtimeHub({ bus: createMemoryBus({ logger }) })
  const subscriptions = createSharedSubscriptions(logger)
  const { schema, counter, allowed } = countingSchema()
  let n = 0
  async function connect(token: string, kind: ProtocolKind = 'legacy') {
    n += 1
    const socket = new RawSocket()
    const connection = createConnection<TestPrincipal, TestContext>(`c${n}`, socket, kind, {
      schema,
      verifyToken: verifyTestToken,
      buildContext: (principal) => ({ principal, subscribe: hub.subscribe }),
      keepAliveMs: 10_000,
      initTimeoutMs: 5_000,
      maxSubscriptions: 10,
      maxBufferedBytes: 1_000_000,
      clock: new FakeClock(),
      logger,
      sharing: { subscriptions, principalKey: (principal) => canonicalKey(principal) },
    })
    socket.onClose = () => connection.closed()
    const send = (message: unknown) => connection.receive(JSON.stringify(message))
    send({ type: 'connection_init', payload: { Authorization: token } })
    await flush()
    socket.take()
    socket.raw.length = 0
    socket.buffers.length = 0
    const start = (id: string, projectId = 'p1') =>
      send({
        type: kind === 'legacy' ? 'start' : 'subscribe',
        id,
        payload: { query: QUERY, variables: { id: projectId } },
      })
    return { socket, connection, send, start }
  }
  const live = async (topic: string) => {
    for (let i = 0; i < 20 && !hub.isListening(topic); i += 1) await flush(1)
    expect(hub.isListening(topic)).toBe(true)
  }
  return { hub, subscriptions, counter, allowed, connect, live }
}

describe('shared subscription executions', () => {
  it('runs one execution per event for identical subscriptions of one principal and sends the same payload', async () => {
    const { hub, subscriptions, counter, connect, live } = setup()
    const a = await connect('good')
    const b = await connect('good', 'modern')
    a.start('op-a')
    b.start('op-b')
    await live('project:p1')
    await flush()
    // One group, one graphql-js event stream: b's own (authorized) stream was ended when it joined.
    expect(subscriptions.stats()).toEqual({ groups: 1, members: 2 })
    expect(hub.stats()).toEqual({ topics: 1, subscribers: 1 })

    await hub.publish('project:p1', { id: 'v1' })
    await flush()
    expect(counter.executions).toBe(1)
    const payload = { data: { events: { id: 'v1', execution: 1, viewer: 'user-1' } } }
    expect(a.socket.take()).toEqual([{ type: 'data', id: 'op-a', payload }])
    expect(b.socket.take()).toEqual([{ type: 'next', id: 'op-b', payload }])
    // The very same serialized payload, in each protocol's envelope with each subscriber's operation id.
    const shared = JSON.stringify(payload)
    expect(a.socket.raw).toEqual([`{"type":"data","id":"op-a","payload":${shared}}`])
    expect(b.socket.raw).toEqual([`{"type":"next","id":"op-b","payload":${shared}}`])
  })

  it('sends one buffer to every alike subscriber (same protocol, same operation id)', async () => {
    const { hub, connect, live } = setup()
    const alike = [await connect('good'), await connect('good'), await connect('good')]
    const modern = await connect('good', 'modern')
    for (const each of [...alike, modern]) each.start('1')
    await live('project:p1')
    await flush()
    await hub.publish('project:p1', { id: 'v1' })
    await flush()
    const [first, ...rest] = alike.map((each) => each.socket.buffers)
    expect(first).toHaveLength(1)
    for (const buffers of rest) expect(buffers[0]).toBe(first![0])
    expect(modern.socket.buffers[0]).not.toBe(first![0])
    expect(modern.socket.take()).toMatchObject([{ type: 'next', id: '1', payload: { data: { events: { id: 'v1' } } } }])
  })

  it('does not share between different principals, nor between different variables', async () => {
    const { hub, subscriptions, counter, connect, live } = setup()
    const a = await connect('good')
    const b = await connect('other')
    const c = await connect('good')
    a.start('1')
    b.start('1')
    c.start('1', 'p2')
    await live('project:p1')
    await live('project:p2')
    await flush()
    expect(subscriptions.stats()).toEqual({ groups: 3, members: 3 })

    await hub.publish('project:p1', { id: 'v1' })
    await flush()
    expect(counter.executions).toBe(2)
    type Shaped = { payload: { data: { events: { viewer: string; execution: number } } } }
    const fromA = a.socket.take() as unknown as Shaped[]
    const fromB = b.socket.take() as unknown as Shaped[]
    expect(fromA).toHaveLength(1)
    expect(fromB).toHaveLength(1)
    expect(fromA[0]!.payload.data.events.viewer).toBe('user-1')
    expect(fromB[0]!.payload.data.events.viewer).toBe('user-2')
    expect(fromA[0]!.payload.data.events.execution).not.toBe(fromB[0]!.payload.data.events.execution)
    expect(c.socket.take()).toEqual([])
  })

  it('authorizes every subscriber itself before it joins a group', async () => {
    const { hub, subscriptions, allowed, connect, live } = setup()
    const a = await connect('good')
    a.start('1')
    await live('project:p1')
    await flush()
    // Access revoked after the first subscription started: a new identical subscription is refused, not joined.
    allowed.delete('user-1')
    const b = await connect('good')
    b.start('1')
    await flush()
    expect(b.socket.take()).toEqual([
      {
        type: 'data',
        id: '1',
        payload: { errors: [expect.objectContaining({ message: 'You do not have access to this project' })] },
      },
      { type: 'complete', id: '1' },
    ])
    expect(subscriptions.stats()).toEqual({ groups: 1, members: 1 })
    await hub.publish('project:p1', { id: 'v1' })
    await flush()
    expect(b.socket.take()).toEqual([])
    expect(a.socket.take()).toHaveLength(1)
  })

  it('keeps the group running when its first member leaves, and ends it with the last', async () => {
    const { hub, subscriptions, counter, connect, live } = setup()
    const a = await connect('good')
    const b = await connect('good')
    a.start('1')
    b.start('2')
    await live('project:p1')
    await flush()
    a.send({ type: 'stop', id: '1' })
    expect(a.socket.take()).toEqual([{ type: 'complete', id: '1' }])
    await hub.publish('project:p1', { id: 'v1' })
    await flush()
    expect(a.socket.take()).toEqual([])
    expect(b.socket.take()).toMatchObject([{ type: 'data', id: '2', payload: { data: { events: { id: 'v1' } } } }])
    expect(counter.executions).toBe(1)

    b.socket.close(1000, 'bye')
    await flush()
    expect(subscriptions.stats()).toEqual({ groups: 0, members: 0 })
    expect(hub.stats()).toEqual({ topics: 0, subscribers: 0 })
  })

  it('starts a new group after the last member of the previous one left', async () => {
    const { hub, subscriptions, connect, live } = setup()
    const a = await connect('good')
    a.start('1')
    await live('project:p1')
    a.send({ type: 'stop', id: '1' })
    await flush()
    expect(subscriptions.stats()).toEqual({ groups: 0, members: 0 })
    a.socket.take()
    a.start('1')
    await live('project:p1')
    await flush()
    await hub.publish('project:p1', { id: 'v2' })
    await flush()
    expect(a.socket.take()).toMatchObject([{ type: 'data', id: '1', payload: { data: { events: { id: 'v2' } } } }])
  })
})

describe('canonicalKey', () => {
  it('is equal for structurally equal principals and variables, whatever the order', () => {
    const one = { userId: 'u', scopes: new Set(['a', 'b']), nested: { x: 1, y: [1, 2] } }
    const two = { nested: { y: [1, 2], x: 1 }, scopes: new Set(['b', 'a']), userId: 'u' }
    expect(canonicalKey(one)).toBe(canonicalKey(two))
    expect(canonicalKey({ ...one, scopes: new Set(['a']) })).not.toBe(canonicalKey(one))
    expect(canonicalKey({ a: '1' })).not.toBe(canonicalKey({ a: 1 }))
  })

  it('refuses what it cannot vouch for: class instances, functions, cycles', () => {
    class Principal {
      userId = 'u'
    }
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(canonicalKey(new Principal())).toBeNull()
    expect(canonicalKey({ f: () => 1 })).toBeNull()
    expect(canonicalKey(cycle)).toBeNull()
  })
})
