/**
 * The PGlite side of the embedded adapter, run in a worker thread: PGlite is WASM and runs a query
 * synchronously to its end, so on the main thread a heavy query would freeze HTTP. The main side
 * (`pglite.ts`) owns ordering and transactions; this side only runs what it is sent, replying in order.
 */
import { readFile } from 'node:fs/promises'
import { parentPort, workerData } from 'node:worker_threads'
import { PGlite, types, type ParserOptions, type Results, type SerializerOptions } from '@electric-sql/pglite'
import type { SqlErrorFields } from './types.js'

export interface WorkerOptions {
  /** PGlite's data folder; in memory when absent. */
  dataDir?: string
  /** A tarball from `dumpDataDir('none')` to start from instead of running initdb (≈ 0.5 s instead of 3–7 s). */
  loadDataDir?: string
  /** Extra server options (`-c name=value` pairs) after PGlite's own start parameters. */
  settings?: string[]
}

export type WorkerRequest =
  | { id: number; op: 'query'; text: string; params: readonly unknown[] }
  /** No parameters: the simple protocol, so a text may hold several statements (as `pg` allows). */
  | { id: number; op: 'exec'; text: string }
  /** `text` reads `'/dev/blob'`; `data` is the COPY text, transferred rather than copied. */
  | { id: number; op: 'copy'; text: string; data: Uint8Array<ArrayBuffer> }
  /** `text` writes `'/dev/blob'`; the reply's `data` holds what it wrote. */
  | { id: number; op: 'copyOut'; text: string }
  /**
   * A query of two text columns, answered as `a \t b \n` lines in one transferred buffer (`data`) with
   * each line's end offset (`ends`): the main thread gets one buffer instead of a string per value.
   */
  | { id: number; op: 'lines'; text: string; params: readonly unknown[] }
  | { id: number; op: 'close' }

export interface WorkerError {
  message: string
  /** Present when PostgreSQL reported the error (it has a SQLSTATE). */
  fields?: SqlErrorFields
}

export type WorkerMessage =
  | { kind: 'ready' }
  | { kind: 'failed'; error: WorkerError }
  | {
      kind: 'reply'
      id: number
      ok: true
      rows: unknown[]
      rowCount: number
      data?: Uint8Array<ArrayBuffer>
      /** For `lines`: where each line of `data` ends. */
      ends?: Uint32Array<ArrayBuffer>
      /** The size of PGlite's WASM memory after the request (it only ever grows). */
      heapBytes?: number
    }
  | { kind: 'reply'; id: number; ok: false; error: WorkerError; heapBytes?: number }

// The same JS types as the `pg` adapter: int8 as a string (a number would lose precision past 2^53,
// PGlite's default mixes number and BigInt), `date` as 'YYYY-MM-DD' (a Date would add a time zone).
const identity = (x: string): string => x
const PARSERS: ParserOptions = {
  [types.INT8]: identity,
  1016: (x: string) => types.arrayParser(x, identity, 1016), // int8[]
  [types.DATE]: identity,
  1182: (x: string) => types.arrayParser(x, identity, 1182), // date[]
}

// PGlite checks booleans in JS and throws an error without SQLSTATE; pass other values on so that
// PostgreSQL refuses them with 22P02, as it does through pg.
const SERIALIZERS: SerializerOptions = {
  [types.BOOL]: (x: unknown) => (typeof x === 'boolean' ? (x ? 't' : 'f') : String(x)),
}

const ERROR_FIELDS = [
  'code',
  'severity',
  'detail',
  'hint',
  'schema',
  'table',
  'column',
  'constraint',
  'where',
  'position',
] as const

function toWorkerError(err: unknown): WorkerError {
  if (!(err instanceof Error)) return { message: String(err) }
  const source = err as Error & Record<string, unknown>
  if (typeof source.code !== 'string') return { message: err.message }
  const fields: SqlErrorFields = {}
  for (const key of ERROR_FIELDS) {
    const value = source[key]
    if (typeof value === 'string') fields[key] = value
  }
  return { message: err.message, fields }
}

/** pg's meaning: rows affected for INSERT/UPDATE/DELETE/COPY, rows returned for a query that returns rows. */
function toReply(id: number, result: Results): WorkerMessage {
  const rowCount = result.fields.length > 0 ? result.rows.length : (result.affectedRows ?? 0)
  return { kind: 'reply', id, ok: true, rows: result.rows, rowCount }
}

