#!/usr/bin/env node
// Realtime fan-out benchmark: two gateway nodes (two Fastify servers, each with its own Redis bus) in this
// process, N legacy-protocol (`graphql-ws`) WebSocket subscribers split between them, events published on
// node A's bus; reports the delay from publish to each subscriber's `data` frame. Clients share the process,
// so figures include client CPU. Needs Redis. Runs the TypeScript sources through tsx:
//
//   node --import tsx packages/server/bench/fanout.mjs
//   BENCH_SUBSCRIBERS=100,1000,5000 BENCH_EVENTS=20 BENCH_REDIS_URL=redis://127.0.0.1:6379 node --import tsx …
import { randomBytes } from 'node:crypto'
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
const logger = pino({ level: 'silent' })
const QUERY = 'subscription { projectVersionsUpdated(id: "bench") { id type seq } }'

async function node(prefix) {
  const bus = await createBus({ redisUrl: REDIS_URL, keyPrefix: prefix, logger })
  const hub = createRealtimeHub({ bus, logger })
  const app = Fastify({ loggerInstance: logger })
  const gateway = attachRealtimeGateway(app, {
    schema: testSchema,
    verifyToken: verifyTestToken,
    buildContext: (principal) => ({ principal, subscribe: hub.subscribe }),
    maxSubscriptionsPerConnection: 10,
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    bus,
    hub,
    gateway,
    wsUrl: `${url.replace('http', 'ws')}/graphql`,
    close: async () => (await app.close(), await hub.close(), await bus.close()),
  }
}

function subscriber(url, onData) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'graphql-ws')
    ws.on('error', reject)
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: 'Bearer good' } })))
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString())
      if (frame.type === 'connection_ack') {
        ws.send(JSON.stringify({ type: 'start', id: '1', payload: { query: QUERY } }))
        resolve(ws)
      } else if (frame.type === 'data') onData(frame.payload.data.projectVersionsUpdated.seq)
    })
  })
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

const prefix = `truss-bench:${randomBytes(4).toString('hex')}:`
const [a, b] = [await node(prefix), await node(prefix)]
console.log(`fan-out, two nodes, legacy protocol, ${EVENTS} events ${GAP_MS} ms apart`)
console.log('| subscribers | missed | p50 | p99 | max |\n|---|---|---|---|---|')
for (const n of SIZES) {
  const publishedAt = new Map()
  const delays = []
  let received = 0
  const sockets = []
  for (let i = 0; i < n; i += 1) {
    sockets.push(
      await subscriber((i % 2 ? b : a).wsUrl, (seq) => {
        received += 1
        delays.push(performance.now() - publishedAt.get(seq))
      }),
    )
  }
  while (
    a.hub.stats().subscribers + b.hub.stats().subscribers < n ||
    !a.hub.isListening('project:bench') ||
    !b.hub.isListening('project:bench')
  ) {
    await new Promise((r) => setTimeout(r, 10))
  }
  for (let seq = 0; seq < EVENTS; seq += 1) {
    publishedAt.set(seq, performance.now())
    await a.bus.publish('project:bench', { id: `v${seq}`, type: 'CREATED', seq })
    await new Promise((r) => setTimeout(r, GAP_MS))
  }
  const deadline = Date.now() + 30_000
  while (received < n * EVENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  delays.sort((x, y) => x - y)
  const ms = (v) => `${v.toFixed(1)} ms`
  console.log(
    `| ${n} | ${n * EVENTS - received} | ${ms(percentile(delays, 50))} | ${ms(percentile(delays, 99))} | ${ms(delays.at(-1))} |`,
  )
  await Promise.all(sockets.map((ws) => new Promise((r) => (ws.once('close', r), ws.close()))))
}
await a.close()
await b.close()
