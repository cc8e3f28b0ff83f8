/**
 * The supporting services end to end in real `truss` processes: a file uploaded on Speckle's route is
 * converted into a version by the import worker, and the preview worker renders it in headless Chromium
 * for Speckle's preview route. Once with the workers inside `truss serve` on PGlite, once with
 * `truss serve --no-workers` plus a separate `truss worker` on PostgreSQL and Redis. Subscribers of the project
 * hear of each upload as it is queued and converted.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openIdentity } from '../../src/modules/auth/identity.js'
import { decodePng, placeholderPng } from '../../src/modules/previews/index.js'
import { createTestPostgresDatabase } from '../../src/test-utils/db.js'
import { sharedData } from '../../../core/test/shared-data.js'
import { legacySubscribe } from './legacy-subscriber.js'

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const BIN = join(REPO_ROOT, 'packages/cli/src/bin.ts')
const STL = sharedData('stl/gearwheel.bin.stl')

/** Start `truss <args>` and resolve once its output matches `ready` (the first group is returned). */
function start(args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<{ match: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return new Promise((resolve, reject) => {
    let out = ''
    const onData = (b: Buffer) => {
      out += b.toString()
      const m = ready.exec(out)
      if (m) resolve({ match: m[1] ?? m[0], child })
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`truss ${args[0]} exited with ${code}: ${out.slice(-2000)}`)))
  })
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
}

