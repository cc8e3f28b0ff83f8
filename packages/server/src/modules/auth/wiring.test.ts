/**
 * The identity modules wired into the real app exactly as `main.ts` does (see the lines in the issue
 * report): the auth plugin first, then the object routes asking the policy. Checks Speckle's answers.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBlobStore } from '../../adapters/blobs/index.js'
import type { BlobStore } from '../../adapters/blobs/types.js'
import { createBus } from '../../adapters/bus/index.js'
import type { Bus } from '../../adapters/bus/types.js'
import type { Sql } from '../../adapters/sql/types.js'
import { buildApp, type TrussApp } from '../../app.js'
import { loadConfig, mbToBytes } from '../../config.js'
import { objectsRoutes } from '../objects/rest.js'
import { createObjectsService } from '../objects/service.js'
import { createPolicy } from '../policy/service.js'
import type { Project } from '../projects/service.js'
import { authPlugin } from './plugin.js'
import { identityContext, openDatabase, type IdentityContext } from './test-utils/identity.js'

const silent = pino({ level: 'silent' })
// A leaf object: its id need not be its hash for the store.
const OBJECT_ID = 'a'.repeat(32)
const BATCH = JSON.stringify([{ id: OBJECT_ID, speckle_type: 'Base', value: 1 }])

describe('object routes behind auth and the policy', () => {
  let dir: string
  let sql: Sql & { dispose(): Promise<void> }
  let blobs: BlobStore
  let bus: Bus
  let app: TrussApp
  let ctx: IdentityContext
  let owner: string
  let reviewer: string
  let readOnly: string
  let privateProject: Project
  let publicProject: Project

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'truss-wiring-'))
    sql = await openDatabase('pglite')
    blobs = await createBlobStore({ dataDir: dir })
    bus = await createBus({ logger: silent })
    ctx = identityContext(sql)
    const config = loadConfig({}, { dataDir: dir })

    // ── the wiring handed to main.ts ──
    app = buildApp({ config, sql, blobs, bus, logger: silent })
    const policy = createPolicy({ projects: ctx.projects })
    await app.register(authPlugin, { tokens: ctx.tokens })
    const objects = createObjectsService({ sql, maxObjectBytes: mbToBytes(config.maxObjectSizeMb) })
    await app.register(objectsRoutes, {
      objects,
      authorize: (request, projectId, mode) => policy.authorizeProject(request.principal, projectId, mode),
      maxPartBytes: mbToBytes(config.maxObjectUploadFileSizeMb),
    })
    await app.ready()

    const ownerUser = await ctx.newUser()
    const reviewerUser = await ctx.newUser()
    privateProject = await ctx.newProject(ownerUser.id)
    publicProject = await ctx.newProject(ownerUser.id, { visibility: 'public' })
    await ctx.projects.setRole({ projectId: privateProject.id, userId: reviewerUser.id, role: 'stream:reviewer' })
    owner = await ctx.newToken(ownerUser.id, ['streams:read', 'streams:write'])
    readOnly = await ctx.newToken(ownerUser.id, ['streams:read'])
    reviewer = await ctx.newToken(reviewerUser.id, ['streams:read', 'streams:write'])
  })

  afterAll(async () => {
    await app?.close()
    await Promise.all([sql?.dispose(), blobs?.close(), bus?.close()])
    await rm(dir, { recursive: true, force: true })
  })

  function upload(projectId: string, token?: string) {
    const boundary = 'truss-boundary'
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="batch-1"; filename="batch-1"\r\n`),
      Buffer.from('Content-Type: application/gzip\r\n\r\n'),
      gzipSync(BATCH),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ])
    return app.inject({
      method: 'POST',
      url: `/objects/${projectId}`,
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      payload: body,
    })
  }

  function read(projectId: string, token?: string) {
    return app.inject({
      url: `/objects/${projectId}/${OBJECT_ID}/single`,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    })
  }

  it('lets a contributor or owner holding streams:write upload (201)', async () => {
    expect((await upload(privateProject.id, owner)).statusCode).toBe(201)
    expect((await upload(publicProject.id, owner)).statusCode).toBe(201)
  })

  it('answers a bare 401 to an upload without a token, without the scope or with too low a role', async () => {
    for (const res of [
      await upload(privateProject.id),
      await upload(privateProject.id, readOnly),
      await upload(privateProject.id, reviewer),
      await upload(publicProject.id, reviewer),
      await upload('missing000', owner),
    ]) {
      expect(res.statusCode).toBe(401)
      expect(res.body).toBe('')
    }
  })

  it('refuses an invalid token on any route with 403 JSON', async () => {
    const res = await read(publicProject.id, 'x'.repeat(42))
    expect(res.statusCode).toBe(403)
    expect(res.json()).toEqual({ error: 'Your token is not valid.' })
    expect(res.headers['access-control-allow-origin']).toBe('*')
  })

  it('lets anyone read a public project and members read a private one', async () => {
    expect((await read(publicProject.id)).statusCode).toBe(200)
    expect((await read(privateProject.id, reviewer)).statusCode).toBe(200)
    expect((await read(privateProject.id, readOnly)).statusCode).toBe(200)
    expect((await read(privateProject.id)).statusCode).toBe(401)
  })

  it('answers 404 to an authenticated read of an unknown project, 401 to an anonymous one', async () => {
    expect((await read('missing000', owner)).statusCode).toBe(404)
    expect((await read('missing000')).statusCode).toBe(401)
  })

  it('still answers CORS preflights without credentials', async () => {
    const res = await app.inject({ method: 'OPTIONS', url: `/objects/${privateProject.id}` })
    expect(res.statusCode).toBe(204)
  })
})
