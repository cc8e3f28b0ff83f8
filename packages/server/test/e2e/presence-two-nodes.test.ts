/**
 * Presence on two in-process nodes over one PostgreSQL and one Redis, with a 1 s TTL: a viewer's broadcast
 * on node A reaches a subscriber on node B, its expiry yields exactly one DISCONNECTED (both nodes sweep),
 * a stranger cannot listen to a private project's activity, and a member removed through node A stops
 * receiving on node B at once.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type Client } from 'graphql-ws'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { createSql } from '../../src/adapters/sql/index.js'
import { runMigrations } from '../../src/adapters/sql/migrate.js'
import { createIdentityServices, loadConfig, startServer, type RunningServer } from '../../src/index.js'
import { createTestPostgresDatabase } from '../../src/test-utils/db.js'

const silent = pino({ level: 'silent' })
const REDIS_URL = 'redis://127.0.0.1:6379'
const BROADCAST = `mutation($p: String!, $r: String!, $m: ViewerUserActivityMessageInput!) {
  broadcastViewerUserActivity(projectId: $p, resourceIdString: $r, message: $m) }`
const SUB = `subscription($t: ViewerUpdateTrackingTarget!, $s: String) {
  viewerUserActivityBroadcasted(target: $t, sessionId: $s) { sessionId userId userName status state user { name } } }`

interface Seed {
  owner: string
  member: string
  memberId: string
  stranger: string
  projectId: string
}

let db: { url: string; drop(): Promise<void> }
let nodes: RunningServer[] = []
const dirs: string[] = []
const clients: Client[] = []
let seed: Seed

async function gql(url: string, token: string, query: string, variables: Record<string, unknown>) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  })
  return (await res.json()) as { data?: Record<string, unknown>; errors?: { message: string }[] }
}

/** Subscribe over graphql-transport-ws; resolves once the node's started-subscriptions counter grew. */
function listen(url: string, token: string, variables: Record<string, unknown>) {
  const client = createClient({
    url: `${url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
  })
  clients.push(client)
  const events: Record<string, unknown>[] = []
  const errors: unknown[] = []
  client.subscribe(
    { query: SUB, variables },
    {
      next: (v) => events.push((v.data as Record<string, Record<string, unknown>>).viewerUserActivityBroadcasted!),
      error: (e) => errors.push(e),
      complete: () => undefined,
    },
  )
  return { events, errors }
}

async function started(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  return Number(/^truss_realtime_subscriptions_started_total (\d+)/m.exec(text)?.[1] ?? 0)
}

beforeAll(async () => {
  db = await createTestPostgresDatabase()
  const sql = await createSql({ databaseUrl: db.url, logger: silent })
  await runMigrations(sql)
  const { users, tokens, projects } = createIdentityServices(sql)
  const password = 'correct horse battery'
  const scopes = ['streams:read', 'streams:write', 'profile:read']
  const make = async (name: string) => {
    const user = await users.create({ email: `${name.toLowerCase()}@example.com`, name, password })
    return { id: user.id, token: await tokens.create({ userId: user.id, name: 'e2e', scopes }) }
  }
  const [owner, member, stranger] = [await make('Ada'), await make('Bob'), await make('Eve')]
  const project = await projects.create({ ownerId: owner.id, name: 'Private', visibility: 'private' })
  await projects.setRole({ projectId: project.id, userId: member.id, role: 'stream:reviewer' })
  await sql.close()
  seed = {
    owner: owner.token,
    member: member.token,
    memberId: member.id,
    stranger: stranger.token,
    projectId: project.id,
  }
  for (let i = 0; i < 2; i++) {
    const dataDir = await mkdtemp(join(tmpdir(), 'truss-presence-'))
    dirs.push(dataDir)
    const config = loadConfig(
      { TRUSS_PRESENCE_TTL_SECONDS: '1' },
      { port: 0, dataDir, databaseUrl: db.url, redisUrl: REDIS_URL, logLevel: 'silent', workers: false },
    )
    nodes.push(await startServer(config, { logger: silent }))
  }
}, 60_000)

afterAll(async () => {
  for (const client of clients) await client.dispose()
  for (const node of nodes) await node.close()
  nodes = []
  await db?.drop()
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

describe('presence across two nodes (PostgreSQL + Redis)', () => {
  it('delivers a broadcast on A to B, lists it on both, and one DISCONNECTED when its TTL passes', async () => {
    const [a, b] = nodes as [RunningServer, RunningServer]
    const before = await started(b.url)
    const sub = listen(b.url, seed.member, {
      t: { projectId: seed.projectId, resourceIdString: 'model1' },
      s: 'bob-tab',
    })
    await vi.waitFor(async () => expect(await started(b.url)).toBeGreaterThan(before), { timeout: 10_000 })
    const state = { ui: { camera: { position: [1, 2, 3], target: [0, 0, 0] }, selection: ['obj1'] } }
    const message = { sessionId: 'ada-tab', userName: 'spoofed', status: 'VIEWING', state }
    const sent = await gql(a.url, seed.owner, BROADCAST, { p: seed.projectId, r: 'model1@v1', m: message })
    expect(sent.errors).toBeUndefined()
    await vi.waitFor(() => expect(sub.events.length).toBe(1), { timeout: 5_000 })
    expect(sub.events[0]).toMatchObject({ sessionId: 'ada-tab', userName: 'Ada', status: 'VIEWING', state })
    expect(sub.events[0]!.user).toEqual({ name: 'Ada' })

    const listed = await gql(
      b.url,
      seed.member,
      `query($id: String!) { project(id: $id) { viewerUsers { sessionId userName } onlineUsers { name } } }`,
      { id: seed.projectId },
    )
    expect(listed.data?.project).toEqual({
      viewerUsers: [{ sessionId: 'ada-tab', userName: 'Ada' }],
      onlineUsers: [{ name: 'Ada' }],
    })

    // No more heartbeats: within TTL + a sweep interval both nodes sweep, one announces the end.
    await vi.waitFor(() => expect(sub.events.length).toBe(2), { timeout: 5_000, interval: 50 })
    expect(sub.events[1]).toMatchObject({ sessionId: 'ada-tab', status: 'DISCONNECTED', state: null })
    await new Promise((resolve) => setTimeout(resolve, 800))
    expect(sub.events.length).toBe(2)
    const after = await gql(
      a.url,
      seed.owner,
      `query($id: String!) { project(id: $id) { viewerUsers { sessionId } } }`,
      { id: seed.projectId },
    )
    expect(after.data?.project).toEqual({ viewerUsers: [] })
  })

  it("refuses a stranger's subscription to a private project's activity, and their broadcast", async () => {
    const [a] = nodes as [RunningServer]
    const sub = listen(a.url, seed.stranger, { t: { projectId: seed.projectId, resourceIdString: '' } })
    await vi.waitFor(() => expect(sub.errors.length).toBe(1), { timeout: 5_000 })
    const message = { sessionId: 'eve-tab', userName: 'Eve', status: 'VIEWING', state: {} }
    const sent = await gql(a.url, seed.stranger, BROADCAST, { p: seed.projectId, r: '', m: message })
    expect(sent.errors?.length).toBe(1)
  })

  it('stops delivering to a member removed from the project at once', async () => {
    const [a, b] = nodes as [RunningServer, RunningServer]
    const before = await started(b.url)
    const sub = listen(b.url, seed.member, { t: { projectId: seed.projectId, resourceIdString: '' } })
    await vi.waitFor(async () => expect(await started(b.url)).toBeGreaterThan(before), { timeout: 10_000 })
    const beat = (sessionId: string) =>
      gql(a.url, seed.owner, BROADCAST, {
        p: seed.projectId,
        r: 'model1',
        m: { sessionId, userName: 'Ada', status: 'VIEWING', state: {} },
      })
    await beat('one')
    await vi.waitFor(() => expect(sub.events.length).toBe(1), { timeout: 5_000 })
    const removed = await gql(
      a.url,
      seed.owner,
      `mutation($i: ProjectUpdateRoleInput!) { projectMutations { updateRole(input: $i) { id } } }`,
      {
        i: { projectId: seed.projectId, userId: seed.memberId, role: null },
      },
    )
    expect(removed.errors).toBeUndefined()
    await beat('two')
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(sub.events.map((e) => e.sessionId)).toEqual(['one'])
  })
})
