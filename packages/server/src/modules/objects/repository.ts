/**
 * SQL of the objects module. Writes load new rows with COPY (the fastest path PostgreSQL has) after
 * one indexed look-up that drops ids the project already holds; reads walk the primary key by range,
 * or fetch batches of ids by primary key where the wanted ids are sparse.
 */
import { randomBytes } from 'node:crypto'
import { sqlLiteral } from '../../adapters/sql/shared.js'
import type { Sql, SqlExecutor, TextLines } from '../../adapters/sql/types.js'
import { ClosureKeyBuffer } from './closure-keys.js'
import { ClosureScanner } from './closure-scan.js'

export interface ObjectRow {
  id: string
  json: string
}

/**
 * An object as a download line: its id, and the bytes `id \t json \n` exactly as Speckle's text downloads
 * send them. Reads produce these straight from the database's COPY output: the JSON never becomes a
 * JavaScript string on its way out.
 */
export type ObjectLine = [id: string, line: Buffer]

/** Ids that can be stored at all (uploads take 32 to 64 hex characters); others are never looked up. */
const STORABLE_ID = /^[0-9A-Za-z]{1,64}$/

/**
 * Objects of `pieceBytes` (4 MiB) or more are never one database value: holding a 100 MB value grows
 * PGlite's WASM heap by several copies of it (its line, attribute, tuple and compression buffers), and
 * PostgreSQL's COPY line buffer likewise. Such an object is stored as rows of the same table, loaded by the
 * same COPY (so an upload stays one atomic statement): a stub under its own id, `{"__truss_pieces":N}`,
 * and its text cut at UTF-8 character starts into N rows whose ids are `<id>.000000`, `<id>.000001`, …
 * Object ids never hold a dot, so no client can ask for a piece, and range reads skip them by id before
 * their data is read. Uploads that begin with the stub's key are refused.
 */
export const PIECES_MARK = '{"__truss_pieces":'
const PIECES_MARK_BYTES = Buffer.from(PIECES_MARK, 'latin1')
/** Longer stored values are never stubs. */
const STUB_MAX_BYTES = 64

export function pieceId(id: string, index: number): string {
  return `${id}.${String(index).padStart(6, '0')}`
}

export function piecesStub(count: number): string {
  return `${PIECES_MARK}${count}}`
}

/** The number of pieces a stored value stands for, or undefined when it is the object itself. */
export function stubPieces(data: string | Buffer): number | undefined {
  if (data.length > STUB_MAX_BYTES) return undefined
  const text = typeof data === 'string' ? data : data.toString('latin1')
  if (!text.startsWith(PIECES_MARK)) return undefined
  const n = Number(text.slice(PIECES_MARK.length, -1))
  return Number.isInteger(n) && n > 0 ? n : undefined
}

/** Whether an object's bytes begin with the stub's key (refused on upload: it would read as a stub). */
export function startsWithPiecesMark(bytes: Buffer): boolean {
  return (
    bytes.length >= PIECES_MARK_BYTES.length &&
    bytes.compare(PIECES_MARK_BYTES, 0, PIECES_MARK_BYTES.length, 0, PIECES_MARK_BYTES.length) === 0
  )
}

