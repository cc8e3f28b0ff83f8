#!/usr/bin/env node
// Object API benchmark: starts the built server (PostgreSQL and/or PGlite), creates a user, token and
// project, and runs ../../../../shared/bench/objects-bench.mjs (the client the anchors were measured
// with) against it, reporting objects/s, CPU per process and the server's peak RSS.
//
//   npm run build && npm run bench -w @truss/server
//   BENCH_N=1000000 BENCH_MODES=postgres BENCH_UPLOAD_CONCURRENCY=4 npm run bench -w @truss/server
//
// Environment: BENCH_N (default 100000), BENCH_MODES (postgres,pglite), BENCH_PG_URL (admin URL,
// default postgres://postgres@127.0.0.1:5432/test), BENCH_SERVER_NODE_ARGS (extra node flags for the server,
// e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"), BENCH_RESTART=0 (keep the upload's server process for the
// reads; by default they get a fresh one, so each phase's peak RSS is its own), plus every BENCH_*
// variable of objects-bench.mjs. BENCH_SERVER_LOG=FILE appends the server's log to FILE, at
// BENCH_LOG_LEVEL (default warn; debug shows, among others, which work grew PGlite's heap).
import { spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..', '..')
const client = join(repo, '..', 'shared', 'bench', 'objects-bench.mjs')
const bin = join(repo, 'packages', 'cli', 'dist', 'bin.js')
const N = process.env.BENCH_N ?? '100000'
const MODES = (process.env.BENCH_MODES ?? 'postgres,pglite').split(',')
const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const logFile = process.env.BENCH_SERVER_LOG

if (!existsSync(bin)) throw new Error('build first: npm run build')
if (!existsSync(client)) throw new Error(`benchmark client not found at ${client}`)
const { openIdentity } = await import(join(repo, 'packages', 'server', 'dist', 'index.js'))

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

function rssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024)
  } catch {
    return null
  }
}

function peakRssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1])
    return Math.round(kb / 1024)
  } catch {
    return null
  }
}

/**
 * Where a process's resident memory lives, read from /proc/PID/smaps: WebAssembly memories (PGlite's heap:
 * mappings reserved at 4 GiB or more), the rest of the anonymous memory (JavaScript heaps, Buffers, malloc),
 * and file-backed pages (code). In MB.
 */
function rssBreakdown(pid) {
  let text
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8')
  } catch {
    return null
  }
  const out = { wasm: 0, anon: 0, file: 0 }
  let size = 0
  let file = false
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line)
    if (head) {
      file = head[1] !== '0' && head[2].startsWith('/')
      continue
    }
    if (line.startsWith('Size:')) size = Number(/\d+/.exec(line)[0])
    else if (line.startsWith('Rss:')) {
      const kb = Number(/\d+/.exec(line)[0])
      if (size >= 4 * 1024 * 1024) out.wasm += kb
      else if (file) out.file += kb
      else out.anon += kb
    }
  }
  return { wasm: Math.round(out.wasm / 1024), anon: Math.round(out.anon / 1024), file: Math.round(out.file / 1024) }
}

/**
 * BENCH_MEMORY=1: sample the breakdown every 500 ms and keep the sample of the largest total, with the
 * server's own reading of its JS heap and of the memory outside it (Buffers, ArrayBuffers) from `/metrics`.
 */
function memorySampler(pid, base) {
  if (!process.env.BENCH_MEMORY) return { stop: () => undefined }
  let peak = null
  let js = null
  const mb = (text, name) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text)
    return m ? Math.round(Number(m[1]) / 1048576) : NaN
  }
  const timer = setInterval(() => {
    const b = rssBreakdown(pid)
    if (b && (!peak || b.wasm + b.anon + b.file > peak.wasm + peak.anon + peak.file)) peak = { ...b, js }
    fetch(`${base}/metrics`)
      .then((r) => r.text())
      .then((text) => {
        js = {
          heap: mb(text, 'nodejs_heap_size_total_bytes'),
          external: mb(text, 'nodejs_external_memory_bytes'),
        }
      })
      .catch(() => undefined)
  }, 500)
  return {
    stop(label) {
      clearInterval(timer)
      if (peak)
        console.log(
          `server memory at its peak during ${label}: WebAssembly ${peak.wasm} MB, other anonymous ${peak.anon} MB, files ${peak.file} MB` +
            (peak.js
              ? `; main isolate's heap ${peak.js.heap} MB, external ${peak.js.external} MB (half a second before)`
              : ''),
        )
    },
  }
}

