/**
 * SQL of the query module: the index of version trees (`query_roots`, `query_members`, `query_props`), the
 * filtered reads over it, and cached diffs. The index is derived from the objects table, which this file
 * reads (and only reads) while indexing a tree: joining a million ids against it in the database is the
 * only way to index a tree in seconds, and the objects module's API streams whole objects.
 */
import type { Sql, SqlExecutor } from '../../adapters/sql/types.js'
import { columnOf, compileFilter, readsProps, type FilterNode } from './filter.js'

/** Objects longer than this are indexed by their type only (a root's `__closure` runs to 100+ MB). */
const LARGE_OBJECT_BYTES = 4 * 1024 * 1024

export interface RootClaim {
  key: number
  state: 'building' | 'ready' | 'failed'
  /** This caller claimed the build (a new root, a failed one, or a build that stalled). */
  mine: boolean
  error: string | null
}

export interface MemberRow {
  object_id: string
  speckle_type: string | null
  application_id: string | null
  props?: Record<string, unknown>
  [selected: `s${number}`]: unknown
}

export interface DiffCounts {
  added: number
  removed: number
  changed: number
  unchanged: number
}

export interface DiffItemRow {
  kind: number
  object_id: string
  previous_id: string | null
  application_id: string | null
  speckle_type: string | null
}

/** What a read selects: whole JSON, or these paths (`s0`, `s1`, … in the row). */
export type Selection = { all: true } | { all: false; paths: string[][] }

function* rows(key: number, ids: readonly string[]): Iterable<[string, string]> {
  const k = String(key)
  for (const id of ids) yield [k, id]
}

