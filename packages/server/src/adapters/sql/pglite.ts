/**
 * Embedded PostgreSQL (PGlite) behind the `Sql` interface. PGlite runs in a worker thread
 * (`pglite-worker.ts`) with a small typed RPC, so a heavy query never blocks the HTTP server.
 *
 * Why an own RPC and not pglite-socket + `pg` (measured on this machine, 2 cores):
 * - `COPY ... FROM STDIN` over pglite-socket fails ("unexpected EOF on client connection"); the RPC
 *   sends COPY text as a transferred buffer read by `COPY ... FROM '/dev/blob'` (50k rows ≈ 60 ms);
 * - concurrent small queries pipeline (5,000 in 0.57 s against 1.6 s through one pg connection);
 * - rows are parsed in the worker, not on the main thread. The price: PGlite's own row parser is
 *   slower than pg's (100k rows ≈ 0.85 s against ≈ 0.2 s), paid off the main thread.
 *
 * PGlite has one connection, so the main side orders work with a gate: plain queries and cursor
 * fetches share it (the worker runs them in arrival order), a transaction holds it alone.
 */
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Logger } from 'pino'
import { checkBatchSize, copyStatement, encodeCopyChunks } from './shared.js'
import type { WorkerMessage, WorkerOptions, WorkerRequest } from './pglite-worker.js'
import {
  SqlClosed,
  SqlConfigError,
  SqlError,
  type QueryResult,
  type Sql,
  type SqlExecutor,
  type TextLines,
} from './types.js'

export interface PgliteSqlOptions {
  /** PGlite's data folder (`<data-dir>/db`); in memory when absent. */
  dataDir?: string
  /**
   * Start from this tarball (PGlite's `dumpDataDir('none')`) instead of running initdb: ≈ 0.5 s
   * instead of 3–7 s. Only used when the folder is new; tests use it (see `test-utils/db.ts`).
   */
  loadDataDir?: string
  logger: Logger
  /**
   * Restart the database worker, between two pieces of work, once PGlite's WASM memory has grown past
   * this many bytes (default 512 MiB; a data folder only). That memory never shrinks: one very large
   * object (a million-child root is over 100 MB) grows it past 1 GB, which a restart gives back.
   */
  recycleHeapBytes?: number
}

/** A second process (or a second adapter in this one) tried to open a data folder that is open. */
export class DataDirInUse extends SqlConfigError {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super('TRUSS_DATA_DIR', `data dir ${dataDir} is in use by process ${pid}`)
    this.name = 'DataDirInUse'
  }
}

// COPY text is sent to the worker in chunks of about this many characters (a few MB of memory each).
const COPY_CHUNK_CHARS = 4 * 1024 * 1024
// Streamed COPY text (copyText) goes in smaller chunks: the worker loads one while the next is produced,
// so a 1 MB upload overlaps its scanning with its loading. 128 KB against 512 KB: +4.6 % on a 100k
// upload, in 7 of 8 interleaved pairs of runs (docs/benchmarks.md).
const COPY_TEXT_CHUNK_BYTES = 128 * 1024
const PGLITE_SHARED_BUFFERS = '32MB'
const DEFAULT_RECYCLE_HEAP_BYTES = 512 * 1024 * 1024

/**
 * PostgreSQL settings for PGlite. Its shared buffers live in the WASM heap, which only ever grows: the
 * default 128 MB adds ~145 MB of resident memory to the server (measured: 320 → 176 MB on reopening a
 * data folder). `TRUSS_PGLITE_SETTINGS` (`name=value,name=value`) overrides them, for measurements.
 */
function pgliteSettings(): string[] {
  const given = process.env.TRUSS_PGLITE_SETTINGS
  const pairs = given === undefined ? [`shared_buffers=${PGLITE_SHARED_BUFFERS}`] : given.split(',')
  return pairs
    .map((pair) => pair.trim())
    .filter(Boolean)
    .flatMap((pair) => {
      if (!/^[a-z_][a-z0-9_.]*=\S+$/i.test(pair)) {
        throw new SqlConfigError(
          'TRUSS_PGLITE_SETTINGS',
          `expected name=value pairs separated by commas, got "${pair}"`,
        )
      }
      return ['-c', pair]
    })
}