async function gql(url: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  })
  const body = (await res.json()) as { data?: Record<string, any>; errors?: unknown[] } // eslint-disable-line @typescript-eslint/no-explicit-any
  if (body.errors) throw new Error(JSON.stringify(body.errors))
  return body.data!
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > end) throw new Error(`${what} did not happen within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

function scenario(name: string, setup: () => Promise<{ env: NodeJS.ProcessEnv; separateWorker: boolean }>) {
  describe(name, () => {
    const dirs: string[] = []
    const children: ChildProcess[] = []
    let url: string
    let token: string

    beforeAll(async () => {
      const { env, separateWorker } = await setup()
      const dataDir = mkdtempSync(join(tmpdir(), 'truss-services-'))
      dirs.push(dataDir)
      const identity = await openIdentity({ databaseUrl: env.DATABASE_URL, dataDir })
      const user = await identity.users.create({ email: 'ada@example.com', password: 'services-pass', name: 'Ada' })
      token = await identity.tokens.create({ userId: user.id, name: 'e2e', scopes: ['streams:read', 'streams:write'] })
      await identity.close()
      const serve = await start(
        ['serve', '--port', '0', '--data-dir', dataDir, ...(separateWorker ? ['--no-workers'] : [])],
        env,
        /Truss listening on (http:\/\/\S+)/,
      )
      children.push(serve.child)
      url = serve.match
      if (separateWorker) {
        const worker = await start(
          [
            'worker',
            '--only',
            'imports,previews',
            '--port',
            '0',
            // The worker reads uploads from the server's blob store: the shared folder here, S3 on real servers.
            '--data-dir',
            dataDir,
          ],
          env,
          /Truss worker running/,
        )
        children.push(worker.child)
      }
    }, 120_000)

    afterAll(async () => {
      for (const c of children) await stop(c)
      for (const d of dirs) rmSync(d, { recursive: true, force: true })
    })

    it('imports an uploaded STL into a version and renders its preview', async () => {
      const projectId = (await gql(url, token, 'mutation { streamCreate(stream: { name: "Gears" }) }'))
        .streamCreate as string
      const form = new FormData()
      form.append('file', new Blob([readFileSync(STL)]), 'gearwheel.bin.stl')
      const res = await fetch(`${url}/api/file/stl/${projectId}/main`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: form,
      })
      expect(res.status).toBe(201)
      const { uploadResults } = (await res.json()) as { uploadResults: { blobId: string }[] }
      const uploadId = uploadResults[0]!.blobId
      const upload = await until('the conversion', 60_000, async () => {
        const u = (
          await gql(
            url,
            token,
            'query($p: String!, $u: String!) { stream(id: $p) { fileUpload(id: $u) { convertedStatus convertedMessage convertedVersionId } } }',
            { p: projectId, u: uploadId },
          )
        ).stream.fileUpload
        return u.convertedStatus >= 2 ? u : undefined
      })
      expect(upload.convertedMessage).not.toMatch(/failed|no longer/)
      expect(upload.convertedStatus).toBe(2)
      const pending = placeholderPng('pending')
      const png = await until('the preview', 90_000, async () => {
        const r = await fetch(`${url}/preview/${projectId}/commits/${upload.convertedVersionId}`)
        expect(r.status).toBe(200)
        expect(r.headers.get('content-type')).toBe('image/png')
        const bytes = Buffer.from(await r.arrayBuffer())
        return bytes.equals(pending) ? undefined : bytes
      })
      // A gearwheel on white: many pixels are not background.
      const image = decodePng(png)
      let drawn = 0
      for (let i = 0; i < image.pixels.length; i += image.channels) {
        if (image.pixels[i]! < 235 || image.pixels[i + 1]! < 235 || image.pixels[i + 2]! < 235) drawn++
      }
      expect(drawn / (image.width * image.height)).toBeGreaterThan(0.02)
      const turned = Buffer.from(
        await (await fetch(`${url}/preview/${projectId}/commits/${upload.convertedVersionId}/6`)).arrayBuffer(),
      )
      expect(turned.equals(png)).toBe(false)
    }, 180_000)

    it('tells subscribers about a pending model and a pending version from queued to converted', async () => {
      const projectId = (await gql(url, token, 'mutation { streamCreate(stream: { name: "Pending" }) }'))
        .streamCreate as string
      const fields = 'id type model { id modelName convertedStatus convertedVersionId }'
      const models = await legacySubscribe(
        url,
        token,
        `subscription($id: String!) { projectPendingModelsUpdated(id: $id) { ${fields} } }`,
        { id: projectId },
      )
      const versions = await legacySubscribe(
        url,
        token,
        `subscription($id: String!) { projectPendingVersionsUpdated(id: $id) { ${fields.replace('model', 'version')} } }`,
        { id: projectId },
      )
      try {
        const upload = async (model: string) => {
          const form = new FormData()
          form.append('file', new Blob([readFileSync(STL)]), 'gearwheel.bin.stl')
          const res = await fetch(`${url}/api/file/stl/${projectId}/${encodeURIComponent(model)}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}` },
            body: form,
          })
          expect(res.status).toBe(201)
          return ((await res.json()) as { uploadResults: { blobId: string }[] }).uploadResults[0]!.blobId
        }
        // "gears" does not exist yet: a pending model. "main" does: a pending version.
        const newModelUpload = await upload('gears')
        const newVersionUpload = await upload('main')
        type Message = { id: string; type: string; model?: Upload; version?: Upload }
        type Upload = { modelName: string; convertedStatus: number; convertedVersionId: string | null }
        const messages = (sub: { events: unknown[] }, field: string) =>
          sub.events.map((e) => (e as { data: Record<string, Message> }).data[field]!)
        const done = (list: Message[]) =>
          list.some((m) => m.type === 'UPDATED' && (m.model ?? m.version)!.convertedStatus === 2)
        await until('both conversions told', 90_000, async () =>
          done(messages(models, 'projectPendingModelsUpdated')) &&
          done(messages(versions, 'projectPendingVersionsUpdated'))
            ? true
            : undefined,
        )
        for (const [list, uploadId, key, modelName] of [
          [messages(models, 'projectPendingModelsUpdated'), newModelUpload, 'model', 'gears'],
          [messages(versions, 'projectPendingVersionsUpdated'), newVersionUpload, 'version', 'main'],
        ] as const) {
          // Each upload goes to its own subscription only, told first when queued, then as it moves on.
          expect(new Set(list.map((m) => m.id))).toEqual(new Set([uploadId]))
          expect(list[0]!.type).toBe('CREATED')
          expect(list.slice(1).every((m) => m.type === 'UPDATED')).toBe(true)
          const last = list.at(-1)![key]!
          expect(last).toMatchObject({ modelName, convertedStatus: 2 })
          expect(last.convertedVersionId).toEqual(expect.any(String))
          const statuses = list.map((m) => m[key]!.convertedStatus)
          expect(statuses).toEqual([...statuses].sort())
        }
      } finally {
        models.close()
        versions.close()
      }
    }, 180_000)
  })
}

let pg: { url: string; drop(): Promise<void> } | undefined
scenario('import and preview workers inside truss serve (PGlite)', async () => ({ env: {}, separateWorker: false }))
scenario('import and preview in a separate truss worker (PostgreSQL)', async () => {
  pg = await createTestPostgresDatabase()
  // Redis carries the worker's events to the server's subscribers.
  return { env: { DATABASE_URL: pg.url, REDIS_URL: 'redis://127.0.0.1:6379' }, separateWorker: true }
})
afterAll(async () => {
  await pg?.drop()
})
