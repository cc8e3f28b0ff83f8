/**
 * Large objects stored in pieces (repository.ts, `PIECES_MARK`), on PGlite and PostgreSQL, with a small
 * piece size so ordinary objects exercise it: every read path gives back the object byte for byte, no
 * stored value is longer than a piece, refused uploads leave nothing, and the migration turns an object
 * stored whole into pieces.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runMigrations } from '../../adapters/sql/migrate.js'
import type { Sql } from '../../adapters/sql/types.js'
import { createTestPostgresDatabase, openTestPglite } from '../../test-utils/db.js'
import { createObjectsService, lineJson, type ObjectLine, type ObjectsService } from './service.js'

const PIECE = 1000
const idOf = (salt: string): string => createHash('sha256').update(salt).digest('hex').slice(0, 32)

async function text(it: AsyncIterable<string | Buffer> | Iterable<string | Buffer>): Promise<string> {
  const pieces: Buffer[] = []
  for await (const piece of it) pieces.push(Buffer.from(piece))
  return Buffer.concat(pieces).toString('utf8')
}

async function lines(it: AsyncIterable<ObjectLine[]>): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for await (const batch of it) for (const line of batch) out.set(line[0], lineJson(line))
  return out
}

/** One upload part per text, cut into chunks of 300 bytes. */
function parts(...texts: string[]) {
  return (async function* () {
    for (const t of texts) {
      const b = Buffer.from(t)
      yield (async function* () {
        for (let at = 0; at < b.length; at += 300) yield b.subarray(at, at + 300)
      })()
    }
  })()
}

/** A leaf of about `bytes` bytes of JSON with multi-byte characters and backslash escapes throughout. */
function bigLeaf(salt: string, bytes: number): { id: string; json: string } {
  const id = idOf(salt)
  const unit = 'Gebäude 東京 🏗️ \\\\server\\\\share "q" '
  const value = unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit)))
  return { id, json: `{"speckle_type":"Objects.Other.Big","v":"${value.replace(/"/g, '\\"')}","id":"${id}"}` }
}

