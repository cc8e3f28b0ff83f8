/**
 * Checks of very large objects (a million-child root is 100+ MB of JSON, a second of scanning) in a worker
 * thread, so the server keeps answering meanwhile. The object's bytes are transferred to the worker and
 * back, not copied. One worker, started on first use, idle ones do not keep the process alive. A worker
 * idle for IDLE_MS is stopped: its heap held the object as a string while it checked it, and an idle
 * isolate does not collect it, so the server would keep that memory (116 MB for a million-child root).
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { ScannedObject } from './split.js'

export type LargeObjectCheck = Pick<ScannedObject, 'id' | 'escapes' | 'spaced'> | null

interface Reply {
  n: number
  buffer: ArrayBuffer
  offset: number
  length: number
  result: LargeObjectCheck
}

const IDLE_MS = 2_000

let worker: Worker | undefined
let idleTimer: NodeJS.Timeout | undefined
let next = 1
const waiting = new Map<number, { resolve: (reply: Reply) => void; reject: (err: Error) => void }>()

function start(): Worker {
  const here = import.meta.url
  let w: Worker
  if (!here.endsWith('.ts')) w = new Worker(new URL('./large-objects-worker.js', here))
  else {
    // Under the test runner the sources are TypeScript: load them through tsx, as the PGlite worker does.
    const tsxRoot = dirname(createRequire(here).resolve('tsx/package.json'))
    const tsx = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href
    const entry = new URL('./large-objects-worker.ts', here).href
    const code = `import(${JSON.stringify(tsx)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(entry)}) })`
    w = new Worker(code, { eval: true })
  }
  w.on('message', (reply: Reply) => {
    const waiter = waiting.get(reply.n)
    waiting.delete(reply.n)
    if (waiting.size === 0) {
      w.unref()
      clearTimeout(idleTimer)
      idleTimer = setTimeout(() => {
        if (worker !== w || waiting.size > 0) return
        worker = undefined
        void w.terminate()
      }, IDLE_MS)
      idleTimer.unref()
    }
    waiter?.resolve(reply)
  })
  const fail = (err: Error) => {
    if (worker !== w) return // stopped when idle: nothing waits on it
    worker = undefined
    for (const waiter of waiting.values()) waiter.reject(err)
    waiting.clear()
  }
  w.on('error', fail)
  w.on('exit', (code) => fail(new Error(`the large-object checker stopped (exit code ${code})`)))
  w.unref()
  return w
}

/**
 * Check one whole object off the main thread. Resolves to the check and the object's bytes (the same
 * memory, handed back). With `owned`, the caller vouches that nothing else uses the ArrayBuffer under
 * `bytes` (it is transferred, not copied); the Buffer passed in must not be used afterwards either way.
 */
export async function checkLargeObject(
  bytes: Buffer,
  owned = false,
): Promise<{ bytes: Buffer; result: LargeObjectCheck }> {
  const own = owned && !(bytes.buffer instanceof SharedArrayBuffer) ? bytes : Buffer.from(new Uint8Array(bytes).buffer)
  clearTimeout(idleTimer)
  worker ??= start()
  const w = worker
  const n = next++
  const reply = await new Promise<Reply>((resolve, reject) => {
    if (waiting.size === 0) w.ref()
    waiting.set(n, { resolve, reject })
    const buffer = own.buffer as ArrayBuffer
    w.postMessage({ n, buffer, offset: own.byteOffset, length: own.length }, [buffer])
  })
  return { bytes: Buffer.from(reply.buffer, reply.offset, reply.length), result: reply.result }
}

/** Whether a checker worker is running (it stops IDLE_MS after its last check). */
export function largeObjectCheckerRunning(): boolean {
  return worker !== undefined
}
