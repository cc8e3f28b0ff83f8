import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runMigrations } from '../../adapters/sql/migrate.js'
import type { Sql } from '../../adapters/sql/types.js'
import { createTestPostgresDatabase, openTestPglite } from '../../test-utils/db.js'
import { closureIds, createObjectsService, lineJson, type ObjectLine, type ObjectsService } from './service.js'

const idOf = (n: number, salt = ''): string => createHash('sha256').update(`${salt}${n}`).digest('hex').slice(0, 32)
const row = (id: string) => ({ id, json: `{"id":"${id}","speckle_type":"Base","n":"${id.slice(0, 4)}"}` })

async function text(it: AsyncIterable<string | Buffer> | Iterable<string | Buffer>): Promise<string> {
  const pieces: Buffer[] = []
  for await (const piece of it) pieces.push(Buffer.from(piece))
  return Buffer.concat(pieces).toString('utf8')
}

/** A scratch PostgreSQL database and an adapter on it. */
async function openTestPostgres(): Promise<{ sql: Sql; drop: () => Promise<void> }> {
  const db = await createTestPostgresDatabase()
  const { createPostgresSql } = await import('../../adapters/sql/postgres.js')
  const { pino } = await import('pino')
  return { sql: await createPostgresSql({ url: db.url, logger: pino({ level: 'silent' }) }), drop: db.drop }
}

async function collect(it: AsyncIterable<ObjectLine[]>): Promise<{ ids: string[]; batches: number }> {
  const ids: string[] = []
  let batches = 0
  for await (const batch of it) {
    batches++
    for (const line of batch) {
      const [id, bytes] = line
      const text = bytes.toString()
      expect(text.startsWith(`${id}\t`) && text.endsWith('\n')).toBe(true)
      expect(lineJson(line)).toContain(`"id":"${id}"`)
      ids.push(id)
    }
  }
  return { ids, batches }
}

describe('closureIds', () => {
  it('lists the keys of the top-level closure, in the order written', () => {
    const a = idOf(1)
    const b = idOf(2)
    const json = `{"id":"x","speckle_type":"Base","@e":[{"referencedId":"${a}","speckle_type":"reference"}],"totalChildrenCount":2,"__closure":{"${a}":1,"${b}":2}}`
    expect(closureIds(json)).toEqual([a, b])
  })

  it('ignores a `__closure` that is not a top-level property, in a nested object or in a string', () => {
    const json = JSON.stringify({
      id: 'x',
      note: '"__closure":{"fake":1}',
      inner: { __closure: { nested: 1 }, list: [{ __closure: { deeper: 1 } }] },
      speckle_type: 'Base',
    })
    expect(closureIds(json)).toEqual([])
    const withReal = json.slice(0, -1) + ',"__closure":{"real":1}}'
    expect(closureIds(withReal)).toEqual(['real'])
  })

  it('reads pretty-printed text, escaped keys and strings ending in backslashes', () => {
    const json = `{\n  "s": "ends with a backslash \\\\",\n  "t": "quote \\" inside",\n  "__closure" : { "k\\u0041" : 1 ,\n "plain": 3 }\n}`
    expect(JSON.parse(json).__closure).toEqual({ kA: 1, plain: 3 })
    expect(closureIds(json)).toEqual(['kA', 'plain'])
  })

  it('answers an empty list for malformed text or a closure that is not an object', () => {
    expect(closureIds('{"__closure":{"a":1')).toEqual([])
    expect(closureIds('{"__closure":["a"]}')).toEqual([])
    expect(closureIds('not json "__closure"')).toEqual([])
    expect(closureIds('{"__closure":{}}')).toEqual([])
  })

  it('matches JSON.parse on a 100,000-child root', () => {
    const closure: Record<string, number> = {}
    const refs = []
    for (let i = 0; i < 100_000; i++) {
      closure[idOf(i)] = (i % 3) + 1
      refs.push({ referencedId: idOf(i), speckle_type: 'reference' })
    }
    const json = JSON.stringify({ id: 'r', '@elements': refs, totalChildrenCount: 100_000, __closure: closure })
    expect(closureIds(json)).toEqual(Object.keys(closure))
  })
})

