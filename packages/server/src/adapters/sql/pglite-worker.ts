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
  /** `fastCopy`: COPY text goes to PostgreSQL without PGlite's byte-at-a-time device read. */
  | { kind: 'ready'; fastCopy?: boolean }
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

/**
 * One unnamed statement through PostgreSQL's extended protocol (Parse, Bind, Execute, Sync), parameters
 * and results as text: what `db.query` sends, without its decoding of every value into a string.
 */
export function extendedQuery(text: string, params: readonly unknown[]): Uint8Array {
  const values = params.map((p) => (p === null || p === undefined ? null : Buffer.from(paramText(p))))
  const query = Buffer.from(text)
  const bindLength = 4 + 1 + 1 + 2 + 2 + values.reduce((n, v) => n + 4 + (v?.length ?? 0), 0) + 2
  const out = Buffer.alloc(1 + 4 + 1 + query.length + 1 + 2 + (1 + bindLength) + (1 + 4 + 1 + 4) + (1 + 4))
  let at = 0
  // Parse: unnamed statement, the text, no parameter types (the server infers them).
  at = out.writeUInt8(0x50, at)
  at = out.writeInt32BE(4 + 1 + query.length + 1 + 2, at)
  at = out.writeUInt8(0, at)
  at += query.copy(out, at)
  at = out.writeUInt8(0, at)
  at = out.writeInt16BE(0, at)
  // Bind: unnamed portal and statement, parameters as text, results as text.
  at = out.writeUInt8(0x42, at)
  at = out.writeInt32BE(bindLength, at)
  at = out.writeUInt8(0, at)
  at = out.writeUInt8(0, at)
  at = out.writeInt16BE(0, at)
  at = out.writeInt16BE(values.length, at)
  for (const v of values) {
    at = out.writeInt32BE(v === null ? -1 : v.length, at)
    if (v !== null) at += v.copy(out, at)
  }
  at = out.writeInt16BE(0, at)
  // Execute the unnamed portal to its end, then Sync.
  at = out.writeUInt8(0x45, at)
  at = out.writeInt32BE(4 + 1 + 4, at)
  at = out.writeUInt8(0, at)
  at = out.writeInt32BE(0, at)
  at = out.writeUInt8(0x53, at)
  out.writeInt32BE(4, at)
  return out
}

const SYNC = new Uint8Array([0x53, 0, 0, 0, 4])

/**
 * The raw protocol answer to `message`, under PGlite's query mutex (as `db.query` takes it). Read through
 * `execProtocolRawStream`: `execProtocolRaw` also parses every message into objects, the cost this
 * path exists to avoid. The stream call leaves its callback installed for PGlite's next raw call, so a
 * Sync through `execProtocolStream` (which installs and clears its own) follows, before the mutex is let go.
 */
