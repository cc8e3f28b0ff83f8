/**
 * The objects module: the content-addressed object store of each project (Speckle's REST object
 * API sits on top, in rest.ts). Objects are immutable, stored by (project, id), first write wins.
 */
import { BadUserInput } from '../../errors.js'
import type { Sql } from '../../adapters/sql/types.js'
import type { Metrics } from '../metrics/index.js'
import {
  createObjectsRepository,
  cutPieces,
  pieceId,
  piecesStub,
  startsWithPiecesMark,
  type ObjectLine,
  type ObjectRow,
} from './repository.js'
import { closureIds } from './closure-scan.js'
import { checkLargeObject } from './large-objects.js'
import { BatchScanError, PartScanner, scanBatch, type ScannedObject } from './split.js'

export { lineJson, lineJsonBytes, type ObjectLine, type ObjectRow } from './repository.js'
export { closureIds } from './closure-scan.js'

/** Ids as Speckle's SDKs write them: 32 hex characters (older JS senders wrote up to 64). */
const OBJECT_ID = /^[0-9a-fA-F]{32,64}$/

export interface ObjectsServiceOptions {
  sql: Sql
  metrics?: Metrics
  /** Largest single object, in bytes (Speckle's MAX_OBJECT_SIZE_MB). */
  maxObjectBytes: number
  /** Ids per database read while streaming a list of ids (default 5,000). */
  readBatchSize?: number
  /**
   * Rows that all id-list reads running at once may hold between them (default 20,000, ≈ 20 MB of typical
   * objects, twice that with each read's one batch read ahead): with many concurrent readers each reads in
   * smaller batches (down to 250 ids), so the server's memory does not grow with the number of readers.
   */
  readRowsBudget?: number
  /**
   * Ids per key-range read while streaming a tree (default 1,000, or `readBatchSize` if smaller): small
   * batches keep each answer piece small enough for V8 to collect young, which bounds the server's memory.
   */
  rangeBatchSize?: number
  /** Run ANALYZE on the objects table after this many new rows (default 200,000; 0: never). */
  analyzeEveryRows?: number
  /** Roots longer than this many bytes are read and sent in pieces of this size (default 4 MiB). */
  rootSliceBytes?: number
  /**
   * Objects this long or longer are stored in pieces of this size, never as one database value (default
   * 4 MiB; see `PIECES_MARK` in repository.ts).
   */
  pieceBytes?: number
  /** Uploaded objects this long or longer are checked in a worker thread (default 8 MiB). */
  largeObjectBytes?: number
  /**
   * Uploads loading into the database at once (default 4). A streaming upload holds a database connection
   * for as long as its client sends; the rest wait their turn (their bodies stay unread, so their clients
   * are paced by TCP), and the connections left over keep serving everything else.
   */
  maxConcurrentUploads?: number
  /**
   * Downloads of trees with a large root (over `rootSliceBytes`) reading their closure at once (default 2).
   * Each holds a database connection for its closure's cursor and needs a second for its objects: without
   * a bound, as many such downloads as the pool has connections would take them all and wait on each other.
   */
  maxConcurrentLargeTrees?: number
  /**
   * Closure keys of a large root sorted in the server's memory (default 500,000: 8 MB for Speckle ids);
   * a larger closure is sorted by the database from a scratch table.
   */
  maxClosureKeysInMemory?: number
}

/** A rejected upload batch; `message` is Speckle's wording where Speckle has one (WIRE.md). */
export class BadBatch extends BadUserInput {}

const NOT_JSON = 'Failed to parse data. Batch is not in JSON format.'
const COPY_COLUMNS = ['data', 'project_id', 'id']

/** A scanner failure as Speckle words it; other errors unchanged. */
function batchError(err: unknown): unknown {
  if (!(err instanceof BatchScanError)) return err
  const f = err.failure
  if (f === 'not-json') return new BadBatch(NOT_JSON)
  if (f === 'not-array') return new BadBatch('Failed to parse data. Batch is expected to be wrapped in a JSON array.')
  return new BadBatch(`Failed to parse data. Item ${f.notObject} of the batch is not an object.`)
}

/** A text value escaped for COPY text format. */
function copyEscape(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'))
}

async function* fromList(list: readonly Buffer[]): AsyncIterable<Buffer> {
  for (const b of list) yield b
}

const COPY_PIECE_BYTES = 256 * 1024

/**
 * COPY text rows `data \t project \t id \n` gathered into pieces of about 256 kB (one message to the
 * database each). Objects of a quarter piece or more go out as they are, not copied.
 */
