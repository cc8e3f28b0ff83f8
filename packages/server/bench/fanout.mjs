#!/usr/bin/env node
// Realtime fan-out benchmark: two gateway nodes, each its own process (a Fastify server with its own Redis
// bus, as two `truss serve` would be), N legacy-protocol (`graphql-ws`) WebSocket subscribers split between
// them, opened by this (coordinating) process, events published on this process's own Redis bus; reports
// the delay from publish to each subscriber's `data` frame. The clients share the machine's cores with the
// nodes (and parse every frame), so figures include client CPU. Needs Redis. Runs the TypeScript sources
// through tsx:
//
//   node --import tsx packages/server/bench/fanout.mjs
//   BENCH_SUBSCRIBERS=100,1000,5000,10000 BENCH_EVENTS=20 BENCH_REDIS_URL=redis://127.0.0.1:6379 node --import tsx …
//
// Identical subscriptions of one principal share one execution per event on a node (modules/realtime/
// shared.ts). BENCH_USERS sets how many distinct principals the subscribers are spread over: 1 (default,
// every subscriber the same user: one execution per node per event) up to `all` (each subscriber its own
// user: nothing shared, one execution per subscriber). BENCH_SHARE=0 turns sharing off in the gateways.
// BENCH_CONNECT_CONCURRENCY (default 50) bounds the connections opened at once; BENCH_GAP_MS (default 200)
// is the time between events.
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import { pino } from 'pino'
import WebSocket from 'ws'
import { createBus } from '../src/adapters/bus/index.ts'
import { attachRealtimeGateway, createRealtimeHub } from '../src/modules/realtime/index.ts'
import { testSchema, verifyTestToken } from '../src/modules/realtime/test-utils/schema.ts'

const SIZES = (process.env.BENCH_SUBSCRIBERS ?? '100,1000').split(',').map(Number)
const EVENTS = Number(process.env.BENCH_EVENTS ?? 20)
const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 200)
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const USERS = process.env.BENCH_USERS ?? '1'
const SHARE = process.env.BENCH_SHARE !== '0'
const CONNECT_CONCURRENCY = Number(process.env.BENCH_CONNECT_CONCURRENCY ?? 50)
const logger = pino({ level: 'silent' })
const QUERY = 'subscription { projectVersionsUpdated(id: "bench") { id type seq } }'
const TOPIC = 'project:bench'
/** Wall-clock milliseconds with sub-millisecond resolution, comparable across the processes. */
const now = () => performance.timeOrigin + performance.now()

// ---- a node (child process): serve, answer stats, close on request ----