async function rawAnswer(db: PGlite, message: Uint8Array): Promise<Buffer> {
  return db.runExclusive(async () => {
    const chunks: Buffer[] = []
    try {
      await db.execProtocolRawStream(message, {
        syncToFs: false,
        // A view of PGlite's receive buffer, reused for the next chunk: copied.
        onRawData: (chunk) => void chunks.push(Buffer.from(chunk)),
      })
    } finally {
      await db.execProtocolStream(SYNC, { syncToFs: false })
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
  })
}

/** A parameter in PostgreSQL's text input: an array as an array literal with its elements quoted. */
function paramText(value: unknown): string {
  if (!Array.isArray(value)) return String(value)
  const quote = (v: unknown) => (v === null ? 'NULL' : `"${String(v).replace(/["\\]/g, (c) => `\\${c}`)}"`)
  return `{${value.map(quote).join(',')}}`
}

const ERROR_FIELD_CODES: Record<string, keyof SqlErrorFields> = {
  C: 'code',
  S: 'severity',
  D: 'detail',
  H: 'hint',
  s: 'schema',
  t: 'table',
  c: 'column',
  n: 'constraint',
  W: 'where',
  P: 'position',
}

/** An ErrorResponse read from a raw answer, carrying its fields as PGlite's own errors do. */
class RawQueryError extends Error {
  constructor(message: string, fields: SqlErrorFields) {
    super(message)
    Object.assign(this, fields)
  }
}

/**
 * The DataRow messages of a raw protocol answer as `a \t b \n` lines (its first two columns, bytes as
 * they are; a NULL as nothing) in one buffer of its own, transferable, with each line's end. An
 * ErrorResponse is thrown with its fields.
 */
export function linesOfDataRows(raw: Uint8Array): { data: Uint8Array<ArrayBuffer>; ends: Uint32Array<ArrayBuffer> } {
  const view = Buffer.from(raw.buffer, raw.byteOffset, raw.length)
  let total = 0
  let rows = 0
  for (let at = 0; at + 5 <= view.length; at += 1 + view.readInt32BE(at + 1)) {
    const type = view[at]
    if (type === 0x44) {
      let field = at + 7
      for (let i = 0; i < 2; i++) {
        const n = Math.max(view.readInt32BE(field), 0)
        total += n + 1
        field += 4 + n
      }
      rows++
    } else if (type === 0x45) {
      const end = at + 1 + view.readInt32BE(at + 1)
      const fields: SqlErrorFields = {}
      let message = 'the database reported an error'
      for (let f = at + 5; f < end && view[f] !== 0;) {
        const code = String.fromCharCode(view[f]!)
        const stop = view.indexOf(0, f + 1)
        const value = view.toString('utf8', f + 1, stop)
        const key = ERROR_FIELD_CODES[code]
        if (code === 'M') message = value
        else if (key) fields[key] = value
        f = stop + 1
      }
      throw new RawQueryError(message, fields)
    }
  }
  const out = Buffer.allocUnsafeSlow(total)
  const ends = new Uint32Array(rows)
  let put = 0
  let row = 0
  for (let at = 0; at + 5 <= view.length; at += 1 + view.readInt32BE(at + 1)) {
    if (view[at] !== 0x44) continue
    let field = at + 7
    for (let i = 0; i < 2; i++) {
      const n = Math.max(view.readInt32BE(field), 0)
      put += view.copy(out, put, field + 4, field + 4 + n)
      out[put++] = i === 0 ? 9 : 10
      field += 4 + n
    }
    ends[row++] = put
  }
  return { data: new Uint8Array(out.buffer, 0, total), ends }
}

/** PGlite instances whose `/dev/blob` reads are replaced (see `fastBlobReads`). */
const fastDevices = new WeakSet<PGlite>()

/** The COPY text of the `copy` request running now, read by the `/dev/blob` device (see `fastBlobReads`). */
let copySource: Uint8Array | undefined

interface EmscriptenFs {
  makedev(major: number, minor: number): number
  getDevice(dev: number): { stream_ops?: Record<string, unknown> } | undefined
}

/**
 * PGlite's `/dev/blob` device copies the COPY text into PostgreSQL's buffer one byte at a time in JS
 * (measured: 0.41 s of the worker's 4.2 busy seconds per 100,000 objects uploaded), from an ArrayBuffer it
 * first copies out of a Blob. Its read (and seek) are replaced by ones that copy a whole read at once from
 * `copySource`, the request's own bytes. PGlite registers the device as major 64, minor 0; where a build
 * differs (no such device, no FS on its module), this returns false and `copy` keeps PGlite's own path.
 */
export function fastBlobReads(db: PGlite): boolean {
  if (fastDevices.has(db)) return true
  const fs = (db as unknown as { mod?: { FS?: EmscriptenFs } }).mod?.FS
  const ops = fs?.getDevice?.(fs.makedev(64, 0))?.stream_ops
  if (!ops || typeof ops.read !== 'function' || typeof ops.llseek !== 'function') return false
  const read = ops.read as (...args: unknown[]) => number
  const seek = ops.llseek as (...args: unknown[]) => number
  ops.read = (stream: unknown, buffer: Uint8Array, offset: number, length: number, position: number): number => {
    const source = copySource
    if (!source) return read(stream, buffer, offset, length, position)
    if (position >= source.length) return 0
    const n = Math.min(source.length - position, length)
    new Uint8Array(buffer.buffer, buffer.byteOffset + offset, n).set(source.subarray(position, position + n))
    return n
  }
  ops.llseek = (stream: { position: number }, offset: number, whence: number): number => {
    const source = copySource
    if (!source) return seek(stream, offset, whence)
    const at = whence === 1 ? stream.position + offset : whence === 2 ? source.length + offset : offset
    if (at < 0) throw new Error('seek before the start of /dev/blob')
    return at
  }
  fastDevices.add(db)
  return true
}

/**
 * Runs `text` (a `COPY … FROM '/dev/blob'`) on `data`. The caller runs one statement at a time on `db`
 * (the worker does: see main), so no other COPY can read these bytes.
 */
export async function copyFrom(db: PGlite, text: string, data: Uint8Array<ArrayBuffer>): Promise<Results> {
  if (!fastBlobReads(db)) return db.query(text, [], { blob: new Blob([data]) })
  copySource = data
  try {
    return await db.query(text)
  } finally {
    copySource = undefined
  }
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
      return toReply(request.id, await copyFrom(db, request.text, request.data))
    case 'copyOut': {
      const result = await db.query(request.text)
      const data = new Uint8Array(result.blob ? await result.blob.arrayBuffer() : new ArrayBuffer(0))
      return { kind: 'reply', id: request.id, ok: true, rows: [], rowCount: 0, data }
    }
    case 'lines': {
      const lines = linesOfDataRows(await rawAnswer(db, extendedQuery(request.text, request.params)))
      return { kind: 'reply', id: request.id, ok: true, rows: [], rowCount: lines.ends.length, ...lines }
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
  const fastCopy = fastBlobReads(db)
  // Requests run one at a time, in the order they came (PGlite would queue them the same way itself):
  // a COPY's bytes stay the device's until its statement is done.
  let previous: Promise<unknown> = Promise.resolve()
  port.on('message', (request: WorkerRequest) => {
    const running = previous.then(() => run(db, request))
    previous = running.catch(() => undefined)
    running.then(
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
  port.postMessage({ kind: 'ready', fastCopy } satisfies WorkerMessage)
}

// Imported outside a worker (by a test), the module only lends its functions.
if (parentPort) await main()
