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

    it('refuses a user who is not an admin', async () => {
      const { body } = await h.gql(QUERY, {}, userToken)
      expect(body.errors[0].extensions.code).toBe('FORBIDDEN')
      expect(body.data).toBeNull()
    })
  })
}

suite('pglite')
suite('postgres')