async function serveNode(prefix) {
  const bus = await createBus({ redisUrl: REDIS_URL, keyPrefix: prefix, logger })
  const hub = createRealtimeHub({ bus, logger })
  const app = Fastify({ loggerInstance: logger })
  const gateway = attachRealtimeGateway(app, {
    schema: testSchema,
    // `user-<n>` stands for that user; the test tokens (`good`, `other`) as in the tests.
    verifyToken: async (token) => (token.startsWith('user-') ? { userId: token } : verifyTestToken(token)),
    buildContext: (principal) => ({ principal, subscribe: hub.subscribe }),
    maxSubscriptionsPerConnection: 10,
    shareSubscriptions: SHARE,
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  process.on('message', async (message) => {
    if (message.type === 'stats') {
      const { sharedExecutions, sharedSubscribers } = gateway.stats()
      const subscribers = SHARE ? sharedSubscribers : hub.stats().subscribers
      process.send({
        type: 'stats',
        subscribers,
        executions: SHARE ? sharedExecutions : subscribers,
        listening: hub.isListening(TOPIC),
      })
    } else if (message.type === 'close') {
      await app.close()
      await hub.close()
      await bus.close()
      process.exit(0)
    }
  })
  process.send({ type: 'ready', wsUrl: `${url.replace('http', 'ws')}/graphql` })
}

if (process.env.BENCH_FANOUT_NODE) {
  await serveNode(process.env.BENCH_FANOUT_NODE)
} else {
  await coordinate()
}

// ---- the coordinator: nodes, subscribers, events, figures ----

function startNode(prefix) {
  const child = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, BENCH_FANOUT_NODE: prefix },
    execArgv: ['--import', 'tsx'],
  })
  let answer = null
  child.on('message', (message) => answer?.(message))
  const ask = (type) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node did not answer ${type}`)), 30_000)
      answer = (message) => {
        clearTimeout(timer)
        answer = null
        resolve(message)
      }
      if (type !== 'ready') child.send({ type })
    })
  return ask('ready').then(({ wsUrl }) => ({
    wsUrl,
    stats: () => ask('stats'),
    close: () =>
      new Promise((resolve) => {
        child.once('exit', resolve)
        child.send({ type: 'close' })
      }),
  }))
}

function subscriber(url, token, onData) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'graphql-ws')
    ws.on('error', reject)
    ws.on('open', () =>
      ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } })),
    )
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString())
      if (frame.type === 'connection_ack') {
        ws.send(JSON.stringify({ type: 'start', id: '1', payload: { query: QUERY } }))
        resolve(ws)
      } else if (frame.type === 'data') onData(frame.payload.data.projectVersionsUpdated.seq)
    })
  })
}

async function coordinate() {
  const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
  const prefix = `truss-bench:${randomBytes(4).toString('hex')}:`
  const publisher = await createBus({ redisUrl: REDIS_URL, keyPrefix: prefix, logger })
  const [a, b] = await Promise.all([startNode(prefix), startNode(prefix)])
  console.log(
    `fan-out, two node processes, legacy protocol, ${EVENTS} events ${GAP_MS} ms apart, users ${USERS}, sharing ${SHARE ? 'on' : 'off'}`,
  )
  console.log(
    '| subscribers | users | executions per event (both nodes) | missed | p50 | p99 | max |\n|---|---|---|---|---|---|---|',
  )
  try {
    for (const n of SIZES) {
      const publishedAt = new Map()
      const delays = []
      let received = 0
      const users = USERS === 'all' ? n : Math.min(n, Number(USERS))
      const onData = (seq) => {
        received += 1
        delays.push(now() - publishedAt.get(seq))
      }
      const sockets = []
      for (let i = 0; i < n; i += CONNECT_CONCURRENCY) {
        const batch = []
        for (let j = i; j < Math.min(n, i + CONNECT_CONCURRENCY); j += 1) {
          batch.push(subscriber((j % 2 ? b : a).wsUrl, `user-${j % users}`, onData))
        }
        sockets.push(...(await Promise.all(batch)))
      }
      const readyBy = Date.now() + 120_000
      let stats
      while (true) {
        stats = await Promise.all([a.stats(), b.stats()])
        if (stats[0].subscribers + stats[1].subscribers >= n && stats.every((s) => s.listening)) break
        if (Date.now() > readyBy) throw new Error(`${n} subscribers not all live within 120 s`)
        await new Promise((r) => setTimeout(r, 20))
      }
      const executions = stats[0].executions + stats[1].executions
      for (let seq = 0; seq < EVENTS; seq += 1) {
        publishedAt.set(seq, now())
        await publisher.publish(TOPIC, { id: `v${seq}`, type: 'CREATED', seq })
        await new Promise((r) => setTimeout(r, GAP_MS))
      }
      const deadline = Date.now() + 30_000
      while (received < n * EVENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      delays.sort((x, y) => x - y)
      const ms = (v) => (v === undefined ? '-' : `${v.toFixed(1)} ms`)
      console.log(
        `| ${n} | ${users} | ${executions} | ${n * EVENTS - received} | ${ms(percentile(delays, 50))} | ${ms(percentile(delays, 99))} | ${ms(delays.at(-1))} |`,
      )
      await Promise.all(sockets.map((ws) => new Promise((r) => (ws.once('close', r), ws.close()))))
    }
  } finally {
    await Promise.all([a.close(), b.close()])
    await publisher.close()
  }
}
