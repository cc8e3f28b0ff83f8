/**
 * IndexedDB transport: the browser's local object cache, the counterpart of the SQLite cache the Node SDK
 * keeps (WIRE.md, "Local caches").
 *
 * Layout: one object store (default database `truss-objects`, store `objects`) with out-of-line keys:
 * key = object id, value = the object's JSON text exactly as serialized. Keeping the text (not a parsed
 * object) costs no parse or structured clone of a tree on write, returns the hashed bytes unchanged, and
 * mirrors SQLite's `objects(hash, content)`.
 *
 * Writes are buffered and committed in batched readwrite transactions, a few at a time; `saveObject` waits
 * when that many are pending. Reads see buffered writes. A failed write leaves the transport failed: every
 * later `saveObject` and `flush` rejects with that first error, because the lost batch cannot be replayed.
 */
import { AbortError, CorruptObjectError, TransportError, TrussError, throwIfAborted } from '../errors.js'
import type { CallOptions, Transport, TransportOptions, TransportProgress } from './transport.js'

export interface IndexedDBTransportOptions extends TransportOptions {
  /** Database name (default `truss-objects`). */
  dbName?: string
  /** Object store name (default `objects`); added to an existing database by a version upgrade. */
  storeName?: string
  /** The IndexedDB factory (default `globalThis.indexedDB`); pass one in workers, tests or Node. */
  indexedDB?: IDBFactory
  /** Objects per write transaction (default 1,000). */
  maxBatchObjects?: number
  /** JSON characters per write transaction (default 4,000,000, i.e. 4 to 8 MB in memory). */
  maxBatchChars?: number
  /** Write transactions pending at once before `saveObject` waits (default 2). */
  maxPendingBatches?: number
}

const DEFAULTS = {
  dbName: 'truss-objects',
  storeName: 'objects',
  maxBatchObjects: 1000,
  maxBatchChars: 4_000_000,
  maxPendingBatches: 2,
}

/** Ids per readonly transaction in `getObjects`: enough to amortize a transaction, few enough to stream. */
const READ_CHUNK_IDS = 500

/** Attempts to add our store when other connections upgrade the same database at the same moment. */
const OPEN_ATTEMPTS = 3

type Row = [id: string, json: string]

export class IndexedDBTransport implements Transport {
  readonly name: string
  private readonly factory: IDBFactory
  private readonly dbName: string
  private readonly storeName: string
  private readonly maxBatchObjects: number
  private readonly maxBatchChars: number
  private readonly maxPendingBatches: number
  private readonly onProgress?: TransportOptions['onProgress']
  private db?: Promise<IDBDatabase>
  /** Saved objects not yet handed to a transaction. */
  private buffer = new Map<string, string>()
  private bufferChars = 0
  /** Batches handed to a transaction that has not committed yet; reads look here too. */
  private readonly committing = new Set<Map<string, string>>()
  /** One promise per pending write transaction; they never reject (failures land in `writeError`). */
  private readonly pending = new Set<Promise<void>>()
  private writeError?: TrussError
  private written = 0
  private closed = false

  constructor(options: IndexedDBTransportOptions = {}) {
    this.dbName = options.dbName ?? DEFAULTS.dbName
    this.storeName = options.storeName ?? DEFAULTS.storeName
    this.name = `IndexedDB(${this.dbName}/${this.storeName})`
    this.maxBatchObjects = atLeastOne(options.maxBatchObjects ?? DEFAULTS.maxBatchObjects)
    this.maxBatchChars = atLeastOne(options.maxBatchChars ?? DEFAULTS.maxBatchChars)
    this.maxPendingBatches = atLeastOne(options.maxPendingBatches ?? DEFAULTS.maxPendingBatches)
    this.onProgress = options.onProgress
    // The DOM typings claim indexedDB always exists; in Node, and in some sandboxed frames, it does not.
    const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB
    if (!factory) {
      throw new TransportError(
        this.name,
        'IndexedDB is not available in this environment; run in a browser or worker, or pass the indexedDB ' +
          'option (e.g. new IDBFactory() from fake-indexeddb in Node)',
      )
    }
    this.factory = factory
  }

