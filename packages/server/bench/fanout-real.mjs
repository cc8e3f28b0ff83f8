#!/usr/bin/env node
// Realtime fan-out against two real Truss nodes: creates a scratch PostgreSQL database, starts two
// `truss serve` processes (the built CLI) on it and on one Redis, creates a user and token, seeds a
// project, its `main` model and an object through the public GraphQL API, then runs the peer's own client
// ../../../../shared/bench/fanout-bench.mjs (legacy `graphql-ws` subscribers of projectVersionsUpdated split
// over both nodes, versions created through the first node, mutation → event latency) for each size and
// prints one table. Every server it starts is stopped and the database dropped, whatever happens.
//
//   npm run bench:fanout-real -w @truss/server          (builds first when dist/ is missing or stale)
//   BENCH_SUBSCRIBERS=100,1000,5000,10000 flock -x /tmp/truss-bench.lock npm run bench:fanout-real -w @truss/server
//
// Environment: BENCH_SUBSCRIBERS (100,1000,5000,10000), BENCH_PG_URL (admin URL, default
// postgres://postgres@127.0.0.1:5432/test), BENCH_REDIS_URL (redis://127.0.0.1:6379), BENCH_NODE_ARGS
// (extra node flags for the servers, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), BENCH_OUT (a file for the
// client's RESULT objects, per-event figures included), BENCH_NODE_LOG (a folder for each node's stdout, e.g.
// with BENCH_NODE_ARGS=--trace-gc), BENCH_WARM_CLIENT (1: preload fanout-client-warmup.mjs into the client so
// that its own first `fetch` does not compile its HTTP stack during the first event; 0: run it cold, as the
// peer's figures were taken), plus the client's FAN_* variables (FAN_EVENTS 20, FAN_INTERVAL_MS 500,
// FAN_WORKERS 2, …; see its header).
import { execFileSync, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import pg from 'pg'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..', '..')
const client = join(repo, '..', 'shared', 'bench', 'fanout-bench.mjs')
const bin = join(repo, 'packages', 'cli', 'dist', 'bin.js')
const serverDist = join(repo, 'packages', 'server', 'dist', 'index.js')
const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const SIZES = (process.env.BENCH_SUBSCRIBERS ?? '100,1000,5000,10000').split(',').map(Number)
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)
const WARM_CLIENT = process.env.BENCH_WARM_CLIENT !== '0'
const CLIENT_ARGS = WARM_CLIENT ? ['--import', pathToFileURL(join(here, 'fanout-client-warmup.mjs')).href] : []
// The peer's figures (speckle-server 2.24.0, same machine; /work/shared/BENCHMARKS.md), in ms.
const PEER = { 100: { p50: 179, p99: 351 }, 1000: { p50: 9_700, p99: 15_800 }, 5000: { p50: 62_000, p99: 123_000 } }

// `node fanout-real.mjs identity <database url> <data dir>`: create the user and its token and print the token.
// Run as a child so that this process, idle while it times the events, never loads the server: with the server
// in its heap it ran a ~50 ms major GC on one of the 2 cores during the first event.
if (process.argv[2] === 'identity') {
  const { openIdentity } = await import(serverDist)
  const identity = await openIdentity({ databaseUrl: process.argv[3], dataDir: process.argv[4] })
  const user = await identity.users.create({ email: 'fanout@example.com', password: 'benchmark-pass', name: 'Fan' })
  const token = await identity.tokens.create({
    userId: user.id,
    name: 'fanout',
    scopes: ['streams:read', 'streams:write', 'profile:read'],
  })
  await identity.close()
  console.log(token)
  process.exit(0)
}

if (!existsSync(client)) throw new Error(`the fan-out client is not at ${client}`)
function newestMtime(dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs)
  }
  return newest
}
const sources = ['core', 'server', 'cli'].map((p) => join(repo, 'packages', p, 'src')).filter((d) => existsSync(d))
if (
  !existsSync(bin) ||
  !existsSync(serverDist) ||
  Math.max(...sources.map(newestMtime)) > Math.min(statSync(bin).mtimeMs, statSync(serverDist).mtimeMs)
) {
  console.log('dist/ missing or older than src/: npm run build')
  execFileSync('npm', ['run', 'build'], { cwd: repo, stdio: 'inherit' })
}

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

async function admin(sql) {
  const c = new pg.Client({ connectionString: ADMIN_URL })
  await c.connect()
  try {
    await c.query(sql)
  } finally {
    await c.end()
  }
}

const dbName = `truss_fanout_${Date.now()}`
const dbUrl = (() => {
  const url = new URL(ADMIN_URL)
  url.pathname = `/${dbName}`
  return url.toString()
})()
const dirs = []
const nodes = []