class CopyRows {
  private buf = Buffer.allocUnsafe(COPY_PIECE_BYTES)
  private at = 0

  constructor(
    private readonly middle: string,
    private readonly out: (piece: Buffer) => void,
  ) {}

  add(data: Buffer, escapes: boolean, id: string): void {
    const bytes = escapes ? escapeBackslashes(data) : data
    const tail = this.middle.length + id.length + 1
    if (bytes.length >= COPY_PIECE_BYTES / 4) {
      this.flush()
      this.out(bytes)
    } else {
      if (this.at + bytes.length + tail > COPY_PIECE_BYTES) this.flush()
      this.at += bytes.copy(this.buf, this.at)
    }
    if (this.at + tail > COPY_PIECE_BYTES) this.flush()
    this.at += this.buf.write(this.middle, this.at, 'latin1')
    this.at += this.buf.write(id, this.at, 'latin1')
    this.buf[this.at++] = 10
  }

  flush(): void {
    if (this.at === 0) return
    this.out(this.buf.subarray(0, this.at))
    this.buf = Buffer.allocUnsafe(COPY_PIECE_BYTES)
    this.at = 0
  }
}

/** COPY text keeps a backslash only doubled. */
function escapeBackslashes(b: Buffer): Buffer {
  let count = 0
  for (let i = b.indexOf(92); i !== -1; i = b.indexOf(92, i + 1)) count++
  if (count === 0) return b
  const out = Buffer.allocUnsafe(b.length + count)
  let from = 0
  let at = 0
  for (let i = b.indexOf(92); i !== -1; i = b.indexOf(92, i + 1)) {
    at += b.copy(out, at, from, i + 1)
    out[at++] = 92
    from = i + 1
  }
  b.copy(out, at, from)
  return out
}

/** A counting semaphore: `run` waits, in arrival order, until fewer than `size` runs are going. */
class Slots {
  private busy = 0
  private readonly waiting: (() => void)[] = []

  constructor(private readonly size: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire()
    try {
      return await fn()
    } finally {
      release()
    }
  }

  /** Wait for a slot; the function returned gives it back (once, however often it is called). */
  async acquire(): Promise<() => void> {
    if (this.busy >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve))
    else this.busy++
    let held = true
    return () => {
      if (!held) return
      held = false
      // The slot passes straight on to the next in line, if any.
      const next = this.waiting.shift()
      if (next) next()
      else this.busy--
    }
  }
}