export async function createPgliteSql(options: PgliteSqlOptions): Promise<Sql> {
  const started = performance.now()
  // Settings are checked before anything is opened: a bad one leaves no lock or worker behind.
  const recycleHeapBytes = options.recycleHeapBytes ?? recycleHeapBytesFromEnv() ?? DEFAULT_RECYCLE_HEAP_BYTES
  const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir)
  const releaseLock = dataDir === undefined ? () => {} : acquireDataDirLock(dataDir, options.logger)
  let rpc: WorkerRpc
  try {
    const settings = pgliteSettings()
    if (dataDir !== undefined && !existsSync(join(dataDir, 'PG_VERSION'))) {
      // A new folder is initialised (initdb, or the tarball unpacked) by a worker of its own, closed
      // straight after: initdb grows PGlite's WASM memory to ~800 MB, which a WASM heap never gives back,
      // and the worker that serves would keep it for as long as the server runs.
      const init = await WorkerRpc.start({ dataDir, loadDataDir: options.loadDataDir, settings }, options.logger)
      try {
        await init.call({ op: 'close' })
      } finally {
        await init.terminate()
      }
    }
    // PGlite refuses a tarball for a folder that already holds a database.
    const loadDataDir = dataDir === undefined ? options.loadDataDir : undefined
    rpc = await WorkerRpc.start({ dataDir, loadDataDir, settings }, options.logger)
  } catch (err) {
    releaseLock()
    throw err
  }
  options.logger.info({ dataDir: dataDir ?? 'memory', ms: Math.round(performance.now() - started) }, 'PGlite open')
  // An in-memory database would lose its data with its worker: only a data folder is ever recycled.
  const restart =
    dataDir === undefined ? undefined : () => WorkerRpc.start({ dataDir, settings: pgliteSettings() }, options.logger)
  return new PgliteSql(rpc, releaseLock, options.logger, restart, recycleHeapBytes)
}

/** `TRUSS_PGLITE_RECYCLE_MB`: the WASM memory, in MiB, past which the database worker is restarted. */
function recycleHeapBytesFromEnv(): number | undefined {
  const given = process.env.TRUSS_PGLITE_RECYCLE_MB
  if (given === undefined || given.trim() === '') return undefined
  const mb = Number(given)
  if (!Number.isInteger(mb) || mb < 64) {
    throw new SqlConfigError('TRUSS_PGLITE_RECYCLE_MB', `expected a whole number of MiB, at least 64, got "${given}"`)
  }
  return mb * 2 ** 20
}

class PgliteSql implements Sql {
  readonly kind = 'pglite'
  private readonly gate = new Gate()
  private closing: Promise<void> | undefined
  private cursors = 0
  /** Cursors declared and not yet closed: they live in the worker's session, so it must not restart. */
  private openCursors = 0
  private recycling: Promise<void> | undefined
  private readonly executor: SqlExecutor
  /** The current worker, whichever it is (recycling swaps it). */
  private readonly via: Rpc

  constructor(
    private rpc: WorkerRpc,
    private readonly releaseLock: () => void,
    private readonly logger: Logger,
    private readonly restart: (() => Promise<WorkerRpc>) | undefined,
    private readonly recycleHeapBytes: number,
  ) {
    this.via = { call: (request, transfer) => this.rpc.call(request, transfer) }
    // Checks only the worker: work admitted before close() still runs; the public methods refuse new work.
    this.executor = workerExecutor(this.via, () => this.rpc.assertAlive())
  }

