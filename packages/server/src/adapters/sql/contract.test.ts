/**
 * One contract for both SQL adapters: PGlite (in its worker, started from the initdb template of
 * `test-utils/db.ts`) and PostgreSQL on 127.0.0.1:5432 (a fresh `truss_t_<random>` database per
 * suite, dropped after). Then what only one of them has: PGlite's responsiveness under a heavy query
 * and its data-folder lock; PostgreSQL's start-up errors and pool size.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createTestPostgresDatabase, openTestPglite, pgliteTemplate } from '../../test-utils/db.js'
import {
  createPgliteSql,
  createPostgresSql,
  createSql,
  DataDirInUse,
  MigrationFailed,
  runMigrations,
  SqlClosed,
  SqlConfigError,
  SqlError,
  sqlLiteral,
  type Sql,
} from './index.js'
import { copyTextChunks } from './pglite.js'

const silent = pino({ level: 'silent' })
const uniqueName = (label: string): string => `${label}_${randomBytes(5).toString('hex')}`

/** Rows a COPY must carry unchanged: every character the text format escapes, and then some. */
const AWKWARD: (string | null)[][] = [
  ['tab\there', 'new\nline'],
  ['carriage\rreturn', 'back\\slash'],
  ['\\N', 'looks like null but is text'],
  ['\\.', 'end-of-data marker as text'],
  [`'single' and "double" quotes`, ',;|'],
  ['ünïcødé 漢字 🚀', '\u00a0\u2028'],
  ['', null],
  [null, ''],
  ['\\t literal backslash-t', 'trailing backslash\\'],
]

async function* textPieces(texts: string[]): AsyncIterable<Uint8Array> {
  for (const text of texts) yield Buffer.from(text)
}

async function collectBytes(source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const all: Uint8Array[] = []
  for await (const chunk of source) all.push(chunk)
  return all
}

async function collect<R>(batches: AsyncIterable<R[]>): Promise<R[][]> {
  const all: R[][] = []
  for await (const batch of batches) all.push(batch)
  return all
}

async function migrationsFolder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'truss-migrations-'))
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
  return dir
}