export function createQueryRepository(sql: Sql) {
  /** Claim a root's build, or learn its state. Stalled builds (15 minutes) and failed ones are claimed again. */
  async function claimRoot(projectId: string, rootId: string): Promise<RootClaim> {
    const claimed = await sql.query<{ key: string }>(
      `INSERT INTO query_roots (project_id, root_id, state) VALUES ($1, $2, 'building')
       ON CONFLICT (project_id, root_id) DO UPDATE SET state = 'building', started_at = clock_timestamp(), error = NULL
         WHERE query_roots.state = 'failed'
            OR (query_roots.state = 'building' AND query_roots.started_at < clock_timestamp() - interval '15 minutes')
       RETURNING key`,
      [projectId, rootId],
    )
    if (claimed.rows[0]) return { key: Number(claimed.rows[0].key), state: 'building', mine: true, error: null }
    const { rows: found } = await sql.query<{ key: string; state: RootClaim['state']; error: string | null }>(
      'SELECT key, state, error FROM query_roots WHERE project_id = $1 AND root_id = $2',
      [projectId, rootId],
    )
    const row = found[0]
    if (!row) return claimRoot(projectId, rootId) // deleted meanwhile
    return { key: Number(row.key), state: row.state, mine: false, error: row.error }
  }

  /** Forget what an earlier, abandoned build of `key` left. */
  async function clearBuild(key: number): Promise<void> {
    await sql.query('DELETE FROM query_staging WHERE root_key = $1', [key])
    await sql.query('DELETE FROM query_members WHERE root_key = $1', [key])
  }

  async function stage(key: number, ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await sql.copyFrom('query_staging', ['root_key', 'object_id'], rows(key, ids))
  }

  /**
   * Turn the staged ids into members, in one transaction: each object's JSON once per project as jsonb
   * (objects already indexed by another version are not parsed again), then the member rows. Ids not
   * stored are skipped. Returns the member count.
   */
  async function loadStaged(projectId: string, key: number): Promise<number> {
    const count = await sql.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO query_props (project_id, id, props)
         SELECT $1, o.id,
                CASE WHEN octet_length(o.data) > ${LARGE_OBJECT_BYTES}
                  THEN jsonb_build_object('id', o.id, 'speckle_type',
                         substring(o.data FROM '"speckle_type"\\s*:\\s*"([^"\\\\]*)"'))
                  -- An object stored in pieces (objects/repository.ts, PIECES_MARK): its type from its first piece.
                  WHEN left(o.data, 18) = '{"__truss_pieces":'
                  THEN jsonb_build_object('id', o.id, 'speckle_type',
                         (SELECT substring(f.data FROM '"speckle_type"\\s*:\\s*"([^"\\\\]*)"')
                          FROM objects f WHERE f.project_id = $1 AND f.id = o.id || '.000000'))
                  ELSE o.data::jsonb - '__closure' END
         FROM (SELECT DISTINCT object_id FROM query_staging WHERE root_key = $2) s
         JOIN objects o ON o.project_id = $1 AND o.id = s.object_id
         WHERE NOT EXISTS (SELECT 1 FROM query_props p WHERE p.project_id = $1 AND p.id = s.object_id)
         ON CONFLICT DO NOTHING`,
        [projectId, key],
      )
      const inserted = await tx.query(
        `INSERT INTO query_members (root_key, object_id, speckle_type, application_id)
         SELECT $2, p.id, p.props ->> 'speckle_type', p.props ->> 'applicationId'
         FROM (SELECT DISTINCT object_id FROM query_staging WHERE root_key = $2) s
         JOIN query_props p ON p.project_id = $1 AND p.id = s.object_id
         ON CONFLICT DO NOTHING`,
        [projectId, key],
      )
      await tx.query('DELETE FROM query_staging WHERE root_key = $1', [key])
      await tx.query(
        `UPDATE query_roots SET state = 'ready', object_count = $2, built_at = clock_timestamp() WHERE key = $1`,
        [key, inserted.rowCount],
      )
      return inserted.rowCount
    })
    // Fresh statistics for the planner once a large tree lands (autovacuum would get there later).
    if (count >= 50_000) await sql.query('ANALYZE query_members, query_props')
    return count
  }

  async function failBuild(key: number, message: string): Promise<void> {
    await sql.query('DELETE FROM query_staging WHERE root_key = $1', [key])
    await sql.query(`UPDATE query_roots SET state = 'failed', error = $2 WHERE key = $1`, [key, message.slice(0, 1000)])
  }

  /**
   * The members, joined to their JSON when a read needs it. Without the join `$1` (the project) is still
   * referenced, typed: PostgreSQL refuses a parameter it cannot type.
   */
  function fromClause(joinProps: boolean): string {
    return joinProps
      ? 'query_members m JOIN query_props p ON p.project_id = $1::text AND p.id = m.object_id'
      : 'query_members m CROSS JOIN (SELECT $1::text AS project_id) p0'
  }

  /** Columns and joins of a read: `$1` project, `$2` root key; selections numbered from `firstParam`. */
  function readShape(selection: Selection, filterReadsProps: boolean, firstParam: number) {
    const params: unknown[] = []
    const columns = ['m.object_id', 'm.speckle_type', 'm.application_id']
    let joinProps = filterReadsProps
    if (selection.all) {
      columns.push('p.props')
      joinProps = true
    } else {
      selection.paths.forEach((path, i) => {
        const column = columnOf(path)
        if (column !== undefined) {
          columns.push(`${column} AS s${i}`)
        } else {
          params.push(path)
          columns.push(`p.props #> $${firstParam + params.length - 1}::text[] AS s${i}`)
          joinProps = true
        }
      })
    }
    return { columns: columns.join(', '), from: fromClause(joinProps), params }
  }

  /**
   * One page of members matching `filter` with ids after `after` (and at most `upTo`), ordered by id.
   * `db` may be a transaction that set a statement timeout.
   */
  async function page(
    db: SqlExecutor,
    q: {
      projectId: string
      key: number
      filter: FilterNode | null
      selection: Selection
      after: string | null
      upTo: string | null
      limit: number
    },
  ): Promise<MemberRow[]> {
    // $1 project, $2 root, $3 after, $4 up to, $5 limit, then the filter's, then the selection's.
    const filter = q.filter ? compileFilter(q.filter, 6) : null
    const shape = readShape(q.selection, filter?.readsProps ?? false, 6 + (filter?.params.length ?? 0))
    const { rows: found } = await db.query<MemberRow>(
      `SELECT ${shape.columns} FROM ${shape.from}
       WHERE m.root_key = $2 AND m.object_id > $3::text AND ($4::text IS NULL OR m.object_id <= $4::text)
         ${filter ? `AND ${filter.where}` : ''}
       ORDER BY m.object_id LIMIT $5`,
      [q.projectId, q.key, q.after ?? '', q.upTo, q.limit, ...(filter?.params ?? []), ...shape.params],
    )
    return found
  }

  /** How many members match `filter` (ids in `(after, upTo]` when given). */
  async function count(
    db: SqlExecutor,
    q: { projectId: string; key: number; filter: FilterNode | null; after?: string | null; upTo?: string | null },
  ): Promise<number> {
    const filter = q.filter ? compileFilter(q.filter, 5) : null
    const { rows: found } = await db.query<{ n: string | number }>(
      `SELECT count(*) AS n FROM ${fromClause(q.filter ? readsProps(q.filter) : false)}
       WHERE m.root_key = $2 AND ($3::text IS NULL OR m.object_id > $3::text) AND ($4::text IS NULL OR m.object_id <= $4::text)
         ${filter ? `AND ${filter.where}` : ''}`,
      [q.projectId, q.key, q.after ?? null, q.upTo ?? null, ...(filter?.params ?? [])],
    )
    return Number(found[0]?.n ?? 0)
  }

  /** The id `size` members after `after` (the end of a scan chunk); null when fewer remain. */
  async function chunkEnd(key: number, after: string | null, size: number): Promise<string | null> {
    const { rows: found } = await sql.query<{ object_id: string }>(
      'SELECT object_id FROM query_members WHERE root_key = $1 AND object_id > $2 ORDER BY object_id OFFSET $3 LIMIT 1',
      [key, after ?? '', size - 1],
    )
    return found[0]?.object_id ?? null
  }

  /**
   * The diff from root `fromKey` to root `toKey`, computed once and kept. Objects in both trees (same id)
   * are unchanged; of the rest, those sharing an applicationId pair up as changed (in id order when an
   * applicationId repeats); what remains is added (only in `to`) or removed (only in `from`).
   */
  async function diff(fromKey: number, toKey: number): Promise<{ key: number; counts: DiffCounts }> {
    const existing = await diffRow(fromKey, toKey)
    if (existing) return existing
    await sql.transaction(async (tx) => {
      const made = await tx.query<{ key: string }>(
        `INSERT INTO query_diffs (from_key, to_key, added, removed, changed, unchanged) VALUES ($1, $2, 0, 0, 0, 0)
         ON CONFLICT DO NOTHING RETURNING key`,
        [fromKey, toKey],
      )
      const key = made.rows[0]?.key
      if (key === undefined) return // another request computed it meanwhile
      await tx.query(
        `INSERT INTO query_diff_items (diff_key, kind, object_id, previous_id, application_id, speckle_type)
         WITH a_only AS MATERIALIZED (
           SELECT a.object_id, a.application_id, a.speckle_type FROM query_members a
           WHERE a.root_key = $2 AND a.object_id <> (SELECT root_id FROM query_roots WHERE key = $2)
             AND NOT EXISTS (SELECT 1 FROM query_members b WHERE b.root_key = $3 AND b.object_id = a.object_id)
         ), b_only AS MATERIALIZED (
           SELECT b.object_id, b.application_id, b.speckle_type FROM query_members b
           WHERE b.root_key = $3 AND b.object_id <> (SELECT root_id FROM query_roots WHERE key = $3)
             AND NOT EXISTS (SELECT 1 FROM query_members a WHERE a.root_key = $2 AND a.object_id = b.object_id)
         ), pairs AS MATERIALIZED (
           SELECT y.object_id, x.object_id AS previous_id, y.application_id, y.speckle_type
           FROM (SELECT *, row_number() OVER (PARTITION BY application_id ORDER BY object_id) AS n
                 FROM a_only WHERE application_id IS NOT NULL) x
           JOIN (SELECT *, row_number() OVER (PARTITION BY application_id ORDER BY object_id) AS n
                 FROM b_only WHERE application_id IS NOT NULL) y
             ON y.application_id = x.application_id AND y.n = x.n
         )
         SELECT $1::bigint, 2, object_id, previous_id, application_id, speckle_type FROM pairs
         UNION ALL
         SELECT $1::bigint, 0, b.object_id, NULL, b.application_id, b.speckle_type FROM b_only b
         WHERE NOT EXISTS (SELECT 1 FROM pairs WHERE pairs.object_id = b.object_id)
         UNION ALL
         SELECT $1::bigint, 1, a.object_id, NULL, a.application_id, a.speckle_type FROM a_only a
         WHERE NOT EXISTS (SELECT 1 FROM pairs WHERE pairs.previous_id = a.object_id)`,
        [key, fromKey, toKey],
      )
      await tx.query(
        `UPDATE query_diffs d SET added = c.added, removed = c.removed, changed = c.changed,
           -- The roots (the versions' containers, always different) are left out of the diff.
           unchanged = (SELECT object_count - 1 FROM query_roots WHERE key = $2) - c.added - c.changed
         FROM (SELECT count(*) FILTER (WHERE kind = 0)::int AS added, count(*) FILTER (WHERE kind = 1)::int AS removed,
                      count(*) FILTER (WHERE kind = 2)::int AS changed
               FROM query_diff_items WHERE diff_key = $1) c
         WHERE d.key = $1`,
        [key, toKey],
      )
    })
    const made = await diffRow(fromKey, toKey)
    if (!made) throw new Error('diff row missing after its transaction committed')
    return made
  }

  async function diffRow(fromKey: number, toKey: number): Promise<{ key: number; counts: DiffCounts } | null> {
    const { rows: found } = await sql.query<{ key: string } & DiffCounts>(
      'SELECT key, added, removed, changed, unchanged FROM query_diffs WHERE from_key = $1 AND to_key = $2',
      [fromKey, toKey],
    )
    const r = found[0]
    if (!r) return null
    return {
      key: Number(r.key),
      counts: { added: r.added, removed: r.removed, changed: r.changed, unchanged: r.unchanged },
    }
  }

  /** A page of a diff's items ordered by (kind, id), after the keyset `after`, of the given kinds. */
  async function diffItems(
    diffKey: number,
    after: { kind: number; id: string } | null,
    kinds: readonly number[],
    limit: number,
  ): Promise<DiffItemRow[]> {
    const { rows: found } = await sql.query<DiffItemRow>(
      `SELECT kind, object_id, previous_id, application_id, speckle_type FROM query_diff_items
       WHERE diff_key = $1 AND (kind, object_id) > ($2::smallint, $3::text) AND kind = ANY($4::smallint[])
       ORDER BY kind, object_id LIMIT $5`,
      [diffKey, after?.kind ?? -1, after?.id ?? '', kinds, limit],
    )
    return found
  }

  /**
   * Run DDL an admin asked for (an expression index). `CONCURRENTLY` on PostgreSQL, so queries and
   * uploads go on while it builds; PGlite has one connection, so a plain build there.
   */
  async function createIndex(name: string, expression: string): Promise<void> {
    const concurrently = sql.kind === 'postgres' ? 'CONCURRENTLY ' : ''
    await sql.query(`CREATE INDEX ${concurrently}IF NOT EXISTS ${name} ON query_props (${expression})`)
  }

  async function dropIndex(name: string): Promise<void> {
    const concurrently = sql.kind === 'postgres' ? 'CONCURRENTLY ' : ''
    await sql.query(`DROP INDEX ${concurrently}IF EXISTS ${name}`)
  }

  async function listIndexes(prefix: string): Promise<{ name: string; definition: string; valid: boolean }[]> {
    const { rows: found } = await sql.query<{ name: string; definition: string; valid: boolean }>(
      `SELECT c.relname AS name, pg_get_indexdef(c.oid) AS definition, i.indisvalid AS valid
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
       WHERE t.relname = 'query_props' AND c.relname LIKE $1 ORDER BY c.relname`,
      [`${prefix}%`],
    )
    return found
  }

  return {
    claimRoot,
    clearBuild,
    stage,
    loadStaged,
    failBuild,
    page,
    count,
    chunkEnd,
    diff,
    diffItems,
    createIndex,
    dropIndex,
    listIndexes,
  }
}

export type QueryRepository = ReturnType<typeof createQueryRepository>