describe.each(['pglite', 'postgres'] as const)('objects stored in pieces (%s)', (mode) => {
  let sql: Sql
  let drop: (() => Promise<void>) | undefined
  let objects: ObjectsService

  beforeAll(async () => {
    if (mode === 'pglite') sql = await openTestPglite()
    else {
      const db = await createTestPostgresDatabase()
      const { createPostgresSql } = await import('../../adapters/sql/postgres.js')
      const { pino } = await import('pino')
      sql = await createPostgresSql({ url: db.url, logger: pino({ level: 'silent' }) })
      drop = db.drop
    }
    await runMigrations(sql)
    objects = createObjectsService({
      sql,
      maxObjectBytes: 1e7,
      pieceBytes: PIECE,
      rootSliceBytes: 700,
      readBatchSize: 50,
    })
  }, 60_000)

  afterAll(async () => {
    await sql?.close()
    await drop?.()
  })

  const longest = async (project: string) =>
    Number(
      (
        await sql.query<{ n: number | null }>(
          'SELECT max(octet_length(data))::int AS n FROM objects WHERE project_id = $1',
          [project],
        )
      ).rows[0]?.n ?? 0,
    )

  it('gives a large object back byte for byte on every read path, and stores no value longer than a piece', async () => {
    const big = bigLeaf('leaf', 7_500)
    const small = bigLeaf('small', 200)
    const children = [big, small]
    const rootId = idOf('root')
    const closure = Object.fromEntries(children.map((c) => [c.id, 1]))
    // The root is large too: a long name and its closure.
    const root = {
      id: rootId,
      json: `{"speckle_type":"Base","name":"${'ö'.repeat(2_000)}","@c":${JSON.stringify(children.map((c) => ({ referencedId: c.id, speckle_type: 'reference' })))},"__closure":${JSON.stringify(closure)},"id":"${rootId}"}`,
    }
    expect(Buffer.byteLength(big.json)).toBeGreaterThan(7 * PIECE)
    expect(Buffer.byteLength(root.json)).toBeGreaterThan(3 * PIECE)

    const stored = await objects.storeStream('p1', parts(`[${big.json},${small.json}]`, `[${root.json}]`))
    expect(stored).toMatchObject({ objects: 3, added: 3 })
    // Each stored value is a piece (within a character's bytes) or a small object: none holds a large object whole.
    expect(await longest('p1')).toBeLessThanOrEqual(PIECE + 3)

    for (const o of [big, small, root]) {
      expect(await objects.getObject('p1', o.id)).toBe(o.json)
      expect(await text((await objects.streamObject('p1', o.id))!)).toBe(o.json)
    }
    // getobjects / object-stream
    const listed = await lines(objects.streamIds('p1', [big.id, small.id, rootId, idOf('absent')]))
    expect([...listed.keys()].sort()).toEqual([big.id, small.id, rootId].sort())
    for (const o of [big, small, root]) expect(listed.get(o.id)).toBe(o.json)
    // Tree download: the root in pieces, then its closure.
    const tree = await objects.streamTree('p1', rootId)
    expect(await text(tree!.root)).toBe(root.json)
    const kids = await lines(tree!.children)
    expect(Object.fromEntries(kids)).toEqual({ [big.id]: big.json, [small.id]: small.json })
    // What a version needs.
    expect(await objects.hasWholeTree('p1', rootId)).toEqual({ root: true, missing: 0 })
    // The pieces are nobody's objects: a client asking for one by id gets nothing.
    expect(await objects.diff('p1', [big.id, `${big.id}.000000`])).toEqual({
      [big.id]: true,
      [`${big.id}.000000`]: false,
    })
    expect((await lines(objects.streamIds('p1', [`${big.id}.000000`]))).size).toBe(0)
    expect(await objects.getObject('p1', `${big.id}.000000`)).toBeNull()
    expect(await objects.streamObject('p1', `${big.id}.000000`)).toBeNull()
    expect(await objects.streamTree('p1', `${big.id}.000000`)).toBeNull()
  })

  it('stores each object once when an upload repeats one already stored (the merge path), and counts objects, not pieces', async () => {
    const big = bigLeaf('again', 4_000)
    expect((await objects.storeStream('p2', parts(`[${big.json}]`))).added).toBe(1)
    const fresh = bigLeaf('fresh', 3_000)
    const again = await objects.storeStream('p2', parts(`[${big.json},${fresh.json}]`))
    expect(again).toMatchObject({ objects: 2, added: 1 })
    expect(await objects.getObject('p2', big.id)).toBe(big.json)
    expect(await objects.getObject('p2', fresh.id)).toBe(fresh.json)
    // The non-streaming path (GraphQL objectCreate) stores in pieces too.
    const viaRows = bigLeaf('rows', 2_500)
    expect(await objects.store('p2', [viaRows, big])).toBe(1)
    expect(await objects.getObject('p2', viaRows.id)).toBe(viaRows.json)
    expect(await longest('p2')).toBeLessThanOrEqual(PIECE + 3)
  })

  it('refuses an object that begins with the reserved key, and a bad object anywhere leaves no piece behind', async () => {
    const forged = `{"__truss_pieces":2,"id":"${idOf('forged')}"}`
    await expect(objects.storeStream('p3', parts(`[${forged}]`))).rejects.toThrow(/reserved property "__truss_pieces"/)
    const big = bigLeaf('then-bad', 5_000)
    await expect(objects.storeStream('p3', parts(`[${big.json},{"id":"${idOf('bad')}","x":tru}]`))).rejects.toThrow(
      'Failed to parse data. Batch is not in JSON format.',
    )
    const { rows } = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM objects WHERE project_id = $1', [
      'p3',
    ])
    expect(Number(rows[0]!.n)).toBe(0)
  })

  it('migrates an object stored whole (an existing data folder) into pieces, and reads it the same', async () => {
    // The migration's piece size is 4 MiB: a 5 MB object stored whole, as earlier builds stored it.
    const big = bigLeaf('legacy', 5_000_000)
    await sql.copyFrom('objects', ['project_id', 'id', 'data'], [['p4', big.id, big.json]])
    const reader = createObjectsService({ sql, maxObjectBytes: 1e8 })
    expect(await text((await reader.streamObject('p4', big.id))!)).toBe(big.json) // read whole, in slices
    const migration = await readFile(new URL('../../../migrations/0020_objects_pieces.sql', import.meta.url), 'utf8')
    await sql.transaction((tx) => tx.query(migration))
    const { rows } = await sql.query<{ id: string; n: number }>(
      'SELECT id, octet_length(data)::int AS n FROM objects WHERE project_id = $1 ORDER BY id',
      ['p4'],
    )
    expect(rows.map((r) => r.id)).toEqual([big.id, `${big.id}.000000`, `${big.id}.000001`])
    expect(Math.max(...rows.map((r) => Number(r.n)))).toBeLessThanOrEqual(4 * 1024 * 1024 + 3)
    expect(await reader.getObject('p4', big.id)).toBe(big.json)
    expect(await text((await reader.streamObject('p4', big.id))!)).toBe(big.json)
    expect((await lines(reader.streamIds('p4', [big.id]))).get(big.id)).toBe(big.json)
  }, 60_000)
})