export function sqlContract(name: string, makeSql: () => Promise<Sql>): void {
  describe(`sql contract: ${name}`, () => {
    let sql: Sql
    const folders: string[] = []
    const folder = async (files: Record<string, string>): Promise<string> => {
      const dir = await migrationsFolder(files)
      folders.push(dir)
      return dir
    }

    beforeAll(async () => {
      sql = await makeSql()
    })
    afterAll(async () => {
      await sql?.close()
      await Promise.all(folders.map((dir) => rm(dir, { recursive: true, force: true })))
    })

    it('passes parameters and returns text, int, bigint, boolean, jsonb, text[], null and unicode as JS values', async () => {
      const { rows, rowCount } = await sql.query(
        `SELECT $1::text AS t, $2::int AS i, $3::int8 AS big, $4::int8 AS big_from_bigint, $5::boolean AS b,
                $6::jsonb AS j, $7::jsonb AS j_from_string, $8::text[] AS arr, $9::text AS nothing, $10::text AS u,
                $11::numeric AS num, $12::date AS d, $13::timestamptz AS ts, 2::int8 * 3 AS product`,
        [
          'hello',
          42,
          '9007199254740993',
          9007199254740993n,
          true,
          { a: [1, 'x', null], nested: { ok: true } },
          JSON.stringify({ s: 'from a string' }),
          ['a', 'b,c', 'q"uote', 'back\\slash', '', null, '{braces}'],
          null,
          'ünïcødé 漢字 🚀',
          '12345678901234567890.5',
          '2024-02-29',
          new Date('2024-05-06T07:08:09.123Z'),
        ],
      )
      expect(rowCount).toBe(1)
      expect(rows[0]).toEqual({
        t: 'hello',
        i: 42,
        big: '9007199254740993',
        big_from_bigint: '9007199254740993',
        b: true,
        j: { a: [1, 'x', null], nested: { ok: true } },
        j_from_string: { s: 'from a string' },
        arr: ['a', 'b,c', 'q"uote', 'back\\slash', '', null, '{braces}'],
        nothing: null,
        u: 'ünïcødé 漢字 🚀',
        num: '12345678901234567890.5',
        d: '2024-02-29',
        ts: new Date('2024-05-06T07:08:09.123Z'),
        product: '6',
      })
    })

    it('stores and reads back the same types through a table', async () => {
      const table = uniqueName('types')
      await sql.query(
        `CREATE TABLE ${table} (id int8 PRIMARY KEY, name text, flag boolean, data jsonb, tags text[], missing text)`,
      )
      const insert = await sql.query(
        `INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)`,
        ['1', 'première', false, { list: [1, 2, 3] }, ['x'], null, '2', '', true, { emoji: '🚀' }, [], null],
      )
      expect(insert.rowCount).toBe(2)
      const { rows } = await sql.query(`SELECT * FROM ${table} ORDER BY id`)
      expect(rows).toEqual([
        { id: '1', name: 'première', flag: false, data: { list: [1, 2, 3] }, tags: ['x'], missing: null },
        { id: '2', name: '', flag: true, data: { emoji: '🚀' }, tags: [], missing: null },
      ])
      const update = await sql.query(`UPDATE ${table} SET flag = NOT flag`)
      expect(update.rowCount).toBe(2)
    })

    it('runs a text of several statements when there are no parameters and answers the last one', async () => {
      const table = uniqueName('multi')
      const { rows } = await sql.query(
        `CREATE TABLE ${table} (a int); INSERT INTO ${table} VALUES (1), (2); SELECT count(*)::int AS n FROM ${table}`,
      )
      expect(rows).toEqual([{ n: 2 }])
    })

    it('answers a unique violation with an SqlError whose code is 23505', async () => {
      const table = uniqueName('uniq')
      await sql.query(`CREATE TABLE ${table} (id text PRIMARY KEY)`)
      await sql.query(`INSERT INTO ${table} VALUES ($1)`, ['a'])
      const err = await sql.query(`INSERT INTO ${table} VALUES ($1)`, ['a']).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(SqlError)
      expect(err).toMatchObject({ code: '23505', constraint: `${table}_pkey`, table })
      // The adapter is still usable, and the error has the same shape inside a transaction.
      const inTx = await sql.transaction((tx) => tx.query(`INSERT INTO ${table} VALUES ('a')`)).catch((e: unknown) => e)
      expect(inTx).toMatchObject({ code: '23505' })
      expect((await sql.query(`SELECT count(*)::int AS n FROM ${table}`)).rows).toEqual([{ n: 1 }])
    })

    it('answers a syntax error or a bad parameter with an SqlError carrying the SQLSTATE', async () => {
      await expect(sql.query('SELEC 1')).rejects.toMatchObject({ name: 'SqlError', code: '42601' })
      await expect(sql.query('SELECT $1::int', ['x'])).rejects.toMatchObject({ code: '22P02' })
      await expect(sql.query('SELECT $1::boolean', ['maybe'])).rejects.toMatchObject({ code: '22P02' })
    })

    it('runs many concurrent queries, each getting its own answer', async () => {
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) => sql.query<{ n: number }>('SELECT $1::int AS n', [i])),
      )
      expect(answers.map((a) => a.rows[0].n)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    })

    it('commits a transaction when its function resolves and returns its value', async () => {
      const table = uniqueName('commit')
      await sql.query(`CREATE TABLE ${table} (a int)`)
      const value = await sql.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} VALUES (1)`)
        // Queries started together inside a transaction run one after another on its connection.
        await Promise.all([2, 3, 4].map((n) => tx.query(`INSERT INTO ${table} VALUES ($1)`, [n])))
        return 'done'
      })
      expect(value).toBe('done')
      expect((await sql.query(`SELECT count(*)::int AS n FROM ${table}`)).rows).toEqual([{ n: 4 }])
    })

    it('rolls a transaction back when its function throws, and rethrows that error', async () => {
      const table = uniqueName('rollback')
      await sql.query(`CREATE TABLE ${table} (a int)`)
      const boom = new Error('boom')
      await expect(
        sql.transaction(async (tx) => {
          await tx.query(`INSERT INTO ${table} VALUES (1)`)
          throw boom
        }),
      ).rejects.toBe(boom)
      expect((await sql.query(`SELECT count(*)::int AS n FROM ${table}`)).rows).toEqual([{ n: 0 }])
    })

    it('refuses to use a transaction after it ended', async () => {
      let leaked: Parameters<Parameters<Sql['transaction']>[0]>[0] | undefined
      await sql.transaction(async (tx) => {
        leaked = tx
      })
      await expect(leaked!.query('SELECT 1')).rejects.toThrow(/already ended/)
    })

    it("keeps a transaction's rows from others until commit (hidden on PostgreSQL; others wait on PGlite)", async () => {
      const table = uniqueName('isolation')
      await sql.query(`CREATE TABLE ${table} (a int)`)
      const events: string[] = []
      let release!: () => void
      const held = new Promise<void>((resolve) => (release = resolve))
      let inserted!: () => void
      const insertedPromise = new Promise<void>((resolve) => (inserted = resolve))
      const tx = sql.transaction(async (t) => {
        await t.query(`INSERT INTO ${table} VALUES (1)`)
        inserted()
        await held
        events.push('commit')
      })
      await insertedPromise
      const outside = sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`).then((r) => {
        events.push(`outside saw ${r.rows[0].n}`)
      })
      await new Promise((resolve) => setTimeout(resolve, 100))
      release()
      await Promise.all([tx, outside])
      if (sql.kind === 'postgres') expect(events).toEqual(['outside saw 0', 'commit'])
      else expect(events).toEqual(['commit', 'outside saw 1'])
    })

    it('runs transactions started together without mixing them up', async () => {
      const table = uniqueName('parallel_tx')
      await sql.query(`CREATE TABLE ${table} (tx int, step int)`)
      await Promise.all(
        [1, 2, 3, 4].map((n) =>
          sql
            .transaction(async (tx) => {
              await tx.query(`INSERT INTO ${table} VALUES ($1, 1)`, [n])
              await tx.query(`INSERT INTO ${table} VALUES ($1, 2)`, [n])
              if (n === 3) throw new Error('third fails')
            })
            .catch(() => undefined),
        ),
      )
      const { rows } = await sql.query(`SELECT tx, count(*)::int AS n FROM ${table} GROUP BY tx ORDER BY tx`)
      expect(rows).toEqual([
        { tx: 1, n: 2 },
        { tx: 2, n: 2 },
        { tx: 4, n: 2 },
      ])
    })

    it('copies awkward values unchanged: tabs, newlines, backslashes, quotes, unicode, empty string vs null', async () => {
      const table = uniqueName('copy_awkward')
      await sql.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, a text, "user" text)`)
      expect(await sql.copyFrom(table, ['a', 'user'], AWKWARD)).toBe(AWKWARD.length)
      const { rows } = await sql.query<{ a: string | null; user: string | null }>(
        `SELECT a, "user" FROM ${table} ORDER BY id`,
      )
      expect(rows.map((r) => [r.a, r.user])).toEqual(AWKWARD)
    })

    it('copies 50k rows quickly', async () => {
      const table = uniqueName('copy_many')
      await sql.query(`CREATE TABLE ${table} (id text PRIMARY KEY, data text)`)
      const rows = function* (): Generator<string[]> {
        for (let i = 0; i < 50_000; i++) yield [`id-${i}`, `{"n":${i},"s":"tab\\there ü"}`]
      }
      const started = performance.now()
      expect(await sql.copyFrom(table, ['id', 'data'], rows())).toBe(50_000)
      expect(performance.now() - started).toBeLessThan(10_000)
      const { rows: check } = await sql.query(
        `SELECT count(*)::int AS n, max(data) FILTER (WHERE id = 'id-49999') AS last FROM ${table}`,
      )
      expect(check).toEqual([{ n: 50_000, last: '{"n":49999,"s":"tab\\there ü"}' }])
    })

    it('copies into a temporary table inside a transaction, then merges with ON CONFLICT', async () => {
      const table = uniqueName('copy_merge')
      await sql.query(`CREATE TABLE ${table} (id text PRIMARY KEY, v text)`)
      await sql.query(`INSERT INTO ${table} VALUES ('a', 'old')`)
      const inserted = await sql.transaction(async (tx) => {
        await tx.query(`CREATE TEMP TABLE incoming (id text, v text) ON COMMIT DROP`)
        await tx.copyFrom(
          'incoming',
          ['id', 'v'],
          [
            ['a', 'new'],
            ['b', 'new'],
            ['c', null],
          ],
        )
        const r = await tx.query(`INSERT INTO ${table} SELECT id, v FROM incoming ON CONFLICT (id) DO NOTHING`)
        return r.rowCount
      })
      expect(inserted).toBe(2)
      expect((await sql.query(`SELECT * FROM ${table} ORDER BY id`)).rows).toEqual([
        { id: 'a', v: 'old' },
        { id: 'b', v: 'new' },
        { id: 'c', v: null },
      ])
    })

    it('loads nothing when a COPY fails (a duplicate key, a row of the wrong width, an unknown column) and stays usable', async () => {
      const table = uniqueName('copy_fail')
      await sql.query(`CREATE TABLE ${table} (id text PRIMARY KEY, v text)`)
      await expect(
        sql.copyFrom(
          table,
          ['id', 'v'],
          [
            ['x', '1'],
            ['x', '2'],
          ],
        ),
      ).rejects.toMatchObject({ code: '23505' })
      await expect(sql.copyFrom(table, ['id', 'v'], [['y', '1'], ['z']])).rejects.toThrow(/1 values, expected 2/)
      await expect(
        sql.transaction(async (tx) => {
          await tx.copyFrom(table, ['id', 'v'], [['w', '1']])
          await tx.copyFrom(table, ['id', 'nope'], [['v', '1']])
        }),
      ).rejects.toMatchObject({ code: '42703' })
      expect(await sql.copyFrom(table, ['id', 'v'], [])).toBe(0)
      expect((await sql.query(`SELECT count(*)::int AS n FROM ${table}`)).rows).toEqual([{ n: 0 }])
    })

    it('loads streamed COPY text cut anywhere, inside a transaction too, and keeps the pieces intact', async () => {
      const table = uniqueName('copy_text')
      await sql.query(`CREATE TABLE ${table} (id text PRIMARY KEY, data text)`)
      const text = Buffer.from(
        Array.from({ length: 3000 }, (_, i) => `id-${i}\t{"n":${i},"s":"ü \\\\t 漢"}\n`).join(''),
      )
      const copy = Buffer.from(text)
      // Pieces of 1 to 97 bytes: rows, and multi-byte characters, split across pieces.
      async function* pieces(): AsyncIterable<Uint8Array> {
        for (let at = 0, k = 0; at < text.length; k++) {
          const n = 1 + ((k * 37) % 97)
          yield text.subarray(at, at + n)
          at += n
          if (k % 50 === 0) await new Promise((r) => setImmediate(r))
        }
      }
      expect(await sql.transaction((tx) => tx.copyText(table, ['id', 'data'], pieces()))).toBe(3000)
      expect(text.equals(copy)).toBe(true)
      const { rows } = await sql.query(
        `SELECT count(*)::int AS n, max(data) FILTER (WHERE id = 'id-2999') AS last FROM ${table}`,
      )
      expect(rows).toEqual([{ n: 3000, last: '{"n":2999,"s":"ü \\t 漢"}' }])
      // Outside a transaction, and a last row without its newline.
      expect(await sql.copyText(table, ['id', 'data'], textPieces(['x\t1\n', 'y\t2']))).toBe(2)
      expect((await sql.query(`SELECT data FROM ${table} WHERE id = 'y'`)).rows).toEqual([{ data: '2' }])
    })

    it('loads one row larger than a PGlite COPY chunk that arrives in many pieces', async () => {
      const table = uniqueName('copy_text_big')
      await sql.query(`CREATE TABLE ${table} (id text PRIMARY KEY, data text)`)
      const big = 'x'.repeat(9 * 1024 * 1024)
      async function* pieces(): AsyncIterable<Uint8Array> {
        yield Buffer.from('small\tone\nbig\t')
        for (let at = 0; at < big.length; at += 300_000) yield Buffer.from(big.slice(at, at + 300_000))
        yield Buffer.from('\nlast\tone\n')
      }
      expect(await sql.copyText(table, ['id', 'data'], pieces())).toBe(3)
      const { rows } = await sql.query(`SELECT id, length(data) AS n FROM ${table} ORDER BY id`)
      expect(rows).toEqual([
        { id: 'big', n: big.length },
        { id: 'last', n: 3 },
        { id: 'small', n: 3 },
      ])
    })

    it('abandons a streamed COPY when its source throws (nothing stored, the source error rethrown) or on a duplicate key, and stays usable', async () => {
      const table = uniqueName('copy_text_fail')
      await sql.query(`CREATE TABLE ${table} (id text PRIMARY KEY, v text)`)
      class SourceFailed extends Error {}
      async function* failing(): AsyncIterable<Uint8Array> {
        yield Buffer.from('a\t1\nb\t2\n')
        await new Promise((r) => setTimeout(r, 20))
        throw new SourceFailed('bad batch')
      }
      await expect(sql.copyText(table, ['id', 'v'], failing())).rejects.toBeInstanceOf(SourceFailed)
      await expect(
        sql.transaction(async (tx) => {
          await tx.query(`INSERT INTO ${table} VALUES ('before', '0')`)
          await tx.copyText(table, ['id', 'v'], failing())
        }),
      ).rejects.toBeInstanceOf(SourceFailed)
      await expect(sql.copyText(table, ['id', 'v'], textPieces(['c\t1\nd\t2\n', 'c\t3\n']))).rejects.toMatchObject({
        code: '23505',
      })
      await expect(sql.copyText(table, ['id', 'v'], textPieces(['e\t1\t2\n']))).rejects.toBeInstanceOf(SqlError)
      expect((await sql.query(`SELECT count(*)::int AS n FROM ${table}`)).rows).toEqual([{ n: 0 }])
      // Still usable, more times over than a pool has connections.
      for (let i = 0; i < 12; i++) {
        await expect(sql.copyText(table, ['id', 'v'], failing())).rejects.toBeInstanceOf(SourceFailed)
      }
      expect(await sql.copyText(table, ['id', 'v'], textPieces(['ok\t1\n']))).toBe(1)
      expect(await sql.copyText(table, ['id', 'v'], textPieces([]))).toBe(0)
      expect((await sql.query(`SELECT id FROM ${table}`)).rows).toEqual([{ id: 'ok' }])
    })

    it("streams COPY TO text: a query's rows as escaped, tab-separated lines, values quoted by sqlLiteral", async () => {
      const table = uniqueName('copy_out')
      await sql.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, a text, b text)`)
      await sql.copyFrom(table, ['a', 'b'], AWKWARD)
      const out = Buffer.concat(await collectBytes(sql.copyOut(`SELECT a, b FROM ${table} ORDER BY id`)))
      const escape = (v: string | null): string =>
        v === null
          ? '\\N'
          : v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('\r', '\\r').replaceAll('\t', '\\t')
      expect(out.toString('utf8')).toBe(AWKWARD.map((row) => row.map(escape).join('\t') + '\n').join(''))
      const quoted = `it's "quoted" \\ ü`
      const one = Buffer.concat(await collectBytes(sql.copyOut(`SELECT ${sqlLiteral(quoted)} AS v`)))
      expect(one.toString('utf8')).toBe(`it's "quoted" \\\\ ü\n`)
      expect(await collectBytes(sql.copyOut(`SELECT 1 WHERE false`))).toEqual([])
      expect(() => sqlLiteral('nul\0')).toThrow(TypeError)
    })

    it('streams a large COPY TO in order, frees it when the reader stops early (many times over), and reports query errors', async () => {
      const query = `SELECT g, repeat('y', 100) FROM generate_series(1, 200000) g ORDER BY g`
      let bytes = 0
      let last = ''
      for await (const chunk of sql.copyOut(query)) {
        bytes += chunk.length
        last = Buffer.from(chunk).toString('latin1')
      }
      const line = (g: number): string => `${g}\t${'y'.repeat(100)}\n`
      let expected = 0
      for (let g = 1; g <= 200_000; g++) expected += line(g).length
      expect(bytes).toBe(expected)
      expect(last.endsWith(line(200_000))).toBe(true)
      for (let i = 0; i < 12; i++) {
        for await (const chunk of sql.copyOut(query)) {
          expect(Buffer.from(chunk).toString('latin1').startsWith(line(1))).toBe(true)
          break
        }
      }
      expect((await sql.query('SELECT 2 AS n')).rows).toEqual([{ n: 2 }])
      await expect(collectBytes(sql.copyOut('SELECT nope FROM nowhere'))).rejects.toMatchObject({ code: '42P01' })
      await expect(collectBytes(sql.copyOut('SELECT 1/0'))).rejects.toMatchObject({ code: '22012' })
      expect((await sql.query('SELECT 3 AS n')).rows).toEqual([{ n: 3 }])
    })

    it('streams a cursor in batches of batchSize', async () => {
      const batches = await collect(
        sql.cursor<{ g: number }>('SELECT g FROM generate_series(1, $1::int) g ORDER BY g', [2500], {
          batchSize: 1000,
        }),
      )
      expect(batches.map((b) => b.length)).toEqual([1000, 1000, 500])
      expect(batches.flat().map((r) => r.g)).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1))
      expect((await collect(sql.cursor('SELECT 1 WHERE false', []))).length).toBe(0)
      const exact = await collect(sql.cursor('SELECT g FROM generate_series(1, 20) g', [], { batchSize: 10 }))
      expect(exact.map((b) => b.length)).toEqual([10, 10])
    })

    it('frees the cursor when the consumer breaks out early, many times over', async () => {
      // More early breaks than the PostgreSQL pool has connections: a leak would hang here.
      for (let i = 0; i < 15; i++) {
        for await (const batch of sql.cursor<{ g: number }>('SELECT g FROM generate_series(1, 100000) g', [], {
          batchSize: 10,
        })) {
          expect(batch[0].g).toBe(1)
          break
        }
      }
      if (sql.kind === 'pglite') {
        expect((await sql.query('SELECT count(*)::int AS n FROM pg_cursors')).rows).toEqual([{ n: 0 }])
      }
      expect((await sql.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }])
    })

    it('lets other queries run between the batches of a cursor', async () => {
      const seen: number[] = []
      for await (const batch of sql.cursor<{ g: number }>('SELECT g FROM generate_series(1, 30) g', [], {
        batchSize: 10,
      })) {
        const { rows } = await sql.query<{ n: number }>('SELECT $1::int AS n', [batch[0].g])
        seen.push(rows[0].n)
      }
      expect(seen).toEqual([1, 11, 21])
    })

    it('reports a cursor query error to the consumer', async () => {
      await expect(collect(sql.cursor('SELECT 1 / (g - 3) FROM generate_series(1, 5) g', []))).rejects.toMatchObject({
        code: '22012',
      })
      await expect(collect(sql.cursor('SELECT 1', [], { batchSize: 0 }))).rejects.toThrow(/batchSize/)
      await sql.ping()
    })

    it('applies migrations once, in order, and returns the names applied this time', async () => {
      const t = uniqueName('mig')
      const dir = await folder({
        [`0001_${t}_create.sql`]: `CREATE TABLE ${t} (a int);`,
        [`0002_${t}_column.sql`]: `ALTER TABLE ${t} ADD COLUMN b text;\nINSERT INTO ${t} VALUES (1, 'one');`,
        [`0010_${t}_more.sql`]: `INSERT INTO ${t} (a, b) SELECT a + 1, 'two' FROM ${t};`,
        'README.md': 'not a migration',
      })
      expect(await runMigrations(sql, dir)).toEqual([
        `0001_${t}_create.sql`,
        `0002_${t}_column.sql`,
        `0010_${t}_more.sql`,
      ])
      expect(await runMigrations(sql, dir)).toEqual([])
      expect((await sql.query(`SELECT a, b FROM ${t} ORDER BY a`)).rows).toEqual([
        { a: 1, b: 'one' },
        { a: 2, b: 'two' },
      ])
      await writeFile(join(dir, `0011_${t}_later.sql`), `INSERT INTO ${t} VALUES (3, 'three');`)
      expect(await runMigrations(sql, dir)).toEqual([`0011_${t}_later.sql`])
    })

    it('rolls back a failing migration and names its file; a fixed file applies on the next run', async () => {
      const t = uniqueName('migfail')
      const bad = `0002_${t}_bad.sql`
      const dir = await folder({
        [`0001_${t}_ok.sql`]: `CREATE TABLE ${t} (a int);`,
        [bad]: `CREATE TABLE ${t}_half (a int);\nINSERT INTO ${t} VALUES ('not a number');`,
        [`0003_${t}_after.sql`]: `INSERT INTO ${t} VALUES (3);`,
      })
      const err = await runMigrations(sql, dir).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MigrationFailed)
      expect(err).toMatchObject({ file: bad, message: expect.stringContaining(bad) })
      expect((err as MigrationFailed).cause).toMatchObject({ code: '22P02' })
      const tables = await sql.query(`SELECT to_regclass($1) AS half, to_regclass($2) AS ok`, [`${t}_half`, t])
      expect(tables.rows).toEqual([{ half: null, ok: t }])
      await writeFile(join(dir, bad), `INSERT INTO ${t} VALUES (2);`)
      expect(await runMigrations(sql, dir)).toEqual([bad, `0003_${t}_after.sql`])
      expect((await sql.query(`SELECT a FROM ${t} ORDER BY a`)).rows).toEqual([{ a: 2 }, { a: 3 }])
    })

    it('applies each migration once when two runners start at the same time', async () => {
      const t = uniqueName('migrace')
      const files: Record<string, string> = {}
      for (let i = 1; i <= 6; i++) {
        files[`000${i}_${t}_${i}.sql`] =
          i === 1 ? `CREATE TABLE ${t} (step int UNIQUE);` : `SELECT pg_sleep(0.02); INSERT INTO ${t} VALUES (${i});`
      }
      const dir = await folder(files)
      // Another server process on PostgreSQL; PGlite is one process's database, so the runners share it.
      const other = sql.kind === 'postgres' ? await makeSql() : sql
      try {
        const [a, b] = await Promise.all([runMigrations(sql, dir), runMigrations(other, dir)])
        expect([...a, ...b].sort()).toEqual(Object.keys(files).sort())
        expect((await sql.query(`SELECT count(*)::int AS n FROM ${t}`)).rows).toEqual([{ n: 5 }])
      } finally {
        if (other !== sql) await other.close()
      }
    })

    it('refuses misnamed migration files', async () => {
      const dir = await folder({ '1_too_short.sql': 'SELECT 1;' })
      await expect(runMigrations(sql, dir)).rejects.toThrow(/1_too_short\.sql .*NNNN_name\.sql/)
    })

    it('closes: later calls fail with SqlClosed, and close is idempotent', async () => {
      const own = await makeSql()
      await own.ping()
      await Promise.all([own.close(), own.close()])
      await expect(own.query('SELECT 1')).rejects.toBeInstanceOf(SqlClosed)
      await expect(own.transaction(async () => 1)).rejects.toBeInstanceOf(SqlClosed)
      await own.close()
    })
  })
}

