/**
 * The change feed across three `truss serve` processes on one PostgreSQL and one Redis: comments posted
 * through node 1 reach subscribers on nodes 2 and 3 complete and in seq order; node 3 killed with SIGKILL while
 * its client receives, the client resumes on node 2 from its last seq and ends with every event exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { Base, MemoryTransport, ServerTransport, send } from '@truss/core'
import { openIdentity } from '../../src/modules/auth/identity.js'
import { createTestPostgresDatabase } from '../../src/test-utils/db.js'
import { subscriptionsStarted } from './legacy-subscriber.js'
import { gql, startServeProcess, type ServeProcess } from './serve-processes.js'

const COMMENTS =
  'subscription($t: ViewerUpdateTrackingTarget!) { projectCommentsUpdated(target: $t) { id type comment { rawText } } }'

interface Received {
  id: string
  seq: number
}

/**
 * A graphql-transport-ws subscriber asking for seqs (`extensions.truss`), resuming from `since` when given.
 * Resolves once the node counts the subscription live.
 */
async function feedSubscribe(url: string, token: string, projectId: string, since?: number) {
  const before = await subscriptionsStarted(url)
  const ws = new WebSocket(`${url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws')
  const received: Received[] = []
  const errors: unknown[] = []
  ws.on('error', () => undefined)
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject)
    ws.on('message', (raw: Buffer) => {
      const msg = JSON.parse(raw.toString()) as { type: string; payload?: unknown }
      if (msg.type === 'connection_ack') {
        const truss = since === undefined ? {} : { since }
        const payload = {
          query: COMMENTS,
          variables: { t: { projectId, resourceIdString: '' } },
          extensions: { truss },
        }
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload }))
        vi.waitFor(async () => expect(await subscriptionsStarted(url)).toBeGreaterThan(before), {
          timeout: 20_000,
          interval: 25,
        }).then(() => resolve(), reject)
      } else if (msg.type === 'next') {
        const result = msg.payload as {
          data: { projectCommentsUpdated: { id: string } }
          extensions: { truss: { seq: number } }
        }
        received.push({ id: result.data.projectCommentsUpdated.id, seq: result.extensions.truss.seq })
      } else if (msg.type === 'error') {
        errors.push(msg.payload)
      }
    })
    ws.once('open', () =>
      ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } })),
    )
  })
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()))
  return { received, errors, closed, socket: ws, close: () => ws.close() }
}

const increasing = (seqs: number[]) => seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!)

describe('the change feed across three server processes (PostgreSQL + Redis)', () => {
  let db: { url: string; drop(): Promise<void> }
  const dirs: string[] = []
  const nodes: ServeProcess[] = []
  let token: string
  let memberId: string
  let memberToken: string
  let projectId: string
  let objectId: string

  beforeAll(async () => {
    db = await createTestPostgresDatabase()
    const env = { DATABASE_URL: db.url, REDIS_URL: 'redis://127.0.0.1:6379' }
    const identityDir = mkdtempSync(join(tmpdir(), 'truss-feed-'))
    dirs.push(identityDir)
    const identity = await openIdentity({ databaseUrl: db.url, dataDir: identityDir })
    const user = await identity.users.create({ email: 'ada@example.com', password: 'three-nodes-pass', name: 'Ada' })
    token = await identity.tokens.create({
      userId: user.id,
      name: 'nodes',
      scopes: ['streams:read', 'streams:write', 'profile:read', 'server:setup'],
    })
    const member = await identity.users.create({ email: 'bob@example.com', password: 'three-nodes-pass', name: 'Bob' })
    memberId = member.id
    memberToken = await identity.tokens.create({ userId: member.id, name: 'nodes', scopes: ['streams:read'] })
    await identity.close()
    for (let i = 0; i < 3; i++) dirs.push(mkdtempSync(join(tmpdir(), 'truss-node-')))
    // The first node applies the migrations; the others start once it listens.
    nodes.push(await startServeProcess(env, dirs[1]!))
    nodes.push(...(await Promise.all([startServeProcess(env, dirs[2]!), startServeProcess(env, dirs[3]!)])))
    const created = await gql(nodes[0]!.url, token, 'mutation { streamCreate(stream: { name: "Three nodes" }) }')
    projectId = created.streamCreate as string
    objectId = await send(new Base({ name: 'Level 1' }), {
      transports: [new ServerTransport({ serverUrl: nodes[0]!.url, projectId, token })],
      cache: new MemoryTransport(),
    })
  }, 120_000)

  afterAll(async () => {
    for (const n of nodes) {
      if (n.process.exitCode !== null || n.process.signalCode !== null) continue
      n.process.kill('SIGTERM')
      await new Promise((resolve) => n.process.once('exit', resolve))
    }
    await db?.drop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  async function comment(text: string): Promise<string> {
    const data = await gql(
      nodes[0]!.url,
      token,
      'mutation($input: CreateCommentInput!) { commentMutations { create(input: $input) { id } } }',
      {
        input: {
          projectId,
          resourceIdString: objectId,
          content: { doc: { type: 'doc', content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] } },
        },
      },
    )
    return (data.commentMutations as { create: { id: string } }).create.id
  }

  /** `count` comments through node 1, `chains` at a time (concurrent transactions commit out of seq order). */
  async function postComments(prefix: string, count: number, chains = 5): Promise<string[]> {
    const ids: string[] = []
    let next = 0
    await Promise.all(
      Array.from({ length: chains }, async () => {
        while (next < count) {
          const n = next++
          ids.push(await comment(`${prefix} ${n}`))
        }
      }),
    )
    return ids
  }

  it('delivers 50 comments posted through node 1 to subscribers on nodes 2 and 3, complete and in seq order', async () => {
    const subscribers = await Promise.all([
      feedSubscribe(nodes[1]!.url, token, projectId),
      feedSubscribe(nodes[2]!.url, token, projectId),
    ])
    const posted = await postComments('fan-out', 50)
    for (const sub of subscribers) {
      await vi.waitFor(() => expect(sub.received.length).toBeGreaterThanOrEqual(50), { timeout: 20_000 })
      expect(sub.errors).toEqual([])
      expect(increasing(sub.received.map((r) => r.seq))).toBe(true)
      expect(new Set(sub.received.map((r) => r.id))).toEqual(new Set(posted))
      expect(sub.received).toHaveLength(50)
    }
    // Every node saw the same seqs for the same comments.
    expect(subscribers[0]!.received).toEqual(subscribers[1]!.received)
    for (const sub of subscribers) sub.close()
  }, 60_000)

  it('resumes on node 2 from the last seq seen on node 3 after node 3 is killed mid-stream: every event once, in order', async () => {
    const onNode3 = await feedSubscribe(nodes[2]!.url, token, projectId)
    const posting = postComments('resume', 60, 3)
    await vi.waitFor(() => expect(onNode3.received.length).toBeGreaterThanOrEqual(10), { timeout: 20_000 })
    nodes[2]!.process.kill('SIGKILL')
    await onNode3.closed
    const seen = [...onNode3.received]
    const last = seen[seen.length - 1]!.seq
    const resumed = await feedSubscribe(nodes[1]!.url, token, projectId, last)
    const posted = await posting
    await vi.waitFor(() => expect(seen.length + resumed.received.length).toBeGreaterThanOrEqual(60), {
      timeout: 20_000,
    })
    const all = [...seen, ...resumed.received]
    expect(resumed.errors).toEqual([])
    expect(increasing(all.map((r) => r.seq))).toBe(true)
    expect(all.map((r) => r.id).sort()).toEqual([...posted].sort())
    resumed.close()
  }, 60_000)

  it('closes the open sockets of a user archived through node 1 on node 2 (4403)', async () => {
    const role = 'mutation($i: ProjectUpdateRoleInput!) { projectMutations { updateRole(input: $i) { id } } }'
    await gql(nodes[0]!.url, token, role, { i: { projectId, userId: memberId, role: 'stream:reviewer' } })
    const sub = await feedSubscribe(nodes[1]!.url, memberToken, projectId)
    const code = new Promise<number>((resolve) => sub.socket.once('close', (c: number) => resolve(c)))
    await gql(nodes[0]!.url, token, 'mutation($input: UserRoleInput!) { userRoleChange(userRoleInput: $input) }', {
      input: { id: memberId, role: 'server:archived-user' },
    })
    expect(await code).toBe(4403)
  }, 30_000)

  it('answers a resume from before the pruned seq with RESUME_RESET', async () => {
    const pool = await import('pg')
    const client = new pool.default.Client({ connectionString: db.url })
    await client.connect()
    const { rows } = await client.query<{ seq: string }>('SELECT max(seq)::text AS seq FROM outbox')
    await client.query('UPDATE outbox_state SET pruned_through = $1', [rows[0]!.seq])
    await client.end()
    const before = await subscriptionsStarted(nodes[1]!.url)
    const ws = new WebSocket(`${nodes[1]!.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws')
    const error = await new Promise<unknown>((resolve, reject) => {
      ws.once('error', reject)
      ws.on('message', (raw: Buffer) => {
        const msg = JSON.parse(raw.toString()) as { type: string; payload?: unknown }
        if (msg.type === 'connection_ack') {
          const payload = {
            query: COMMENTS,
            variables: { t: { projectId, resourceIdString: '' } },
            extensions: { truss: { since: 1 } },
          }
          ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload }))
        } else if (msg.type === 'error') resolve(msg.payload)
      })
      ws.once('open', () =>
        ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } })),
      )
    })
    ws.close()
    expect(error).toEqual([expect.objectContaining({ extensions: { code: 'RESUME_RESET' } })])
    expect(await subscriptionsStarted(nodes[1]!.url)).toBeGreaterThan(before)
  }, 30_000)
})