async function runMode(mode) {
  const dataDir = mkdtempSync(join(tmpdir(), `truss-bench-${mode}-`))
  const env = { ...process.env, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn' }
  let dbName
  if (mode === 'postgres') {
    dbName = `truss_bench_${Date.now()}`
    const admin = new pg.Client({ connectionString: ADMIN_URL })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${dbName}`)
    await admin.end()
    const url = new URL(ADMIN_URL)
    url.pathname = `/${dbName}`
    env.DATABASE_URL = url.toString()
  } else delete env.DATABASE_URL

  const identity = await openIdentity({ databaseUrl: env.DATABASE_URL, dataDir })
  const user = await identity.users.create({ email: 'bench@example.com', password: 'benchmark-pass', name: 'Bench' })
  const token = await identity.tokens.create({
    userId: user.id,
    name: 'bench',
    scopes: ['streams:read', 'streams:write'],
  })
  const project = await identity.projects.create({ ownerId: user.id, name: 'Bench' })
  await identity.close()

  const port = await freePort()
  const nodeArgs = process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []
  const startServer = async () => {
    const child = spawn(process.execPath, [...nodeArgs, bin, 'serve', '--port', String(port), '--data-dir', dataDir], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    await new Promise((resolve, reject) => {
      child.stdout.on('data', (b) => {
        if (logFile) appendFileSync(logFile, b)
        if (String(b).includes('listening')) resolve()
      })
      child.on('exit', (code) => reject(new Error(`server exited with ${code}`)))
    })
    return child
  }
  const stopServer = async (child) => {
    child.removeAllListeners('exit')
    child.kill('SIGTERM')
    await new Promise((resolve) => child.on('exit', resolve))
  }
  let server = await startServer()
  // Whatever happens (a refused upload, Ctrl-C), the server is stopped and the scratch database dropped.
  const onSignal = () => {
    server.kill('SIGTERM')
    process.exit(130)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    console.log(`\n## ${mode}: ${N} objects (server pid ${server.pid})`)
    const base = `http://127.0.0.1:${port}`
    const clientEnv = {
      ...env,
      BENCH_SEED: process.env.BENCH_SEED ?? 'truss-bench',
      BENCH_SERVER_PID: String(server.pid),
      ...(mode === 'postgres' ? { BENCH_DB_COMM: 'postgres' } : {}),
    }
    // Upload first, polling /healthz every 20 ms meanwhile (the "HTTP never freezes" target), then the
    // read phases on the same data (same seed, same ids).
    const phases = (process.env.BENCH_PHASES ?? 'upload,download,getobjects,objectstream,diff').split(',')
    const health = []
    // The slowest polls and when they were sent (s from the first poll), to line up with a server log.
    const slow = []
    let polling = phases.includes('upload')
    const pollStart = performance.now()
    const poll = () => {
      if (!polling) return
      const sent = performance.now()
      const record = (ms) => {
        health.push(ms)
        if (ms >= 50) slow.push({ ms, at: (sent - pollStart) / 1000 })
      }
      fetch(`${base}/healthz`)
        .then((r) => r.arrayBuffer())
        .then(() => record(performance.now() - sent))
        .catch(() => record(Infinity))
        .finally(() => setTimeout(poll, 20))
    }
    poll()
    const run = (phaseList) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [client, base, token, project.id, N], {
          env: { ...clientEnv, BENCH_PHASES: phaseList },
          stdio: ['ignore', 'pipe', 'inherit'],
        })
        let out = ''
        child.stdout.on('data', (b) => (out += b))
        child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`client exited with ${code}`))))
      })
    const printOut = (out) => {
      for (const line of out.split('\n')) if (line && !line.startsWith('RESULT')) console.log(line)
    }
    if (phases.includes('upload')) {
      const uploadMemory = memorySampler(server.pid, base)
      printOut(await run('upload'))
      polling = false
      health.sort((a, b) => a - b)
      const pct = (p) => health[Math.min(health.length - 1, Math.ceil((p / 100) * health.length) - 1)]
      console.log(`server peak RSS during upload: ${peakRssMb(server.pid)} MB`)
      uploadMemory.stop('upload')
      console.log(
        `/healthz during upload: ${health.length} polls, p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${health.at(-1).toFixed(1)} ms`,
      )
      // What the server keeps once the upload is over (BENCH_IDLE_AFTER_UPLOAD_MS, default 5 s, 0: skip).
      const idleMs = Number(process.env.BENCH_IDLE_AFTER_UPLOAD_MS ?? 5000)
      if (idleMs > 0) {
        await new Promise((r) => setTimeout(r, idleMs))
        console.log(`server RSS ${idleMs / 1000} s after the upload: ${rssMb(server.pid)} MB`)
      }
      const slowest = slow.sort((a, b) => b.ms - a.ms).slice(0, 5)
      if (slowest.length > 0)
        console.log(
          `/healthz slowest (ms at s from the first poll): ${slowest.map((p) => `${p.ms.toFixed(0)} at ${p.at.toFixed(2)}`).join(', ')}`,
        )
    }
    const rest = phases.filter((p) => p !== 'upload')
    if (rest.length > 0 && phases.includes('upload') && process.env.BENCH_RESTART !== '0') {
      // A fresh server process for the reads, so their peak RSS is their own (V8 keeps the upload's heap).
      await stopServer(server)
      server = await startServer()
      clientEnv.BENCH_SERVER_PID = String(server.pid)
    }
    const readMemory = memorySampler(server.pid, base)
    // BENCH_READ_RUNS=n repeats the read phases on the same server: the first read of freshly written
    // rows also writes (PostgreSQL sets their hint bits), later ones only read.
    const readRuns = Math.max(1, Number(process.env.BENCH_READ_RUNS ?? 1))
    for (let i = 0; i < readRuns && rest.length > 0; i++) printOut(await run(rest.join(',')))
    readMemory.stop(rest.join(', '))
    if (rest.length > 0) console.log(`server peak RSS during ${rest.join(', ')}: ${peakRssMb(server.pid)} MB`)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (server.exitCode === null) await stopServer(server)
    rmSync(dataDir, { recursive: true, force: true })
    if (dbName) {
      const admin = new pg.Client({ connectionString: ADMIN_URL })
      await admin.connect()
      await admin.query(`DROP DATABASE ${dbName}`)
      await admin.end()
    }
  }
}

for (const mode of MODES) await runMode(mode)
