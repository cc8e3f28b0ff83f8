#!/usr/bin/env node
// Change-feed fan-out through real Truss nodes: a scratch PostgreSQL database, two `truss serve` processes
// (TypeScript sources through tsx) on it and on one Redis, N graphql-transport-ws subscribers of
// projectCommentsUpdated (asking for seqs, `extensions.truss`) split over both nodes by two client processes
// (one per node), comments posted through GraphQL on node 1. Every comment goes through the outbox: committed
// with the comment, read by each node's tailer, executed once per node (one principal: one audience), framed
// once and written to every socket. Reports, per run, the delay from sending the mutation to each subscriber's
// frame (p50/p99 over every delivery), the nodes' RSS per idle subscribed connection, and at saturation (posting
// with BENCH_CONCURRENCY mutations in flight) comments/s committed and delivered to all N, and frames/s.
//
//   node --import tsx packages/server/bench/change-feed.mjs
//   BENCH_SUBSCRIBERS=10000 BENCH_RUNS=3 BENCH_EVENTS=20 node --import tsx packages/server/bench/change-feed.mjs
//
// Environment: BENCH_SUBSCRIBERS (10000), BENCH_RUNS (3), BENCH_EVENTS per run (20), BENCH_GAP_MS between
// events (250), BENCH_SATURATION comments (200), BENCH_CONCURRENCY (16), BENCH_PG_URL (admin URL, default
// postgres://postgres@127.0.0.1:5432/test), BENCH_REDIS_URL (redis://127.0.0.1:6379).
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import WebSocket from 'ws'

const now = () => performance.timeOrigin + performance.now()
const QUERY =
  'subscription($t: ViewerUpdateTrackingTarget!) { projectCommentsUpdated(target: $t) { id type comment { id rawText } } }'

// ---- client process: `change-feed.mjs client <url> <token> <project> <count>` ----
if (process.argv[2] === 'client') {
  const [url, token, projectId, count] = process.argv.slice(3)
  const times = new Map()
  let frames = 0
  const sockets = []
  const open = () =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws')
      sockets.push(ws)
      ws.once('error', reject)
      ws.on('open', () =>
        ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } })),
      )
      ws.on('message', (raw) => {
        const text = raw.toString()
        if (text.startsWith('{"type":"next"')) {
          const at = now()
          frames += 1
          const id = /"projectCommentsUpdated":\{"id":"([^"]+)"/.exec(text)?.[1]
          if (id === undefined) return
          let list = times.get(id)
          if (list === undefined) times.set(id, (list = []))
          list.push(at)
          return
        }
        const msg = JSON.parse(text)
        if (msg.type === 'connection_ack') {
          const payload = {
            query: QUERY,
            variables: { t: { projectId, resourceIdString: '' } },
            extensions: { truss: {} },
          }
          ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload }))
          resolve()
        }
      })
    })
  for (let i = 0; i < Number(count); i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, Number(count) - i) }, open))
  }
  process.send({ type: 'connected' })
  process.on('message', (message) => {
    if (message.type === 'collect') {
      process.send({ type: 'times', times: [...times], frames })
      times.clear()
    } else if (message.type === 'close') {
      for (const ws of sockets) ws.terminate()
      process.exit(0)
    }
  })
} else {
  await main()
}