  async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    this.assertOpen()
    try {
      return await this.gate.shared(() => this.executor.query<R>(text, params))
    } finally {
      this.maybeRecycle()
    }
  }

  /**
   * Once the worker's heap has grown past the limit, restart it when nothing depends on its session:
   * queued work waits for the restart (the gate's exclusive turn), then runs on the new worker.
   */
  private maybeRecycle(): void {
    const restart = this.restart
    if (!restart || this.recycling || this.closing || this.openCursors > 0) return
    const heap = this.rpc.heapBytes
    if (heap === undefined || heap <= this.recycleHeapBytes) return
    this.recycling = this.gate
      .exclusive(async () => {
        if (this.closing || this.openCursors > 0 || (this.rpc.heapBytes ?? 0) <= this.recycleHeapBytes) return
        const started = performance.now()
        const old = this.rpc
        await old.call({ op: 'close' })
        await old.terminate()
        this.rpc = await restart()
        this.logger.info(
          { heapMb: Math.round(heap / 2 ** 20), ms: Math.round(performance.now() - started) },
          'PGlite worker restarted to give back its memory',
        )
      })
      .catch((err: unknown) => this.logger.error({ err }, 'restarting the PGlite worker failed'))
      .finally(() => {
        this.recycling = undefined
      })
  }

  // Several chunks must load all or nothing, so a top-level COPY is its own transaction.
  async copyFrom(
    table: string,
    columns: readonly string[],
    rows: Iterable<readonly (string | null)[]>,
  ): Promise<number> {
    return this.transaction((tx) => tx.copyFrom(table, columns, rows))
  }

  async copyText(table: string, columns: readonly string[], source: AsyncIterable<Uint8Array>): Promise<number> {
    return this.transaction((tx) => tx.copyText(table, columns, source))
  }

  async *copyOut(query: string): AsyncIterable<Uint8Array> {
    this.assertOpen()
    // PGlite writes the whole result to its blob device; it comes back as one transferred buffer.
    const reply = await this.gate.shared(() => this.via.call({ op: 'copyOut', text: `COPY (${query}) TO '/dev/blob'` }))
    this.maybeRecycle()
    if (reply.data && reply.data.length > 0) yield reply.data
  }

  async textLines(text: string, params: readonly unknown[]): Promise<TextLines> {
    this.assertOpen()
    try {
      const reply = await this.gate.shared(() => this.via.call({ op: 'lines', text, params }))
      const data = reply.data ?? new Uint8Array(0)
      return { bytes: Buffer.from(data.buffer, data.byteOffset, data.length), ends: reply.ends ?? new Uint32Array(0) }
    } finally {
      this.maybeRecycle()
    }
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    this.assertOpen()
    try {
      return await this.gate.exclusive(async () => {
        let active = true
        const tx = workerExecutor(this.via, () => {
          if (!active) throw new Error('this transaction has already ended; use the Sql object outside it')
        })
        await this.via.call({ op: 'exec', text: 'BEGIN' })
        try {
          const result = await fn(tx)
          await this.via.call({ op: 'exec', text: 'COMMIT' })
          return result
        } catch (err) {
          await this.via.call({ op: 'exec', text: 'ROLLBACK' }).catch((rollbackError: unknown) => {
            this.logger.error({ err: rollbackError }, 'ROLLBACK failed')
          })
          throw err
        } finally {
          active = false
        }
      })
    } finally {
      this.maybeRecycle()
    }
  }

  /**
   * A `WITH HOLD` cursor: PostgreSQL computes the result once when it is declared and keeps it
   * server-side, so other queries and transactions can run between fetches. A cursor inside a
   * transaction would hold PGlite's only connection for as long as a slow client reads.
   */
  async *cursor<R = Record<string, unknown>>(
    text: string,
    params: readonly unknown[],
    options?: { batchSize?: number },
  ): AsyncIterable<R[]> {
    const batchSize = checkBatchSize(options?.batchSize)
    this.assertOpen()
    const name = `truss_cursor_${++this.cursors}`
    // Counted from before its DECLARE is queued: a restart queued meanwhile must not run after it.
    this.openCursors++
    try {
      await this.gate.shared(() =>
        this.executor.query(`DECLARE ${name} NO SCROLL CURSOR WITH HOLD FOR ${text}`, params),
      )
    } catch (err) {
      this.openCursors--
      throw err
    }
    try {
      while (true) {
        this.assertOpen()
        const { rows } = await this.gate.shared(() => this.executor.query<R>(`FETCH FORWARD ${batchSize} FROM ${name}`))
        if (rows.length > 0) yield rows
        if (rows.length < batchSize) return
      }
    } finally {
      if (!this.closing) {
        await this.gate
          .shared(() => this.executor.query(`CLOSE ${name}`))
          .catch((err: unknown) => {
            this.logger.warn({ err, cursor: name }, 'closing a cursor failed')
          })
      }
      this.openCursors--
      this.maybeRecycle()
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1')
  }

  close(): Promise<void> {
    // Work already admitted (queued queries, open transactions) finishes first: close waits its turn.
    this.closing ??= this.gate
      .exclusive(() => this.via.call({ op: 'close' }))
      .then(
        () => undefined,
        (err: unknown) => this.logger.error({ err }, 'PGlite close failed'),
      )
      .finally(async () => {
        await this.rpc.terminate()
        this.releaseLock()
      })
    return this.closing
  }

  private assertOpen(): void {
    if (this.closing) throw new SqlClosed()
    this.rpc.assertAlive()
  }
}

