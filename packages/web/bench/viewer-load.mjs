// Opening a version link in the web app to the first drawn frame and to all objects loaded, for a model of
// BENCH_OBJECTS objects (default 100,000: half elements, half their box meshes) on loopback, in Debian's
// Chromium (software WebGL). Reports the page's own marks and the tab's memory.
// Run: `npm run bench:viewer -w @truss/web` (BENCH_OBJECTS, BENCH_RUNS).
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const objects = Number(process.env.BENCH_OBJECTS ?? 100_000)
const runs = Number(process.env.BENCH_RUNS ?? 2)
const { openIdentity } = await import('../../server/src/modules/auth/identity.ts')
const { Base, Mesh, MemoryTransport, ServerTransport, send } = await import('../../core/src/index.ts')
const { ensureBuilt } = await import('../test/harness.ts')
await ensureBuilt()

const dataDir = mkdtempSync(join(tmpdir(), 'truss-bench-viewer-'))
const identity = await openIdentity({ dataDir })
const password = 'bench-password'
const user = await identity.users.create({ email: 'bench@example.com', password, name: 'Bench' })
const token = await identity.tokens.create({
  userId: user.id,
  name: 'bench',
  scopes: ['streams:read', 'streams:write'],
})
await identity.close()

const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    join(root, 'packages/cli/src/bin.ts'),
    'serve',
    '--port',
    '0',
    '--data-dir',
    dataDir,
    '--no-workers',
  ],
  { cwd: root, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] },
)
const url = await new Promise((resolve) => {
  let out = ''
  child.stdout.on('data', (b) => {
    out += b
    const m = /Truss listening on (http:\/\/\S+)/.exec(out)
    if (m) resolve(m[1])
  })
})
const gql = async (query, variables) => {
  const r = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  })
  const body = await r.json()
  if (body.errors) throw new Error(JSON.stringify(body.errors))
  return body.data
}

// The model: 100 levels of elements, each element a Base with parameters and a detached box mesh.
const elements = Math.floor(objects / 2)
const perLevel = Math.ceil(elements / 100)
const levels = []
for (let l = 0, made = 0; made < elements; l++) {
  const items = []
  for (let i = 0; i < perLevel && made < elements; i++, made++) {
    const x = (made % 250) * 3
    const y = Math.floor(made / 250) * 3
    const z = 0
    const s = 2
    const v = [
      x,
      y,
      z,
      x + s,
      y,
      z,
      x + s,
      y + s,
      z,
      x,
      y + s,
      z,
      x,
      y,
      z + s,
      x + s,
      y,
      z + s,
      x + s,
      y + s,
      z + s,
      x,
      y + s,
      z + s,
    ]
    const f = [4, 0, 3, 2, 1, 4, 4, 5, 6, 7, 4, 0, 1, 5, 4, 4, 1, 2, 6, 5, 4, 2, 3, 7, 6, 4, 3, 0, 4, 7]
    items.push(
      new Base({
        name: `Element ${made}`,
        category: 'Columns',
        parameters: { height: 2 + (made % 7), fireRating: made % 3 ? 'EI60' : 'EI90' },
        '@displayValue': [new Mesh({ vertices: v, faces: f, units: 'm', applicationId: `mesh-${made}` })],
      }),
    )
  }
  levels.push(new Base({ name: `Level ${l}`, '@elements': items }))
}
const projectId = (await gql('mutation { streamCreate(stream: { name: "Viewer bench" }) }')).streamCreate
const sendStart = performance.now()
const objectId = await send(new Base({ name: 'Bench model', '@elements': levels }), {
  transports: [new ServerTransport({ serverUrl: url, projectId, token })],
  cache: new MemoryTransport(),
})
const sendSeconds = (performance.now() - sendStart) / 1000
const model = await gql('query($id: String!) { project(id: $id) { models { items { id name } } } }', { id: projectId })
const modelId = model.project.models.items[0].id
const version = await gql(
  'mutation($i: CreateVersionInput!) { versionMutations { create(input: $i) { id totalChildrenCount } } }',
  {
    i: { projectId, modelId, objectId, message: 'bench' },
  },
)
const versionId = version.versionMutations.create.id
console.log(`model: ${objects.toLocaleString()} objects sent in ${sendSeconds.toFixed(1)} s; version ${versionId}`)

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
    '--enable-unsafe-swiftshader',
  ],
})

/** RSS in MB of Chromium's renderer processes (one tab here) and of its GPU process (SwiftShader). */
function chromiumRss() {
  const out = execFileSync('ps', ['-eo', 'rss=,args='], { encoding: 'utf8' })
  let renderer = 0
  let gpu = 0
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line)
    if (!m || !m[2].includes('chromium')) continue
    if (m[2].includes('--type=renderer')) renderer += Number(m[1]) / 1024
    if (m[2].includes('--type=gpu-process')) gpu += Number(m[1]) / 1024
  }
  return { renderer, gpu }
}

const results = []
for (let run = 0; run < runs; run++) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const page = await context.newPage()
  await page.goto(`${url}/signin`)
  await page.getByLabel('Email').fill('bench@example.com')
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Projects' }).waitFor()
  // A fresh tab per run, no object cache: every object comes from the server.
  await page.goto('about:blank')
  let peak = { renderer: 0, gpu: 0 }
  const sampler = setInterval(() => {
    const now = chromiumRss()
    peak = { renderer: Math.max(peak.renderer, now.renderer), gpu: Math.max(peak.gpu, now.gpu) }
  }, 250)
  await page.goto(`${url}/projects/${projectId}/models/${modelId}@${versionId}?useCache=false`)
  const firstDrawn = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const probe = () => {
          const canvas = document.querySelector('[data-testid=viewer] canvas')
          if (canvas && canvas.width > 0) {
            const c = document.createElement('canvas')
            c.width = 64
            c.height = 40
            const ctx = c.getContext('2d')
            ctx.drawImage(canvas, 0, 0, 64, 40)
            const d = ctx.getImageData(0, 0, 64, 40).data
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return resolve(performance.now())
          }
          setTimeout(probe, 50)
        }
        probe()
      }),
  )
  await page.waitForFunction(() => Boolean(window.trussViewer), null, { timeout: 300_000 })
  const loaded = await page.evaluate(() => performance.getEntriesByName('truss:viewer:loaded')[0].startTime)
  clearInterval(sampler)
  const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize / 1048576)
  results.push({ firstDrawn, loaded, heap, ...peak })
  console.log(
    `run ${run + 1}: first drawn frame ${(firstDrawn / 1000).toFixed(2)} s, all objects loaded ${(loaded / 1000).toFixed(2)} s ` +
      `(from navigation start); JS heap ${heap.toFixed(0)} MB; peak RSS renderer ${peak.renderer.toFixed(0)} MB, GPU process ${peak.gpu.toFixed(0)} MB`,
  )
  await context.close()
}
await browser.close()
child.kill('SIGTERM')
await new Promise((r) => child.once('exit', r))
rmSync(dataDir, { recursive: true, force: true })