describe('PGlite', () => {
  sqlContract('pglite', () => openTestPglite())

  it('answers a two-text-column query as raw lines in one buffer, with line ends that survive newlines in values', async () => {
    const sql = await openTestPglite()
    try {
      const table = uniqueName('text_lines')
      await sql.query(`CREATE TABLE ${table} (id text PRIMARY KEY, data text)`)
      const values: [string, string][] = [
        ['a', '{"x":1}'],
        ['b', 'two\nlines\tand a tab, ü and 🏗'],
        ['c', ''],
      ]
      for (const [id, data] of values) await sql.query(`INSERT INTO ${table} VALUES ($1, $2)`, [id, data])
      const { bytes, ends } = await sql.textLines!(`SELECT id, data FROM ${table} WHERE id <> $1 ORDER BY id`, ['z'])
      expect(bytes.toString('utf8')).toBe(values.map(([id, data]) => `${id}\t${data}\n`).join(''))
      expect([...ends]).toEqual(
        values.map((_, i) =>
          Buffer.byteLength(
            values
              .slice(0, i + 1)
              .map(([id, d]) => `${id}\t${d}\n`)
              .join(''),
          ),
        ),
      )
      expect(bytes.buffer.byteLength).toBe(bytes.length) // one buffer of its own, moved from the worker
      // An array parameter, its elements quoted (a quote and a backslash inside one).
      await sql.query(`INSERT INTO ${table} VALUES ($1, $2)`, ['q"\\', 'quoted'])
      const some = await sql.textLines!(`SELECT id, data FROM ${table} WHERE id = ANY($1::text[]) ORDER BY id`, [
        ['a', 'q"\\', 'absent'],
      ])
      expect(some.bytes.toString('utf8')).toBe('a\t{"x":1}\nq"\\\tquoted\n')
      const none = await sql.textLines!(`SELECT id, data FROM ${table} WHERE id = $1`, ['z'])
      expect([none.bytes.length, none.ends.length]).toEqual([0, 0])
      await expect(sql.textLines!('SELECT id, data FROM nowhere WHERE id = $1', ['a'])).rejects.toMatchObject({
        code: '42P01',
      })
      expect((await sql.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }])
    } finally {
      await sql.close()
    }
  })

  it('cuts streamed COPY text into whole rows of about the chunk size, each in a buffer of its own', async () => {
    const rows = Array.from({ length: 500 }, (_, i) => `row-${i}\t${'v'.repeat(i % 37)}\n`).join('')
    const source = Buffer.from(rows + 'tail\twithout newline')
    async function* pieces(): AsyncIterable<Uint8Array> {
      for (let at = 0, k = 0; at < source.length; k++) {
        const n = 1 + ((k * 53) % 211)
        yield source.subarray(at, at + n)
        at += n
      }
    }
    const chunks: Uint8Array[] = []
    for await (const chunk of copyTextChunks(pieces(), 1000)) chunks.push(chunk)
    expect(Buffer.concat(chunks).equals(source)).toBe(true)
    expect(chunks.length).toBeGreaterThan(5)
    for (const chunk of chunks.slice(0, -1)) {
      expect(chunk[chunk.length - 1]).toBe(0x0a)
      // Cut at the last row end once 1,000 bytes are gathered: within a piece (≤ 211) and a row (< 60) of it.
      expect(chunk.length).toBeGreaterThan(1000 - 211 - 60)
      expect(chunk.length).toBeLessThan(1000 + 211)
      expect(chunk.buffer.byteLength).toBe(chunk.length) // transferable without taking the source along
    }
  })

  // The heavy query runs in PGlite's worker; the main thread must keep turning its event loop meanwhile.
  // Run on the main thread, the query would block it for its whole duration (a gap as long as the query,
  // a handful of ticks). A machine loaded past its cores can deschedule the thread for a while (CI saw
  // a single 1 s gap with the suite's other files running), so the test asserts what a blocked thread can
  // never show: most ticks on time, and no gap near the query's length.
  it('keeps the main thread responsive while a heavy query runs', async () => {
    const sql = await openTestPglite()
    try {
      await sql.query('CREATE TABLE IF NOT EXISTS heavy (id int, h text)')
      const gaps: number[] = []
      let last = performance.now()
      const timer = setInterval(() => {
        const now = performance.now()
        gaps.push(now - last)
        last = now
      }, 5)
      const started = performance.now()
      const result = await sql.query('INSERT INTO heavy SELECT g, md5(g::text) FROM generate_series(1, 1000000) g')
      const elapsed = performance.now() - started
      clearInterval(timer)
      expect(result.rowCount).toBe(1_000_000)
      expect(elapsed).toBeGreaterThan(500) // the query really was heavy
      gaps.sort((a, b) => a - b)
      const median = gaps[Math.floor(gaps.length / 2)]!
      expect(gaps.length).toBeGreaterThan(elapsed / 50)
      expect(median).toBeLessThan(25)
      expect(gaps[gaps.length - 1]!).toBeLessThan(elapsed / 2)
    } finally {
      await sql.close()
    }
  })

  describe('data folder', () => {
    let root: string
    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'truss-pglite-'))
    })
    afterAll(async () => {
      await rm(root, { recursive: true, force: true })
    })

    it('opens <dataDir>/db through createSql and keeps data across reopen', async () => {
      // Seed the folder from the template: createSql on a new folder would run initdb (3–7 s).
      const seeded = await openTestPglite({ dataDir: join(root, 'db') })
      await seeded.query('CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$still here$$)')
      await seeded.close()
      const sql = await createSql({ dataDir: root, logger: silent })
      try {
        expect(sql.kind).toBe('pglite')
        expect((await sql.query('SELECT v FROM kept')).rows).toEqual([{ v: 'still here' }])
      } finally {
        await sql.close()
      }
    })

    it('restarts its worker between pieces of work once its heap grew past the limit, keeping data and open cursors', async () => {
      const lines: { msg?: string; heapMb?: number }[] = []
      const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) })
      const restarts = () => lines.filter((l) => l.msg === 'PGlite worker restarted to give back its memory')
      const sql = await createPgliteSql({
        dataDir: join(root, 'recycled'),
        loadDataDir: await pgliteTemplate(),
        logger,
        recycleHeapBytes: 400 * 2 ** 20,
      })
      // Building a 160 MB string grows the WASM heap past 400 MiB, which it never gives back by itself.
      const grow = `SELECT length(string_agg(repeat(md5(g::text), 5), '')) AS n FROM generate_series(1, 1000000) g`
      try {
        await sql.query('CREATE TABLE kept (v int); INSERT INTO kept VALUES (1), (2), (3)')
        await sql.query('CREATE TEMP TABLE session_only (v int)')
        // While a cursor is open the session must live: no restart until it is closed.
        const rows = sql.cursor<{ v: number }>('SELECT v FROM kept ORDER BY v', [], { batchSize: 1 })
        const cursor = rows[Symbol.asyncIterator]()
        expect((await cursor.next()).value).toEqual([{ v: 1 }])
        expect((await sql.query(grow)).rows).toEqual([{ n: 160_000_000 }])
        await sql.query('SELECT 1')
        expect(restarts()).toHaveLength(0)
        expect((await cursor.next()).value).toEqual([{ v: 2 }])
        await cursor.return?.()
        // The cursor's end lets the restart run; work queued meanwhile runs on the new worker.
        expect((await sql.query('SELECT count(*)::int AS n FROM kept')).rows).toEqual([{ n: 3 }])
        await vi.waitFor(() => expect(restarts()).toHaveLength(1))
        expect(restarts()[0]!.heapMb).toBeGreaterThan(400)
        // A new session: its temporary table went with the old one; the data stayed.
        await expect(sql.query('SELECT * FROM session_only')).rejects.toMatchObject({ code: '42P01' })
        expect((await sql.query('SELECT sum(v)::int AS s FROM kept')).rows).toEqual([{ s: 6 }])
        await sql.query('SELECT 1')
        expect(restarts()).toHaveLength(1) // a small heap again: no further restart
      } finally {
        await sql.close()
      }
    })

    it('takes its restart limit from TRUSS_PGLITE_RECYCLE_MB, and refuses one that is not a size', async () => {
      const dir = join(root, 'recycle-env')
      for (const bad of ['lots', '12', '256.5']) {
        process.env.TRUSS_PGLITE_RECYCLE_MB = bad
        try {
          await expect(openTestPglite({ dataDir: dir })).rejects.toMatchObject({
            name: 'SqlConfigError',
            variable: 'TRUSS_PGLITE_RECYCLE_MB',
            message: expect.stringContaining(`got "${bad}"`),
          })
        } finally {
          delete process.env.TRUSS_PGLITE_RECYCLE_MB
        }
      }
      // A 64 MiB limit: building a 32 MB string grows the WASM heap past it, so the worker restarts.
      const lines: { msg?: string }[] = []
      const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) })
      process.env.TRUSS_PGLITE_RECYCLE_MB = '64'
      try {
        const sql = await createPgliteSql({ dataDir: dir, loadDataDir: await pgliteTemplate(), logger })
        try {
          await sql.query('CREATE TABLE kept (v int); INSERT INTO kept VALUES (5)')
          const grow = `SELECT length(string_agg(repeat(md5(g::text), 2), '')) AS n FROM generate_series(1, 500000) g`
          expect((await sql.query(grow)).rows).toEqual([{ n: 32_000_000 }])
          await vi.waitFor(() =>
            expect(
              lines.filter((l) => l.msg === 'PGlite worker restarted to give back its memory').length,
            ).toBeGreaterThan(0),
          )
          expect((await sql.query('SELECT v FROM kept')).rows).toEqual([{ v: 5 }])
        } finally {
          await sql.close()
        }
      } finally {
        delete process.env.TRUSS_PGLITE_RECYCLE_MB
      }
    })

    it('initialises a new folder in a worker of its own, and serves with 32 MB of shared buffers (TRUSS_PGLITE_SETTINGS overrides)', async () => {
      const dir = join(root, 'fresh')
      const sql = await openTestPglite({ dataDir: dir })
      try {
        expect((await sql.query('SHOW shared_buffers')).rows).toEqual([{ shared_buffers: '32MB' }])
        await sql.query('CREATE TABLE fresh (v int); INSERT INTO fresh VALUES (7)')
      } finally {
        await sql.close()
      }
      process.env.TRUSS_PGLITE_SETTINGS = 'shared_buffers=16MB, work_mem=8MB'
      try {
        const again = await openTestPglite({ dataDir: dir })
        try {
          expect((await again.query('SHOW shared_buffers')).rows).toEqual([{ shared_buffers: '16MB' }])
          expect((await again.query('SHOW work_mem')).rows).toEqual([{ work_mem: '8MB' }])
          expect((await again.query('SELECT v FROM fresh')).rows).toEqual([{ v: 7 }])
        } finally {
          await again.close()
        }
        process.env.TRUSS_PGLITE_SETTINGS = 'shared_buffers'
        await expect(openTestPglite({ dataDir: dir })).rejects.toMatchObject({
          name: 'SqlConfigError',
          variable: 'TRUSS_PGLITE_SETTINGS',
          message: expect.stringContaining('name=value'),
        })
        // The folder's lock was released: it opens once the setting is fixed.
        process.env.TRUSS_PGLITE_SETTINGS = 'shared_buffers=16MB'
        const fixed = await openTestPglite({ dataDir: dir })
        await fixed.close()
      } finally {
        delete process.env.TRUSS_PGLITE_SETTINGS
      }
    })

    it('refuses a second open of the same folder in this process', async () => {
      const dir = join(root, 'twice')
      const first = await openTestPglite({ dataDir: dir })
      try {
        const second = await openTestPglite({ dataDir: dir }).catch((e: unknown) => e)
        expect(second).toBeInstanceOf(DataDirInUse)
        expect((second as Error).message).toBe(`data dir ${dir} is in use by process ${process.pid}`)
      } finally {
        await first.close()
      }
      const again = await openTestPglite({ dataDir: dir })
      await again.close()
    })

    it('refuses a folder another process has open, and takes over the lock once that process died', async () => {
      const dir = join(root, 'shared')
      const template = await pgliteTemplate()
      const parent = await createPgliteSql({ dataDir: dir, loadDataDir: template, logger: silent })
      const refused = await runChild(dir, template, 'exit')
      await parent.close()
      expect(refused.code).toBe(1)
      expect(refused.output).toContain(`data dir ${dir} is in use by process ${process.pid}`)

      // A child that opens the folder, writes, and is killed: its lock file stays behind, stale.
      const killed = await runChild(dir, template, 'hang')
      expect(killed.output).toContain('ready')
      const sql = await createPgliteSql({ dataDir: dir, loadDataDir: template, logger: silent })
      try {
        expect((await sql.query('SELECT who FROM visits')).rows).toEqual([{ who: 'child' }])
      } finally {
        await sql.close()
      }
    })
  })
})