/** Queries and COPY sent straight to the worker; `guard` refuses use after close or after a transaction ended. */
/** What an executor needs of the worker. */
interface Rpc {
  call(request: Request, transfer?: ArrayBuffer[]): Promise<Reply>
}

function workerExecutor(rpc: Rpc, guard: () => void): SqlExecutor {
  return {
    async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      guard()
      // No parameters: the simple protocol, so one text may hold several statements (as with pg).
      const reply =
        params && params.length > 0
          ? await rpc.call({ op: 'query', text, params })
          : await rpc.call({ op: 'exec', text })
      return { rows: reply.rows as R[], rowCount: reply.rowCount }
    },
    async copyFrom(table, columns, rows) {
      guard()
      const text = copyStatement(table, columns, `'/dev/blob'`)
      const encoder = new TextEncoder()
      let loaded = 0
      for (const chunk of encodeCopyChunks(rows, columns.length, COPY_CHUNK_CHARS)) {
        guard()
        const data = encoder.encode(chunk.text)
        const reply = await rpc.call({ op: 'copy', text, data }, [data.buffer as ArrayBuffer])
        loaded += reply.rowCount
      }
      return loaded
    },
    async copyText(table, columns, source) {
      guard()
      const text = copyStatement(table, columns, `'/dev/blob'`)
      let loaded = 0
      // One chunk in the worker while the next is gathered: the worker loads as the source produces.
      let inFlight: Promise<Reply> | undefined
      const send = async (data: Uint8Array<ArrayBuffer>) => {
        if (inFlight) loaded += (await inFlight).rowCount
        guard()
        const call = rpc.call({ op: 'copy', text, data }, [data.buffer])
        call.catch(() => undefined) // awaited below; never an unhandled rejection meanwhile
        inFlight = call
      }
      try {
        for await (const data of copyTextChunks(source, COPY_TEXT_CHUNK_BYTES)) await send(data)
      } finally {
        // Settle the last load before the caller commits or rolls back, whatever happened.
        if (inFlight) {
          const last = inFlight
          inFlight = undefined
          loaded += (await last).rowCount
        }
      }
      return loaded
    },
  }
}

/**
 * Cut a stream of COPY text into whole rows of about `bytes` bytes each (a COPY '/dev/blob' statement
 * must see complete rows; a raw newline only ever ends a row in COPY text). Each chunk is a fresh
 * buffer of its own, so it can be transferred to the worker without touching the source's buffers.
 */
export async function* copyTextChunks(
  source: AsyncIterable<Uint8Array>,
  bytes: number,
): AsyncIterable<Uint8Array<ArrayBuffer>> {
  let pieces: Uint8Array[] = []
  let size = 0
  // Where the last row of the gathered pieces ends: piece index and offset just after its newline.
  let lastEnd: [number, number] | undefined
  const take = (piece: number, offset: number): Uint8Array<ArrayBuffer> => {
    let n = 0
    for (let i = 0; i < piece; i++) n += pieces[i]!.length
    n += offset
    const out = new Uint8Array(new ArrayBuffer(n))
    let at = 0
    for (let i = 0; i < piece; i++) {
      out.set(pieces[i]!, at)
      at += pieces[i]!.length
    }
    out.set(pieces[piece]!.subarray(0, offset), at)
    const rest = pieces[piece]!.subarray(offset)
    pieces = rest.length > 0 ? [rest, ...pieces.slice(piece + 1)] : pieces.slice(piece + 1)
    size -= n
    lastEnd = undefined
    return out
  }
  for await (const piece of source) {
    if (piece.length === 0) continue
    pieces.push(piece)
    size += piece.length
    const nl = piece.lastIndexOf(0x0a)
    if (nl !== -1) lastEnd = [pieces.length - 1, nl + 1]
    if (size >= bytes && lastEnd) yield take(lastEnd[0], lastEnd[1])
  }
  if (size > 0) {
    const last = pieces.length - 1
    yield take(last, pieces[last]!.length)
  }
}