/** Rows of two texts as `a \t b \n` lines in one buffer of its own (transferable), and each line's end. */
export function joinLines(rows: readonly (readonly [string, string])[]): {
  data: Uint8Array<ArrayBuffer>
  ends: Uint32Array<ArrayBuffer>
} {
  const ends = new Uint32Array(rows.length)
  let total = 0
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!
    total += Buffer.byteLength(row[0]) + Buffer.byteLength(row[1]) + 2
    ends[i] = total
  }
  // Not from Buffer's shared pool: the whole ArrayBuffer is this result, so it can be transferred.
  const out = Buffer.allocUnsafeSlow(total)
  let at = 0
  for (const [a, b] of rows) {
    at += out.write(a, at)
    out[at++] = 9
    at += out.write(b, at)
    out[at++] = 10
  }
  return { data: new Uint8Array(out.buffer, 0, total), ends }
}

/** PGlite's WASM memory in bytes; undefined where this PGlite build does not expose its module. */
function heapBytes(db: PGlite): number | undefined {
  const memory = (db as unknown as { mod?: { HEAPU8?: Uint8Array } }).mod?.HEAPU8
  return memory?.byteLength
}

async function run(db: PGlite, request: WorkerRequest): Promise<WorkerMessage> {
  switch (request.op) {
    case 'query':
      return toReply(request.id, await db.query(request.text, [...request.params]))
    case 'exec': {
      const results = await db.exec(request.text)
      const last = results.at(-1)
      return last ? toReply(request.id, last) : { kind: 'reply', id: request.id, ok: true, rows: [], rowCount: 0 }
    }
    case 'copy':
      return toReply(
        request.id,
        await db.query(request.text, [], { blob: new Blob([request.data as Uint8Array<ArrayBuffer>]) }),
      )
    case 'copyOut': {
      const result = await db.query(request.text)
      const data = new Uint8Array(result.blob ? await result.blob.arrayBuffer() : new ArrayBuffer(0))
      return { kind: 'reply', id: request.id, ok: true, rows: [], rowCount: 0, data }
    }
    case 'lines': {
      const result = await db.query<[string, string]>(request.text, [...request.params], { rowMode: 'array' })
      return {
        kind: 'reply',
        id: request.id,
        ok: true,
        rows: [],
        rowCount: result.rows.length,
        ...joinLines(result.rows),
      }
    }
    case 'close':
      await db.close()
      return { kind: 'reply', id: request.id, ok: true, rows: [], rowCount: 0 }
  }
}

async function main(): Promise<void> {
  const port = parentPort
  if (!port) throw new Error('pglite-worker.ts must run in a worker thread')
  const options = workerData as WorkerOptions
  let db: PGlite
  try {
    const loadDataDir = options.loadDataDir ? new Blob([await readFile(options.loadDataDir)]) : undefined
    db = await PGlite.create({
      dataDir: options.dataDir,
      loadDataDir,
      parsers: PARSERS,
      serializers: SERIALIZERS,
      startParams: [...PGlite.defaultStartParams, ...(options.settings ?? [])],
    })
  } catch (err) {
    port.postMessage({ kind: 'failed', error: toWorkerError(err) } satisfies WorkerMessage)
    return
  }
  // Requests start as they arrive: PGlite queues them itself (FIFO), so replies keep their order.
  port.on('message', (request: WorkerRequest) => {
    run(db, request).then(
      (reply) => {
        if (reply.kind === 'reply') reply.heapBytes = heapBytes(db)
        const transfer: ArrayBuffer[] = []
        if (reply.kind === 'reply' && reply.ok) {
          if (reply.data) transfer.push(reply.data.buffer)
          if (reply.ends) transfer.push(reply.ends.buffer)
        }
        port.postMessage(reply, transfer)
      },
      (err: unknown) =>
        port.postMessage({
          kind: 'reply',
          id: request.id,
          ok: false,
          error: toWorkerError(err),
          heapBytes: heapBytes(db),
        } satisfies WorkerMessage),
    )
  })
  port.postMessage({ kind: 'ready' } satisfies WorkerMessage)
}

await main()
