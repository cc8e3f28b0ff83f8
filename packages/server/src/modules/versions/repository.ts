/** SQL for the `versions` and `version_receipts` tables (owned by the versions module). */
import type { SqlExecutor } from '../../adapters/sql/types.js'

export interface VersionRow {
  id: string
  project_id: string
  model_id: string
  object_id: string
  message: string | null
  source_application: string | null
  total_children_count: number | null
  parents: string[]
  author_id: string | null
  created_at: Date
}

const COLUMNS =
  'id, project_id, model_id, object_id, message, source_application, total_children_count, parents, author_id, created_at'

export async function insertVersion(
  db: SqlExecutor,
  v: {
    id: string
    projectId: string
    modelId: string
    objectId: string
    message: string | null
    sourceApplication: string | null
    totalChildrenCount: number | null
    parents: readonly string[]
    authorId: string | null
  },
): Promise<VersionRow> {
  const { rows } = await db.query<VersionRow>(
    `INSERT INTO versions (id, project_id, model_id, object_id, message, source_application, total_children_count,
                           parents, author_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[], $9) RETURNING ${COLUMNS}`,
    [
      v.id,
      v.projectId,
      v.modelId,
      v.objectId,
      v.message,
      v.sourceApplication,
      v.totalChildrenCount,
      v.parents,
      v.authorId,
    ],
  )
  return rows[0]!
}

export async function selectVersion(db: SqlExecutor, projectId: string, id: string): Promise<VersionRow | null> {
  const { rows } = await db.query<VersionRow>(`SELECT ${COLUMNS} FROM versions WHERE project_id = $1 AND id = $2`, [
    projectId,
    id,
  ])
  return rows[0] ?? null
}

export async function lockVersions(db: SqlExecutor, projectId: string, ids: readonly string[]): Promise<VersionRow[]> {
  const { rows } = await db.query<VersionRow>(
    `SELECT ${COLUMNS} FROM versions WHERE project_id = $1 AND id = ANY($2::text[]) ORDER BY id FOR UPDATE`,
    [projectId, ids],
  )
  return rows
}

export async function selectVersionsByIds(db: SqlExecutor, ids: readonly string[]): Promise<VersionRow[]> {
  const { rows } = await db.query<VersionRow>(`SELECT ${COLUMNS} FROM versions WHERE id = ANY($1::text[])`, [ids])
  return rows
}

export async function updateVersionMessage(db: SqlExecutor, id: string, message: string | null): Promise<VersionRow> {
  const { rows } = await db.query<VersionRow>(`UPDATE versions SET message = $2 WHERE id = $1 RETURNING ${COLUMNS}`, [
    id,
    message,
  ])
  return rows[0]!
}

export async function moveVersions(db: SqlExecutor, ids: readonly string[], modelId: string): Promise<void> {
  await db.query('UPDATE versions SET model_id = $2 WHERE id = ANY($1::text[])', [ids, modelId])
}

export async function deleteVersions(db: SqlExecutor, ids: readonly string[]): Promise<void> {
  await db.query('DELETE FROM versions WHERE id = ANY($1::text[])', [ids])
}

export async function insertReceipt(
  db: SqlExecutor,
  r: { versionId: string; userId: string; sourceApplication: string; message: string | null },
): Promise<void> {
  await db.query(
    'INSERT INTO version_receipts (version_id, user_id, source_application, message) VALUES ($1, $2, $3, $4)',
    [r.versionId, r.userId, r.sourceApplication, r.message],
  )
}

/** Newest first, keyset on (created_at, id), of one model or a whole project. */
export async function selectVersions(
  db: SqlExecutor,
  scope: { column: 'model_id' | 'project_id'; value: string },
  options: { limit: number; after: { sortKey: string; id: string } | null },
): Promise<{ rows: (VersionRow & { sort_key: string })[]; totalCount: number }> {
  const where = `${scope.column} = $1`
  const params: unknown[] = [scope.value]
  let keyset = ''
  if (options.after) {
    params.push(options.after.sortKey, options.after.id)
    keyset = ` AND (created_at, id) < ($2::timestamptz, $3)`
  }
  params.push(options.limit + 1)
  // The total and the page in one round trip: the count's single row, LEFT JOINed to the page (a row of
  // NULLs when the page is empty).
  const { rows } = await db.query<VersionRow & { sort_key: string; total_count: number }>(
    `SELECT c.total_count, v.* FROM (SELECT count(*)::int AS total_count FROM versions WHERE ${where}) c
     LEFT JOIN LATERAL (
       SELECT ${COLUMNS}, created_at::text AS sort_key FROM versions WHERE ${where}${keyset}
       ORDER BY created_at DESC, id DESC LIMIT $${params.length}
     ) v ON true
     ORDER BY v.created_at DESC, v.id DESC`,
    params,
  )
  return { rows: rows.filter((r) => r.id !== null), totalCount: rows[0]?.total_count ?? 0 }
}

/** Version counts per model, for the models given. */
export async function countVersionsByModel(db: SqlExecutor, modelIds: readonly string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ model_id: string; n: number }>(
    'SELECT model_id, count(*)::int AS n FROM versions WHERE model_id = ANY($1::text[]) GROUP BY model_id',
    [modelIds],
  )
  return new Map(rows.map((r) => [r.model_id, r.n]))
}

/**
 * The newest `limit` versions of each model given, in one query (a LATERAL index scan per model on
 * versions_model_created): what a list of models asks for when each shows its latest versions.
 */
export async function selectFirstVersionsOfModels(
  db: SqlExecutor,
  modelIds: readonly string[],
  limit: number,
): Promise<(VersionRow & { sort_key: string })[]> {
  const { rows } = await db.query<VersionRow & { sort_key: string }>(
    `SELECT v.*, v.created_at::text AS sort_key
     FROM unnest($1::text[]) AS m(id)
     CROSS JOIN LATERAL (
       SELECT ${COLUMNS} FROM versions WHERE model_id = m.id ORDER BY created_at DESC, id DESC LIMIT $2
     ) v`,
    [modelIds, limit],
  )
  return rows
}

/** The distinct source applications of each project's versions, sorted. */
export async function selectSourceApps(
  db: SqlExecutor,
  projectIds: readonly string[],
): Promise<{ project_id: string; source_application: string }[]> {
  const { rows } = await db.query<{ project_id: string; source_application: string }>(
    `SELECT DISTINCT project_id, source_application FROM versions
     WHERE project_id = ANY($1::text[]) AND source_application IS NOT NULL
     ORDER BY project_id, source_application`,
    [projectIds],
  )
  return rows
}