/** An object's bytes cut into pieces of about `size` bytes, each starting at a UTF-8 character (views, not copies). */
export function cutPieces(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = []
  for (let at = 0; at < bytes.length;) {
    let end = Math.min(bytes.length, at + size)
    while (end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end++
    out.push(bytes.subarray(at, end))
    at = end
  }
  return out
}

/** Names of the scratch tables that closure reads sort their keys in: the prefix, a time in ms, random hex. */
const SCRATCH_PREFIX = 'objects_closure_scratch_'

function* keyRows(keys: Iterable<string>): Iterable<[string]> {
  for (const k of keys) yield [k]
}

export function createObjectsRepository(sql: Sql, options: { pieceBytes?: number } = {}) {
  let scratchSwept = false
  const pieceBytes = options.pieceBytes ?? 4 * 1024 * 1024

  /** The ids of an object's pieces. */
  const pieceIds = (id: string, count: number) => Array.from({ length: count }, (_, i) => pieceId(id, i))

  /** The pieces of a stored object, in order, one query each (never more than one piece held here). */
  async function* pieceTexts(db: SqlExecutor, projectId: string, id: string, count: number): AsyncIterable<string> {
    for (const piece of pieceIds(id, count)) {
      const { rows } = await db.query<{ data: string }>('SELECT data FROM objects WHERE project_id = $1 AND id = $2', [
        projectId,
        piece,
      ])
      if (rows[0] === undefined) throw new Error(`object ${id} of project ${projectId} is missing its piece ${piece}`)
      yield rows[0].data
    }
  }

  /** A stored object's whole text, its pieces joined when it has them. */
  async function whole(projectId: string, id: string, data: string): Promise<string> {
    const count = stubPieces(data)
    if (count === undefined) return data
    let text = ''
    for await (const piece of pieceTexts(sql, projectId, id, count)) text += piece
    return text
  }

  /** Rows with stubs replaced by their objects' text. */
  async function wholeRows(projectId: string, rows: [string, string][]): Promise<[string, string][]> {
    for (const row of rows) if (row[1].length <= STUB_MAX_BYTES) row[1] = await whole(projectId, row[0], row[1])
    return rows
  }

  /** Download lines with stubs replaced by their objects' lines. */
  async function wholeLines(projectId: string, lines: ObjectLine[]): Promise<ObjectLine[]> {
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!
      if (line[1].length > line[0].length + 2 + STUB_MAX_BYTES) continue
      const count = stubPieces(lineJsonBytes(line))
      if (count === undefined) continue
      const parts: Buffer[] = [Buffer.from(`${line[0]}\t`)]
      for await (const piece of pieceTexts(sql, projectId, line[0], count)) parts.push(Buffer.from(piece))
      parts.push(Buffer.from('\n'))
      lines[i] = [line[0], Buffer.concat(parts)]
    }
    return lines
  }

  /** COPY rows of objects: large ones as a stub and their pieces. */
  function* storedRows(projectId: string, rows: Iterable<[string, string]>): Iterable<[string, string, string]> {
    for (const [id, json] of rows) {
      if (Buffer.byteLength(json) < pieceBytes) {
        yield [projectId, id, json]
        continue
      }
      const pieces = cutPieces(Buffer.from(json), pieceBytes)
      yield [projectId, id, piecesStub(pieces.length)]
      for (let i = 0; i < pieces.length; i++) yield [projectId, pieceId(id, i), pieces[i]!.toString()]
    }
  }

  /** Ids among `ids` stored in the project. */
  async function existing(db: SqlExecutor, projectId: string, given: readonly string[]): Promise<Set<string>> {
    const ids = given.filter((id) => STORABLE_ID.test(id))
    if (ids.length === 0) return new Set()
    const { rows } = await db.query<{ id: string }>(
      'SELECT id FROM objects WHERE project_id = $1 AND id = ANY($2::text[])',
      [projectId, ids],
    )
    return new Set(rows.map((r) => r.id))
  }

  /**
   * Store rows idempotently (first write wins), all or nothing. Returns how many were new.
   * Fast path: COPY straight into the table. Senders ask /api/diff first, so a batch rarely holds a
   * known id; when it does (unique violation), the batch goes through a staging table and
   * ON CONFLICT DO NOTHING instead. (Looking the ids up first cost as much as the COPY itself.)
   */
  async function insert(projectId: string, rows: readonly ObjectRow[]): Promise<number> {
    if (rows.length === 0) return 0
    const unique = new Map<string, string>()
    for (const r of rows) if (!unique.has(r.id)) unique.set(r.id, r.json)
    const values = [...storedRows(projectId, unique)]
    const objectCount = unique.size
    await markWrites()
    const added = await sql.transaction(async (tx) => {
      await tx.query('SAVEPOINT objects_copy')
      try {
        await tx.copyFrom('objects', ['project_id', 'id', 'data'], values)
        await tx.query('RELEASE SAVEPOINT objects_copy')
        return objectCount
      } catch (err) {
        if ((err as { code?: string }).code !== '23505') throw err
        await tx.query('ROLLBACK TO SAVEPOINT objects_copy')
      }
      await tx.query(
        'CREATE TEMP TABLE IF NOT EXISTS objects_staging (project_id text, id text, data text) ON COMMIT DELETE ROWS',
      )
      await tx.copyFrom('objects_staging', ['project_id', 'id', 'data'], values)
      const res = await tx.query(
        'INSERT INTO objects (project_id, id, data) SELECT project_id, id, data FROM objects_staging ON CONFLICT DO NOTHING RETURNING id',
      )
      return (res.rows as { id: string }[]).filter((r) => !r.id.includes('.')).length
    })
    void settleWrites().catch(() => undefined)
    return added
  }

  async function get(projectId: string, id: string): Promise<string | null> {
    if (!STORABLE_ID.test(id)) return null
    const { rows } = await sql.query<{ data: string }>('SELECT data FROM objects WHERE project_id = $1 AND id = $2', [
      projectId,
      id,
    ])
    const data = rows[0]?.data
    return data === undefined ? null : whole(projectId, id, data)
  }

  /** An object's text as it is read, in pieces for a large one; null when it is unknown. */
  async function stream(projectId: string, id: string): Promise<AsyncIterable<string> | null> {
    if (!STORABLE_ID.test(id)) return null
    const { rows } = await sql.query<{ data: string | null }>(
      `SELECT CASE WHEN octet_length(data) < ${Math.trunc(pieceBytes)} THEN data END AS data
       FROM objects WHERE project_id = $1 AND id = $2`,
      [projectId, id],
    )
    const row = rows[0]
    if (row === undefined) return null
    const data = row.data
    return (async function* () {
      const count = data === null ? undefined : stubPieces(data)
      if (count !== undefined) yield* pieceTexts(sql, projectId, id, count)
      else if (data !== null) yield data
      // Stored whole (written before large objects were stored in pieces): read in slices all the same.
      else for await (const b of slices(projectId, id, pieceBytes)) yield b.toString()
    })()
  }

  /**
   * The stored rows among `ids` (unknown ids skipped), ordered by id as Speckle answers. Sorted here,
   * not with ORDER BY: PostgreSQL would sort megabytes of rows and spill them to disk.
   */
  async function getMany(projectId: string, given: readonly string[]): Promise<[string, string][]> {
    const ids = given.filter((id) => STORABLE_ID.test(id))
    if (ids.length === 0) return []
    const { rows } = await sql.query<{ id: string; data: string }>(
      'SELECT id, data FROM objects WHERE project_id = $1 AND id = ANY($2::text[])',
      [projectId, ids],
    )
    const out = await wholeRows(
      projectId,
      rows.map((r): [string, string] => [r.id, r.data]),
    )
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  }

  /** The lines of a `SELECT id, data` run through COPY TO. */
  async function linesOf(query: string): Promise<ObjectLine[]> {
    const pieces: Uint8Array[] = []
    for await (const piece of sql.copyOut(query)) pieces.push(piece)
    return copyLines(
      pieces.length === 1
        ? Buffer.from(pieces[0]!.buffer, pieces[0]!.byteOffset, pieces[0]!.length)
        : Buffer.concat(pieces),
    )
  }

  /**
   * `getRange` as download lines. On PGlite rows come through its own row reader, which is faster there
   * than its COPY TO (measured: 22k against 18k objects/s for a 100k tree).
   */
  async function rangeLines(projectId: string, from: string, to: string, limit: number): Promise<ObjectLine[]> {
    if (sql.textLines)
      return wholeLines(
        projectId,
        cutTextLines(
          await sql.textLines(
            `SELECT id, data FROM objects WHERE project_id = $1 AND id >= $2 AND id <= $3 AND strpos(id, '.') = 0
             ORDER BY id LIMIT $4`,
            [projectId, from, to, limit],
          ),
        ),
      )
    return wholeLines(
      projectId,
      await linesOf(
        `SELECT id, data FROM objects WHERE project_id = ${sqlLiteral(projectId)} AND id >= ${sqlLiteral(from)} AND id <= ${sqlLiteral(to)} AND strpos(id, '.') = 0 ORDER BY id LIMIT ${Math.trunc(limit)}`,
      ),
    )
  }

  /** `getMany` as download lines, ordered by id. */
  async function manyLines(projectId: string, ids: readonly string[]): Promise<ObjectLine[]> {
    const storable = ids.filter((id) => STORABLE_ID.test(id))
    if (storable.length === 0) return []
    if (sql.textLines) {
      const lines = cutTextLines(
        await sql.textLines('SELECT id, data FROM objects WHERE project_id = $1 AND id = ANY($2::text[])', [
          projectId,
          storable,
        ]),
      )
      return (await wholeLines(projectId, lines)).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    }
    const lines = await wholeLines(
      projectId,
      await linesOf(
        `SELECT id, data FROM objects WHERE project_id = ${sqlLiteral(projectId)} AND id = ANY('{${storable.join(',')}}'::text[])`,
      ),
    )
    return lines.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  }

  /**
   * Keyset read: the project's rows with `from <= id <= to`, in the index's order, at most `limit`.
   * One forward walk of the primary key, about half the database CPU of looking the same ids up one by
   * one, and a plan that stays an index scan even when the table has no statistics yet.
   */
  async function getRange(projectId: string, from: string, to: string, limit: number): Promise<[string, string][]> {
    const { rows } = await sql.query<{ id: string; data: string }>(
      `SELECT id, data FROM objects WHERE project_id = $1 AND id >= $2 AND id <= $3 AND strpos(id, '.') = 0
       ORDER BY id LIMIT $4`,
      [projectId, from, to, limit],
    )
    return wholeRows(
      projectId,
      rows.map((r): [string, string] => [r.id, r.data]),
    )
  }

  /**
   * An object's text when it is at most `maxBytes` long; `{ data: null }` when it is longer (read it with
   * `slices`); null when it is unknown. The size check reads the stored length, not the value.
   */
  async function head(projectId: string, id: string, maxBytes: number): Promise<{ data: string | null } | null> {
    if (!STORABLE_ID.test(id)) return null
    const { rows } = await sql.query<{ data: string | null }>(
      'SELECT CASE WHEN octet_length(data) <= $3 THEN data END AS data FROM objects WHERE project_id = $1 AND id = $2',
      [projectId, id, maxBytes],
    )
    const row = rows[0]
    if (row === undefined) return null
    // A stub stands for an object of at least `pieceBytes`: read it with `slices`.
    if (row.data !== null && stubPieces(row.data) !== undefined) return { data: null }
    return row
  }

  /**
   * An object's UTF-8 text in pieces of about `bytes` bytes, each cut where a character starts (so each is
   * text, and comes back as text: both clients parse bytea in JavaScript, PGlite's at about 10 MB/s),
   * from one cursor: the value is read once, then cut by byte offsets (cutting text by characters would
   * rescan it from its start for every piece).
   */
  async function* slices(projectId: string, id: string, bytes: number): AsyncIterable<Buffer> {
    const { rows: stub } = await sql.query<{ data: string }>(
      `SELECT data FROM objects WHERE project_id = $1 AND id = $2 AND octet_length(data) <= ${STUB_MAX_BYTES}`,
      [projectId, id],
    )
    const count = stub[0] === undefined ? undefined : stubPieces(stub[0].data)
    if (count !== undefined) {
      // Stored in pieces: those are the slices (cut at the size they were stored with).
      for await (const piece of pieceTexts(sql, projectId, id, count)) yield Buffer.from(piece)
      return
    }
    const pieces = sql.cursor<{ part: string }>(
      `SELECT convert_from(substring(r.b FROM s.a FOR s.z - s.a), 'UTF8') AS part
       FROM (SELECT convert_to(data, 'UTF8') AS b FROM objects WHERE project_id = $1 AND id = $2 OFFSET 0) AS r,
       LATERAL (
         SELECT a, lead(a, 1, octet_length(r.b) + 1) OVER (ORDER BY a) AS z
         FROM (
           -- A piece starts at the first character start at or after each step (UTF-8 continuation
           -- bytes are 10xxxxxx; a character has at most three).
           SELECT CASE
               WHEN get_byte(r.b, g - 1) & 192 <> 128 THEN g
               WHEN g + 1 > octet_length(r.b) THEN g + 1
               WHEN get_byte(r.b, g) & 192 <> 128 THEN g + 1
               WHEN g + 2 > octet_length(r.b) THEN g + 2
               WHEN get_byte(r.b, g + 1) & 192 <> 128 THEN g + 2
               ELSE g + 3
             END AS a
           FROM generate_series(1, octet_length(r.b), $3) AS g
         ) AS starts
       ) AS s
       WHERE s.z > s.a
       ORDER BY s.a`,
      [projectId, id, bytes],
      { batchSize: 1 },
    )
    for await (const rows of pieces) for (const row of rows) yield Buffer.from(row.part)
  }

  /**
   * The keys of an object's top-level `__closure`, each once, in ascending order, in batches of
   * `batchSize`. The object's text is read in pieces of `pieceBytes` and scanned here (`ClosureScanner`):
   * neither side ever holds the object whole. (Parsing a 116 MB root in SQL grew PGlite's WASM heap to
   * 800 MB.) The keys are sorted in memory, packed (`ClosureKeyBuffer`: 16 bytes a Speckle id, so two
   * million take 32 MB); a closure larger than that goes into a scratch table of this read only and the
   * database sorts it. The table is a real, unlogged one, not a TEMP table: on PostgreSQL the loads and
   * the cursor run on different pooled connections.
   */
  async function* closureKeys(
    projectId: string,
    id: string,
    pieceBytes: number,
    batchSize: number,
    memory: { maxPacked?: number; maxOthers?: number } = {},
  ): AsyncIterable<string[]> {
    const scanner = new ClosureScanner()
    const pieces = slices(projectId, id, pieceBytes)[Symbol.asyncIterator]()
    const inMemory = new ClosureKeyBuffer(memory.maxPacked, memory.maxOthers)
    let spilled: string[] | undefined
    try {
      for (let next = await pieces.next(); !next.done; next = await pieces.next()) {
        const keys = scanner.push(next.value)
        if (!inMemory.add(keys)) {
          spilled = keys
          break
        }
        if (scanner.complete) break
      }
    } finally {
      if (!spilled) await pieces.return?.()
    }
    if (!spilled) {
      if (scanner.complete) yield* inMemory.sorted(batchSize)
      return // no closure (or not an object): no descendants
    }

    if (!scratchSwept) {
      scratchSwept = true
      await dropStaleScratchTables().catch(() => undefined) // best effort: a left-over table costs only disk
    }
    const table = `${SCRATCH_PREFIX}${Date.now()}_${randomBytes(6).toString('hex')}`
    await sql.query(`CREATE UNLOGGED TABLE ${table} (k text NOT NULL)`)
    try {
      // One COPY at a time, each its own transaction: the pieces' cursor fetches between them (PGlite
      // runs nothing else while a transaction is open).
      await sql.copyFrom(table, ['k'], keyRows(inMemory.all()))
      await sql.copyFrom(table, ['k'], keyRows(spilled))
      for (let next = await pieces.next(); !next.done && !scanner.complete; next = await pieces.next()) {
        const keys = scanner.push(next.value)
        if (keys.length > 0) await sql.copyFrom(table, ['k'], keyRows(keys))
      }
      await pieces.return?.()
      if (!scanner.complete) return
      for await (const rows of sql.cursor<{ k: string }>(
        `SELECT DISTINCT k COLLATE "C" AS k FROM ${table} ORDER BY 1`,
        [],
        { batchSize },
      )) {
        yield rows.map((r) => r.k)
      }
    } finally {
      await pieces.return?.()
      await sql.query(`DROP TABLE IF EXISTS ${table}`)
    }
  }

  /** Scratch tables of closure reads that ended with their process (a crash), a day or more ago. */
  async function dropStaleScratchTables(): Promise<void> {
    const { rows } = await sql.query<{ name: string }>(
      `SELECT relname AS name FROM pg_class WHERE relkind = 'r' AND relname LIKE '${SCRATCH_PREFIX}%'`,
    )
    const dayAgo = Date.now() - 24 * 3600 * 1000
    for (const { name } of rows) {
      const made = Number(name.slice(SCRATCH_PREFIX.length).split('_')[0])
      if (Number.isFinite(made) && made < dayAgo) await sql.query(`DROP TABLE IF EXISTS ${name}`)
    }
  }

  /**
   * Embedded only: the first read of a freshly committed row marks it committed (PostgreSQL's hint bits),
   * which dirties its page, so a first download of a new upload wrote back every page it read (measured
   * at 100,000 objects: 36k objects/s against 44-47k for later downloads). Visiting the pages just
   * written, while they are still in shared buffers, marks them before they are first written out.
   * `mark` runs before a write (it notes where the table ends); `settle` after its commit visits only the
   * pages past that mark, by a TID range scan. Rows that went into free space earlier in the table are
   * left to their first reader, as before. Settles asked for while one runs coalesce into one more.
   */
  let settledBlock: number | undefined
  let settling: Promise<void> | undefined
  let settleAgain = false
  async function markWrites(): Promise<void> {
    if (sql.kind !== 'pglite' || settledBlock !== undefined) return
    const { rows } = await sql.query<{ blocks: string }>(`SELECT pg_relation_size('objects') / 8192 AS blocks`)
    // The table may end in empty pages a bulk write added ahead (PostgreSQL extends by up to 64 pages at a
    // time), and the next rows go there: start a little before its end.
    settledBlock ??= Math.max(0, Number(rows[0]!.blocks) - EXTEND_SLACK_PAGES)
  }
  function settleWrites(): Promise<void> {
    if (sql.kind !== 'pglite' || settledBlock === undefined) return Promise.resolve()
    if (settling) {
      settleAgain = true
      return settling
    }
    settling = (async () => {
      do {
        settleAgain = false
        const { rows }: { rows: { last: string | null }[] } = await sql.query<{ last: string | null }>(
          'SELECT max(ctid)::text AS last FROM objects WHERE ctid >= $1::tid',
          [`(${settledBlock},0)`],
        )
        // From the last page holding a row: it may have room left, and the next write may fill it.
        const last: string | null | undefined = rows[0]?.last
        if (last) settledBlock = Number(/^\((\d+),/.exec(last)![1])
      } while (settleAgain)
    })().finally(() => {
      settling = undefined
    })
    return settling
  }

  /** Refresh the planner's statistics of the objects table. */
  async function analyze(): Promise<void> {
    await sql.query('ANALYZE objects')
  }

  async function countPresent(projectId: string, given: readonly string[]): Promise<number> {
    const ids = given.filter((id) => STORABLE_ID.test(id))
    if (ids.length === 0) return 0
    const { rows } = await sql.query<{ n: number | string }>(
      'SELECT count(*)::int AS n FROM objects WHERE project_id = $1 AND id = ANY($2::text[])',
      [projectId, ids],
    )
    return Number(rows[0]?.n ?? 0)
  }

  async function deleteProject(projectId: string): Promise<number> {
    const res = await sql.query('DELETE FROM objects WHERE project_id = $1', [projectId])
    return res.rowCount
  }

  return {
    existing: (projectId: string, ids: readonly string[]) => existing(sql, projectId, ids),
    insert,
    get,
    stream,
    getMany,
    getRange,
    rangeLines,
    manyLines,
    head,
    slices,
    closureKeys,
    countPresent,
    analyze,
    markWrites,
    settleWrites,
    /** Resolves when a background settle (if one runs) is over. */
    writesSettled: async () => {
      await settling
    },
    deleteProject,
  }
}

export type ObjectsRepository = ReturnType<typeof createObjectsRepository>

/** How far before the table's end the first settle starts (see `markWrites`). */
const EXTEND_SLACK_PAGES = 128

/** An adapter's `id \t data \n` lines as download lines: views of its one buffer, nothing copied. */
export function cutTextLines({ bytes, ends }: TextLines): ObjectLine[] {
  const out: ObjectLine[] = new Array(ends.length)
  let at = 0
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i]!
    const tab = bytes.indexOf(9, at)
    out[i] = [bytes.toString('latin1', at, tab), bytes.subarray(at, end)]
    at = end
  }
  return out
}