export function createObjectsService(options: ObjectsServiceOptions) {
  const uploadSlots = new Slots(Math.max(1, options.maxConcurrentUploads ?? 4))
  const largeTreeSlots = new Slots(Math.max(1, options.maxConcurrentLargeTrees ?? 2))
  const pieceBytes = options.pieceBytes ?? 4 * 1024 * 1024
  const repo = createObjectsRepository(options.sql, { pieceBytes })
  const readBatch = options.readBatchSize ?? 5000
  const readRowsBudget = options.readRowsBudget ?? 20_000
  let listReaders = 0
  /** The batch size for an id-list read now, shared out among the readers running. */
  const listBatch = () =>
    Math.max(Math.min(250, readBatch), Math.min(readBatch, Math.floor(readRowsBudget / Math.max(1, listReaders))))
  const rangeBatch = Math.min(options.rangeBatchSize ?? 1000, readBatch)
  const analyzeEvery = options.analyzeEveryRows ?? 200_000
  let rowsSinceAnalyze = 0
  let analyzing: Promise<void> | undefined
  const sliceBytes = options.rootSliceBytes ?? 4 * 1024 * 1024
  const largeObjectBytes = options.largeObjectBytes ?? 8 * 1024 * 1024
  const closureMemory =
    options.maxClosureKeysInMemory === undefined
      ? {}
      : { maxPacked: options.maxClosureKeysInMemory, maxOthers: Math.min(50_000, options.maxClosureKeysInMemory) }

  /** Check one scanned object of an upload batch (its position `index`); its id and its stored bytes. */
  function checked(o: ScannedObject, index: number): { id: string; bytes: Buffer } {
    const id = o.id
    if (id === undefined || !OBJECT_ID.test(id)) {
      throw new BadBatch(`Object ${index} of the batch has no valid id (32 hexadecimal characters expected).`)
    }
    // Raw tabs and line breaks can only be whitespace in valid JSON, and they would break the
    // `id\tjson\n` lines of downloads: such objects (pretty-printed by some SDKs) are stored compacted.
    const bytes = o.spaced ? Buffer.from(withoutWhitespace(o.bytes.toString())) : o.bytes
    if (startsWithPiecesMark(bytes)) {
      throw new BadBatch(`Object ${id} begins with the reserved property "__truss_pieces".`)
    }
    if (bytes.length > options.maxObjectBytes) {
      throw new BadBatch(
        `Error inserting object in the database. Object ${id} is too large (${bytes.length} > ${options.maxObjectBytes} bytes).`,
      )
    }
    return { id, bytes }
  }

  /** Validate the text of one upload batch and cut it into rows, each object's text kept as sent. */
  function parseBatch(text: string): ObjectRow[] {
    let scanned: ScannedObject[]
    try {
      scanned = scanBatch(text)
    } catch (err) {
      throw batchError(err)
    }
    return scanned.map((o, i) => {
      const { id, bytes } = checked(o, i)
      return { id, json: bytes.toString() }
    })
  }

  /**
   * Store an upload as it arrives: `parts` yields each batch (a JSON array of objects) as a stream of
   * byte chunks. Objects are checked and handed to the database while later ones are still being
   * received and scanned (one COPY for the whole request), all or nothing: a bad object anywhere
   * abandons the COPY and throws BadBatch; errors the parts throw (limits, broken gzip) pass through.
   * The transaction opens only once the first objects are ready. Returns what was received and stored.
   */
  async function storeStream(
    projectId: string,
    parts: AsyncIterable<AsyncIterable<Buffer>>,
  ): Promise<{ objects: number; added: number; bytes: number }> {
    // The COPY text sent, kept until the end: when the project already holds one of the objects (rare:
    // senders ask /api/diff first) the request is loaded again through a staging table.
    const sent: Buffer[] = []
    const seen = new Set<string>()
    let objects = 0
    let bytes = 0
    /** Rows of the COPY that are pieces of large objects, not objects. */
    let pieceRows = 0
    const rows = new CopyRows(`\t${copyEscape(projectId)}\t`, (b) => sent.push(b))
    async function* produce(): AsyncGenerator<Buffer, void, undefined> {
      let yielded = 0
      for await (const part of parts) {
        let index = 0
        const ready: ScannedObject[] = []
        const take = async () => {
          for (let o of ready) {
            if (o.unchecked) {
              const { bytes: back, result } = await checkLargeObject(o.bytes, true)
              if (result === null) throw new BatchScanError('not-json')
              o = { bytes: back, ...result }
            }
            const { id, bytes: data } = checked(o, index++)
            objects++
            if (seen.has(id)) continue
            seen.add(id)
            if (data.length < pieceBytes) rows.add(data, o.escapes, id)
            else {
              // Loaded by the same COPY: a stub under the object's id, then its pieces.
              const pieces = cutPieces(data, pieceBytes)
              rows.add(Buffer.from(piecesStub(pieces.length)), false, id)
              pieces.forEach((piece, i) => rows.add(piece, o.escapes, pieceId(id, i)))
              pieceRows += pieces.length
            }
          }
          ready.length = 0
        }
        const scanner = new PartScanner((o) => ready.push(o), largeObjectBytes)
        try {
          for await (const chunk of part) {
            bytes += chunk.length
            scanner.push(chunk)
            await take()
            while (yielded < sent.length) yield sent[yielded++]!
          }
          scanner.end()
          await take()
        } catch (err) {
          throw batchError(err)
        }
      }
      rows.flush()
      while (yielded < sent.length) yield sent[yielded++]!
    }
    const produced = produce()
    const first = await produced.next()
    if (first.done) return { objects, added: 0, bytes }
    // Handed to the COPY without `return`: if the database fails the COPY, the request is read on.
    const copySource: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => {
        let head: Buffer | undefined = first.value
        return {
          next: async () => {
            if (head !== undefined) {
              const value = head
              head = undefined
              return { done: false, value }
            }
            return produced.next()
          },
        }
      },
    }
    let added: number
    try {
      // Waiting for a slot reads nothing more of the request: its client waits on TCP meanwhile.
      await repo.markWrites()
      added = await uploadSlots.run(async () => {
        // One COPY statement is atomic: the usual request costs one statement, no transaction around it.
        let conflict = false
        const copied = await options.sql.copyText('objects', COPY_COLUMNS, copySource).catch((err: unknown) => {
          if ((err as { code?: string }).code !== '23505') throw err
          conflict = true
          return 0
        })
        if (!conflict) return copied - pieceRows
        // Nothing was stored. Read (and check) the rest of the request, then merge it all.
        for (;;) if ((await produced.next()).done) break
        return options.sql.transaction(async (tx) => {
          await tx.query(
            'CREATE TEMP TABLE IF NOT EXISTS objects_staging (project_id text, id text, data text) ON COMMIT DELETE ROWS',
          )
          await tx.copyText('objects_staging', COPY_COLUMNS, fromList(sent))
          const res = await tx.query<{ id: string }>(
            'INSERT INTO objects (project_id, id, data) SELECT project_id, id, data FROM objects_staging ON CONFLICT DO NOTHING RETURNING id',
          )
          return res.rows.filter((r) => !r.id.includes('.')).length
        })
      })
    } catch (err) {
      // Invalid UTF-8 inside a string is found by the database.
      if ((err as { code?: string }).code === '22021') throw new BadBatch(NOT_JSON)
      throw err
    } finally {
      await produced.return()
    }
    // In the background: the sender has its answer; the next reads find the new rows' pages marked.
    void repo.settleWrites().catch(() => undefined)
    options.metrics?.objectsStoredTotal.inc(objects)
    counted(added)
    return { objects, added, bytes }
  }

  /** Store validated rows, all or nothing. Resolves to the number of objects that were new. */
  async function store(projectId: string, rows: readonly ObjectRow[]): Promise<number> {
    const added = await repo.insert(projectId, rows)
    options.metrics?.objectsStoredTotal.inc(rows.length)
    counted(added)
    return added
  }

  /** Count new rows, and refresh the planner's statistics now and then. */
  function counted(added: number): void {
    rowsSinceAnalyze += added
    if (analyzeEvery > 0 && rowsSinceAnalyze >= analyzeEvery && analyzing === undefined) {
      // Fresh statistics keep reads on the primary key after bulk uploads even where autovacuum is off
      // or behind (without them the planner may scan the whole table for a list of ids). In the
      // background: the upload that crossed the line does not wait for it.
      rowsSinceAnalyze = 0
      analyzing = repo
        .analyze()
        .catch(() => undefined)
        .finally(() => {
          analyzing = undefined
        })
    }
  }

  /**
   * The root object's JSON (in pieces) then every descendant in its `__closure`, ordered by id, in
   * batches. Resolves to null when the root is unknown. A large root (a million children make 100+ MB)
   * is never held whole: its text is read in pieces and its closure's ids come sorted from the
   * database, a batch at a time.
   */
  async function streamTree(
    projectId: string,
    rootId: string,
  ): Promise<{
    root: AsyncIterable<string | Buffer> | Iterable<string>
    children: AsyncIterable<ObjectLine[]>
  } | null> {
    const head = await repo.head(projectId, rootId, sliceBytes)
    if (head === null) return null
    if (head.data !== null) {
      const ids = closureIds(head.data).sort()
      return { root: [head.data], children: streamSorted(projectId, inBatches(ids, rangeBatch), true) }
    }
    async function* ids(): AsyncIterable<readonly string[]> {
      const release = await largeTreeSlots.acquire()
      try {
        yield* repo.closureKeys(projectId, rootId, sliceBytes, rangeBatch, closureMemory)
      } finally {
        release()
      }
    }
    return { root: repo.slices(projectId, rootId, sliceBytes), children: streamSorted(projectId, ids(), true) }
  }

  /**
   * Stream the stored objects among `ids` (unknown skipped), ordered by id, one database batch at a time.
   * Lists from clients are usually the few objects they miss, scattered over the project: read by id.
   */
  function streamIds(projectId: string, ids: readonly string[]): AsyncIterable<ObjectLine[]> {
    const sorted = [...ids].sort()
    return (async function* () {
      listReaders++
      try {
        yield* streamSorted(projectId, inBatches(sorted, listBatch), false)
      } finally {
        listReaders--
      }
    })()
  }

  async function* inBatches(
    sorted: readonly string[],
    size: number | (() => number),
  ): AsyncIterable<readonly string[]> {
    for (let i = 0; i < sorted.length;) {
      const n = typeof size === 'number' ? size : size()
      yield sorted.slice(i, i + n)
      i += n
    }
  }

  /**
   * The stored objects among the ids of `batches` (ascending across batches; duplicates allowed), one
   * batch of rows per batch of ids, each ordered by id. With `dense`, batches are read by key range and
   * filtered (a tree's ids are usually most of what its range of the primary key holds); when a range
   * turns out to hold mostly other objects, the rest of the ids are looked up by list instead. Ids a
   * range read did not return (beyond its row cap, or placed elsewhere by a database collation that
   * orders differently from JavaScript) are looked up by list too, so the answer is exact either way.
   */
  async function* streamSorted(
    projectId: string,
    batches: AsyncIterable<readonly string[]>,
    dense: boolean,
  ): AsyncIterable<ObjectLine[]> {
    let byRange = dense
    const read = async (wanted: readonly string[]): Promise<ObjectLine[]> => {
      if (!byRange) return repo.manyLines(projectId, wanted)
      const cap = wanted.length * 2
      const rows = await repo.rangeLines(projectId, wanted[0]!, wanted[wanted.length - 1]!, cap)
      const want = new Set(wanted)
      let out: ObjectLine[] = []
      for (const row of rows) if (want.delete(row[0])) out.push(row)
      if (rows.length >= cap && out.length < want.size) byRange = false
      if (want.size > 0) out = out.concat(await repo.manyLines(projectId, [...want]))
      return sortedById(out)
    }
    const it = batches[Symbol.asyncIterator]()
    const readNext = async (): Promise<ObjectLine[] | undefined> => {
      for (;;) {
        const next = await it.next()
        if (next.done) return undefined
        if (next.value.length > 0) return read(next.value)
      }
    }
    try {
      // Read one batch ahead so the database works while the previous batch is being sent.
      let next = readNext()
      for (;;) {
        const current = await next
        if (current === undefined) return
        next = readNext()
        next.catch(() => undefined) // surfaced when awaited
        yield current
      }
    } finally {
      await it.return?.()
    }
  }

  /** For each id, whether the project holds it. */
  async function diff(projectId: string, ids: readonly string[]): Promise<Record<string, boolean>> {
    const out: Record<string, boolean> = {}
    for (let i = 0; i < ids.length; i += 10_000) {
      const slice = ids.slice(i, i + 10_000)
      const known = await repo.existing(projectId, slice)
      for (const id of slice) out[id] = known.has(id)
    }
    return out
  }

  /** Whether the object and every descendant in its closure are stored (a version needs that). */
  async function hasWholeTree(projectId: string, rootId: string): Promise<{ root: boolean; missing: number }> {
    // A large root is read in pieces, its closure streamed sorted, as downloads do: never held whole.
    const head = await repo.head(projectId, rootId, sliceBytes)
    if (head === null) return { root: false, missing: 0 }
    const batches =
      head.data !== null
        ? inBatches([...new Set(closureIds(head.data))], 10_000)
        : repo.closureKeys(projectId, rootId, sliceBytes, 10_000, closureMemory)
    let wanted = 0
    let present = 0
    for await (const ids of batches) {
      wanted += ids.length
      present += await repo.countPresent(projectId, ids)
    }
    return { root: true, missing: wanted - present }
  }

  /**
   * The ids in an object's `__closure`, each once, in batches (nothing for an unknown object or a leaf).
   * A large root is read in pieces, as downloads read it.
   */
  async function* closureIdBatches(
    projectId: string,
    rootId: string,
    batchSize = 10_000,
  ): AsyncIterable<readonly string[]> {
    const head = await repo.head(projectId, rootId, sliceBytes)
    if (head === null) return
    if (head.data !== null) yield* inBatches([...new Set(closureIds(head.data))], batchSize)
    else yield* repo.closureKeys(projectId, rootId, sliceBytes, batchSize, closureMemory)
  }

  return {
    /** Resolves when background work after writes (ANALYZE, marking new rows committed) is over. */
    settled: async () => {
      await analyzing
      await repo.writesSettled()
    },
    parseBatch,
    store,
    storeStream,
    getObject: repo.get,
    /** An object's text in pieces as it is read (a large one is never held whole); null when unknown. */
    streamObject: repo.stream,
    streamTree,
    streamIds,
    diff,
    hasWholeTree,
    closureIdBatches,
    deleteProjectObjects: repo.deleteProject,
  }
}

export type ObjectsService = ReturnType<typeof createObjectsService>

/** Valid JSON text without the whitespace between its tokens; strings, numbers and key order kept as written. */
function withoutWhitespace(json: string): string {
  let out = ''
  let start = 0
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i)
    if (c === 34 /* " */) {
      for (i++; i < json.length && json.charCodeAt(i) !== 34; i++) if (json.charCodeAt(i) === 92 /* \\ */) i++
    } else if (c === 32 || c === 9 || c === 10 || c === 13) {
      out += json.slice(start, i)
      start = i + 1
    }
  }
  return out + json.slice(start)
}

/** Rows ordered by id (JavaScript's order); already-ordered input, the usual case, is checked in one pass. */
function sortedById<T extends [string, unknown]>(rows: T[]): T[] {
  for (let i = 1; i < rows.length; i++) {
    if (rows[i - 1]![0] > rows[i]![0]) return rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  }
  return rows
}
