#!/usr/bin/env node
// GraphQL read benchmark: creates a fresh PostgreSQL database, starts the built server on it, creates a
// user and token, seeds the anchor data set through the public API with ../../../../shared/bench/gql-seed.mjs
// (one project with 1,000 models and 10,000 versions; the user has 1,000 projects) and runs
// ../../../../shared/bench/gql-bench.mjs (the client the peer's anchors were measured with), printing
// p50/p95/p99 per query next to the anchors.
//
//   npm run bench:graphql -w @truss/server            (builds first when dist/ is missing)
//   BENCH_N=500 BENCH_CONC_SECONDS=10 npm run bench:graphql -w @truss/server
//
// Environment: BENCH_PG_URL (admin URL, default postgres://postgres@127.0.0.1:5432/test),
// BENCH_MODELS (1000), BENCH_VERSIONS (10000), BENCH_PROJECTS (1000), SEED_CONC (4), plus every BENCH_*
// variable of gql-bench.mjs. BENCH_STATE=<file>: keep the seeded database and remember it in that file;
// a later run with the same BENCH_STATE reuses it (no re-seed; new migrations are applied at start-up).
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..', '..')
const shared = join(repo, '..', 'shared', 'bench')
const seedScript = join(shared, 'gql-seed.mjs')
const benchScript = join(shared, 'gql-bench.mjs')
const bin = join(repo, 'packages', 'cli', 'dist', 'bin.js')
const serverDist = join(repo, 'packages', 'server', 'dist', 'index.js')
const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const MODELS = process.env.BENCH_MODELS ?? '1000'
const VERSIONS = process.env.BENCH_VERSIONS ?? '10000'
const PROJECTS = process.env.BENCH_PROJECTS ?? '1000'
const STATE = process.env.BENCH_STATE ?? null

// The peer's figures (speckle-server 2.24.0, same machine; /work/shared/BENCHMARKS.md), in ms.
const ANCHORS = {
  a_activeUser_projects: { p50: 128, p95: 148, p99: 157 },
  b_project_models_latestVersion: { p50: 260, p95: 343, p99: 367 },
  c_model_versions: { p50: 115, p95: 131, p99: 152 },
  d_legacy_stream_branches: { p50: 464, p95: 584, p99: 690 },
}
const ANCHOR_THROUGHPUT_B = 4.3 // requests/s, 8 concurrent clients

if (!existsSync(seedScript) || !existsSync(benchScript)) throw new Error(`benchmark clients not found in ${shared}`)
// Rebuild when dist/ is missing or older than any source file of the server or CLI (a stale build once
// served no /graphql route, and the seed script does not notice a 404).
function newestMtime(dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs)
  }
  return newest
}
const sources = ['core', 'server', 'cli'].map((p) => join(repo, 'packages', p, 'src')).filter((d) => existsSync(d))
const stale =
  !existsSync(bin) ||
  !existsSync(serverDist) ||
  Math.max(...sources.map(newestMtime)) > Math.min(statSync(bin).mtimeMs, statSync(serverDist).mtimeMs)
if (stale) {
  console.log('dist/ missing or older than src/: npm run build')
  execFileSync('npm', ['run', 'build'], { cwd: repo, stdio: 'inherit' })
}
const { openIdentity } = await import(serverDist)

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })

async function admin(sql) {
  const client = new pg.Client({ connectionString: ADMIN_URL })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

function dbUrl(dbName) {
  const url = new URL(ADMIN_URL)
  url.pathname = `/${dbName}`
  return url.toString()
}

function runNode(script, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (b) => (out += b))
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${script} exited with ${code}: ${out.slice(-500)}`)),
    )
  })
}

const state = STATE !== null && existsSync(STATE) ? JSON.parse(readFileSync(STATE, 'utf8')) : null
const dbName = state?.dbName ?? `truss_gqlbench_${Date.now()}`
const dataDir = mkdtempSync(join(tmpdir(), 'truss-gqlbench-'))
const env = { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: dbUrl(dbName) }
let token = state?.token
if (state === null) {
  await admin(`CREATE DATABASE ${dbName}`)
  const identity = await openIdentity({ databaseUrl: env.DATABASE_URL, dataDir })
  const user = await identity.users.create({ email: 'bench@example.com', password: 'benchmark-pass', name: 'Bench' })
  token = await identity.tokens.create({
    userId: user.id,
    name: 'bench',
    scopes: ['streams:read', 'streams:write', 'profile:read', 'users:read'],
  })
  await identity.close()
}

const port = await freePort()
const server = spawn(process.execPath, [bin, 'serve', '--port', String(port), '--data-dir', dataDir], {
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
})
await new Promise((resolve, reject) => {
  server.stdout.on('data', (b) => {
    if (String(b).includes('listening')) resolve()
  })
  server.on('exit', (code) => reject(new Error(`server exited with ${code}`)))
})
const base = `http://127.0.0.1:${port}`

// Our own walk over the models by cursor, checking ids (gql-bench.mjs counts items only, so a skip and a
// repeat would cancel out).
async function walkModels(base, token, projectId) {
  const query = `query($id: String!, $c: String) { project(id: $id) { models(limit: 25, cursor: $c) { totalCount cursor items { id } } } }`
  const ids = []
  let cursor = null
  let total = 0
  for (let page = 0; page < 10_000; page++) {
    const r = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables: { id: projectId, c: cursor } }),
    })
    const j = await r.json()
    if (j.errors) throw new Error(JSON.stringify(j.errors))
    const m = j.data.project.models
    total = m.totalCount
    ids.push(...m.items.map((i) => i.id))
    if (m.cursor === null) break
    cursor = m.cursor
  }
  return { total, seen: ids.length, distinct: new Set(ids).size }
}

