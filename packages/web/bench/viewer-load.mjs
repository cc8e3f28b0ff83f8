// Opening a version link in the web app to the first drawn frame and to all objects loaded, for a model of
// BENCH_OBJECTS objects (default 100,000: half elements, half their box meshes) on loopback, in Debian's
// Chromium (software WebGL). Reports the page's own marks and the tab's memory.
// Run: `npm run bench:viewer -w @truss/web` (BENCH_OBJECTS, BENCH_RUNS).
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
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

// The server's share: the same tree request the viewer makes, read by Node and thrown away.
for (let i = 0; i < 2; i++) {
  const started = performance.now()
  const r = await fetch(`${url}/objects/${projectId}/${objectId}`, {
    headers: { accept: 'text/plain', authorization: `Bearer ${token}` },
  })
  let bytes = 0
  let lines = 0
  for await (const chunk of r.body) {
    bytes += chunk.length
    for (let j = 0; j < chunk.length; j++) if (chunk[j] === 10) lines++
  }
  console.log(
    `server alone: tree of ${lines.toLocaleString()} lines (${(bytes / 2 ** 20).toFixed(1)} MB) streamed in ` +
      `${((performance.now() - started) / 1000).toFixed(2)} s`,
  )
}

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

/**
 * CPU seconds used so far by Chromium's renderer, GPU and other processes and by the server, from
 * /proc/<pid>/stat (user + system, in clock ticks of 10 ms).
 */
function cpuSeconds() {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
  const sums = { renderer: 0, gpu: 0, browser: 0, server: 0 }
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line)
    if (!m) continue
    const pid = Number(m[1])
    const kind =
      pid === child.pid
        ? 'server'
        : !m[2].includes('chromium')
          ? undefined
          : m[2].includes('--type=renderer')
            ? 'renderer'
            : m[2].includes('--type=gpu-process')
              ? 'gpu'
              : 'browser'
    if (!kind) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      sums[kind] += (Number(fields[11]) + Number(fields[12])) / 100
      // The renderer's threads by name (its main thread, V8's helpers, the compositor...).
      if (kind === 'renderer')
        for (const tid of readdirSync(`/proc/${pid}/task`)) {
          const t = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
          const name = `renderer:${t.slice(t.indexOf('(') + 1, t.lastIndexOf(')')).replace(/\d+$/, '')}`
          const f = t.slice(t.lastIndexOf(')') + 2).split(' ')
          sums[name] = (sums[name] ?? 0) + (Number(f[11]) + Number(f[12])) / 100
        }
    } catch {
      // the process ended between ps and the read
    }
  }
  return sums
}

