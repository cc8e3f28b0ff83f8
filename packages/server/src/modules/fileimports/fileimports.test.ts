/**
 * File imports end to end over the real routes, GraphQL, job runner and `@truss/import` converters, on
 * PGlite and PostgreSQL: a real IFC and STL from ../shared/data become versions; corrupt, empty, oversized
 * and unsupported files end with a readable reason and leave no version and no objects. Blob routes too.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyRequest } from 'fastify'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importFile } from '@truss/import'
import { createBlobStore } from '../../adapters/blobs/index.js'
import type { BlobStore } from '../../adapters/blobs/types.js'
import { createJobQueue } from '../../jobs/index.js'
import { createJobRunner, type JobRunner } from '../../jobs/runner.js'
import { ALL_SCOPES, graphqlHarness, type GraphqlHarness, type Json } from '../graphql/test-utils.js'
import { createPolicy } from '../policy/service.js'
import { blobRoutes } from '../blobs/rest.js'
import { createBlobsService, type BlobsService } from '../blobs/service.js'
import { createFileImportJobHandler } from './job.js'
import { fileImportRoutes } from './rest.js'
import { createFileImportsService, type FileImportsService } from './service.js'
import { sharedData } from '../../../../core/test/shared-data.js'

const silent = pino({ level: 'silent' })
const data = (p: string) => sharedData(p)

/** A multipart/form-data body as a browser or connector sends it. */
function multipart(parts: { field: string; name: string; bytes: Buffer }[]) {
  const boundary = `----truss${Math.random().toString(16).slice(2)}`
  const chunks: Buffer[] = []
  for (const p of parts) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${p.field}"; filename="${p.name}"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      ),
      p.bytes,
      Buffer.from('\r\n'),
    )
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

const UPLOADS = `query($id: String!) { stream(id: $id) { fileUploads { id projectId streamId modelName branchName
  convertedStatus convertedMessage convertedVersionId convertedCommitId fileName fileType fileSize uploadComplete
  uploadDate convertedLastUpdate } } }`
const PENDING = `query($id: String!, $m: String!) { project(id: $id) {
  pendingImportedModels { id modelName convertedStatus }
  model(id: $m) { previewUrl pendingImportedVersions { id convertedStatus fileName } } } }`

