/**
 * The subscription resolvers over PGlite and a memory bus: every event is checked against the subscriber's
 * current access (from the node's access cache), and what an event points at is read once per node.
 */
import { parse, subscribe, type ExecutionResult } from 'graphql'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMemoryBus } from '../../adapters/bus/index.js'
import type { Bus } from '../../adapters/bus/types.js'
import type { Sql } from '../../adapters/sql/types.js'
import { domainContext, type DomainContext } from '../../test-utils/domain.js'
import { openDatabase } from '../auth/test-utils/identity.js'
import { createPolicy } from '../policy/service.js'
import type { VersionsService } from '../versions/service.js'
import { createGraphqlContext, type GraphqlDeps, type Subscribe } from './context.js'
import { createDomainSchema as createGraphqlSchema } from '../../graphql-schema.js'
import { createRealtimeHub, type RealtimeHub } from '../realtime/hub.js'
import { busSubscribe } from './subscriptions.js'

const silent = pino({ level: 'silent' })
const VERSIONS = 'subscription($id: String!) { projectVersionsUpdated(id: $id) { id type version { id message } } }'

type Stream = AsyncGenerator<ExecutionResult>

describe('subscription resolvers', () => {
  let sql: Sql & { dispose(): Promise<void> }
  let bus: Bus
  let ctx: DomainContext
  let deps: GraphqlDeps
  let versionReads: number
  let hub: RealtimeHub
  const schema = createGraphqlSchema()

  beforeAll(async () => {
    sql = await openDatabase('pglite')
    bus = createMemoryBus({ logger: silent })
    ctx = domainContext(sql, bus)
    hub = createRealtimeHub({ bus, logger: silent })
    const versions: VersionsService = {
      ...ctx.versions,
      getById: (projectId, versionId) => {
        versionReads += 1
        return ctx.versions.getById(projectId, versionId)
      },
    }
    // Only what subscriptions use; the rest of GraphqlDeps is not reached.
    deps = {
      projects: ctx.projects,
      models: ctx.models,
      versions,
      users: ctx.users,
      policy: createPolicy({ projects: ctx.projects }),
    } as unknown as GraphqlDeps
  })

  afterAll(async () => {
    await hub.close()
    await bus.close()
    await sql.dispose()
  })

  async function open(token: string, feed: Subscribe, query = VERSIONS, id?: string): Promise<Stream> {
    const principal = await ctx.tokens.verify(token)
    const result = await subscribe({
      schema,
      document: parse(query),
      variableValues: { id },
      contextValue: createGraphqlContext(deps, principal, feed),
    })
    if (!(Symbol.asyncIterator in result)) throw new Error(JSON.stringify(result.errors))
    return result as Stream
  }

  /** Collect what `stream` yields; `settled()` answers what arrived, once nothing did for 200 ms. */
  function collect(stream: Stream): { settled(): Promise<ExecutionResult[]> } {
    const got: ExecutionResult[] = []
    let last = Date.now()
    void (async () => {
      for (let next = await stream.next(); !next.done; next = await stream.next()) {
        got.push(next.value)
        last = Date.now()
      }
    })()
    return {
      async settled() {
        last = Date.now()
        while (Date.now() - last < 200) await new Promise((resolve) => setTimeout(resolve, 20))
        return got
      },
    }
  }

  const versionIds = (results: ExecutionResult[]) =>
    results.map((r) => (r.data as { projectVersionsUpdated: { id: string } }).projectVersionsUpdated.id)

  it('stops delivering to a member whose role was revoked, and keeps delivering to the others', async () => {
    const owner = await ctx.newUser()
    const member = await ctx.newUser()
    const project = await ctx.newProject(owner.id)
    const main = (await ctx.models.getByName(project.id, 'main'))!
    await ctx.projects.setRole({ projectId: project.id, userId: member.id, role: 'stream:reviewer' })
    const feed = hub.subscribe
    const ownerStream = await open(await ctx.newToken(owner.id), feed, VERSIONS, project.id)
    const memberStream = await open(await ctx.newToken(member.id), feed, VERSIONS, project.id)
    const ownerSeen = collect(ownerStream)
    const memberSeen = collect(memberStream)
    const before = await ctx.newVersion(project.id, main.id, owner.id, 'before')
    await ctx.projects.removeRole(project.id, member.id, owner.id)
    const after = await ctx.newVersion(project.id, main.id, owner.id, 'after')
    expect(versionIds(await ownerSeen.settled())).toEqual([before.id, after.id])
    expect(versionIds(await memberSeen.settled())).toEqual([before.id])
    await ownerStream.return(undefined)
    await memberStream.return(undefined)
  })

  it('stops delivering to a non-member once a public project turns private', async () => {
    const owner = await ctx.newUser()
    const stranger = await ctx.newUser()
    const project = await ctx.newProject(owner.id, { visibility: 'public' })
    const main = (await ctx.models.getByName(project.id, 'main'))!
    const feed = hub.subscribe
    const stream = await open(await ctx.newToken(stranger.id), feed, VERSIONS, project.id)
    const seen = collect(stream)
    const publicVersion = await ctx.newVersion(project.id, main.id, owner.id, 'public')
    await ctx.projects.update({ id: project.id, actorId: owner.id, visibility: 'private' })
    await ctx.newVersion(project.id, main.id, owner.id, 'private')
    expect(versionIds(await seen.settled())).toEqual([publicVersion.id])
    await stream.return(undefined)
  })

  it('reads each event’s version once per node, however many principals subscribe', async () => {
    const owner = await ctx.newUser()
    const project = await ctx.newProject(owner.id, { visibility: 'public' })
    const main = (await ctx.models.getByName(project.id, 'main'))!
    const users = await Promise.all(Array.from({ length: 5 }, () => ctx.newUser()))
    const feed = hub.subscribe
    const streams = await Promise.all(
      users.map(async (u) => open(await ctx.newToken(u.id), feed, VERSIONS, project.id)),
    )
    const seen = streams.map(collect)
    versionReads = 0
    const version = await ctx.newVersion(project.id, main.id, owner.id, 'once')
    for (const got of await Promise.all(seen.map((s) => s.settled()))) expect(versionIds(got)).toEqual([version.id])
    expect(versionReads).toBe(1)
    for (const s of streams) await s.return(undefined)
  })

  it('refuses to subscribe to a private project without a role', async () => {
    const owner = await ctx.newUser()
    const stranger = await ctx.newUser()
    const project = await ctx.newProject(owner.id)
    const principal = await ctx.tokens.verify(await ctx.newToken(stranger.id))
    const result = await subscribe({
      schema,
      document: parse(VERSIONS),
      variableValues: { id: project.id },
      contextValue: createGraphqlContext(deps, principal, busSubscribe(bus)),
    })
    expect((result as ExecutionResult).errors?.[0]?.message).toMatch(/access/)
  })
})
