/**
 * SQL for the `models` table (Speckle "branches"; created in 0001 with the projects, owned by the models
 * module). The listing filters that look at versions read the versions table through EXISTS, which keeps
 * one query per page.
 */
import type { SqlExecutor } from '../../adapters/sql/types.js'
import { likePattern } from '../projects/repository.js'

export interface ModelRow {
  id: string
  project_id: string
  name: string
  description: string | null
  author_id: string | null
  created_at: Date
  updated_at: Date
}

const COLUMNS = 'id, project_id, name, description, author_id, created_at, updated_at'

export async function insertModel(
  db: SqlExecutor,
  model: { id: string; projectId: string; name: string; description: string | null; authorId: string | null },
): Promise<ModelRow> {
  const { rows } = await db.query<ModelRow>(
    `INSERT INTO models (id, project_id, name, description, author_id) VALUES ($1, $2, $3, $4, $5)
     RETURNING ${COLUMNS}`,
    [model.id, model.projectId, model.name, model.description, model.authorId],
  )
  return rows[0]!
}

export async function selectModel(db: SqlExecutor, projectId: string, id: string): Promise<ModelRow | null> {
  const { rows } = await db.query<ModelRow>(`SELECT ${COLUMNS} FROM models WHERE project_id = $1 AND id = $2`, [
    projectId,
    id,
  ])
  return rows[0] ?? null
}

export async function lockModel(db: SqlExecutor, projectId: string, id: string): Promise<ModelRow | null> {
  const { rows } = await db.query<ModelRow>(
    `SELECT ${COLUMNS} FROM models WHERE project_id = $1 AND id = $2 FOR UPDATE`,
    [projectId, id],
  )
  return rows[0] ?? null
}

export async function selectModelByName(db: SqlExecutor, projectId: string, name: string): Promise<ModelRow | null> {
  const { rows } = await db.query<ModelRow>(
    `SELECT ${COLUMNS} FROM models WHERE project_id = $1 AND lower(name) = lower($2)`,
    [projectId, name],
  )
  return rows[0] ?? null
}

export async function selectModelsByIds(db: SqlExecutor, ids: readonly string[]): Promise<ModelRow[]> {
  const { rows } = await db.query<ModelRow>(`SELECT ${COLUMNS} FROM models WHERE id = ANY($1::text[])`, [ids])
  return rows
}