/**
 * Open `dir` in a child node (tsx loads the TypeScript source). 'exit': print the outcome and exit
 * 1 on error. 'hang': write a row, print 'ready', and wait to be killed with SIGKILL.
 */
async function runChild(
  dir: string,
  template: string,
  mode: 'exit' | 'hang',
): Promise<{ code: number | null; output: string }> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
  const module = new URL('./pglite.ts', import.meta.url).href
  const script = `
    import { pino } from 'pino'
    const { createPgliteSql } = await import(${JSON.stringify(module)})
    try {
      const sql = await createPgliteSql({ dataDir: ${JSON.stringify(dir)}, loadDataDir: ${JSON.stringify(template)}, logger: pino({ level: 'silent' }) })
      if (${JSON.stringify(mode)} === 'hang') {
        await sql.query("CREATE TABLE visits (who text); INSERT INTO visits VALUES ('child')")
        console.log('ready')
        setInterval(() => {}, 1000)
      } else {
        await sql.close()
        console.log('opened')
      }
    } catch (err) {
      console.log(err.message)
      process.exit(1)
    }
  `
  const child = spawn(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
    if (mode === 'hang' && output.includes('ready')) child.kill('SIGKILL')
  })
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  return { code, output }
}

describe('PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof createTestPostgresDatabase>>
  beforeAll(async () => {
    database = await createTestPostgresDatabase()
  })
  afterAll(async () => {
    await database?.drop()
  })

  sqlContract('postgres', () => createSql({ databaseUrl: database.url, logger: silent }))

  it('uses at most poolSize connections', async () => {
    const sql = await createSql({ databaseUrl: database.url, poolSize: 2, logger: silent })
    try {
      const answers = await Promise.all(
        Array.from({ length: 6 }, () => sql.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_sleep(0.05)')),
      )
      expect(new Set(answers.map((a) => a.rows[0].pid)).size).toBeLessThanOrEqual(2)
    } finally {
      await sql.close()
    }
  })

  it('answers SqlBusy when no pooled connection comes free within the connect timeout, and recovers', async () => {
    const sql = await createPostgresSql({ url: database.url, poolSize: 1, connectTimeoutMs: 300, logger: silent })
    let release = () => {}
    const held = sql.transaction(() => new Promise<void>((resolve) => (release = resolve)))
    try {
      await new Promise((resolve) => setTimeout(resolve, 50))
      await expect(sql.query('SELECT 1')).rejects.toMatchObject({ name: 'SqlBusy', code: 'SQL_BUSY' })
      await expect(sql.copyText('nowhere', ['a'], (async function* () {})())).rejects.toMatchObject({
        code: 'SQL_BUSY',
      })
      release()
      await held
      expect((await sql.query('SELECT 2 AS n')).rows).toEqual([{ n: 2 }])
    } finally {
      release()
      await held.catch(() => undefined)
      await sql.close()
    }
  })

  it('refuses a DATABASE_URL that is not a postgres URL, without echoing it', async () => {
    for (const url of ['not a url with s3cret', 'mysql://user:s3cret@localhost/db']) {
      const err = await createSql({ databaseUrl: url, logger: silent }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(SqlConfigError)
      expect((err as Error).message).toMatch(/DATABASE_URL/)
      expect((err as Error).message).not.toContain('s3cret')
    }
  })

  it('names DATABASE_URL and hides the password when PostgreSQL cannot be reached', async () => {
    const err = await createSql({ databaseUrl: 'postgres://someone:s3cret@127.0.0.1:1/db', logger: silent }).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(SqlConfigError)
    expect((err as Error).message).toMatch(
      /^DATABASE_URL: cannot connect to PostgreSQL at postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/db/,
    )
    expect((err as Error).message).not.toContain('s3cret')
  })
})
