/**
 * The preview routes over the real database and the real services, with the auth plugin resolving tokens,
 * and the render job run with the real renderer on the Revit floor from `shared/data`.
 */
import { readFileSync } from 'node:fs'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createJobQueue } from '../../jobs/queue.js'
import type { ClaimedJob, JobContext } from '../../jobs/runner.js'
import type { Sql } from '../../adapters/sql/types.js'
import { domainContext, type DomainContext } from '../../test-utils/domain.js'
import { authPlugin } from '../auth/plugin.js'
import { openDatabase } from '../auth/test-utils/identity.js'
import { createPolicy } from '../policy/service.js'
import type { User } from '../users/service.js'
import { createPreviewJobHandler } from './job.js'
import { placeholderPng, type PlaceholderKind } from './placeholders.js'
import { decodePng } from './png.js'
import { createPreviewRenderer } from './renderer.js'
import { registerPreviewRoutes } from './routes.js'
import { createPreviewsService, type PreviewsService } from './service.js'
import { sharedData } from '../../../../core/test/shared-data.js'

const MODEL = sharedData('speckle/RevitObject.json')
const revit = JSON.parse(readFileSync(MODEL, 'utf8')) as { id: string }[]

describe('preview routes', () => {
  let sql: Sql & { dispose(): Promise<void> }
  let ctx: DomainContext
  let app: FastifyInstance
  let previews: PreviewsService
  let owner: User
  let token: string
  const renderer = createPreviewRenderer()

  beforeAll(async () => {
    sql = await openDatabase('pglite')
    ctx = domainContext(sql)
    const jobs = createJobQueue({ sql })
    previews = createPreviewsService({ sql, jobs })
    ctx.activity.addSink(previews.recordActivity)
    owner = await ctx.newUser()
    token = await ctx.newToken(owner.id)
    const policy = createPolicy({ projects: ctx.projects })
    app = Fastify()
    await app.register(authPlugin, { tokens: ctx.tokens })
    await app.register(registerPreviewRoutes, {
      authorize: (request, projectId) => policy.authorizeProject(request.principal, projectId, 'read'),
      projects: ctx.projects,
      models: ctx.models,
      versions: ctx.versions,
      objects: ctx.objects,
      previews,
      requestRender: previews.requestRender,
    })
  })
  afterAll(async () => {
    await renderer.close()
    await app?.close()
    await sql?.dispose()
  })

  async function get(url: string, withToken = false) {
    return app.inject({ method: 'GET', url, headers: withToken ? { authorization: `Bearer ${token}` } : {} })
  }

  function expectPlaceholder(res: Awaited<ReturnType<typeof get>>, kind: PlaceholderKind) {
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('image/png')
    expect(res.headers['access-control-allow-origin']).toBe('*')
    expect(res.rawPayload.equals(placeholderPng(kind))).toBe(true)
  }

  const pendingJobs = async () =>
    (
      await sql.query<{ payload: { projectId: string; objectId: string } }>(
        "SELECT payload FROM jobs WHERE kind = 'preview.render' AND status = 'queued'",
      )
    ).rows.map((r) => r.payload)

  it('answers the 404 placeholder for an unknown project, with or without a token', async () => {
    expectPlaceholder(await get('/preview/nosuchproject'), 'notFound')
    expectPlaceholder(await get('/preview/nosuchproject/commits/abc/3', true), 'notFound')
  })

  it('answers the 401 placeholder to a caller without access, and a bare 403 on the objects route', async () => {
    const project = await ctx.newProject(owner.id, { visibility: 'private' })
    expectPlaceholder(await get(`/preview/${project.id}`), 'unauthorized')
    expectPlaceholder(await get(`/preview/${project.id}/branches/main/2`), 'unauthorized')
    const res = await get(`/preview/${project.id}/objects/${'a'.repeat(32)}`)
    expect(res.statusCode).toBe(403)
    expect(res.rawPayload.length).toBe(0)
  })

  it('answers the 404 placeholder for an unknown model, version or object of a readable project', async () => {
    const project = await ctx.newProject(owner.id, { visibility: 'public' })
    expectPlaceholder(await get(`/preview/${project.id}/branches/nope`), 'notFound')
    expectPlaceholder(await get(`/preview/${project.id}/commits/0123456789`), 'notFound')
    expectPlaceholder(await get(`/preview/${project.id}/objects/${'b'.repeat(32)}`), 'notFound')
    // No version yet: nothing to show.
    expectPlaceholder(await get(`/preview/${project.id}`), 'pending')
  })

  it(
    'enqueues a render with a new version, shows "no preview" until it is done, then the image',
    { timeout: 120_000 },
    async () => {
      const project = await ctx.newProject(owner.id, { visibility: 'private' })
      await ctx.objects.store(
        project.id,
        revit.map((o) => ({ id: o.id, json: JSON.stringify(o) })),
      )
      const model = (await ctx.models.getByName(project.id, 'main'))!
      const version = await ctx.versions.create({
        projectId: project.id,
        modelId: model.id,
        objectId: revit[0]!.id,
        actorId: owner.id,
      })
      expect(await pendingJobs()).toContainEqual({ projectId: project.id, objectId: revit[0]!.id })
      expectPlaceholder(await get(`/preview/${project.id}/commits/${version.id}`, true), 'pending')
      // Asking again does not add a second job.
      expect((await pendingJobs()).filter((p) => p.projectId === project.id)).toHaveLength(1)

      const handler = createPreviewJobHandler({ sql, objects: ctx.objects, renderer })
      const job = { id: '1', kind: 'preview.render', payload: { projectId: project.id, objectId: revit[0]!.id } }
      const jobContext = {
        signal: new AbortController().signal,
        logger: { info() {}, warn() {}, error() {} },
        lastAttempt: false,
        renew: async () => {},
        complete: (fn) => sql.transaction(fn),
      } as JobContext
      const result = (await handler.run(job as ClaimedJob<'preview.render'>, jobContext)) as { angles: number }
      expect(result.angles).toBe(8)

      for (const url of [
        `/preview/${project.id}`,
        `/preview/${project.id}/branches/main`,
        `/preview/${project.id}/commits/${version.id}/12`,
        `/preview/${project.id}/objects/${revit[0]!.id}/0`,
      ]) {
        const res = await get(url, true)
        expect(res.statusCode, url).toBe(200)
        expect(res.headers['content-type']).toBe('image/png')
        expect(decodePng(res.rawPayload).width).toBe(700)
        expect(res.rawPayload.equals(placeholderPng('pending'))).toBe(false)
      }
      const front = await get(`/preview/${project.id}/commits/${version.id}/0`, true)
      const back = await get(`/preview/${project.id}/commits/${version.id}/12`, true)
      expect(front.rawPayload.equals(back.rawPayload)).toBe(false)
    },
  )
})