  async saveObject(id: string, json: string): Promise<void> {
    this.throwIfUnwritable()
    // Ids are content hashes: a second save of an id carries the same object, so the first one is kept.
    if (!this.buffer.has(id)) {
      this.buffer.set(id, json)
      this.bufferChars += json.length
    }
    if (this.buffer.size >= this.maxBatchObjects || this.bufferChars >= this.maxBatchChars) {
      await this.commitBuffer()
    }
  }

  async flush(options: CallOptions = {}): Promise<void> {
    this.throwIfUnwritable()
    if (this.buffer.size > 0) await this.commitBuffer()
    await abortable(this.allSettled(), options.signal)
    if (this.writeError) throw this.writeError
    this.report(options, { transport: this.name, stage: 'write', done: this.written })
  }

  async getObject(id: string, options: CallOptions = {}): Promise<string | null> {
    throwIfAborted(options.signal)
    const unsaved = this.unsaved(id)
    if (unsaved !== undefined) return unsaved
    const value = await this.transact('readonly', `read object ${id}`, options.signal, (store) => {
      const request = store.get(id)
      return () => request.result as unknown
    })
    return this.storedJson(id, value)
  }

  async hasObjects(ids: readonly string[], options: CallOptions = {}): Promise<Record<string, boolean>> {
    throwIfAborted(options.signal)
    const out: Record<string, boolean> = {}
    const lookup: string[] = []
    for (const id of ids) {
      out[id] = this.unsaved(id) !== undefined
      if (!out[id]) lookup.push(id)
    }
    if (lookup.length === 0) return out
    const found = await this.transact('readonly', `check ${lookup.length} ids`, options.signal, (store) => {
      // getKey answers presence without reading (and copying) the stored JSON.
      const requests = lookup.map((id) => store.getKey(id))
      return () => requests.map((request) => request.result !== undefined)
    })
    lookup.forEach((id, i) => (out[id] = found[i]))
    return out
  }

  async *getObjects(ids: readonly string[], options: CallOptions = {}): AsyncIterable<Row> {
    throwIfAborted(options.signal)
    const chunks = chunksOf(ids, READ_CHUNK_IDS)
    let done = 0
    // Read the next chunk while the caller consumes this one.
    let next = chunks.length > 0 ? this.prefetch(chunks[0], options.signal) : undefined
    for (let i = 0; i < chunks.length; i++) {
      const rows = await next!
      next = i + 1 < chunks.length ? this.prefetch(chunks[i + 1], options.signal) : undefined
      for (const row of rows) {
        throwIfAborted(options.signal)
        yield row
      }
      done += chunks[i].length
      this.report(options, { transport: this.name, stage: 'read', done, total: ids.length })
    }
  }

  /** Writes what is buffered, then closes the database. Rejects, after closing, if a write failed. */
  async close(): Promise<void> {
    if (this.closed) return
    try {
      await this.flush()
    } finally {
      this.closed = true
      const db = this.db
      this.db = undefined
      if (db) (await db.catch(() => undefined))?.close()
    }
  }

  // --- writes --------------------------------------------------------------------------------------

  /** Hand the buffer to a new write transaction, first waiting (back-pressure) for a free slot. */
  private async commitBuffer(): Promise<void> {
    while (this.pending.size >= this.maxPendingBatches) await Promise.race(this.pending)
    if (this.writeError) throw this.writeError
    // Another caller may have committed the buffer while this one waited.
    if (this.buffer.size === 0) return
    const batch = this.buffer
    this.buffer = new Map()
    this.bufferChars = 0
    this.committing.add(batch)
    const settled: Promise<void> = this.writeBatch(batch)
      .then(
        () => this.recordWritten(batch.size),
        (err: unknown) => {
          this.writeError ??= asTransportError(this.name, `could not write ${batch.size} objects`, err)
        },
      )
      .finally(() => {
        this.committing.delete(batch)
        this.pending.delete(settled)
      })
    this.pending.add(settled)
  }

  private async writeBatch(batch: Map<string, string>): Promise<void> {
    await this.transact('readwrite', `write ${batch.size} objects`, undefined, (store) => {
      for (const [id, json] of batch) store.put(json, id)
      return () => undefined
    })
  }

  private recordWritten(count: number): void {
    this.written += count
    this.onProgress?.({ transport: this.name, stage: 'write', done: this.written })
  }