/**
 * Shared/exclusive gate, first come first served: shared work runs together (the worker queues
 * it), exclusive work waits for everything before it and holds back everything after it.
 */
class Gate {
  private running = 0
  private exclusiveRunning = false
  private readonly waiting: { exclusive: boolean; start: () => void }[] = []

  shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(false, fn)
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(true, fn)
  }

  private async run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    if (this.waiting.length > 0 || !this.canStart(exclusive)) {
      await new Promise<void>((start) => this.waiting.push({ exclusive, start }))
    } else {
      this.enter(exclusive)
    }
    try {
      return await fn()
    } finally {
      this.running--
      if (exclusive) this.exclusiveRunning = false
      this.admit()
    }
  }

  private canStart(exclusive: boolean): boolean {
    return exclusive ? this.running === 0 : !this.exclusiveRunning
  }

  private enter(exclusive: boolean): void {
    this.running++
    if (exclusive) this.exclusiveRunning = true
  }

  private admit(): void {
    while (this.waiting.length > 0 && this.canStart(this.waiting[0].exclusive)) {
      const next = this.waiting.shift()!
      this.enter(next.exclusive)
      next.start()
    }
  }
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never
type Request = WithoutId<WorkerRequest>
interface Reply {
  rows: unknown[]
  rowCount: number
  data?: Uint8Array<ArrayBuffer>
  ends?: Uint32Array<ArrayBuffer>
}

/** The main-thread end of the worker: numbered requests, replies matched by id. */
class WorkerRpc {
  private readonly pending = new Map<
    number,
    { resolve: (reply: Reply) => void; reject: (err: Error) => void; what: string }
  >()
  private nextId = 1
  private failure: Error | undefined

  private constructor(
    private readonly worker: Worker,
    private readonly logger: Logger,
  ) {
    worker.on('message', (message: WorkerMessage) => this.onMessage(message))
    worker.on('error', (err) => this.fail(new SqlClosed(`the PGlite worker failed: ${err.message}`, { cause: err })))
    worker.on('exit', (code) => this.fail(new SqlClosed(`the PGlite worker stopped (exit code ${code})`)))
    // Idle, the worker does not keep the process alive (a CLI or a test may end without close()).
    worker.unref()
  }

  static async start(options: WorkerOptions, logger: Logger): Promise<WorkerRpc> {
    const worker = spawnWorker(options)
    try {
      const { fastCopy } = await waitUntilReady(worker, options)
      if (!fastCopy)
        logger.warn('PGlite’s /dev/blob device is not where this adapter expects it: COPY uses PGlite’s slower reads')
    } catch (err) {
      await worker.terminate()
      throw err
    }
    return new WorkerRpc(worker, logger)
  }

  call(request: Request, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure)
    const id = this.nextId++
    return new Promise<Reply>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref()
      this.pending.set(id, {
        resolve,
        reject,
        what: `${request.op} ${'text' in request ? request.text.slice(0, 80) : ''}`,
      })
      this.worker.postMessage({ ...request, id } as WorkerRequest, transfer)
    })
  }

  assertAlive(): void {
    if (this.failure) throw this.failure
  }

  async terminate(): Promise<void> {
    this.failure ??= new SqlClosed()
    await this.worker.terminate()
  }

  /** PGlite's WASM memory as of the latest reply. */
  heapBytes: number | undefined

  private onMessage(message: WorkerMessage): void {
    if (message.kind !== 'reply') return
    const waiter = this.pending.get(message.id)
    if (message.heapBytes !== undefined) {
      // The heap only grows; which work grew it is what to look at when embedded memory is high.
      if (this.heapBytes !== undefined && message.heapBytes > this.heapBytes)
        this.logger.debug({ heapMb: Math.round(message.heapBytes / 2 ** 20), by: waiter?.what }, 'PGlite heap grew')
      this.heapBytes = message.heapBytes
    }
    if (!waiter) return
    this.pending.delete(message.id)
    if (this.pending.size === 0) this.worker.unref()
    if (message.ok) waiter.resolve(message)
    else waiter.reject(new SqlError(message.error.message, message.error.fields))
  }

  private fail(err: Error): void {
    if (!this.failure) this.logger.error({ err }, 'PGlite worker stopped')
    this.failure ??= err
    for (const waiter of this.pending.values()) waiter.reject(this.failure)
    this.pending.clear()
  }
}

