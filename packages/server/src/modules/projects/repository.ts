/** SQL for the `projects`, `project_roles` and `models` tables (owned by the projects module). */
import type { SqlExecutor } from '../../adapters/sql/types.js'
import type { ProjectRole, ProjectVisibility } from './types.js'

export interface ProjectRow {
  id: string
  name: string
  description: string | null
  visibility: ProjectVisibility
  created_at: Date
  updated_at: Date
}

const PROJECT_COLUMNS = 'id, name, description, visibility, created_at, updated_at'

export async function insertProject(
  db: SqlExecutor,
  project: { id: string; name: string; description: string | null; visibility: ProjectVisibility },
): Promise<ProjectRow> {
  const { rows } = await db.query<ProjectRow>(
    `INSERT INTO projects (id, name, description, visibility) VALUES ($1, $2, $3, $4) RETURNING ${PROJECT_COLUMNS}`,
    [project.id, project.name, project.description, project.visibility],
  )
  return rows[0]
}

export async function insertModel(
  db: SqlExecutor,
  model: { id: string; projectId: string; name: string; authorId: string },
): Promise<void> {
  await db.query('INSERT INTO models (id, project_id, name, author_id) VALUES ($1, $2, $3, $4)', [
    model.id,
    model.projectId,
    model.name,
    model.authorId,
  ])
}

/** Give a user a role on a project (replacing any other); false when the project or user does not exist. */
export async function upsertRole(
  db: SqlExecutor,
  grant: { projectId: string; userId: string; role: ProjectRole },
): Promise<boolean> {
  // INSERT … SELECT: an unknown project or user inserts nothing instead of failing a foreign key.
  const { rows } = await db.query(
    `INSERT INTO project_roles (project_id, user_id, role)
     SELECT p.id, u.id, $3 FROM projects p, users u WHERE p.id = $1 AND u.id = $2
     ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role
     RETURNING role`,
    [grant.projectId, grant.userId, grant.role],
  )
  return rows.length === 1
}

export async function deleteRole(db: SqlExecutor, projectId: string, userId: string): Promise<boolean> {
  const { rows } = await db.query('DELETE FROM project_roles WHERE project_id = $1 AND user_id = $2 RETURNING role', [
    projectId,
    userId,
  ])
  return rows.length === 1
}

export async function selectProject(db: SqlExecutor, id: string): Promise<ProjectRow | null> {
  const { rows } = await db.query<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE id = $1`, [id])
  return rows[0] ?? null
}

export interface AccessRow {
  id: string
  name: string
  visibility: ProjectVisibility
  role: ProjectRole | null
}

/** The project and the user's role on it, in one query; null when the project does not exist. */
export async function selectAccess(
  db: SqlExecutor,
  projectId: string,
  userId: string | null,
): Promise<AccessRow | null> {
  const { rows } = await db.query<AccessRow>(
    `SELECT p.id, p.name, p.visibility, r.role
     FROM projects p LEFT JOIN project_roles r ON r.project_id = p.id AND r.user_id = $2
     WHERE p.id = $1`,
    [projectId, userId],
  )
  return rows[0] ?? null
}

export async function updateProject(
  db: SqlExecutor,
  id: string,
  changes: { name?: string; description?: string | null; visibility?: ProjectVisibility },
): Promise<ProjectRow | null> {
  const { rows } = await db.query<ProjectRow>(
    `UPDATE projects SET
       name = CASE WHEN $2::boolean THEN $3 ELSE name END,
       description = CASE WHEN $4::boolean THEN $5 ELSE description END,
       visibility = CASE WHEN $6::boolean THEN $7 ELSE visibility END,
       updated_at = now()
     WHERE id = $1 RETURNING ${PROJECT_COLUMNS}`,
    [
      id,
      changes.name !== undefined,
      changes.name ?? null,
      changes.description !== undefined,
      changes.description ?? null,
      changes.visibility !== undefined,
      changes.visibility ?? null,
    ],
  )
  return rows[0] ?? null
}

/** Lock a project row for the rest of the transaction; null when it does not exist. */
export async function lockProject(db: SqlExecutor, id: string): Promise<ProjectRow | null> {
  const { rows } = await db.query<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE id = $1 FOR UPDATE`, [id])
  return rows[0] ?? null
}

export async function touchProject(db: SqlExecutor, id: string): Promise<void> {
  await db.query('UPDATE projects SET updated_at = now() WHERE id = $1', [id])
}