describe.each(['pglite', 'postgres'] as const)('objects service reads (%s)', (mode) => {
  let sql: Sql
  let drop: (() => Promise<void>) | undefined
  let objects: ObjectsService
  const tree = Array.from({ length: 2_500 }, (_, i) => idOf(i, 'tree'))
  const other = Array.from({ length: 6_000 }, (_, i) => idOf(i, 'other'))

  beforeAll(async () => {
    if (mode === 'pglite') sql = await openTestPglite()
    else ({ sql, drop } = await openTestPostgres())
    await runMigrations(sql)
    // Small read batches so every path (range, list fallback, sparse switch) runs several times.
    objects = createObjectsService({ sql, maxObjectBytes: 1e7, readBatchSize: 500, rootSliceBytes: 100_000 })
    await objects.store('p1', tree.map(row))
    await objects.store('p1', other.map(row))
    await objects.store('p2', tree.slice(0, 100).map(row))
  }, 60_000)

  afterAll(async () => {
    await sql?.close()
    await drop?.()
  })

  it('compresses large objects with lz4 where the database has it (PostgreSQL here), pglz otherwise', async () => {
    const { rows } = await sql.query<{ c: string }>(
      `SELECT attcompression::text AS c FROM pg_attribute WHERE attrelid = 'objects'::regclass AND attname = 'data'`,
    )
    expect(rows).toEqual([{ c: mode === 'postgres' ? 'l' : '' }])
  })

  it('reads objects back byte for byte through COPY: JSON escapes, backslashes, unicode', async () => {
    const texts = [
      JSON.stringify('a\\b "q" \n \t é \\\\server\\share'),
      '"Gebäude 東京 🏗️"',
      JSON.stringify('ends with a backslash \\'),
      '"\\u00e9 \\/ \\b\\f"',
    ].map((value, i) => {
      const id = idOf(i, 'escapes')
      return { id, json: `{"id":"${id}","speckle_type":"Base","v":${value}}` }
    })
    await objects.store('p3', texts)
    const got: Record<string, string> = {}
    for await (const batch of objects.streamIds(
      'p3',
      texts.map((t) => t.id),
    )) {
      for (const line of batch) got[line[0]] = lineJson(line)
    }
    expect(got).toEqual(Object.fromEntries(texts.map((t) => [t.id, t.json])))
    for (const t of texts) expect(JSON.parse(got[t.id]!)).toEqual(JSON.parse(t.json))
  })

  it('checks large uploaded objects in a worker thread: stored whole when valid, refused when not', async () => {
    const large = createObjectsService({ sql, maxObjectBytes: 1e7, largeObjectBytes: 20_000 })
    const parts = (...texts: string[]) =>
      (async function* () {
        for (const text of texts) {
          const b = Buffer.from(text)
          yield (async function* () {
            for (let at = 0; at < b.length; at += 1000) yield b.subarray(at, at + 1000)
          })()
        }
      })()
    const big = (salt: string, extra = '') => {
      const id = idOf(0, salt)
      const closure = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [idOf(i, `${salt}-c`), 1]))
      return {
        id,
        json: `{"s":${JSON.stringify('a \\ b "q"')}${extra},"__closure":${JSON.stringify(closure)},"id":"${id}"}`,
      }
    }
    const ok = big('large-ok')
    const small = row(idOf(1, 'large-small'))
    const stored = await large.storeStream('p4', parts(`[${small.json},${ok.json}]`))
    expect(stored).toMatchObject({ objects: 2, added: 2 })
    expect(await large.getObject('p4', ok.id)).toBe(ok.json)
    const bad = big('large-bad', ',"x":tru')
    await expect(large.storeStream('p4', parts(`[${row(idOf(2, 'large-small')).json},${bad.json}]`))).rejects.toThrow(
      'Failed to parse data. Batch is not in JSON format.',
    )
    expect(await large.getObject('p4', idOf(2, 'large-small'))).toBeNull()
    const noId = big('large-noid').json.replace(/,"id":"[0-9a-f]+"}$/, '}')
    await expect(large.storeStream('p4', parts(`[${noId}]`))).rejects.toThrow(/Object 0 of the batch has no valid id/)
  })

  it('streams a dense id set (the whole project) in order, each id once', async () => {
    const all = [...tree, ...other]
    const { ids, batches } = await collect(objects.streamIds('p1', all))
    expect(ids).toEqual([...all].sort())
    expect(batches).toBe(Math.ceil(all.length / 500))
  })

  it('streams a sparse id set among many other objects, skipping unknown ids and duplicates', async () => {
    const unknown = [idOf(1, 'nope'), idOf(2, 'nope')]
    const asked = [...tree, ...tree.slice(0, 10), ...unknown]
    const { ids } = await collect(objects.streamIds('p1', asked))
    expect(ids).toEqual([...tree].sort())
  })

  it('shares a row budget among concurrent id-list reads: smaller batches while others read, never fewer ids', async () => {
    const budgeted = createObjectsService({ sql, maxObjectBytes: 1e7, readBatchSize: 1000, readRowsBudget: 1000 })
    const a = budgeted.streamIds('p1', other)[Symbol.asyncIterator]()
    const first = await a.next()
    expect(first.value).toHaveLength(1000) // alone: the whole batch size
    const b = await collect(budgeted.streamIds('p1', tree))
    expect(b.ids).toEqual([...tree].sort())
    expect(b.batches).toBe(5) // 2,500 ids in batches of 500 while the first reader is open
    let rest = 0
    for (let next = await a.next(); !next.done; next = await a.next()) rest += next.value.length
    expect(1000 + rest).toBe(other.length)
    // Alone again: full batches.
    expect((await collect(budgeted.streamIds('p1', tree))).batches).toBe(3)
  })

  it("never returns another project's objects", async () => {
    const { ids } = await collect(objects.streamIds('p2', tree))
    expect(ids).toEqual(tree.slice(0, 100).sort())
  })

  const roots = new Map<string, string>()
  async function storeRoot(salt: string, children: string[], extra: Record<string, unknown> = {}): Promise<string> {
    const rootId = idOf(0, salt)
    const closure = Object.fromEntries(children.map((id) => [id, 1]))
    const json = JSON.stringify({ id: rootId, ...extra, totalChildrenCount: children.length, __closure: closure })
    await objects.store('p1', [{ id: rootId, json }])
    roots.set(rootId, json)
    return rootId
  }

  it('streams a tree whose ids are most of the project (read by key range)', async () => {
    const all = [...tree, ...other]
    const rootId = await storeRoot('dense', all, { name: 'Øresund 橋 🌉'.repeat(20_000) })
    const result = await objects.streamTree('p1', rootId)
    // 8,500 closure entries and a multi-byte name make a root of about 300 kB: sent in pieces, whole.
    const root = await text(result!.root)
    expect(root.length).toBeGreaterThan(200_000)
    expect(root).toBe(roots.get(rootId))
    const { ids } = await collect(result!.children)
    expect(ids).toEqual([...all].sort())
  })

  it.each([
    ['sorted in memory', undefined],
    ['sorted by the database from a scratch table', 1_000],
  ])(
    'reads a large root’s closure from its pieces (%s): the top-level one only, each id once, nothing left',
    async (_, inMemory) => {
      const scratch = async () =>
        (
          await sql.query<{ name: string }>(
            `SELECT relname AS name FROM pg_class WHERE relname LIKE 'objects_closure_scratch_%' ORDER BY 1`,
          )
        ).rows.map((r) => r.name)
      // Left by processes that ended mid-read: one two days ago (dropped), one just now (kept: it may be in use).
      const stale = `objects_closure_scratch_${Date.now() - 2 * 86_400_000}_aaaaaa`
      const recent = `objects_closure_scratch_${Date.now()}_bbbbbb`
      for (const name of [stale, recent]) await sql.query(`CREATE UNLOGGED TABLE ${name} (k text)`)
      const reader = createObjectsService({
        sql,
        maxObjectBytes: 1e7,
        rootSliceBytes: 100_000,
        maxClosureKeysInMemory: inMemory,
      })
      const rootId = idOf(0, 'pieces')
      // JSON no serializer writes but a reader must get right: decoy closures in a string and in nested
      // objects, a repeated key, the closure cut across pieces and not last.
      const entries = tree.map((id) => `"${id}":1`).join(',')
      const json =
        `{"id":"${rootId}","note":"\\"__closure\\":{\\"${other[0]}\\":1} \\\\","inner":{"__closure":{"${other[1]}":1}},` +
        `"pad":"${'x'.repeat(150_000)}","__closure":{${entries},"${tree[0]}":2},"after":[{"__closure":{"${other[2]}":1}}]}`
      expect(Object.keys((JSON.parse(json) as { __closure: object }).__closure)).toHaveLength(tree.length)
      await objects.store('p1', [{ id: rootId, json }]) // a second time is a no-op
      const result = await reader.streamTree('p1', rootId)
      expect(await text(result!.root)).toBe(json)
      expect((await collect(result!.children)).ids).toEqual([...tree].sort())
      // Only a read that needed a scratch table looks for stale ones.
      expect(await scratch()).toEqual(inMemory === undefined ? [stale, recent] : [recent])
      // A reader that stops early leaves nothing behind either.
      for await (const batch of (await reader.streamTree('p1', rootId))!.children) {
        expect(batch.length).toBeGreaterThan(0)
        break
      }
      expect(await scratch()).toEqual(inMemory === undefined ? [stale, recent] : [recent])
      for (const name of [stale, recent]) await sql.query(`DROP TABLE IF EXISTS ${name}`)
    },
  )

  it('sends a large root in pieces cut only where characters start, byte for byte, whatever the piece size', async () => {
    const rootId = await storeRoot('utf8 cuts', tree.slice(0, 5), { name: 'aØ橋🌉é'.repeat(300) + 'Z🌉' })
    const bytes = Buffer.from(roots.get(rootId)!)
    for (const size of [5, 6, 7, 64, 1001]) {
      const reader = createObjectsService({ sql, maxObjectBytes: 1e7, rootSliceBytes: size })
      const result = await reader.streamTree('p1', rootId)
      const pieces: Buffer[] = []
      for await (const piece of result!.root) pieces.push(Buffer.from(piece))
      expect(Buffer.concat(pieces).equals(bytes)).toBe(true)
      // Each piece is whole characters, within three bytes of the size asked for (the last may be shorter).
      for (const piece of pieces) expect(Buffer.from(piece.toString('utf8')).equals(piece)).toBe(true)
      for (const piece of pieces.slice(0, -1)) expect(Math.abs(piece.length - size)).toBeLessThanOrEqual(3)
      expect((await collect(result!.children)).ids).toEqual(tree.slice(0, 5).sort())
    }
  })

  it('counts the closure ids a root misses (what a version needs), small roots whole and large ones in pieces', async () => {
    const absent = [idOf(1, 'absent'), idOf(2, 'absent')]
    const small = await storeRoot('whole small', [...tree.slice(0, 10), ...absent])
    const large = await storeRoot('whole large', [...tree, ...absent], { pad: 'p'.repeat(150_000) })
    const complete = await storeRoot('whole complete', [...tree], { pad: 'p'.repeat(150_000) })
    for (const inMemory of [undefined, 100]) {
      const reader = createObjectsService({
        sql,
        maxObjectBytes: 1e7,
        rootSliceBytes: 100_000,
        maxClosureKeysInMemory: inMemory,
      })
      expect(await reader.hasWholeTree('p1', small)).toEqual({ root: true, missing: 2 })
      expect(await reader.hasWholeTree('p1', large)).toEqual({ root: true, missing: 2 })
      expect(await reader.hasWholeTree('p1', complete)).toEqual({ root: true, missing: 0 })
      expect(await reader.hasWholeTree('p1', idOf(3, 'absent'))).toEqual({ root: false, missing: 0 })
      expect(await reader.hasWholeTree('p2', large)).toEqual({ root: false, missing: 0 })
    }
  })

  it('reads the closures of at most maxConcurrentLargeTrees large-rooted trees at once; the next waits its turn', async () => {
    const rootId = await storeRoot('slots', [...tree], { name: 'x'.repeat(150_000) }) // over rootSliceBytes
    const limited = createObjectsService({
      sql,
      maxObjectBytes: 1e7,
      rootSliceBytes: 100_000,
      maxConcurrentLargeTrees: 1,
    })
    const a = await limited.streamTree('p1', rootId)
    const b = await limited.streamTree('p1', rootId)
    await text(a!.root)
    await text(b!.root)
    const aChildren = a!.children[Symbol.asyncIterator]()
    expect((await aChildren.next()).value!.length).toBeGreaterThan(0) // A holds the only slot
    const bAll = collect(b!.children)
    let bDone = false
    void bAll.then(() => (bDone = true))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(bDone).toBe(false)
    for (let next = await aChildren.next(); !next.done; next = await aChildren.next()) {
      // drain A: its end gives the slot to B
    }
    expect((await bAll).ids).toEqual([...tree].sort())
  })

  it('streams a tree scattered among many other objects (ranges give way to id lists)', async () => {
    const partial = [...tree, ...other.slice(0, 50), idOf(3, 'not stored')]
    const rootId = await storeRoot('sparse', partial)
    const result = await objects.streamTree('p1', rootId)
    const { ids } = await collect(result!.children)
    expect(await text(result!.root)).toBe(roots.get(rootId))
    expect(ids).toEqual([...tree, ...other.slice(0, 50)].sort())
    expect(await objects.streamTree('p1', idOf(9, 'missing'))).toBeNull()
  })

  it('follows only the top-level closure, and serves a root without one as a tree of one', async () => {
    const decoy = { __closure: { [other[0]!]: 1 } }
    const rootId = await storeRoot('nested', tree.slice(0, 3), { inner: decoy, note: '"__closure":{"x":1}' })
    const { ids } = await collect((await objects.streamTree('p1', rootId))!.children)
    expect(ids).toEqual(tree.slice(0, 3).sort())

    const lone = idOf(1, 'lone')
    const odd = idOf(2, 'odd')
    await objects.store('p1', [
      { id: lone, json: JSON.stringify({ id: lone, name: 'no children' }) },
      { id: odd, json: JSON.stringify({ id: odd, __closure: [tree[0]] }) },
    ])
    for (const id of [lone, odd]) {
      const result = await objects.streamTree('p1', id)
      expect(JSON.parse(await text(result!.root)).id).toBe(id)
      expect((await collect(result!.children)).ids).toEqual([])
    }
  })

  it('stops reading when the consumer stops early, and the connection is reusable', async () => {
    const rootId = await storeRoot('early', [...tree, ...other])
    for (let i = 0; i < 12; i++) {
      const result = await objects.streamTree('p1', rootId)
      for await (const batch of result!.children) {
        expect(batch.length).toBeGreaterThan(0)
        break
      }
    }
    const { ids } = await collect((await objects.streamTree('p1', rootId))!.children)
    expect(ids).toHaveLength(tree.length + other.length)
  })

  it('refreshes the table statistics in the background after many new rows', async () => {
    const reltuples = async () =>
      Number(
        (await sql.query<{ n: number | string }>("SELECT reltuples AS n FROM pg_class WHERE relname = 'objects'"))
          .rows[0]!.n,
      )
    // Nothing has analyzed the table yet (the suite's service never reaches its 200,000-row line).
    expect(await reltuples()).toBeLessThan(8_000)
    const analyzing = createObjectsService({ sql, maxObjectBytes: 1e6, analyzeEveryRows: 1_000 })
    const fresh = Array.from({ length: 1_200 }, (_, i) => idOf(i, 'analyze'))
    await analyzing.store('p3', fresh.map(row))
    await analyzing.settled()
    expect(await reltuples()).toBeGreaterThan(8_000)
  })

  it('does not change the caller’s id list', async () => {
    const asked = [...other].reverse()
    const copy = [...asked]
    await collect(objects.streamIds('p1', asked))
    expect(asked).toEqual(copy)
  })
})