/** One `truss serve`, its open-files limit raised as far as the hard limit allows (10,000 sockets). */
async function startNode() {
  // Another checkout user's `npm run build` empties dist/ for a few seconds: wait for it.
  for (let i = 0; i < 120 && !existsSync(bin); i++) await new Promise((resolve) => setTimeout(resolve, 500))
  const dataDir = mkdtempSync(join(tmpdir(), 'truss-fanout-'))
  dirs.push(dataDir)
  const port = await freePort()
  const command = [process.execPath, ...NODE_ARGS, bin, 'serve', '--port', String(port), '--data-dir', dataDir]
  const child = spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$@"', 'sh', ...command], {
    env: { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: dbUrl, REDIS_URL },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  nodes.push(child)
  if (process.env.BENCH_NODE_LOG) {
    const log = createWriteStream(join(process.env.BENCH_NODE_LOG, `node-${child.pid}.log`))
    child.stdout.pipe(log)
  }
  await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (b) => {
      out += b
      if (out.includes('listening')) resolve()
    })
    child.on('exit', (code) => reject(new Error(`a node exited with ${code}`)))
  })
  return { url: `http://127.0.0.1:${port}`, pid: child.pid }
}

async function gql(url, token, query, variables = {}) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  })
  const body = await res.json()
  if (body.errors) throw new Error(JSON.stringify(body.errors).slice(0, 500))
  return body.data
}

function run(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLIENT_ARGS, client, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (b) => {
      out += b
      for (const line of String(b).split('\n')) if (line && !line.startsWith('RESULT')) console.log(`  ${line}`)
    })
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`the client exited with ${code}`))))
  })
}

const rows = []
try {
  await admin(`CREATE DATABASE ${dbName}`)
  const identityDir = mkdtempSync(join(tmpdir(), 'truss-fanout-id-'))
  dirs.push(identityDir)
  const token = execFileSync(process.execPath, [fileURLToPath(import.meta.url), 'identity', dbUrl, identityDir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim()
  const [a, b] = [await startNode(), await startNode()]
  const projectId = (await gql(a.url, token, 'mutation { streamCreate(stream: { name: "Fan-out", isPublic: false }) }'))
    .streamCreate
  const models = await gql(a.url, token, 'query($id: String!) { project(id: $id) { models { items { id name } } } }', {
    id: projectId,
  })
  const modelId = models.project.models.items.find((m) => m.name === 'main').id
  const objectId = 'f'.repeat(32)
  await gql(a.url, token, 'mutation($o: ObjectCreateInput!) { objectCreate(objectInput: $o) }', {
    o: { streamId: projectId, objects: [{ id: objectId, speckle_type: 'Base', name: 'fan-out' }] },
  })
  console.log(`nodes ${a.url} (pid ${a.pid}) and ${b.url} (pid ${b.pid}); project ${projectId}`)
  console.log(WARM_CLIENT ? 'client: HTTP stack warmed before timing' : 'client: cold (BENCH_WARM_CLIENT=0)')
  for (const n of SIZES) {
    console.log(`N=${n}`)
    const out = await run([`${a.url},${b.url}`, token, projectId, modelId, objectId, String(n)], {
      ...process.env,
      FAN_SERVER_PIDS: `${a.pid},${b.pid}`,
      // The client lives outside any package: hand it ours.
      FAN_WS_MODULE: process.env.FAN_WS_MODULE ?? createRequire(import.meta.url).resolve('ws'),
    })
    const line = out.split('\n').find((l) => l.startsWith('RESULT '))
    rows.push(JSON.parse(line.slice(7)))
    // Let the closed sockets drain from both nodes before the next size.
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
} finally {
  for (const child of nodes) {
    child.kill('SIGTERM')
    await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)))
  }
  await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((err) => console.error(err.message))
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
}

const ms = (v) => (v === null || v === undefined ? '–' : v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`)
if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, JSON.stringify(rows, null, 1))
// Server CPU is the nodes' share of one core over the events' window; the client's PostgreSQL figure counts
// every `postgres` process of the machine, so it is left out.
console.log('\n| subscribers | missed | p50 | p90 | p99 | max | mutation p50 | server CPU % (a/b) | peer p50 / p99 |')
console.log('|---|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  const peer = PEER[r.N]
  console.log(
    `| ${r.N.toLocaleString('en')} | ${r.missed} | ${ms(r.latency_ms.p50)} | ${ms(r.latency_ms.p90)} | ${ms(r.latency_ms.p99)} | ${ms(r.latency_ms.max)} | ${ms(r.mutation_ms.p50)} | ${r.cpu_during_events_pct.servers.join(' / ')} | ${peer ? `${ms(peer.p50)} / ${ms(peer.p99)}` : '–'} |`,
  )
}
const at10k = rows.find((r) => r.N === 10_000)
if (at10k)
  console.log(`\n10,000 subscribers: p99 ${ms(at10k.latency_ms.p99)} (target < 250 ms), missed ${at10k.missed}`)