export async function deleteProject(db: SqlExecutor, id: string): Promise<boolean> {
  const { rows } = await db.query('DELETE FROM projects WHERE id = $1 RETURNING id', [id])
  return rows.length === 1
}

export interface RoleRow {
  project_id: string
  user_id: string
  role: ProjectRole
}

export async function selectTeam(db: SqlExecutor, projectId: string): Promise<RoleRow[]> {
  const { rows } = await db.query<RoleRow>(
    `SELECT project_id, user_id, role FROM project_roles WHERE project_id = $1
     ORDER BY CASE role WHEN 'stream:owner' THEN 0 WHEN 'stream:contributor' THEN 1 ELSE 2 END, user_id`,
    [projectId],
  )
  return rows
}

/** The teams of several projects, each ordered as `selectTeam`. */
export async function selectTeams(db: SqlExecutor, projectIds: readonly string[]): Promise<RoleRow[]> {
  const { rows } = await db.query<RoleRow>(
    `SELECT project_id, user_id, role FROM project_roles WHERE project_id = ANY($1::text[])
     ORDER BY project_id, CASE role WHEN 'stream:owner' THEN 0 WHEN 'stream:contributor' THEN 1 ELSE 2 END, user_id`,
    [projectIds],
  )
  return rows
}

export async function selectRolesOfUser(
  db: SqlExecutor,
  userId: string,
  projectIds: readonly string[],
): Promise<RoleRow[]> {
  const { rows } = await db.query<RoleRow>(
    'SELECT project_id, user_id, role FROM project_roles WHERE user_id = $1 AND project_id = ANY($2::text[])',
    [userId, projectIds],
  )
  return rows
}

export async function selectProjectsByIds(db: SqlExecutor, ids: readonly string[]): Promise<ProjectRow[]> {
  const { rows } = await db.query<ProjectRow>(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE id = ANY($1::text[])`, [
    ids,
  ])
  return rows
}

/** The owners' rows, locked, so two concurrent demotions cannot both leave the project without an owner. */
export async function lockOwners(db: SqlExecutor, projectId: string): Promise<string[]> {
  const { rows } = await db.query<{ user_id: string }>(
    "SELECT user_id FROM project_roles WHERE project_id = $1 AND role = 'stream:owner' ORDER BY user_id FOR UPDATE",
    [projectId],
  )
  return rows.map((r) => r.user_id)
}

export interface UserProjectRow extends ProjectRow {
  role: ProjectRole
  sort_key: string
}

/** Escape `%`, `_` and `\` for a LIKE pattern. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

/** The projects a user has a role on, most recently updated first, keyset on (updated_at, id). */
export async function selectProjectsOfUser(
  db: SqlExecutor,
  userId: string,
  options: {
    limit: number
    after: { sortKey: string; id: string } | null
    search?: string | null
    roles?: readonly ProjectRole[] | null
  },
): Promise<{ rows: UserProjectRow[]; totalCount: number }> {
  const params: unknown[] = [userId]
  const filters = ['r.user_id = $1']
  if (options.search) {
    params.push(likePattern(options.search))
    filters.push(`(p.name ILIKE $${params.length} OR p.description ILIKE $${params.length})`)
  }
  if (options.roles && options.roles.length > 0) {
    params.push(options.roles)
    filters.push(`r.role = ANY($${params.length}::text[])`)
  }
  const from = `FROM projects p JOIN project_roles r ON r.project_id = p.id WHERE ${filters.join(' AND ')}`
  let keyset = ''
  if (options.after) {
    params.push(options.after.sortKey, options.after.id)
    keyset = ` AND (p.updated_at, p.id) < ($${params.length - 1}::timestamptz, $${params.length})`
  }
  params.push(options.limit + 1)
  // The total and the page in one round trip: the count's single row, LEFT JOINed to the page (a row of
  // NULLs when the page is empty).
  const { rows } = await db.query<UserProjectRow & { total_count: number }>(
    `SELECT c.total_count, page.* FROM (SELECT count(*)::int AS total_count ${from}) c
     LEFT JOIN LATERAL (
       SELECT p.id, p.name, p.description, p.visibility, p.created_at, p.updated_at, r.role,
              p.updated_at::text AS sort_key
       ${from}${keyset} ORDER BY p.updated_at DESC, p.id DESC LIMIT $${params.length}
     ) page ON true
     ORDER BY page.updated_at DESC, page.id DESC`,
    params,
  )
  return { rows: rows.filter((r) => r.id !== null), totalCount: rows[0]?.total_count ?? 0 }
}
