/**
 * Two `truss serve` processes on one PostgreSQL and one Redis: a legacy `graphql-ws` subscriber on
 * node B sees a version created through GraphQL on node A, and a legacy `commitCreated` subscriber sees
 * a `commitCreate` sent to node A. Access is checked per event on every node: a role revoked or a project
 * turned private through one node stops delivery on both (each node's access cache follows the change feed).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { Base, MemoryTransport, ServerTransport, send } from '@truss/core'
import { openIdentity } from '../../src/modules/auth/identity.js'
import { createTestPostgresDatabase } from '../../src/test-utils/db.js'
import { legacySubscribe } from './legacy-subscriber.js'
import { gql, startServeProcess, type ServeProcess } from './serve-processes.js'

describe('subscriptions across two server processes (PostgreSQL + Redis)', () => {
  let db: { url: string; drop(): Promise<void> }
  const dirs: string[] = []
  let a: ServeProcess
  let b: ServeProcess
  let token: string
  let memberId: string
  let memberToken: string
  let projectId: string
  let mainModelId: string

  beforeAll(async () => {
    db = await createTestPostgresDatabase()
    const env = { DATABASE_URL: db.url, REDIS_URL: 'redis://127.0.0.1:6379' }
    const identityDir = mkdtempSync(join(tmpdir(), 'truss-nodes-'))
    dirs.push(identityDir)
    const identity = await openIdentity({ databaseUrl: db.url, dataDir: identityDir })
    const user = await identity.users.create({ email: 'ada@example.com', password: 'two-nodes-pass', name: 'Ada' })
    token = await identity.tokens.create({
      userId: user.id,
      name: 'nodes',
      scopes: ['streams:read', 'streams:write', 'profile:read'],
    })
    const member = await identity.users.create({ email: 'bob@example.com', password: 'two-nodes-pass', name: 'Bob' })
    memberId = member.id
    memberToken = await identity.tokens.create({
      userId: member.id,
      name: 'nodes',
      scopes: ['streams:read', 'streams:write', 'profile:read'],
    })
    await identity.close()
    for (let i = 0; i < 2; i++) dirs.push(mkdtempSync(join(tmpdir(), 'truss-node-')))
    ;[a, b] = await Promise.all([startServeProcess(env, dirs[1]!), startServeProcess(env, dirs[2]!)])
    const created = await gql(a.url, token, 'mutation { streamCreate(stream: { name: "Two nodes" }) }')
    projectId = created.streamCreate as string
    const project = await gql(
      a.url,
      token,
      'query($id: String!) { project(id: $id) { models { items { id name } } } }',
      {
        id: projectId,
      },
    )
    const models = (project.project as { models: { items: { id: string; name: string }[] } }).models.items
    mainModelId = models.find((m) => m.name === 'main')!.id
  }, 120_000)

  afterAll(async () => {
    for (const n of [a, b]) {
      if (!n) continue
      n.process.kill('SIGTERM')
      await new Promise((resolve) => n.process.once('exit', resolve))
    }
    await db?.drop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it('delivers projectVersionsUpdated on node B for a version created through node A', async () => {
    const objectId = await send(new Base({ name: 'Level 1', '@rooms': [new Base({ n: 1 }), new Base({ n: 2 })] }), {
      transports: [new ServerTransport({ serverUrl: a.url, projectId, token })],
      cache: new MemoryTransport(),
    })
    const sub = await legacySubscribe(
      b.url,
      token,
      'subscription($id: String!) { projectVersionsUpdated(id: $id) { id type modelId version { id message referencedObject } } }',
      { id: projectId },
    )
    const next = sub.next()
    const created = await gql(
      a.url,
      token,
      'mutation($input: CreateVersionInput!) { versionMutations { create(input: $input) { id } } }',
      { input: { projectId, modelId: mainModelId, objectId, message: 'from node A' } },
    )
    const versionId = (created.versionMutations as { create: { id: string } }).create.id
    const event = (await next) as { data: { projectVersionsUpdated: Record<string, unknown> } }
    sub.close()
    expect(event.data.projectVersionsUpdated).toMatchObject({
      id: versionId,
      type: 'CREATED',
      modelId: mainModelId,
      version: { id: versionId, message: 'from node A', referencedObject: objectId },
    })
  })

  it('delivers the legacy commitCreated on node B for a commitCreate sent to node A', async () => {
    const objectId = await send(new Base({ name: 'Level 2' }), {
      transports: [new ServerTransport({ serverUrl: a.url, projectId, token })],
      cache: new MemoryTransport(),
    })
    const sub = await legacySubscribe(b.url, token, 'subscription($id: String!) { commitCreated(streamId: $id) }', {
      id: projectId,
    })
    const next = sub.next()
    const created = await gql(a.url, token, 'mutation($c: CommitCreateInput!) { commitCreate(commit: $c) }', {
      c: { streamId: projectId, branchName: 'main', objectId, message: 'legacy' },
    })
    const event = (await next) as { data: { commitCreated: Record<string, unknown> } }
    sub.close()
    expect(event.data.commitCreated).toMatchObject({ id: created.commitCreate, objectId, message: 'legacy' })
  })

  const VERSIONS = 'subscription($id: String!) { projectVersionsUpdated(id: $id) { id type } }'

  async function newVersion(url: string, project: string, message: string): Promise<string> {
    const objectId = await send(new Base({ name: message }), {
      transports: [new ServerTransport({ serverUrl: url, projectId: project, token })],
      cache: new MemoryTransport(),
    })
    const data = await gql(url, token, 'query($id: String!) { project(id: $id) { models { items { id name } } } }', {
      id: project,
    })
    const model = (data.project as { models: { items: { id: string; name: string }[] } }).models.items[0]!
    const created = await gql(
      url,
      token,
      'mutation($input: CreateVersionInput!) { versionMutations { create(input: $input) { id } } }',
      { input: { projectId: project, modelId: model.id, objectId, message } },
    )
    return (created.versionMutations as { create: { id: string } }).create.id
  }

  const ids = (events: unknown[]) =>
    events.map((e) => (e as { data: { projectVersionsUpdated: { id: string } } }).data.projectVersionsUpdated.id)

  it('stops delivering on both nodes to a member whose role was revoked through node A', async () => {
    const created = await gql(
      a.url,
      token,
      'mutation { streamCreate(stream: { name: "Revocation", isPublic: false }) }',
    )
    const project = created.streamCreate as string
    const role = 'mutation($i: ProjectUpdateRoleInput!) { projectMutations { updateRole(input: $i) { id } } }'
    await gql(a.url, token, role, { i: { projectId: project, userId: memberId, role: 'stream:reviewer' } })
    const owner = await legacySubscribe(b.url, token, VERSIONS, { id: project })
    const onB = await legacySubscribe(b.url, memberToken, VERSIONS, { id: project })
    const onA = await legacySubscribe(a.url, memberToken, VERSIONS, { id: project })
    try {
      const first = owner.next()
      const v1 = await newVersion(a.url, project, 'before')
      await first
      await vi.waitFor(() => expect([ids(onA.events), ids(onB.events)]).toEqual([[v1], [v1]]))
      await gql(a.url, token, role, { i: { projectId: project, userId: memberId, role: null } })
      const second = owner.next()
      const v2 = await newVersion(b.url, project, 'after')
      await second
      // Give the member's checks time to run on both nodes (a miss reads the role once).
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(ids(owner.events)).toEqual([v1, v2])
      expect(ids(onA.events)).toEqual([v1])
      expect(ids(onB.events)).toEqual([v1])
    } finally {
      for (const sub of [owner, onA, onB]) sub.close()
    }
  })

  it('stops delivering to a non-member on both nodes once the project turns private through node B', async () => {
    const created = await gql(a.url, token, 'mutation { streamCreate(stream: { name: "Public", isPublic: true }) }')
    const project = created.streamCreate as string
    const owner = await legacySubscribe(a.url, token, VERSIONS, { id: project })
    const onA = await legacySubscribe(a.url, memberToken, VERSIONS, { id: project })
    const onB = await legacySubscribe(b.url, memberToken, VERSIONS, { id: project })
    try {
      const first = owner.next()
      const v1 = await newVersion(a.url, project, 'public')
      await first
      await vi.waitFor(() => expect([ids(onA.events), ids(onB.events)]).toEqual([[v1], [v1]]))
      await gql(b.url, token, 'mutation($u: ProjectUpdateInput!) { projectMutations { update(update: $u) { id } } }', {
        u: { id: project, visibility: 'PRIVATE' },
      })
      const second = owner.next()
      const v2 = await newVersion(a.url, project, 'private')
      await second
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(ids(owner.events)).toEqual([v1, v2])
      expect(ids(onA.events)).toEqual([v1])
      expect(ids(onB.events)).toEqual([v1])
    } finally {
      for (const sub of [owner, onA, onB]) sub.close()
    }
  })
})