/**
 * From `dist` the worker is plain JS. From source (vitest, tsx) Node cannot load `.ts` in a worker
 * by itself (and ignores `--import` for the worker's entry), so a bootstrap registers tsx first.
 */
function spawnWorker(workerData: WorkerOptions): Worker {
  const here = import.meta.url
  if (!here.endsWith('.ts')) return new Worker(new URL('./pglite-worker.js', here), { workerData })
  // tsx's `./esm/api` export, ESM flavour (its CommonJS flavour fails to load inside a worker).
  const tsxRoot = dirname(createRequire(here).resolve('tsx/package.json'))
  const tsx = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href
  const entry = new URL('./pglite-worker.ts', here).href
  const bootstrap = `import(${JSON.stringify(tsx)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(entry)}) })`
  return new Worker(bootstrap, { eval: true, workerData })
}

function waitUntilReady(worker: Worker, options: WorkerOptions): Promise<{ fastCopy: boolean }> {
  const where = options.dataDir ?? 'memory'
  return new Promise((resolve, reject) => {
    let fastCopy = false
    const done = (err?: Error): void => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit)
      if (err) reject(err)
      else resolve({ fastCopy })
    }
    const onMessage = (message: WorkerMessage): void => {
      if (message.kind === 'ready') {
        fastCopy = message.fastCopy === true
        done()
      } else if (message.kind === 'failed') {
        done(
          new SqlConfigError(
            'TRUSS_DATA_DIR',
            `cannot open the embedded database (${where}): ${message.error.message}`,
          ),
        )
      }
    }
    const onError = (err: Error): void =>
      done(new SqlConfigError('TRUSS_DATA_DIR', `the embedded database (${where}) failed to start: ${err.message}`))
    const onExit = (code: number): void =>
      done(
        new SqlConfigError('TRUSS_DATA_DIR', `the embedded database (${where}) stopped at start (exit code ${code})`),
      )
    worker.on('message', onMessage).on('error', onError).on('exit', onExit)
  })
}

// Lock files this process holds. A lock file naming our own pid but not listed here is stale: in a
// container the server often gets the same pid (1, 7, …) after every restart.
const heldLocks = new Set<string>()

/**
 * `<folder>.lock` holds the owner's pid. It is created with link(2), so it never exists without
 * its content, and a lock whose pid is dead is taken over. Returns the release function.
 */
function acquireDataDirLock(dataDir: string, logger: Logger): () => void {
  mkdirSync(dirname(dataDir), { recursive: true })
  const lockPath = `${dataDir}.lock`
  const draft = `${lockPath}.${process.pid}.${Math.random().toString(36).slice(2)}`
  writeFileSync(draft, `${process.pid}\n`)
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(draft, lockPath)
        heldLocks.add(lockPath)
        return registerRelease(lockPath)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      const owner = readLockOwner(lockPath)
      if (owner !== undefined && isAlive(owner) && (owner !== process.pid || heldLocks.has(lockPath))) {
        throw new DataDirInUse(dataDir, owner)
      }
      logger.warn({ lockPath, pid: owner }, 'taking over the lock of a process that has ended')
      removeIfOwnedBy(lockPath, owner)
    }
    throw new SqlConfigError('TRUSS_DATA_DIR', `could not lock data dir ${dataDir}: ${lockPath} keeps changing`)
  } finally {
    unlinkSync(draft)
  }
}

function registerRelease(lockPath: string): () => void {
  const release = (): void => {
    process.off('exit', release)
    if (!heldLocks.delete(lockPath)) return
    removeIfOwnedBy(lockPath, process.pid)
  }
  process.on('exit', release)
  return release
}

/** The pid in a lock file; undefined when it is gone or unreadable (then it is stale too). */
function readLockOwner(lockPath: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(lockPath, 'utf8').trim(), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

function removeIfOwnedBy(lockPath: string, pid: number | undefined): void {
  if (readLockOwner(lockPath) !== pid) return
  try {
    unlinkSync(lockPath)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
