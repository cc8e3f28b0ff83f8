/** SQL for the `projects`, `project_roles` and `models` tables (owned by the projects module). */
import type { SqlExecutor } from '../../adapters/sql/types.js'
import type { ProjectRole, ProjectVisibility } from './service.js'

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