let result
let uniqueWalk
try {
  const probe = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ activeUser { id } }' }),
  })
  const probeBody = await probe.text()
  if (probe.status !== 200 || !probeBody.includes('"activeUser":{"id"')) {
    throw new Error(`POST /graphql does not answer: HTTP ${probe.status} ${probeBody.slice(0, 300)}`)
  }
  let seed = state?.seed
  if (seed === undefined) {
    console.log(`seeding ${PROJECTS} projects, ${MODELS} models, ${VERSIONS} versions through the API…`)
    const t = performance.now()
    const out = await runNode(seedScript, [base, token, MODELS, VERSIONS, PROJECTS], env)
    const parsed = JSON.parse(out.trim().split('\n').at(-1))
    seed = { projectId: parsed.projectId, modelIds: parsed.modelIds }
    console.log(`seeded in ${((performance.now() - t) / 1000).toFixed(1)} s`)
    if (STATE !== null) writeFileSync(STATE, JSON.stringify({ dbName, token, seed }))
  } else console.log(`reusing database ${dbName} from ${STATE}`)
  // Statistics and visibility maps for the freshly loaded tables, as autovacuum would have made them
  // by now on a running server (the test instance runs with autovacuum off; without statistics the
  // planner sorts all of the user's projects instead of walking projects_updated).
  {
    const db = new pg.Client({ connectionString: env.DATABASE_URL })
    await db.connect()
    await db.query('VACUUM ANALYZE')
    await db.end()
  }
  // Query c reads one model's versions: the first model has its full share (VERSIONS / MODELS).
  const out = await runNode(benchScript, [base, token, seed.projectId, seed.modelIds[0]], {
    ...env,
    BENCH_SERVER_PID: String(server.pid),
    BENCH_DB_COMM: 'postgres',
  })
  for (const line of out.split('\n')) if (line && !line.startsWith('RESULT')) console.log(line)
  uniqueWalk = await walkModels(base, token, seed.projectId)
  result = JSON.parse(
    out
      .split('\n')
      .find((l) => l.startsWith('RESULT '))
      .slice(7),
  )
} finally {
  server.kill('SIGTERM')
  await new Promise((resolve) => (server.exitCode !== null ? resolve() : server.on('exit', resolve)))
  rmSync(dataDir, { recursive: true, force: true })
  if (STATE === null) await admin(`DROP DATABASE IF EXISTS ${dbName}`)
}

const fmt = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1))
console.log(`\n| query | Truss p50 | p95 | p99 | peer p50 | p95 | p99 | p95 ratio (peer / Truss) |`)
console.log(`|---|---|---|---|---|---|---|---|`)
for (const [name, r] of Object.entries(result.queries)) {
  const a = ANCHORS[name]
  console.log(
    `| ${name} | ${fmt(r.p50)} ms | ${fmt(r.p95)} ms | ${fmt(r.p99)} ms | ${a?.p50 ?? '?'} ms | ${a?.p95 ?? '?'} ms | ${a?.p99 ?? '?'} ms | ${a ? `${(a.p95 / r.p95).toFixed(1)}×` : '?'} |`,
  )
}
const walk = result.cursor_walk
const walkOk = walk.measured.every((w) => w.seen === w.total)
console.log(
  `\ncursor walk: ${walk.measured.map((w) => `${w.seen}/${w.total} models in ${w.pages} pages, ${w.ms} ms`).join('; ')} — ${walkOk ? 'no skips' : 'MISMATCH'}`,
)
const uniqueOk = uniqueWalk.seen === uniqueWalk.total && uniqueWalk.distinct === uniqueWalk.total
console.log(
  `id check: ${uniqueWalk.seen} ids seen, ${uniqueWalk.distinct} distinct, totalCount ${uniqueWalk.total} — ${uniqueOk ? 'never skips or repeats' : 'SKIPS OR REPEATS'}`,
)
const t = result.throughput_b
console.log(
  `query b with ${t.conc} concurrent clients: ${t.rps} req/s (peer ${ANCHOR_THROUGHPUT_B}), p50 ${t.latency.p50} ms, p99 ${t.latency.p99} ms, errors ${t.errors}, server CPU ${t.cpu.server_cpu_pct}%, PostgreSQL CPU ${t.cpu.db_cpu_pct}%`,
)
const slow = Object.entries(result.queries).filter(([, r]) => r.p95 >= 50)
if (slow.length > 0) console.log(`over the 50 ms p95 target: ${slow.map(([n]) => n).join(', ')}`)
if (!walkOk || !uniqueOk) process.exitCode = 1
