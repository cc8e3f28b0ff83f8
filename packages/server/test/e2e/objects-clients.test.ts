/**
 * Real clients against a real Truss server (started in-process, real HTTP on 127.0.0.1): Speckle's published
 * loaders (`@speckle/objectloader2`, `@speckle/objectloader` v1), the Truss SDK's ServerTransport, objects
 * written by the .NET SDK, a 429 in front of the server, and /healthz while a large upload runs.
 */
import { spawn } from 'node:child_process'
import { readFileSync, existsSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { gzipSync } from 'node:zlib'
import ObjectLoader from '@speckle/objectloader'
import { ObjectLoader2Factory } from '@speckle/objectloader2'
import { Base, MemoryTransport, ServerTransport, receive, send } from '@truss/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  http,
  lines,
  multipart,
  postJson,
  rootOf,
  upload,
  verifiedObjects,
  type ObjectsServer,
  startObjectsServer,
} from './objects-harness.js'

// The sample data sits next to the checkout (../shared/data); TRUSS_SHARED_DATA points elsewhere, and a
// clone made outside the workspace still finds the workspace's copy.
const SPECKLE_DATA =
  [
    process.env.TRUSS_SHARED_DATA && pathToFileURL(`${process.env.TRUSS_SHARED_DATA.replace(/\/$/, '')}/speckle/`),
    new URL('../../../../../shared/data/speckle/', import.meta.url),
    pathToFileURL('/work/shared/data/speckle/'),
  ].find((url): url is URL => url instanceof URL && existsSync(url)) ??
  new URL('../../../../../shared/data/speckle/', import.meta.url)
const REVIT_ROOT = '551513ff4f3596024547fc818f1f3f70'
const VERIFIED_FIXTURES = [
  'DetachedTests.CanSerialize_New_Detached2.verified.json',
  'ExternalIdTests.ExternalIdTest_Detached_Nested_More_Too.verified.json',
]
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const CORE_ENTRY = pathToFileURL(`${REPO_ROOT}packages/core/src/index.ts`).href

/** Reject when `work` has not settled within `ms`: the loaders can wait forever on some failures (WIRE.md). */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Every item `items` yields, within 20 s. */
async function collect<T>(what: string, items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  const reading = (async () => {
    for await (const item of items) out.push(item)
  })()
  await within(20_000, what, reading)
  return out
}

const quiet = () => {}

/** Every object `@speckle/objectloader2` yields for the tree, with the cache off. */
async function loadWithObjectLoader2(serverUrl: string, streamId: string, objectId: string, token?: string) {
  const loader = ObjectLoader2Factory.createFromUrl({
    serverUrl,
    streamId,
    objectId,
    token,
    options: { useCache: false, logger: quiet },
  })
  try {
    return (await collect('objectloader2', loader.getObjectIterator())) as unknown as Loaded[]
  } finally {
    await within(5_000, 'objectloader2 dispose', loader.disposeAsync()).catch(() => undefined)
  }
}

/** `@speckle/objectloader` (v1) for the tree, with the cache off and Node's fetch. */
function objectLoaderV1(serverUrl: string, streamId: string, objectId: string, token?: string) {
  return new ObjectLoader({
    serverUrl,
    streamId,
    objectId,
    token,
    options: {
      enableCaching: false,
      fullyTraverseArrays: false,
      excludeProps: [],
      fetch: globalThis.fetch.bind(globalThis),
      customLogger: quiet,
      customWarner: quiet,
    },
  })
}

async function loadWithObjectLoaderV1(serverUrl: string, streamId: string, objectId: string, token?: string) {
  const loader = objectLoaderV1(serverUrl, streamId, objectId, token)
  try {
    return (await collect('objectloader v1', loader.getObjectIterator())) as Loaded[]
  } finally {
    loader.dispose()
  }
}

/** An object as a loader yields it. */
type Loaded = Record<string, unknown>

const LOADERS = [
  ['objectloader2', loadWithObjectLoader2],
  ['objectloader v1', loadWithObjectLoaderV1],
] as const