/** The functions that took the most of the tab's main thread, by self time, and what each frame's total was. */
function printProfile(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map()
  const dt = profile.timeDeltas
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const n = byId.get(profile.samples[i])
    const f = n.callFrame
    const file = f.url.split('/').pop()?.split('?')[0] ?? ''
    const key = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`
    const ms = (dt[i + 1] ?? 0) / 1000
    self.set(key, (self.get(key) ?? 0) + ms)
    total += ms
  }
  // Main-thread time by kind, per 5 s of the load (from the profile's start).
  const buckets = []
  let t = 0
  for (let i = 0; i < profile.samples.length; i++) {
    t += dt[i] / 1000
    const name = byId.get(profile.samples[i]).callFrame.functionName
    const kind = ['(program)', '(idle)', '(garbage collector)'].includes(name) ? name : 'js'
    const b = (buckets[Math.floor(t / 5000)] ??= { '(program)': 0, '(idle)': 0, '(garbage collector)': 0, js: 0 })
    b[kind] += (dt[i + 1] ?? 0) / 1000
  }
  buckets.forEach((b, i) =>
    console.log(
      `  ${String(i * 5).padStart(3)}-${i * 5 + 5} s: ` +
        Object.entries(b)
          .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)}`)
          .join(', '),
    ),
  )
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)
  console.log(`profile: ${(total / 1000).toFixed(1)} s sampled; top self time:`)
  for (const [k, ms] of top) console.log(`  ${(ms / 1000).toFixed(2).padStart(6)} s  ${k}`)
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
  // BENCH_PROFILE=1: a CPU profile of the tab from navigation to all objects loaded, summed by function.
  const cdp = process.env.BENCH_PROFILE ? await context.newCDPSession(page) : undefined
  if (cdp) {
    await cdp.send('Profiler.enable')
    await cdp.send('Profiler.setSamplingInterval', { interval: 1000 })
    await cdp.send('Profiler.start')
  }
  const cpuBefore = cpuSeconds()
  // BENCH_TIMELINE=1: the renderer main thread's and the others' CPU per 250 ms, from navigation.
  const timeline = []
  const navigatedAt = performance.now()
  let last = cpuBefore
  const timelineSampler = process.env.BENCH_TIMELINE
    ? setInterval(() => {
        const now = cpuSeconds()
        timeline.push({
          t: (performance.now() - navigatedAt) / 1000,
          main: now['renderer:chromium'] - (last['renderer:chromium'] ?? 0),
          pool: now['renderer:ThreadPoolForeg'] - (last['renderer:ThreadPoolForeg'] ?? 0),
          gpu: now.gpu - last.gpu,
          server: now.server - last.server,
        })
        last = now
      }, 250)
    : undefined
  await page.goto(
    `${url}/projects/${projectId}/models/${modelId}@${versionId}?useCache=false${process.env.BENCH_QUERY ?? ''}`,
  )
  await page.waitForFunction(() => Boolean(window.trussViewer), null, { timeout: 300_000 })
  const cpuAfter = cpuSeconds()
  if (timelineSampler) {
    clearInterval(timelineSampler)
    for (const r of timeline)
      console.log(
        `  ${r.t.toFixed(2).padStart(6)} s: main ${(r.main / 0.25).toFixed(2)}, pool ${(r.pool / 0.25).toFixed(2)}, ` +
          `gpu ${(r.gpu / 0.25).toFixed(2)}, server ${(r.server / 0.25).toFixed(2)} (cores)`,
      )
  }
  const loaded = await page.evaluate(() => performance.getEntriesByName('truss:viewer:loaded')[0].startTime)
  const firstDrawn = await page.evaluate(() => performance.getEntriesByName('truss:viewer:first-frame')[0]?.startTime)
  // The canvas is not blank (read once, at the end: reading a WebGL canvas back stalls the page).
  const painted = await page.evaluate(() => {
    const canvas = document.querySelector('[data-testid=viewer] canvas')
    const c = document.createElement('canvas')
    c.width = 64
    c.height = 40
    const ctx = c.getContext('2d')
    ctx.drawImage(canvas, 0, 0, 64, 40)
    const d = ctx.getImageData(0, 0, 64, 40).data
    let n = 0
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++
    return n
  })
  if (painted === 0) throw new Error('the canvas is blank after loading')
  const converted = await page.evaluate(() => performance.getEntriesByName('truss:viewer:converted')[0]?.startTime)
  const batches = await page.evaluate(() => Object.keys(window.trussViewer.viewer.getRenderer().batcher.batches).length)
  const marks = await page.evaluate(() =>
    performance
      .getEntriesByType('mark')
      .filter((m) => m.name.startsWith('truss:'))
      .map((m) => `${m.name.replace('truss:', '')} ${(m.startTime / 1000).toFixed(2)}`),
  )
  console.log(`marks (s from navigation start): ${marks.join(', ')}`)
  console.log(
    `CPU s from navigation to loaded: ` +
      Object.keys(cpuAfter)
        .filter((k) => cpuAfter[k] - (cpuBefore[k] ?? 0) >= 0.05)
        .map((k) => `${k} ${(cpuAfter[k] - (cpuBefore[k] ?? 0)).toFixed(2)}`)
        .join(', '),
  )
  console.log(`downloaded and converted at ${(converted / 1000).toFixed(2)} s; ${batches} batches`)
  clearInterval(sampler)
  const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize / 1048576)
  if (cdp) printProfile((await cdp.send('Profiler.stop')).profile)
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