function suite(kind: 'pglite' | 'postgres') {
  describe(`file imports (${kind})`, () => {
    let h: GraphqlHarness
    let store: BlobStore
    let storeDir: string | undefined
    let blobs: BlobsService
    let fileImports: FileImportsService
    let runner: JobRunner | undefined
    let token: string
    let readerToken: string
    let projectId: string
    let mainModelId: string

    const upload = async (path: string, files: { field?: string; name: string; bytes: Buffer }[], t = token) => {
      const body = multipart(files.map((f) => ({ field: f.field ?? f.name, ...f })))
      const res = await h.app.inject({
        method: 'POST',
        url: path,
        headers: { ...body.headers, ...(t ? { authorization: `Bearer ${t}` } : {}) },
        payload: body.payload,
      })
      return { status: res.statusCode, body: res.json() as Json }
    }
    const uploads = async (): Promise<Json[]> =>
      (await h.gql(UPLOADS, { id: projectId }, token)).body.data.stream.fileUploads
    const objectCount = async () =>
      (await h.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM objects WHERE project_id = $1', [projectId]))
        .rows[0]!.n
    const versionCount = async () =>
      (await h.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM versions WHERE project_id = $1', [projectId]))
        .rows[0]!.n
    /** Wait (bounded) until the upload's conversion is finished, one way or the other. */
    const settled = async (id: string): Promise<Json> => {
      const until = Date.now() + 45_000
      for (;;) {
        const found = (await uploads()).find((u) => u.id === id)
        if (found && found.convertedStatus >= 2) return found
        if (Date.now() > until) throw new Error(`upload ${id} did not finish: ${JSON.stringify(found)}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    const startRunner = async () => {
      if (runner) return
      runner = createJobRunner({
        sql: h.sql,
        logger: silent,
        pollSeconds: 0.05,
        handlers: [
          createFileImportJobHandler({
            sql: h.sql,
            blobs,
            fileImports,
            objects: h.ctx.objects,
            models: h.ctx.models,
            versions: h.ctx.versions,
            convert: (input, options) =>
              importFile({ ...input, fileType: input.fileType as 'ifc' | undefined }, { signal: options.signal }),
            limitBytes: 50 * 1024 * 1024,
          }),
        ],
      })
      await runner.start()
    }

    beforeAll(async () => {
      storeDir = await mkdtemp(join(tmpdir(), 'truss-imports-'))
      store = await createBlobStore({ dataDir: storeDir })
      h = await graphqlHarness(kind, {
        moduleDeps: (_ctx, sql) => {
          fileImports = createFileImportsService({ sql, jobs: createJobQueue({ sql }) })
          blobs = createBlobsService({ sql, blobs: store })
          return { blobs, fileImports }
        },
      })
      const policy = createPolicy({ projects: h.ctx.projects })
      const authorize = (request: FastifyRequest, id: string, mode: 'read' | 'write') =>
        policy.authorizeProject(request.principal, id, mode)
      await h.app.register(blobRoutes, { blobs, authorize, limitBytes: 1024 * 1024 })
      await h.app.register(fileImportRoutes, { blobs, fileImports, authorize, limitBytes: 10 * 1024 * 1024 })
      const owner = await h.ctx.newUser()
      token = await h.ctx.newToken(owner.id, [...ALL_SCOPES])
      const reader = await h.ctx.newUser()
      readerToken = await h.ctx.newToken(reader.id, [...ALL_SCOPES])
      projectId = (await h.ctx.newProject(owner.id, { name: 'Imports', visibility: 'private' } as never)).id
      await h.ctx.projects.setRole({ projectId, userId: reader.id, role: 'stream:reviewer', actorId: owner.id })
      mainModelId = (await h.ctx.models.getByName(projectId, 'main'))!.id
    })
    afterAll(async () => {
      await runner?.stop()
      await h?.close()
      await store?.close()
      if (storeDir) await rm(storeDir, { recursive: true, force: true })
    })

    it('writes each upload status change to the change feed in the same transaction as the change', async () => {
      const outboxRows = async (uploadId: string) =>
        (
          await h.sql.query<{ payload: { fileUploadId: string; created: boolean } }>(
            `SELECT payload FROM outbox WHERE type = 'FileUploadUpdated' AND payload->>'fileUploadId' = $1 ORDER BY seq`,
            [uploadId],
          )
        ).rows.map((r) => r.payload.created)
      const input = {
        projectId,
        modelName: 'feed',
        userId: (await h.ctx.newUser()).id,
        fileName: 'x.stl',
        fileType: 'stl',
        fileSize: 1,
      }
      // A transaction that rolls back leaves neither the upload nor its event.
      await expect(
        h.sql.transaction(async (tx) => {
          await fileImports.record(tx, { ...input, id: 'feedrolledback01' })
          throw new Error('rolled back')
        }),
      ).rejects.toThrow('rolled back')
      expect(await outboxRows('feedrolledback01')).toEqual([])
      // A committed upload and each status change after it are in the feed, in order.
      await h.sql.transaction((tx) => fileImports.record(tx, { ...input, id: 'feedcommitted001' }))
      await fileImports.setStatus(h.sql, 'feedcommitted001', 1)
      await fileImports.setStatus(h.sql, 'feedcommitted001', 3, { message: 'test' })
      // (The import job queued with it may add its own status changes meanwhile: also updates, never creations.)
      const rows = await outboxRows('feedcommitted001')
      expect(rows.length).toBeGreaterThanOrEqual(3)
      expect(rows).toEqual([true, ...rows.slice(1).map(() => false)])
      await h.sql.query('DELETE FROM file_uploads WHERE id = $1', ['feedcommitted001'])
    })

    it('queues an upload as a pending model, then converts a real IFC4 file into a version', async () => {
      const bytes = await readFile(data('ifc/AC20-FZK-Haus.ifc'))
      const res = await upload(`/api/file/ifc/${projectId}/${encodeURIComponent('buildings/fzk-haus')}`, [
        { name: 'AC20-FZK-Haus.ifc', bytes },
      ])
      expect(res.status).toBe(201)
      const [result] = res.body.uploadResults
      expect(result).toMatchObject({ fileName: 'AC20-FZK-Haus.ifc', fileSize: bytes.length, uploadStatus: 1 })

      // No worker yet: the upload waits, queued, as a pending model (the model does not exist).
      const pending = (await h.gql(PENDING, { id: projectId, m: mainModelId }, token)).body.data.project
      expect(pending.pendingImportedModels).toEqual([
        { id: result.blobId, modelName: 'buildings/fzk-haus', convertedStatus: 0 },
      ])
      expect(pending.model.pendingImportedVersions).toEqual([])
      expect(pending.model.previewUrl).toBeNull() // no version yet

      await startRunner()
      const done = await settled(result.blobId)
      expect(done).toMatchObject({
        convertedStatus: 2,
        fileType: 'ifc',
        streamId: projectId,
        branchName: 'buildings/fzk-haus',
      })
      expect(done.convertedCommitId).toBe(done.convertedVersionId)
      const version = (
        await h.gql(
          `query($id: String!, $v: String!) { project(id: $id) { version(id: $v) { message sourceApplication
            referencedObject totalChildrenCount model { name previewUrl } } } }`,
          { id: projectId, v: done.convertedVersionId },
          token,
        )
      ).body.data.project.version
      expect(version.message).toBe('Imported file: AC20-FZK-Haus.ifc')
      expect(version.model.name).toBe('buildings/fzk-haus')
      // Model.previewUrl is its latest version's preview.
      expect(version.model.previewUrl).toMatch(new RegExp(`/preview/${projectId}/commits/${done.convertedVersionId}$`))
      expect(version.sourceApplication).toBe('IFC')
      expect(version.totalChildrenCount).toBeGreaterThan(100)
      // The stored tree holds the building: two storeys (SOURCES.md) and meshes.
      const { rows } = await h.sql.query<{ data: string }>(
        `SELECT data::text AS data FROM objects WHERE project_id = $1 AND data::text LIKE '%IFCBUILDINGSTOREY%'`,
        [projectId],
      )
      const storeys = rows.filter((r) => /"ifcType":\s*"IFCBUILDINGSTOREY"/i.test(r.data))
      expect(storeys.map((r) => JSON.parse(r.data).name).sort()).toEqual(['Dachgeschoss', 'Erdgeschoss'])
      const meshes = await h.sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM objects WHERE project_id = $1 AND data::jsonb->>'speckle_type' LIKE '%Mesh%'`,
        [projectId],
      )
      expect(meshes.rows[0]!.n).toBeGreaterThan(50)
      // Converted: no longer pending.
      const after = (await h.gql(PENDING, { id: projectId, m: mainModelId }, token)).body.data.project
      expect(after.pendingImportedModels).toEqual([])
    })

    it('imports a binary STL into an existing model as a pending version, autodetecting the type', async () => {
      await startRunner()
      const bytes = await readFile(data('stl/gearwheel.bin.stl'))
      const res = await upload(`/api/file/autodetect/${projectId}`, [{ name: 'gearwheel.bin.stl', bytes }])
      expect(res.status).toBe(201)
      const done = await settled(res.body.uploadResults[0].blobId)
      expect(done).toMatchObject({ convertedStatus: 2, modelName: 'main', fileType: 'stl' })
      expect(done.convertedMessage).toMatch(/triangle/)
    })

    it('ends a corrupt, an empty and an unreadable file in status 3 with a reason, storing nothing', async () => {
      const objectsBefore = await objectCount()
      const versionsBefore = await versionCount()
      const garbage = Buffer.from('ISO-10303-21;\nHEADER;\nthis is not a real STEP file at all\n'.repeat(20))
      const cases = [
        { path: `/api/file/ifc/${projectId}/broken`, name: 'broken.ifc', bytes: garbage },
        { path: `/api/file/obj/${projectId}/broken`, name: 'empty.obj', bytes: Buffer.alloc(0) },
        { path: `/api/file/stl/${projectId}/broken`, name: 'noise.stl', bytes: Buffer.from([1, 2, 3, 4, 5, 6, 7]) },
      ]
      for (const c of cases) {
        const res = await upload(c.path, [{ name: c.name, bytes: c.bytes }])
        expect(res.status).toBe(201)
        const done = await settled(res.body.uploadResults[0].blobId)
        expect(done.convertedStatus, c.name).toBe(3)
        expect(done.convertedMessage, c.name).toMatch(new RegExp(c.name.replace('.', '\\.')))
        expect(done.convertedVersionId).toBeNull()
      }
      expect(await objectCount()).toBe(objectsBefore)
      expect(await versionCount()).toBe(versionsBefore)
      // The failed model never came to exist, so the failures stay visible as pending models.
      const pending = (await h.gql(PENDING, { id: projectId, m: mainModelId }, token)).body.data.project
      expect(pending.pendingImportedModels.map((u: Json) => u.convertedStatus)).toEqual([3, 3, 3])
    })

    it('refuses an unsupported type, a non-multipart body, a reader and an anonymous caller with JSON errors', async () => {
      const file = [{ name: 'a.dwg', bytes: Buffer.from('AC1032') }]
      const bad = await upload(`/api/file/dwg/${projectId}`, file)
      expect(bad.status).toBe(400)
      expect(bad.body.error).toMatch(/dwg.*cannot be imported.*ifc/)
      const plain = await h.app.inject({
        method: 'POST',
        url: `/api/file/ifc/${projectId}`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: '{}',
      })
      expect(plain.statusCode).toBe(400)
      expect(plain.json().error).toMatch(/multipart/)
      expect((await upload(`/api/file/ifc/${projectId}`, file, readerToken)).status).toBe(403)
      expect((await upload(`/api/file/ifc/${projectId}`, file, '')).status).toBe(401)
      expect((await upload(`/api/file/ifc/nosuchproj`, file)).status).toBe(404)
    })

    it('keeps an oversized file out: upload status 2, no import queued', async () => {
      const before = (await uploads()).length
      const big = Buffer.alloc(10 * 1024 * 1024 + 10, 32)
      const res = await upload(`/api/file/obj/${projectId}`, [{ name: 'huge.obj', bytes: big }])
      expect(res.status).toBe(201)
      expect(res.body.uploadResults[0]).toMatchObject({ uploadStatus: 2, uploadError: 'File size limit reached' })
      expect((await uploads()).length).toBe(before)
    })

    it('serves Speckle blob routes: upload by hash, diff, download, list and delete', async () => {
      const res = await upload(`/api/stream/${projectId}/blob`, [
        { field: 'hash:abc123', name: 'notes é.txt', bytes: Buffer.from('hello blobs') },
        { field: 'second', name: 'b.bin', bytes: Buffer.from([0, 1, 2]) },
      ])
      expect(res.status).toBe(201)
      expect(res.body.uploadResults).toEqual([
        { blobId: 'abc123', fileName: 'notes é.txt', fileSize: 11, uploadStatus: 1, formKey: 'hash:abc123' },
        expect.objectContaining({ fileName: 'b.bin', fileSize: 3, uploadStatus: 1, formKey: 'second' }),
      ])
      const auth = { authorization: `Bearer ${token}` }
      const diff = await h.app.inject({
        method: 'POST',
        url: `/api/stream/${projectId}/blob/diff`,
        headers: auth,
        payload: ['abc123', 'missing1'],
      })
      expect(diff.json()).toEqual(['missing1'])
      const got = await h.app.inject({ url: `/api/stream/${projectId}/blob/abc123`, headers: auth })
      expect(got.statusCode).toBe(200)
      expect(got.body).toBe('hello blobs')
      expect(got.headers['content-type']).toBe('application/octet-stream')
      expect(got.headers['content-disposition']).toMatch(/^attachment; filename="notes _\.txt"/)
      const list = await h.app.inject({ url: `/api/stream/${projectId}/blobs?fileName=notes`, headers: auth })
      expect(list.json()).toMatchObject({ totalCount: 1, totalSize: 11, items: [{ id: 'abc123', fileType: 'txt' }] })
      const gql = await h.gql(
        `query($id: String!) { project(id: $id) { blob(id: "abc123") { fileName fileSize } } }`,
        {
          id: projectId,
        },
        token,
      )
      expect(gql.body.data.project.blob).toEqual({ fileName: 'notes é.txt', fileSize: 11 })
      const del = await h.app.inject({ method: 'DELETE', url: `/api/stream/${projectId}/blob/abc123`, headers: auth })
      expect(del.statusCode).toBe(204)
      const gone = await h.app.inject({ url: `/api/stream/${projectId}/blob/abc123`, headers: auth })
      expect(gone.statusCode).toBe(404)
      expect(gone.json().error).toMatch(/abc123/)
      expect((await h.app.inject({ url: `/api/stream/${projectId}/blobs` })).statusCode).toBe(401)
    })
    it('finishes an import whose worker died mid-way: the lease runs out and the job runs again', async () => {
      await runner?.stop()
      runner = undefined
      const bytes = await readFile(data('stl/gearwheel.ascii.stl'))
      const res = await upload(`/api/file/stl/${projectId}/crashed`, [{ name: 'gearwheel.ascii.stl', bytes }])
      const id = res.body.uploadResults[0].blobId
      // What a worker killed with -9 while converting leaves behind: the job running under a lease that has
      // run out, the upload "converting". (The kill itself, with real processes: jobs/kill.e2e.test.ts.)
      await h.sql.query(
        `UPDATE jobs SET status = 'running', attempts = 1, locked_by = 'killed-worker',
           lease_until = now() - interval '1 second' WHERE kind = 'fileimport.convert' AND payload->>'fileUploadId' = $1`,
        [id],
      )
      await h.sql.query('UPDATE file_uploads SET converted_status = 1 WHERE id = $1', [id])
      await startRunner()
      const done = await settled(id)
      expect(done.convertedStatus).toBe(2)
      const job = await h.sql.query<{ status: string; attempts: number }>(
        `SELECT status, attempts FROM jobs WHERE kind = 'fileimport.convert' AND payload->>'fileUploadId' = $1`,
        [id],
      )
      expect(job.rows).toEqual([{ status: 'succeeded', attempts: 2 }])
      const versions = await h.sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM versions v JOIN models m ON m.id = v.model_id WHERE m.project_id = $1 AND m.name = 'crashed'`,
        [projectId],
      )
      expect(versions.rows[0]!.n).toBe(1)
    })
  })
}

suite('pglite')
suite('postgres')