const sortedIds = (objects: readonly { id?: unknown }[]) => objects.map((o) => String(o.id)).sort()

describe('Speckle clients and the Truss SDK against a Truss server', () => {
  let s: ObjectsServer
  /** Ids of the tree ServerTransport sent, root first. */
  let sentIds: string[]
  let sentRoot: string
  const revitObjects = JSON.parse(readFileSync(new URL('RevitObject.json', SPECKLE_DATA), 'utf8')) as {
    id: string
  }[]

  const model = () => {
    const m = new Base({ name: 'tower', units: 'm' })
    m['@levels'] = Array.from(
      { length: 4 },
      (_, l) =>
        new Base({
          name: `level ${l}`,
          elevation: l * 3.5,
          '@rooms': Array.from({ length: 3 }, (_, r) => new Base({ name: `room ${l}.${r}`, area: 20 + r })),
        }),
    )
    m['@(100)vertices'] = Array.from({ length: 950 }, (_, i) => i / 4)
    return m
  }

  beforeAll(async () => {
    // The factory logs "Disabled persistent caching…" through this static logger whatever the options say.
    ObjectLoader2Factory.logger = quiet
    s = await startObjectsServer()
    // (a) A model sent with the Truss SDK: detached levels and rooms, a chunked vertex array.
    const copy = new MemoryTransport()
    const server = new ServerTransport({ serverUrl: s.url, projectId: s.privateProject, token: s.ownerToken })
    sentRoot = await send(model(), { transports: [server, copy], useDefaultCache: false })
    sentIds = [...copy.objects.keys()]
    // (b) Objects the .NET SDK wrote (pretty-printed), uploaded as they are, as one gzip part.
    const revit = readFileSync(new URL('RevitObject.json', SPECKLE_DATA))
    for (const project of [s.privateProject, s.publicProject]) {
      const res = await upload(
        s,
        project,
        multipart([{ name: 'batch-1', type: 'application/gzip', body: gzipSync(revit) }]),
        s.ownerToken,
      )
      expect(res.status).toBe(201)
    }
  })

  afterAll(async () => {
    await s?.close()
  })

  it('reads the fixtures from shared/data', () => {
    expect(revitObjects).toHaveLength(13)
    expect(revitObjects[0]!.id).toBe(REVIT_ROOT)
    // 4 levels, 12 rooms, 10 chunks of at most 100 vertices, and the root.
    expect(sentIds).toHaveLength(1 + 4 + 12 + 10)
    expect(sentIds).toContain(sentRoot)
  })

  it.each(LOADERS)('%s yields every object of a tree that ServerTransport sent', async (_, load) => {
    const objects = await load(s.url, s.privateProject, sentRoot, s.ownerToken)
    expect(objects[0]!.id).toBe(sentRoot)
    expect(sortedIds(objects)).toEqual([...sentIds].sort())
    const chunks = objects.filter((o) => o.speckle_type === 'Speckle.Core.Models.DataChunk')
    expect(chunks.flatMap((c) => c.data as number[]).sort((a, b) => a - b)).toEqual(model()['@(100)vertices'])
  })

  it.each(LOADERS)('%s yields every object of the .NET Revit fixture uploaded as raw multipart', async (_, load) => {
    const objects = await load(s.url, s.privateProject, REVIT_ROOT, s.ownerToken)
    expect(objects[0]!.id).toBe(REVIT_ROOT)
    expect(sortedIds(objects)).toEqual(sortedIds(revitObjects))
    for (const o of objects) expect(o).toEqual(revitObjects.find((r) => r.id === o.id))
  })

  it.each(LOADERS)('%s reads a public project without a token', async (_, load) => {
    const objects = await load(s.url, s.publicProject, REVIT_ROOT)
    expect(sortedIds(objects)).toEqual(sortedIds(revitObjects))
  })

  it('objectloader v1 rebuilds the sent model with its references resolved and chunks joined', async () => {
    const loader = objectLoaderV1(s.url, s.privateProject, sentRoot, s.ownerToken)
    try {
      // Its typings say the result is not a promise; it is.
      const building = Promise.resolve(loader.getAndConstructObject(quiet))
      const built = (await within(20_000, 'objectloader v1', building)) as Record<string, unknown>
      const expected = model()
      expect(built.name).toBe('tower')
      expect(built['@(100)vertices']).toEqual(expected['@(100)vertices'])
      const levels = built['@levels'] as { name: string; '@rooms': { name: string }[] }[]
      expect(levels.map((l) => l.name)).toEqual(['level 0', 'level 1', 'level 2', 'level 3'])
      expect(levels[3]!['@rooms'].map((r) => r.name)).toEqual(['room 3.0', 'room 3.1', 'room 3.2'])
    } finally {
      loader.dispose()
    }
  })

  it('ServerTransport receive() rebuilds the .NET Revit fixture from the server', async () => {
    const local = new MemoryTransport()
    const remote = new ServerTransport({ serverUrl: s.url, projectId: s.privateProject, token: s.ownerToken })
    const floor = await receive(REVIT_ROOT, { remote, local })
    expect(floor.speckle_type).toBe((revitObjects[0] as { speckle_type?: string }).speckle_type)
    expect(floor.id).toBe(REVIT_ROOT)
    expect([...local.objects.keys()].sort()).toEqual(sortedIds(revitObjects))
  })

  it('ServerTransport send() then receive() returns the model that was sent', async () => {
    const local = new MemoryTransport()
    const remote = new ServerTransport({ serverUrl: s.url, projectId: s.privateProject, token: s.ownerToken })
    const back = await receive(sentRoot, { remote, local })
    const expected = model()
    expect(back.name).toBe('tower')
    expect(back['@(100)vertices']).toEqual(expected['@(100)vertices'])
    const levels = back['@levels'] as Base[]
    expect(levels.map((l) => l.elevation)).toEqual([0, 3.5, 7, 10.5])
    expect((levels[1]!['@rooms'] as Base[]).map((r) => r.area)).toEqual([20, 21, 22])
  })

  it.each(VERIFIED_FIXTURES)('stores the .NET fixture %s and serves it back whole', async (file) => {
    const objects = verifiedObjects(readFileSync(new URL(file, SPECKLE_DATA), 'utf8'))
    const root = rootOf(objects)
    const res = await upload(
      s,
      s.privateProject,
      multipart([{ type: 'application/json', body: JSON.stringify(objects, null, 2) }]),
      s.ownerToken,
    )
    expect(res.status).toBe(201)
    const tree = await http(`${s.url}/objects/${s.privateProject}/${String(root.id)}`, {
      token: s.ownerToken,
      headers: { accept: 'text/plain' },
    })
    const served = lines(tree.text)
    expect(served[0]![0]).toBe(root.id)
    expect(served.map(([id]) => id).sort()).toEqual(sortedIds(objects))
    for (const [id, json] of served) expect(JSON.parse(json)).toEqual(objects.find((o) => o.id === id))
    // And the loaders read it.
    const loaded = await loadWithObjectLoader2(s.url, s.privateProject, String(root.id), s.ownerToken)
    expect(sortedIds(loaded)).toEqual(sortedIds(objects))
  })

  it('ServerTransport waits for Retry-After on 429 and completes the upload', async () => {
    const proxy = await rateLimitingProxy(s.url)
    try {
      const m = new Base({ name: 'after a 429', '@parts': [new Base({ n: 1 }), new Base({ n: 2 })] })
      const copy = new MemoryTransport()
      // A back-off of 1 ms: only Retry-After (1 s) explains the wait.
      const remote = new ServerTransport({
        serverUrl: proxy.url,
        projectId: s.privateProject,
        token: s.ownerToken,
        backoffMs: 1,
      })
      const started = performance.now()
      const id = await send(m, { transports: [remote, copy], useDefaultCache: false })
      expect(performance.now() - started).toBeGreaterThanOrEqual(2 * 950)

      const log = proxy.log.filter((l) => l.method === 'POST')
      const diff = log.filter((l) => l.path.startsWith('/api/diff/'))
      const uploads = log.filter((l) => l.path.startsWith('/objects/'))
      expect(diff.map((l) => l.status)).toEqual([429, 200])
      expect(uploads.map((l) => l.status)).toEqual([429, 201])
      expect(diff[1]!.at - diff[0]!.at).toBeGreaterThanOrEqual(950)
      expect(uploads[1]!.at - uploads[0]!.at).toBeGreaterThanOrEqual(950)

      const known = await postJson(
        `${s.url}/api/diff/${s.privateProject}`,
        { objects: JSON.stringify([...copy.objects.keys()]) },
        s.ownerToken,
      )
      expect(Object.values(JSON.parse(known.text) as Record<string, boolean>)).toEqual([true, true, true])
      expect(copy.objects.has(id)).toBe(true)
    } finally {
      await proxy.close()
    }
  })
})