export async function updateModel(
  db: SqlExecutor,
  projectId: string,
  id: string,
  changes: { name?: string; description?: string | null },
): Promise<ModelRow | null> {
  const { rows } = await db.query<ModelRow>(
    `UPDATE models SET
       name = CASE WHEN $3::boolean THEN $4 ELSE name END,
       description = CASE WHEN $5::boolean THEN $6 ELSE description END,
       updated_at = now()
     WHERE project_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [
      projectId,
      id,
      changes.name !== undefined,
      changes.name ?? null,
      changes.description !== undefined,
      changes.description ?? null,
    ],
  )
  return rows[0] ?? null
}

export async function deleteModel(db: SqlExecutor, projectId: string, id: string): Promise<boolean> {
  const { rows } = await db.query('DELETE FROM models WHERE project_id = $1 AND id = $2 RETURNING id', [projectId, id])
  return rows.length === 1
}

export async function touchModel(db: SqlExecutor, id: string): Promise<void> {
  await db.query('UPDATE models SET updated_at = now() WHERE id = $1', [id])
}

export interface ModelFilter {
  search?: string | null
  ids?: readonly string[] | null
  excludeIds?: readonly string[] | null
  onlyWithVersions?: boolean | null
  sourceApps?: readonly string[] | null
  contributors?: readonly string[] | null
}

/** A project's models, most recently updated first, keyset on (updated_at, id). */
export async function selectModels(
  db: SqlExecutor,
  projectId: string,
  filter: ModelFilter,
  options: { limit: number; after: { sortKey: string; id: string } | null },
): Promise<{ rows: (ModelRow & { sort_key: string })[]; totalCount: number }> {
  const params: unknown[] = [projectId]
  const where = ['m.project_id = $1']
  const add = (value: unknown, clause: (p: string) => string) => {
    params.push(value)
    where.push(clause(`$${params.length}`))
  }
  if (filter.search) add(likePattern(filter.search), (p) => `m.name ILIKE ${p}`)
  if (filter.ids && filter.ids.length > 0) add(filter.ids, (p) => `m.id = ANY(${p}::text[])`)
  if (filter.excludeIds && filter.excludeIds.length > 0) add(filter.excludeIds, (p) => `m.id <> ALL(${p}::text[])`)
  if (filter.onlyWithVersions) where.push('EXISTS (SELECT 1 FROM versions v WHERE v.model_id = m.id)')
  if (filter.sourceApps && filter.sourceApps.length > 0) {
    add(
      filter.sourceApps.map((a) => likePattern(a)),
      (p) =>
        `EXISTS (SELECT 1 FROM versions v WHERE v.model_id = m.id AND v.source_application ILIKE ANY(${p}::text[]))`,
    )
  }
  if (filter.contributors && filter.contributors.length > 0) {
    add(
      filter.contributors,
      (p) => `EXISTS (SELECT 1 FROM versions v WHERE v.model_id = m.id AND v.author_id = ANY(${p}::text[]))`,
    )
  }
  const whereSql = where.join(' AND ')
  let keyset = ''
  if (options.after) {
    params.push(options.after.sortKey, options.after.id)
    keyset = ` AND (m.updated_at, m.id) < ($${params.length - 1}::timestamptz, $${params.length})`
  }
  params.push(options.limit + 1)
  // The total and the page in one round trip (see selectVersions).
  const { rows } = await db.query<ModelRow & { sort_key: string; total_count: number }>(
    `SELECT c.total_count, p.* FROM (SELECT count(*)::int AS total_count FROM models m WHERE ${whereSql}) c
     LEFT JOIN LATERAL (
       SELECT m.id, m.project_id, m.name, m.description, m.author_id, m.created_at, m.updated_at,
              m.updated_at::text AS sort_key
       FROM models m WHERE ${whereSql}${keyset}
       ORDER BY m.updated_at DESC, m.id DESC LIMIT $${params.length}
     ) p ON true
     ORDER BY p.updated_at DESC, p.id DESC`,
    params,
  )
  return { rows: rows.filter((r) => r.id !== null), totalCount: rows[0]?.total_count ?? 0 }
}

/**
 * The first page (most recently updated first) of each project's models, in one query (a LATERAL scan
 * per project on models_project_updated), with each project's model count.
 */
export async function selectFirstModelsOfProjects(
  db: SqlExecutor,
  projectIds: readonly string[],
  limit: number,
): Promise<{ rows: (ModelRow & { sort_key: string })[]; counts: Map<string, number> }> {
  const [{ rows }, { rows: counts }] = await Promise.all([
    db.query<ModelRow & { sort_key: string }>(
      `SELECT m.*, m.updated_at::text AS sort_key
       FROM unnest($1::text[]) AS p(id)
       CROSS JOIN LATERAL (
         SELECT ${COLUMNS} FROM models WHERE project_id = p.id ORDER BY updated_at DESC, id DESC LIMIT $2
       ) m`,
      [projectIds, limit],
    ),
    db.query<{ project_id: string; n: number }>(
      'SELECT project_id, count(*)::int AS n FROM models WHERE project_id = ANY($1::text[]) GROUP BY project_id',
      [projectIds],
    ),
  ])
  return { rows, counts: new Map(counts.map((r) => [r.project_id, r.n])) }
}

/**
 * One level of the models tree under each parent name ('' for the top level): the distinct next name
 * segments of the models below it, with the latest `updated_at` among them, whether deeper models exist,
 * and (for the empty-`main` rule) how many models the segment covers and whether that one has versions.
 * Names match their parent case-insensitively, as model names are unique whatever their case.
 */
export interface TreeLevelRow {
  project_id: string
  parent: string
  part: string
  updated_at: Date
  sort_key: string
  has_children: boolean
  bare_empty_main: boolean
  total_count: number
}

const TREE_LEVEL_CTE = `
  tree_parts AS (
    SELECT p.project_id, p.parent, m.id, m.updated_at,
           CASE WHEN p.parent = '' THEN m.name ELSE substr(m.name, length(p.parent) + 2) END AS rest
    FROM unnest($1::text[], $2::text[]) AS p(project_id, parent)
    JOIN models m ON m.project_id = p.project_id
      AND (p.parent = '' OR left(lower(m.name), length(p.parent) + 1) = lower(p.parent) || '/')
  ),
  tree_groups AS (
    SELECT project_id, parent, split_part(rest, '/', 1) AS part, max(updated_at) AS updated_at,
           bool_or(position('/' in rest) > 0) AS has_children,
           (parent = '' AND count(*) = 1 AND bool_and(lower(rest) = 'main')) AS lone_main,
           (array_agg(id))[1] AS first_id
    FROM tree_parts GROUP BY project_id, parent, split_part(rest, '/', 1)
  ),
  tree_level AS (
    SELECT project_id, parent, part, updated_at, has_children,
           lone_main AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.model_id = first_id) AS bare_empty_main
    FROM tree_groups
  )`

/**
 * Every tree item under each (project, parent name) pair, in one query (no paging: a level is bounded by
 * its project's models).
 */
export async function selectTreeLevels(
  db: SqlExecutor,
  projectIds: readonly string[],
  parents: readonly string[],
): Promise<TreeLevelRow[]> {
  const { rows } = await db.query<TreeLevelRow>(
    `WITH ${TREE_LEVEL_CTE}
     SELECT *, updated_at::text AS sort_key, 0 AS total_count FROM tree_level
     WHERE NOT bare_empty_main ORDER BY updated_at DESC, part`,
    [projectIds, parents],
  )
  return rows
}

/** A page of the top level, most recently updated first, keyset on (updated_at, part), with the total. */
export async function selectTreeTopLevel(
  db: SqlExecutor,
  projectId: string,
  options: { limit: number; after: { sortKey: string; id: string } | null },
): Promise<{ rows: TreeLevelRow[]; totalCount: number }> {
  const params: unknown[] = [[projectId], ['']]
  let keyset = ''
  if (options.after) {
    params.push(options.after.sortKey, options.after.id)
    keyset = ` AND (updated_at < $3::timestamptz OR (updated_at = $3::timestamptz AND part > $4))`
  }
  params.push(options.limit + 1)
  const { rows } = await db.query<TreeLevelRow>(
    `WITH ${TREE_LEVEL_CTE}, visible AS (SELECT * FROM tree_level WHERE NOT bare_empty_main)
     SELECT c.total_count, t.* FROM (SELECT count(*)::int AS total_count FROM visible) c
     LEFT JOIN LATERAL (
       SELECT *, updated_at::text AS sort_key FROM visible WHERE true${keyset}
       ORDER BY updated_at DESC, part LIMIT $${params.length}
     ) t ON true
     ORDER BY t.updated_at DESC, t.part`,
    params,
  )
  return { rows: rows.filter((r) => r.part !== null), totalCount: rows[0]?.total_count ?? 0 }
}

/** Whether each model has models below it (`name/…`). */
export async function selectHaveChildren(db: SqlExecutor, projectId: string, names: readonly string[]) {
  const { rows } = await db.query<{ name: string }>(
    `SELECT DISTINCT p.name FROM unnest($2::text[]) AS p(name)
     JOIN models c ON c.project_id = $1 AND left(lower(c.name), length(p.name) + 1) = lower(p.name) || '/'`,
    [projectId, names],
  )
  return new Set(rows.map((r) => r.name))
}

/** Models by (project, name) pairs, names case-insensitive, in one query. */
export async function selectModelsByNames(
  db: SqlExecutor,
  projectIds: readonly string[],
  names: readonly string[],
): Promise<ModelRow[]> {
  const { rows } = await db.query<ModelRow>(
    `SELECT ${COLUMNS.split(', ')
      .map((c) => `m.${c}`)
      .join(', ')} FROM unnest($1::text[], $2::text[]) AS p(project_id, name)
     JOIN models m ON m.project_id = p.project_id AND lower(m.name) = p.name`,
    [projectIds, names.map((n) => n.toLowerCase())],
  )
  return rows
}
