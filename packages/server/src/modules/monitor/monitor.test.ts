/**
 * `serverStats` over GraphQL on PGlite and PostgreSQL: the database monitor's real reading, objects and
 * bytes per project from the objects table, the job queue's depth; admins only.
 */
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createJobQueue } from '../../jobs/index.js'
import { createDatabaseMonitor } from '../../workers/monitor/index.js'
import { ALL_SCOPES, graphqlHarness, type GraphqlHarness } from '../graphql/test-utils.js'
import { createObjectsService } from '../objects/service.js'
import { projectObjectStats } from './stats.js'

const QUERY = `{ serverStats { collectedAt databaseBytes tables { table totalBytes approxRows }
  projects { projectId objects bytes } jobs { kind status count oldestSeconds } } }`

function suite(kind: 'pglite' | 'postgres') {
  describe(`serverStats (${kind})`, () => {
    let h: GraphqlHarness
    let adminToken: string
    let userToken: string
    let projectId: string

    beforeAll(async () => {
      h = await graphqlHarness(kind, {
        moduleDeps: (_ctx, sql) => {
          const monitor = createDatabaseMonitor({ sql, registry: new Registry(), logger: pino({ level: 'silent' }) })
          const jobs = createJobQueue({ sql })
          return {
            serverStats: async () => ({
              database: await monitor.collect(),
              projects: await projectObjectStats(sql),
              jobs: await jobs.depth(),
            }),
          }
        },
      })
      const admin = await h.ctx.newUser({ admin: true })
      adminToken = await h.ctx.newToken(admin.id, [...ALL_SCOPES, 'server:setup'])
      const user = await h.ctx.newUser()
      userToken = await h.ctx.newToken(user.id, [...ALL_SCOPES])
      projectId = (await h.ctx.newProject(admin.id)).id
      await h.ctx.newObjectTree(projectId, 5)
      await createJobQueue({ sql: h.sql }).enqueue(h.sql, 'preview.render', { projectId, objectId: 'x' })
    })
    afterAll(async () => {
      await h?.close()
    })

    it('gives an admin the database size, tables, objects per project and the queue', async () => {
      const { body } = await h.gql(QUERY, {}, adminToken)
      expect(body.errors).toBeUndefined()
      const stats = body.data.serverStats
      expect(stats.databaseBytes).toBeGreaterThan(1_000_000)
      expect(stats.tables.map((t: { table: string }) => t.table)).toEqual(expect.arrayContaining(['objects', 'jobs']))
      expect(stats.projects).toEqual([{ projectId, objects: 6, bytes: expect.any(Number) }])
      expect(stats.projects[0].bytes).toBeGreaterThan(0)
      expect(stats.jobs).toEqual([
        { kind: 'preview.render', status: 'queued', count: 1, oldestSeconds: expect.any(Number) },
      ])
    })

    it('counts an object stored in pieces once, and its pieces in its bytes', async () => {
      const id = 'f'.repeat(32)
      const json = `{"speckle_type":"Base","text":"${'x'.repeat(5_000)}","id":"${id}"}`
      const objects = createObjectsService({ sql: h.sql, maxObjectBytes: 1e6, pieceBytes: 1_000 })
      async function* parts() {
        yield (async function* () {
          yield Buffer.from(`[${json}]`)
        })()
      }
      expect(await objects.storeStream('pieces-project', parts())).toMatchObject({ added: 1 })
      const rows = await h.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM objects WHERE project_id = $1', [
        'pieces-project',
      ])
      expect(rows.rows[0]!.n).toBeGreaterThan(5) // a stub and its pieces
      const stats = await projectObjectStats(h.sql)
      const entry = stats.find((p) => p.projectId === 'pieces-project')
      expect(entry).toEqual({ projectId: 'pieces-project', objects: 1, bytes: expect.any(Number) })
      expect(entry!.bytes).toBeGreaterThan(5_000)
    })

    it('refuses a user who is not an admin', async () => {
      const { body } = await h.gql(QUERY, {}, userToken)
      expect(body.errors[0].extensions.code).toBe('FORBIDDEN')
      expect(body.data).toBeNull()
    })
  })
}

suite('pglite')
suite('postgres')