describe('objects service marks new rows committed after writing them (pglite)', () => {
  it('leaves no page for the first read to write back, for streamed uploads and stored rows', async () => {
    const sql = await openTestPglite()
    try {
      await runMigrations(sql)
      const objects = createObjectsService({ sql, maxObjectBytes: 1e7 })
      // Pages a full read of the table dirtied: PostgreSQL marks rows it first finds committed (hint bits).
      // CHECKPOINT first: it writes out the pages the writes left dirty, so only the read's own marking shows.
      const dirtiedByRead = async (): Promise<number> => {
        await sql.query('CHECKPOINT')
        const { rows } = await sql.query<{ 'QUERY PLAN': [{ Plan: { 'Shared Dirtied Blocks': number } }] }>(
          'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM objects',
        )
        return rows[0]!['QUERY PLAN'][0].Plan['Shared Dirtied Blocks']
      }
      const rows = (salt: string) => Array.from({ length: 2_000 }, (_, i) => row(idOf(i, salt)))
      // The measure works: rows written past the service are marked (and their pages dirtied) by the first read.
      await objects.store('p1', rows('first'))
      await objects.settled()
      await sql.copyFrom(
        'objects',
        ['project_id', 'id', 'data'],
        rows('raw').map((r) => ['p1', r.id, r.json]),
      )
      expect(await dirtiedByRead()).toBeGreaterThan(20)
      expect(await dirtiedByRead()).toBe(0)

      const body = Buffer.from(
        `[${rows('streamed')
          .map((r) => r.json)
          .join(',')}]`,
      )
      const parts = (async function* () {
        yield (async function* () {
          for (let at = 0; at < body.length; at += 64_000) yield body.subarray(at, at + 64_000)
        })()
      })()
      expect(await objects.storeStream('p1', parts)).toMatchObject({ objects: 2_000, added: 2_000 })
      await objects.settled()
      expect(await dirtiedByRead()).toBe(0)

      expect(await objects.store('p1', rows('stored'))).toBe(2_000)
      await objects.settled()
      expect(await dirtiedByRead()).toBe(0)
      expect((await sql.query('SELECT count(*)::int AS n FROM objects')).rows).toEqual([{ n: 8_000 }])
    } finally {
      await sql.close()
    }
  })
})

