/**
 * COPY into PGlite through the worker's `/dev/blob` reads (pglite-worker.ts, `copyFrom`): this PGlite
 * build has the device where the worker replaces its byte-at-a-time read, and the replacement hands
 * PostgreSQL every byte of each statement's own text, across many reads, multi-byte characters included.
 */
import { createHash } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { copyFrom, fastBlobReads } from './pglite-worker.js'

describe('COPY through the worker’s /dev/blob reads', () => {
  let db: PGlite

  beforeAll(async () => {
    db = await PGlite.create()
    await db.exec('CREATE TABLE t (k text PRIMARY KEY, v text NOT NULL)')
  }, 60_000)
  afterAll(async () => {
    await db?.close()
  })

  /** `n` rows of COPY text, each value long enough that the text takes many of PostgreSQL's 64 KB reads. */
  const rows = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${prefix}${i}\t${'Gebäude 東京 🏗️ '.repeat(20)}${i}`)
  const stored = async (prefix: string) => {
    const { rows } = await db.query<{ n: number; h: string }>(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(k || E'\\t' || v, E'\\n' ORDER BY k || E'\\t' || v COLLATE "C"), '')) AS h
         FROM t WHERE k LIKE $1`,
      [`${prefix}%`],
    )
    return rows[0]!
  }
  const bytes = (lines: string[]) => new Uint8Array(Buffer.from(lines.join('\n') + '\n'))

  it('finds the device in this PGlite build (without it every COPY takes the slow path)', () => {
    expect(fastBlobReads(db)).toBe(true)
  })

  it('stores every byte of each COPY, one after another', async () => {
    const first = rows('a', 8_000)
    const second = rows('b', 3_000)
    expect(bytes(first).length).toBeGreaterThan(3_000_000)
    expect((await copyFrom(db, "COPY t FROM '/dev/blob'", bytes(first))).affectedRows).toBe(8_000)
    expect((await copyFrom(db, "COPY t FROM '/dev/blob'", bytes(second))).affectedRows).toBe(3_000)
    // The database's order is byte order (COLLATE "C"), as Buffer.compare's.
    const hashOf = (lines: string[]) =>
      createHash('md5')
        .update([...lines].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))).join('\n'))
        .digest('hex')
    expect(await stored('a')).toEqual({ n: 8_000, h: hashOf(first) })
    expect(await stored('b')).toEqual({ n: 3_000, h: hashOf(second) })
  })

  it('refuses a bad COPY with PostgreSQL’s error and stores nothing of it; the next COPY is whole', async () => {
    const good = rows('c', 10)
    const bad = [...rows('d', 500), 'only-one-column']
    await expect(copyFrom(db, "COPY t FROM '/dev/blob'", bytes(bad))).rejects.toMatchObject({ code: '22P04' })
    expect((await stored('d')).n).toBe(0)
    expect((await copyFrom(db, "COPY t FROM '/dev/blob'", bytes(good))).affectedRows).toBe(10)
    expect((await stored('c')).n).toBe(10)
  })
})