async function main() {
  const { openIdentity } = await import('../src/modules/auth/identity.ts')
  const repo = fileURLToPath(new URL('../../../', import.meta.url))
  const bin = join(repo, 'packages/cli/src/bin.ts')
  const N = Number(process.env.BENCH_SUBSCRIBERS ?? 10_000)
  const RUNS = Number(process.env.BENCH_RUNS ?? 3)
  const EVENTS = Number(process.env.BENCH_EVENTS ?? 20)
  const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 250)
  const SATURATION = Number(process.env.BENCH_SATURATION ?? 200)
  const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16)
  const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
  const dbName = `truss_feed_${Date.now()}`
  const dbUrl = Object.assign(new URL(ADMIN_URL), { pathname: `/${dbName}` }).toString()
  const admin = async (sql) => {
    const c = new pg.Client({ connectionString: ADMIN_URL })
    await c.connect()
    await c.query(sql).finally(() => c.end())
  }
  const dirs = []
  const children = []

  const startNode = () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'truss-feed-'))
    dirs.push(dataDir)
    const command = [process.execPath, '--import', 'tsx', bin, 'serve', '--port', '0', '--data-dir', dataDir]
    const child = spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$@"', 'sh', ...command], {
      cwd: repo,
      env: { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: dbUrl, REDIS_URL },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    children.push(child)
    return new Promise((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (b) => {
        out += b
        const m = /listening on (http:\/\/\S+)/.exec(out)
        if (m) resolve({ url: m[1], pid: child.pid })
      })
      child.on('exit', (code) => reject(new Error(`a node exited with ${code}`)))
    })
  }
  const gql = async (url, token, query, variables = {}) => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    })
    const body = await res.json()
    if (body.errors) throw new Error(JSON.stringify(body.errors).slice(0, 500))
    return body.data
  }
  const started = async (url) => {
    const text = await (await fetch(`${url}/metrics`)).text()
    return Number(/^truss_realtime_subscriptions_started_total (\d+)/m.exec(text)?.[1] ?? 0)
  }
  const rssKb = (pid) => {
    // `sh` exec'd node, so the pid is node's.
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    return Number(/VmRSS:\s+(\d+)/.exec(status)[1])
  }
  const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

  try {
    await admin(`CREATE DATABASE ${dbName}`)
    const identityDir = mkdtempSync(join(tmpdir(), 'truss-feed-id-'))
    dirs.push(identityDir)
    const identity = await openIdentity({ databaseUrl: dbUrl, dataDir: identityDir })
    const user = await identity.users.create({ email: 'feed@example.com', password: 'benchmark-pass', name: 'Feed' })
    const token = await identity.tokens.create({
      userId: user.id,
      name: 'feed',
      scopes: ['streams:read', 'streams:write', 'profile:read'],
    })
    await identity.close()
    const a = await startNode()
    const b = await startNode()
    const projectId = (await gql(a.url, token, 'mutation { streamCreate(stream: { name: "Feed" }) }')).streamCreate
    const objectId = 'e'.repeat(32)
    await gql(a.url, token, 'mutation($o: ObjectCreateInput!) { objectCreate(objectInput: $o) }', {
      o: { streamId: projectId, objects: [{ id: objectId, speckle_type: 'Base', name: 'feed' }] },
    })
    const comment = async (text) => {
      const sent = now()
      const data = await gql(
        a.url,
        token,
        'mutation($input: CreateCommentInput!) { commentMutations { create(input: $input) { id } } }',
        {
          input: {
            projectId,
            resourceIdString: objectId,
            content: { doc: { type: 'doc', content: [{ type: 'paragraph', content: [{ type: 'text', text }] }] } },
          },
        },
      )
      return { id: data.commentMutations.create.id, sent }
    }
    // Warm both nodes' GraphQL and the feed before measuring.
    for (let i = 0; i < 5; i++) await comment(`warm-up ${i}`)
    await sleep(1000)
    const rssBefore = [rssKb(a.pid), rssKb(b.pid)]
    const startedBefore = [await started(a.url), await started(b.url)]
    const half = [Math.ceil(N / 2), Math.floor(N / 2)]
    const clients = [a, b].map((node, i) => {
      const child = spawn(
        'sh',
        [
          '-c',
          'ulimit -n "$(ulimit -Hn)"; exec "$@"',
          'sh',
          process.execPath,
          fileURLToPath(import.meta.url),
          'client',
          node.url,
          token,
          projectId,
          String(half[i]),
        ],
        { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
      )
      children.push(child)
      return child
    })
    const message = (child, type) =>
      new Promise((resolve) => child.once('message', (m) => m.type === type && resolve(m)))
    const connectStart = now()
    await Promise.all(clients.map((c) => message(c, 'connected')))
    for (let i = 0; i < 2; i++) {
      const url = [a, b][i].url
      while ((await started(url)) < startedBefore[i] + half[i]) await sleep(100)
    }
    console.log(`${N} subscribers connected and live in ${((now() - connectStart) / 1000).toFixed(1)} s`)
    await sleep(3000)
    const rssAfter = [rssKb(a.pid), rssKb(b.pid)]
    const perConnKb = (rssAfter[0] + rssAfter[1] - rssBefore[0] - rssBefore[1]) / N
    console.log(
      `RSS per idle connection: ${perConnKb.toFixed(1)} KiB (nodes ${rssAfter.map((r) => Math.round(r / 1024)).join(' / ')} MiB)`,
    )

    const collect = async () => {
      const replies = await Promise.all(
        clients.map((c) => {
          const reply = message(c, 'times')
          c.send({ type: 'collect' })
          return reply
        }),
      )
      const times = new Map()
      let frames = 0
      for (const r of replies) {
        frames += r.frames
        for (const [id, list] of r.times) times.set(id, [...(times.get(id) ?? []), ...list])
      }
      return { times, frames }
    }

    const runs = []
    for (let run = 0; run < RUNS; run++) {
      const posted = []
      for (let i = 0; i < EVENTS; i++) {
        posted.push(await comment(`run ${run} event ${i}`))
        await sleep(GAP_MS)
      }
      await sleep(2000)
      const { times } = await collect()
      const latencies = []
      let missed = 0
      for (const { id, sent } of posted) {
        const list = times.get(id) ?? []
        missed += N - list.length
        for (const at of list) latencies.push(at - sent)
      }
      latencies.sort((x, y) => x - y)
      const row = { run: run + 1, p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies.at(-1), missed }
      runs.push(row)
      console.log(
        `run ${row.run}: p50 ${row.p50.toFixed(0)} ms, p99 ${row.p99.toFixed(0)} ms, max ${row.max.toFixed(0)} ms, missed ${missed}`,
      )
    }

    // Saturation: CONCURRENCY mutations in flight until SATURATION comments are posted.
    const saturationTimes = {}
    const first = now()
    const ids = []
    let next = 0
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < SATURATION) {
          next += 1
          ids.push((await comment(`saturation ${next}`)).id)
        }
      }),
    )
    const committed = now()
    let delivered = null
    for (let waited = 0; waited < 120_000; waited += 500) {
      await sleep(500)
      const { times } = await collect()
      for (const [id, list] of times) (saturationTimes[id] ??= []).push(...list)
      if (ids.every((id) => (saturationTimes[id]?.length ?? 0) >= N)) {
        delivered = Math.max(...ids.map((id) => Math.max(...saturationTimes[id])))
        break
      }
    }
    const commitRate = SATURATION / ((committed - first) / 1000)
    const deliveredRate = delivered === null ? null : SATURATION / ((delivered - first) / 1000)
    console.log(
      `saturation: ${SATURATION} comments, ${CONCURRENCY} in flight: ${commitRate.toFixed(0)} comments/s committed; ` +
        (deliveredRate === null
          ? 'not all delivered within 120 s'
          : `${deliveredRate.toFixed(0)} comments/s delivered to all ${N} (${((deliveredRate * N) / 1000).toFixed(0)}k frames/s)`),
    )
    console.log('\n| run | p50 | p99 | max | missed |\n|---|---|---|---|---|')
    for (const r of runs)
      console.log(
        `| ${r.run} | ${r.p50.toFixed(0)} ms | ${r.p99.toFixed(0)} ms | ${r.max.toFixed(0)} ms | ${r.missed} |`,
      )
    for (const c of clients) c.send({ type: 'close' })
  } finally {
    for (const child of children) {
      if (child.exitCode !== null) continue
      child.kill('SIGTERM')
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)))
    }
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((err) => console.error(err.message))
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
}