  /** Resolves once no write transaction is pending, including ones started meanwhile. */
  private async allSettled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending)
  }

  private throwIfUnwritable(): void {
    if (this.closed) throw new TransportError(this.name, 'the transport is closed')
    if (this.writeError) throw this.writeError
  }

  // --- reads ---------------------------------------------------------------------------------------

  /** A saved object that is not committed yet. */
  private unsaved(id: string): string | undefined {
    const json = this.buffer.get(id)
    if (json !== undefined) return json
    for (const batch of this.committing) {
      const committed = batch.get(id)
      if (committed !== undefined) return committed
    }
    return undefined
  }

  /** Start reading a chunk; a rejection is handled here too, so a chunk the caller never awaits is harmless. */
  private prefetch(ids: readonly string[], signal: AbortSignal | undefined): Promise<Row[]> {
    const rows = this.readChunk(ids, signal)
    rows.catch(() => undefined)
    return rows
  }

  private async readChunk(ids: readonly string[], signal: AbortSignal | undefined): Promise<Row[]> {
    const rows: Row[] = []
    const lookup: string[] = []
    for (const id of ids) {
      const json = this.unsaved(id)
      if (json === undefined) lookup.push(id)
      else rows.push([id, json])
    }
    if (lookup.length === 0) return rows
    const values = await this.transact('readonly', `read ${lookup.length} objects`, signal, (store) => {
      const requests = lookup.map((id) => store.get(id))
      return () => requests.map((request) => request.result as unknown)
    })
    lookup.forEach((id, i) => {
      const json = this.storedJson(id, values[i])
      if (json !== null) rows.push([id, json])
    })
    return rows
  }

  private storedJson(id: string, value: unknown): string | null {
    if (value === undefined) return null
    if (typeof value === 'string') return value
    throw new CorruptObjectError(id, this.name, 'the stored value is not a JSON string')
  }

  // --- database ------------------------------------------------------------------------------------

  private database(): Promise<IDBDatabase> {
    if (this.closed) return Promise.reject(new TransportError(this.name, 'the transport is closed'))
    if (!this.db) {
      const opening = openDatabase(this.factory, this.dbName, this.storeName, this.name)
      this.db = opening
      opening.then(
        (db) => this.watch(db, opening),
        () => this.forget(opening), // the next call tries again
      )
    }
    return this.db
  }

  private watch(db: IDBDatabase, opening: Promise<IDBDatabase>): void {
    // Another tab (or a newer page) wants to upgrade the database: let it, and reopen on next use.
    db.onversionchange = () => {
      db.close()
      this.forget(opening)
    }
    // The browser closes connections itself when the user clears site data.
    db.onclose = () => this.forget(opening)
  }

  private forget(opening: Promise<IDBDatabase>): void {
    if (this.db === opening) this.db = undefined
  }

  /**
   * Run one transaction on the store. `issue` makes the requests and returns a function that reads their
   * results; the promise resolves with it once the transaction completes, so writes are committed.
   */
  private async transact<T>(
    mode: IDBTransactionMode,
    what: string,
    signal: AbortSignal | undefined,
    issue: (store: IDBObjectStore) => () => T,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const opening = this.database()
      const db = await abortable(opening, signal)
      try {
        return await runTransaction(db, this.storeName, mode, signal, issue)
      } catch (err) {
        if (signal?.aborted) throw err // the caller's abort reason, as is
        // The browser closed the connection under us (site data cleared, upgrade elsewhere): reopen once.
        if (attempt === 1 && isDomError(err, 'InvalidStateError')) {
          this.forget(opening)
          continue
        }
        throw asTransportError(this.name, `could not ${what}`, err)
      }
    }
  }

  private report(options: CallOptions, progress: TransportProgress): void {
    ;(options.onProgress ?? this.onProgress)?.(progress)
  }
}

// --- transactions ------------------------------------------------------------------------------------