/** The JSON text of a download line. */
export function lineJson([id, line]: ObjectLine): string {
  return line.toString('utf8', id.length + 1, line.length - 1)
}

/** The JSON bytes of a download line (a view, not a copy). */
export function lineJsonBytes([id, line]: ObjectLine): Buffer {
  return line.subarray(id.length + 1, line.length - 1)
}

/** Cut COPY text rows `id \t data \n` into lines, undoing COPY's backslash escapes where a row has any. */
export function copyLines(b: Buffer): ObjectLine[] {
  const out: ObjectLine[] = []
  let at = 0
  for (;;) {
    const nl = b.indexOf(10, at)
    if (nl === -1) break
    const tab = b.indexOf(9, at)
    const raw = b.subarray(at, nl + 1)
    const slash = raw.indexOf(92)
    out.push([b.toString('latin1', at, tab), slash === -1 ? raw : unescapeCopy(raw, slash)])
    at = nl + 1
  }
  return out
}

/** COPY text's escapes (`\\` and the control characters) turned back into the bytes they stand for. */
function unescapeCopy(line: Buffer, first: number): Buffer {
  const out = Buffer.allocUnsafe(line.length)
  let at = 0
  let from = 0
  for (let i = first; i !== -1; i = line.indexOf(92, from)) {
    at += line.copy(out, at, from, i)
    const e = line[i + 1]
    out[at++] = e === 110 ? 10 : e === 116 ? 9 : e === 114 ? 13 : e === 98 ? 8 : e === 102 ? 12 : e === 118 ? 11 : e!
    from = i + 2
  }
  at += line.copy(out, at, from)
  return out.subarray(0, at)
}
