// Query and diff figures on PostgreSQL: N objects per version (default 1,000,000; BENCH_QUERY_N), two
// versions differing in 1% of objects. Objects are written straight into `objects` by generate_series
// (loading them through the upload route is objects.mjs's business), then indexed by the query service.
// Run: npx tsx packages/server/bench/query.mjs   (TRUSS_TEST_POSTGRES_URL as for tests)
import { pino } from 'pino'
import { createSql } from '../src/adapters/sql/index.ts'
import { runMigrations } from '../src/adapters/sql/migrate.ts'
import { createObjectsService } from '../src/modules/objects/service.ts'
import { createQueryService } from '../src/modules/query/service.ts'
import { createTestPostgresDatabase } from '../src/test-utils/db.ts'

const N = Number(process.env.BENCH_QUERY_N ?? 1_000_000)
const db = await createTestPostgresDatabase()
const sql = await createSql({ databaseUrl: db.url, logger: pino({ level: 'silent' }) })
const time = async (label, fn) => {
  const t = performance.now()
  const out = await fn()
  console.log(`${label}: ${(performance.now() - t).toFixed(0)} ms`, out === undefined ? '' : JSON.stringify(out))
  return out
}
try {
  await runMigrations(sql)
  const objects = createObjectsService({ sql, maxObjectBytes: 1 << 30 })
  const query = createQueryService({ sql, objects, timeBudgetMs: 30_000 })
  const P = 'benchproj'
  // Version A: objects 1..N; version B: the same but every 100th changed (same applicationId, new id).
  const child = (idExpr, h) => `SELECT '${P}', ${idExpr}, json_build_object('id', ${idExpr}, 'speckle_type',
      (ARRAY['Objects.BuiltElements.Wall','Objects.BuiltElements.Floor','Objects.BuiltElements.Beam','Objects.Other.Mesh'])[1 + i % 4],
      'applicationId', 'app-' || i, 'name', 'Element ' || i, 'height', ${h},
      'parameters', json_build_object('fireRating', json_build_object('value', CASE WHEN i % 50 = 0 THEN 'EI60' ELSE 'EI30' END)))::text
    FROM generate_series(1, ${N}) i`
  await time(`store ${N} objects (A)`, () => sql.query(`INSERT INTO objects ${child(`md5('a' || i)`, 'i % 10')}`))
  await time(`store ${N / 100} changed objects (B)`, () =>
    sql.query(
      `INSERT INTO objects ${child(`md5('b' || i)`, 'i % 10 + 100')} AND false`
        .replace(' AND false', '')
        .replace(`generate_series(1, ${N}) i`, `generate_series(1, ${N}) i WHERE i % 100 = 0`),
    ),
  )
  const root = async (name, idOf) => {
    const id = `${name}`.padEnd(32, '0')
    await sql.query(
      `INSERT INTO objects SELECT '${P}', $1, '{"id":"' || $1 || '","speckle_type":"Base","__closure":{' ||
         string_agg('"' || ${idOf} || '":1', ',') || '}}' FROM generate_series(1, ${N}) i`,
      [id],
    )
    return id
  }
  const rootA = await time('root A', () => root('aaaa', `md5('a' || i)`))
  const rootB = await time('root B', () =>
    root('bbbb', `CASE WHEN i % 100 = 0 THEN md5('b' || i) ELSE md5('a' || i) END`),
  )
  await sql.query('ANALYZE objects')
  await time('index tree A (first query)', () => query.prepare(P, rootA))
  await time('index tree B (shares 99%)', () => query.prepare(P, rootB))
  const wall = 'speckle_type = "Objects.BuiltElements.Wall"'
  for (let i = 0; i < 3; i++)
    await time('count by speckle_type', () => query.count({ projectId: P, rootId: rootA, filter: wall }))
  await time('unindexed property count', () =>
    query.count({ projectId: P, rootId: rootA, filter: "parameters.fireRating.value = 'EI60'" }),
  )
  await time('unindexed property page (100)', () =>
    query
      .find({ projectId: P, rootId: rootA, filter: "parameters.fireRating.value = 'EI60'", select: ['name'] })
      .then((p) => p.items.length),
  )
  await time('create path index', () => query.createPathIndex('parameters.fireRating.value'))
  await sql.query('ANALYZE query_props')
  for (let i = 0; i < 3; i++) {
    await time('indexed property count', () =>
      query.count({ projectId: P, rootId: rootA, filter: "parameters.fireRating.value = 'EI60'" }),
    )
  }
  await time('indexed property page (100)', () =>
    query
      .find({ projectId: P, rootId: rootA, filter: "parameters.fireRating.value = 'EI60'", select: ['name'] })
      .then((p) => p.items.length),
  )
  await time('diff A→B (first, computed)', () =>
    query
      .diff({ projectId: P, fromRootId: rootA, toRootId: rootB, limit: 100 })
      .then((d) => ({ ...d, items: d.items.length })),
  )
  await time('diff A→B (cached, a page)', () =>
    query.diff({ projectId: P, fromRootId: rootA, toRootId: rootB, limit: 100 }).then((d) => d.items.length),
  )
} finally {
  await sql.close()
  await db.drop()
}