function runTransaction<T>(
  db: IDBDatabase,
  storeName: string,
  mode: IDBTransactionMode,
  signal: AbortSignal | undefined,
  issue: (store: IDBObjectStore) => () => T,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    throwIfAborted(signal)
    // Relaxed durability: a cache loses nothing that matters on power loss, and Chromium's strict mode
    // syncs the disk on every commit.
    const tx = db.transaction(storeName, mode, { durability: 'relaxed' })
    const onAbort = () => {
      abortQuietly(tx)
      reject(abortReasonOf(signal!))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    const cleanup = () => signal?.removeEventListener('abort', onAbort)
    let result: () => T
    try {
      result = issue(tx.objectStore(storeName))
    } catch (err) {
      cleanup()
      abortQuietly(tx)
      reject(err)
      return
    }
    tx.oncomplete = () => {
      cleanup()
      resolve(result())
    }
    tx.onabort = () => {
      cleanup()
      reject(tx.error ?? new Error('the transaction was aborted'))
    }
  })
}

// --- opening -----------------------------------------------------------------------------------------

/** Open the database, adding the store by a version upgrade when the database exists without it. */
async function openDatabase(
  factory: IDBFactory,
  dbName: string,
  storeName: string,
  transport: string,
): Promise<IDBDatabase> {
  let version: number | undefined
  for (let attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
    const db = await openConnection(factory, dbName, storeName, version, transport)
    if (db === 'raced') {
      version = undefined // another connection upgraded past our version first: look again
      continue
    }
    if (db.objectStoreNames.contains(storeName)) return checkedStore(db, dbName, storeName, transport)
    version = db.version + 1
    db.close()
  }
  throw new TransportError(transport, `could not add store ${storeName} to database ${dbName}: it kept being upgraded`)
}

function openConnection(
  factory: IDBFactory,
  dbName: string,
  storeName: string,
  version: number | undefined,
  transport: string,
): Promise<IDBDatabase | 'raced'> {
  return new Promise((resolve, reject) => {
    let request: IDBOpenDBRequest
    try {
      request = version === undefined ? factory.open(dbName) : factory.open(dbName, version)
    } catch (err) {
      // Opaque origins (sandboxed frames, some file:// pages) refuse IndexedDB with a SecurityError.
      reject(asTransportError(transport, `IndexedDB is not available here`, err))
      return
    }
    request.onupgradeneeded = () => {
      const db = request.result
      if (!db.objectStoreNames.contains(storeName)) db.createObjectStore(storeName)
    }
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => {
      if (version !== undefined && request.error?.name === 'VersionError') resolve('raced')
      else reject(asTransportError(transport, `could not open database ${dbName}`, request.error))
    }
    // `blocked` needs no handler: the open waits until older connections close, which ours do on versionchange.
  })
}

/** Refuse a store created by other code with in-line keys: our `put(json, id)` would fail on every write. */
function checkedStore(db: IDBDatabase, dbName: string, storeName: string, transport: string): IDBDatabase {
  const keyPath = db.transaction(storeName, 'readonly').objectStore(storeName).keyPath
  if (keyPath === null) return db
  db.close()
  throw new TransportError(
    transport,
    `store ${storeName} in database ${dbName} was created by other code (key path ${JSON.stringify(keyPath)}); ` +
      'choose another dbName or storeName',
  )
}

// --- helpers -----------------------------------------------------------------------------------------

/** Reject with the abort reason when `signal` fires first; the underlying work is not cancelled. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReasonOf(signal))
    // Subscribe first, so a rejection after an abort is still observed and never reported as unhandled.
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** The error `throwIfAborted` would throw for this signal (its own reason, or an AbortError). */
function abortReasonOf(signal: AbortSignal): unknown {
  try {
    throwIfAborted(signal)
  } catch (err) {
    return err
  }
  return new AbortError()
}

function abortQuietly(tx: IDBTransaction): void {
  try {
    tx.abort()
  } catch {
    // Already committed or aborted: nothing left to cancel.
  }
}

function isDomError(err: unknown, name: string): boolean {
  return err instanceof Error && err.name === name
}

function asTransportError(transport: string, what: string, cause: unknown): TrussError {
  if (cause instanceof TrussError) return cause
  const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)
  return new TransportError(transport, `${what} (${reason})`, { cause })
}

function chunksOf<T>(items: readonly T[], size: number): (readonly T[])[] {
  const chunks: (readonly T[])[] = []
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size))
  return chunks
}

function atLeastOne(n: number): number {
  return Math.max(1, Math.floor(n))
}