describe('objects service uploads at once (postgres)', () => {
  let sql: Sql
  let drop: () => Promise<void>

  beforeAll(async () => {
    ;({ sql, drop } = await openTestPostgres())
    await runMigrations(sql)
  }, 60_000)

  afterAll(async () => {
    await sql?.close()
    await drop?.()
  })

  /** An upload of one part whose first 400 objects (more than a COPY piece) arrive, then the rest once released. */
  function stalledUpload(salt: string) {
    const rows = Array.from({ length: 600 }, (_, i) => {
      const id = idOf(i, salt)
      return { id, json: `{"id":"${id}","speckle_type":"Base","pad":"${'x'.repeat(1000)}"}` }
    })
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    let reachedStall!: () => void
    const stalled = new Promise<void>((resolve) => (reachedStall = resolve))
    const parts = (async function* () {
      yield (async function* () {
        yield Buffer.from(
          `[${rows
            .slice(0, 400)
            .map((r) => r.json)
            .join(',')},`,
        )
        reachedStall()
        await released
        yield Buffer.from(
          `${rows
            .slice(400)
            .map((r) => r.json)
            .join(',')}]`,
        )
      })()
    })()
    return { rows, parts, release, stalled }
  }

  const small = (salt: string) =>
    (async function* () {
      yield (async function* () {
        yield Buffer.from(`[${row(idOf(0, salt)).json},${row(idOf(1, salt)).json}]`)
      })()
    })()

  async function connections(): Promise<number> {
    const { rows } = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY "objects" %'`,
    )
    return rows[0]!.n
  }

  it('loads at most maxConcurrentUploads uploads at once; the next waits for a slot, then loads', async () => {
    const objects = createObjectsService({ sql, maxConcurrentUploads: 1, maxObjectBytes: 1e6 })
    const a = stalledUpload('slot-a')
    const storingA = objects.storeStream('p', a.parts)
    await a.stalled
    let bDone = false
    const storingB = objects.storeStream('p', small('slot-b')).then((r) => {
      bDone = true
      return r
    })
    try {
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(bDone).toBe(false) // A holds the only slot while its client is silent
      expect(await connections()).toBe(1)
    } finally {
      a.release()
    }
    expect(await storingA).toMatchObject({ objects: 600, added: 600 })
    expect(await storingB).toMatchObject({ objects: 2, added: 2 })
    const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM objects WHERE project_id = 'p'`)
    expect(rows).toEqual([{ n: 602 }])
  })

  it('lets another upload through while one is stalled when there are slots to spare', async () => {
    const objects = createObjectsService({ sql, maxConcurrentUploads: 2, maxObjectBytes: 1e6 })
    const a = stalledUpload('spare-a')
    const storingA = objects.storeStream('q', a.parts)
    await a.stalled
    try {
      expect(await objects.storeStream('q', small('spare-b'))).toMatchObject({ objects: 2, added: 2 })
      expect(await connections()).toBe(1) // A's COPY, still open
    } finally {
      a.release()
    }
    expect(await storingA).toMatchObject({ objects: 600, added: 600 })
  })

  it('frees the slot of an upload that failed', async () => {
    const objects = createObjectsService({ sql, maxConcurrentUploads: 1, maxObjectBytes: 1e6 })
    const broken = (async function* () {
      yield (async function* () {
        yield Buffer.from(
          `[${Array.from({ length: 400 }, (_, i) => row(idOf(i, 'broken')).json.replace('}', `,"pad":"${'y'.repeat(1000)}"}`)).join(',')},{"id":`,
        )
        yield Buffer.from('nope}]')
      })()
    })()
    await expect(objects.storeStream('r', broken)).rejects.toThrow('Failed to parse data. Batch is not in JSON format.')
    expect(await objects.storeStream('r', small('after-broken'))).toMatchObject({ objects: 2, added: 2 })
    const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM objects WHERE project_id = 'r'`)
    expect(rows).toEqual([{ n: 2 }])
  })
})