/**
 * A loopback proxy in front of the server that answers the first POST to each of /api/diff and /objects with
 * 429 (Speckle's body, `Retry-After: 1`) and forwards everything else, logging each answer.
 */
async function rateLimitingProxy(target: string) {
  const log: { method: string; path: string; status: number; at: number }[] = []
  const limited = new Set<string>()
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/'
    const kind = /^\/(api\/diff|objects)\//.exec(path)?.[1]
    if (req.method === 'POST' && kind !== undefined && !limited.has(kind)) {
      limited.add(kind)
      log.push({ method: 'POST', path, status: 429, at: performance.now() })
      req.resume()
      res.writeHead(429, {
        'content-type': 'application/json',
        'retry-after': '1',
        'x-ratelimit-reset': new Date(Date.now() + 1000).toISOString(),
      })
      res.end(JSON.stringify({ err: 'You have been rate limited. Please try again later.' }))
      return
    }
    const upstream = httpRequest(`${target}${path}`, { method: req.method, headers: req.headers }, (answer) => {
      log.push({ method: req.method ?? '', path, status: answer.statusCode ?? 0, at: performance.now() })
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

// ── /healthz under load ─────────────────────────────────────────────────────────────────────────────

const LOAD_OBJECTS = 100_000
const POLL_MS = 20

/**
 * Sends `count` objects of about 1 KB (50 random doubles each, in 100 groups) with ServerTransport from a
 * separate process, so the server's event loop carries only the server's work. The model is serialized
 * first (into memory) and the upload starts on a line on stdin, so the measured window holds the upload
 * alone; prints `ready`, then a JSON summary.
 */
const UPLOADER = `
import { Base, MemoryTransport, ServerTransport, send } from ${JSON.stringify(CORE_ENTRY)}
const [serverUrl, projectId, token, countText] = process.argv.slice(-4)
const count = Number(countText)
const root = new Base({ name: 'healthz load' })
root['@groups'] = Array.from({ length: 100 }, (_, g) => {
  const group = new Base({ name: 'group ' + g })
  group['@elements'] = Array.from({ length: count / 100 }, (_, i) =>
    new Base({ name: 'element ' + g + '.' + i, values: Array.from({ length: 50 }, () => Math.random()) }))
  return group
})
const serialized = new MemoryTransport()
const id = await send(root, { transports: [serialized], useDefaultCache: false })
process.stdout.write('ready\\n')
await new Promise((resolve) => process.stdin.once('data', resolve))
const started = performance.now()
const transport = new ServerTransport({ serverUrl, projectId, token })
for (const [objectId, json] of serialized.objects) await transport.saveObject(objectId, json)
await transport.flush()
process.stdout.write(JSON.stringify({ id, uploadMs: Math.round(performance.now() - started) }) + '\\n')
process.stdin.destroy()
`

/** Polls /healthz every POLL_MS from a worker thread (its own event loop), open loop: a slow answer does not delay the next poll. */
const POLLER = `
const { parentPort, workerData } = require('node:worker_threads')
const http = require('node:http')
const agent = new http.Agent({ keepAlive: true })
const samples = []
const timer = setInterval(() => {
  const sent = performance.now()
  http.get(workerData.url, { agent }, (res) => {
    res.resume()
    res.on('end', () => samples.push({ ms: performance.now() - sent, status: res.statusCode }))
  }).on('error', () => samples.push({ ms: performance.now() - sent, status: 0 }))
}, workerData.intervalMs)
parentPort.on('message', () => {
  clearInterval(timer)
  setTimeout(() => { parentPort.postMessage(samples); agent.destroy() }, 1000)
})
`

describe('/healthz during a large upload on PGlite', () => {
  let s: ObjectsServer

  beforeAll(async () => {
    s = await startObjectsServer()
  })

  afterAll(async () => {
    await s?.close()
  })

  it(
    `keeps /healthz answering (p99 < 500 ms here, < 100 ms is benchmarked; polled every ${POLL_MS} ms) while ${LOAD_OBJECTS} objects of ~1 KB are uploaded`,
    { timeout: 180_000 },
    async () => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          UPLOADER,
          s.url,
          s.privateProject,
          s.ownerToken,
          String(LOAD_OBJECTS),
        ],
        { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
      )
      let stdout = ''
      let stderr = ''
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
      const ready = new Promise<void>((resolve) => {
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString()
          if (stdout.startsWith('ready\n')) resolve()
        })
        void exited.then(() => resolve())
      })
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
      await ready
      const poller = new Worker(POLLER, { eval: true, workerData: { url: `${s.url}/healthz`, intervalMs: POLL_MS } })
      await new Promise((resolve) => poller.once('online', resolve))
      // The server's own event loop (this process), to tell its stalls from a busy machine's.
      const loopDelay = monitorEventLoopDelay({ resolution: 10 })
      loopDelay.enable()
      const loadBefore = loadavg()[0]!
      child.stdin.write('go\n')
      const code = await exited
      loopDelay.disable()
      const samples = await new Promise<{ ms: number; status: number }[]>((resolve) => {
        poller.once('message', resolve)
        poller.postMessage('stop')
      })
      await poller.terminate()

      expect(code, stderr).toBe(0)
      const { id, uploadMs } = JSON.parse(stdout.slice('ready\n'.length)) as { id: string; uploadMs: number }
      const latencies = samples.map((x) => x.ms).sort((a, b) => a - b)
      const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)]!
      const figures = {
        uploadMs,
        objectsPerSecond: Math.round((LOAD_OBJECTS / uploadMs) * 1000),
        polls: latencies.length,
        p50: Math.round(pct(50)),
        p99: Math.round(pct(99)),
        max: Math.round(latencies.at(-1)!),
        serverLoopDelayP99: Math.round(loopDelay.percentile(99) / 1e6),
        serverLoopDelayMax: Math.round(loopDelay.max / 1e6),
        loadAverage: [loadBefore, loadavg()[0]!].map((l) => l.toFixed(1)).join(' → '),
        cores: availableParallelism(),
      }
      console.info(`/healthz during upload: ${JSON.stringify(figures)}`)

      expect(samples.every((x) => x.status === 200)).toBe(true)
      expect(latencies.length).toBeGreaterThan(uploadMs / POLL_MS / 2)
      // The < 100 ms p99 target is measured by `npm run bench -w @truss/server` (BENCH_PHASES=healthz) on a quiet
      // machine; here, with other test files sharing the two cores, the test proves HTTP is never frozen: a
      // PGlite query on the main thread would stall it for seconds.
      expect(figures.p99).toBeLessThan(500)

      // Everything arrived: the root names every element and group in its closure, and the server holds them.
      const root = await http(`${s.url}/objects/${s.privateProject}/${id}/single`, { token: s.ownerToken })
      const closure = Object.keys((JSON.parse(root.text) as { __closure: Record<string, number> }).__closure)
      expect(closure).toHaveLength(LOAD_OBJECTS + 100)
      const known = await postJson(
        `${s.url}/api/diff/${s.privateProject}`,
        { objects: JSON.stringify(closure) },
        s.ownerToken,
      )
      const missing = Object.entries(JSON.parse(known.text) as Record<string, boolean>).filter(([, has]) => !has)
      expect(missing).toHaveLength(0)
    },
  )
})
