// Benchmarks for @truss/core. Run: npm run bench -w @truss/core  (env BENCH_N, BENCH_BIG_N, BENCH_ONLY)
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DiskTransport,
  SQLiteTransport,
  receive,
  send,
  serializeStream,
  type Base,
  type Transport,
} from '../src/index.js'
import { makeModel } from './model.js'

const N = Number(process.env.BENCH_N ?? 100_000)
const BIG_N = Number(process.env.BENCH_BIG_N ?? 1_000_000)
const ONLY = process.env.BENCH_ONLY?.split(',')
const want = (name: string) => !ONLY || ONLY.includes(name)
const gc = (globalThis as { gc?: () => void }).gc
const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

function serializeAll(root: Base): { count: number; bytes: number } {
  let count = 0
  let bytes = 0
  const it = serializeStream(root)
  for (let next = it.next(); !next.done; next = it.next()) {
    count++
    bytes += next.value[1].length
  }
  return { count, bytes }
}

/**
 * The floor: JSON.stringify of the same objects (the serializer's output, parsed back to plain
 * objects beforehand, root included) plus SHA-256 of the same bytes, nothing else.
 */
function floor(objects: Record<string, unknown>[]): { count: number; bytes: number } {
  let bytes = 0
  for (const o of objects) {
    const s = JSON.stringify(o)
    createHash('sha256').update(s, 'utf8').digest('hex')
    bytes += s.length
  }
  return { count: objects.length, bytes }
}

function benchSerialize(): void {
  const model = makeModel(N)
  const plainObjects: Record<string, unknown>[] = []
  const it = serializeStream(model)
  for (let next = it.next(); !next.done; next = it.next()) {
    const o = JSON.parse(next.value[1]) as Record<string, unknown>
    delete o.id
    plainObjects.push(o)
  }
  const runs = 5
  const ours: number[] = []
  const base: number[] = []
  let info = { count: 0, bytes: 0 }
  for (let r = 0; r < runs; r++) {
    gc?.()
    let t = performance.now()
    const f = floor(plainObjects)
    base.push(performance.now() - t)
    gc?.()
    t = performance.now()
    info = serializeAll(model)
    ours.push(performance.now() - t)
    void f
  }
  const ms = median(ours)
  const floorMs = median(base)
  console.log(`serialize+hash ${fmt(N)} objects (${(info.bytes / 1e6).toFixed(1)} MB JSON), median of ${runs}:`)
  console.log(
    `  truss serializer  ${ms.toFixed(0)} ms  ${fmt((info.count / ms) * 1000)} obj/s  ${((info.bytes / 1e6 / ms) * 1000).toFixed(1)} MB/s`,
  )
  console.log(
    `  floor (stringify+sha256)  ${floorMs.toFixed(0)} ms  ${fmt((plainObjects.length / floorMs) * 1000)} obj/s`,
  )
  console.log(`  ratio to floor: ${(ms / floorMs).toFixed(2)}x (target <= 1.5x)`)
}

async function benchTransport(name: string, make: (dir: string) => Transport): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `truss-bench-${name}-`))
  try {
    const model = makeModel(N)
    const t = make(dir)
    let t0 = performance.now()
    const id = await send(model, { transports: [t], useDefaultCache: false })
    const sendMs = performance.now() - t0
    await t.close?.()
    const t2 = make(dir)
    gc?.()
    t0 = performance.now()
    const back = await receive(id, { local: t2 })
    const recvMs = performance.now() - t0
    await t2.close?.()
    const count = (back['@elements'] as Base[]).length + 1
    console.log(
      `${name}: send ${fmt(count)} objects ${sendMs.toFixed(0)} ms (${fmt((count / sendMs) * 1000)} obj/s), ` +
        `receive ${recvMs.toFixed(0)} ms (${fmt((count / recvMs) * 1000)} obj/s)`,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function benchMemory(): Promise<void> {
  if (!gc) {
    console.log('memory: run node with --expose-gc to measure heap')
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'truss-bench-mem-'))
  try {
    gc()
    const before = process.memoryUsage().heapUsed
    const model = makeModel(BIG_N)
    gc()
    const modelHeap = process.memoryUsage().heapUsed - before
    // Live heap: collect garbage every ~64k objects and read what survives (heapUsed without a GC
    // counts dead strings V8 has not bothered to free yet).
    let peak = process.memoryUsage().heapUsed
    let calls = 0
    const sample = () => {
      if ((++calls & 63) !== 0) return
      gc()
      const h = process.memoryUsage().heapUsed
      if (h > peak) peak = h
    }
    const timer = setInterval(() => undefined, 1000)
    const t = new SQLiteTransport({ basePath: dir })
    const t0 = performance.now()
    await send(model, { transports: [t], useDefaultCache: false, onProgress: sample })
    const ms = performance.now() - t0
    clearInterval(timer)
    await t.close()
    const peakOverBaseline = peak - before
    console.log(
      `memory: send ${fmt(BIG_N + 1)} objects to SQLite in ${(ms / 1000).toFixed(1)} s; model heap ${(modelHeap / 1e6).toFixed(0)} MB, ` +
        `peak live heap ${(peakOverBaseline / 1e6).toFixed(0)} MB = ${(peakOverBaseline / modelHeap).toFixed(2)}x the model (target < 1.5x)`,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (want('serialize')) benchSerialize()
if (want('sqlite')) await benchTransport('SQLite', (dir) => new SQLiteTransport({ basePath: dir }))
if (want('disk')) await benchTransport('Disk', (dir) => new DiskTransport({ basePath: dir }))
if (want('memory')) await benchMemory()
