/**
 * SQL for the accounts module's tables: `email_verifications`, `password_resets`, `server_settings` and
 * `server_invites`. One-time tokens are stored as SHA-256 hex and taken with DELETE … RETURNING, so a token
 * is used at most once however many requests race for it.
 */
import type { SqlExecutor } from '../../adapters/sql/types.js'
import type { ServerRole } from '../../principal.js'

export interface OneTimeTokenRow {
  user_id: string
  expires_at: Date
}

export async function insertEmailVerification(
  db: SqlExecutor,
  row: { tokenHash: string; userId: string; email: string; expiresAt: Date },
): Promise<void> {
  await db.query('INSERT INTO email_verifications (token_hash, user_id, email, expires_at) VALUES ($1, $2, $3, $4)', [
    row.tokenHash,
    row.userId,
    row.email,
    row.expiresAt,
  ])
}

export async function takeEmailVerification(
  db: SqlExecutor,
  tokenHash: string,
): Promise<(OneTimeTokenRow & { email: string }) | null> {
  const { rows } = await db.query<OneTimeTokenRow & { email: string }>(
    'DELETE FROM email_verifications WHERE token_hash = $1 RETURNING user_id, email, expires_at',
    [tokenHash],
  )
  return rows[0] ?? null
}

export async function deleteEmailVerifications(db: SqlExecutor, userId: string): Promise<void> {
  await db.query('DELETE FROM email_verifications WHERE user_id = $1', [userId])
}

export async function insertPasswordReset(
  db: SqlExecutor,
  row: { tokenHash: string; userId: string; expiresAt: Date },
): Promise<void> {
  await db.query('INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)', [
    row.tokenHash,
    row.userId,
    row.expiresAt,
  ])
}

export async function takePasswordReset(db: SqlExecutor, tokenHash: string): Promise<OneTimeTokenRow | null> {
  const { rows } = await db.query<OneTimeTokenRow>(
    'DELETE FROM password_resets WHERE token_hash = $1 RETURNING user_id, expires_at',
    [tokenHash],
  )
  return rows[0] ?? null
}

export async function deletePasswordResets(db: SqlExecutor, userId: string): Promise<void> {
  await db.query('DELETE FROM password_resets WHERE user_id = $1', [userId])
}

export interface ServerSettingsRow {
  name: string | null
  description: string | null
  company: string | null
  admin_contact: string | null
  terms_of_service: string | null
  invite_only: boolean
  guest_mode_enabled: boolean
}

export async function selectServerSettings(db: SqlExecutor): Promise<ServerSettingsRow | null> {
  const { rows } = await db.query<ServerSettingsRow>(
    `SELECT name, description, company, admin_contact, terms_of_service, invite_only, guest_mode_enabled
     FROM server_settings WHERE id`,
  )
  return rows[0] ?? null
}

export async function upsertServerSettings(db: SqlExecutor, row: ServerSettingsRow): Promise<void> {
  await db.query(
    `INSERT INTO server_settings
       (id, name, description, company, admin_contact, terms_of_service, invite_only, guest_mode_enabled)
     VALUES (true, $1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
       company = EXCLUDED.company, admin_contact = EXCLUDED.admin_contact,
       terms_of_service = EXCLUDED.terms_of_service, invite_only = EXCLUDED.invite_only,
       guest_mode_enabled = EXCLUDED.guest_mode_enabled, updated_at = now()`,
    [
      row.name,
      row.description,
      row.company,
      row.admin_contact,
      row.terms_of_service,
      row.invite_only,
      row.guest_mode_enabled,
    ],
  )
}

/** Serialize settings updates, so two concurrent partial updates do not lose each other's fields. */
export async function lockServerSettings(db: SqlExecutor): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock(7301003)')
}

export interface ServerInviteRow {
  id: string
  email: string
  inviter_id: string | null
  server_role: ServerRole
  expires_at: Date
  created_at: Date
}

const INVITE_COLUMNS = 'id, email, inviter_id, server_role, expires_at, created_at'

export async function insertServerInvite(
  db: SqlExecutor,
  row: { id: string; tokenHash: string; email: string; inviterId: string; serverRole: ServerRole; expiresAt: Date },
): Promise<ServerInviteRow> {
  const { rows } = await db.query<ServerInviteRow>(
    `INSERT INTO server_invites (id, token_hash, email, inviter_id, server_role, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING ${INVITE_COLUMNS}`,
    [row.id, row.tokenHash, row.email, row.inviterId, row.serverRole, row.expiresAt],
  )
  const invite = rows[0]
  if (invite === undefined) throw new Error('INSERT … RETURNING returned no row')
  return invite
}

export async function selectServerInviteByToken(db: SqlExecutor, tokenHash: string): Promise<ServerInviteRow | null> {
  const { rows } = await db.query<ServerInviteRow>(
    `SELECT ${INVITE_COLUMNS} FROM server_invites WHERE token_hash = $1`,
    [tokenHash],
  )
  return rows[0] ?? null
}

export async function deleteServerInvite(db: SqlExecutor, id: string): Promise<boolean> {
  const { rows } = await db.query('DELETE FROM server_invites WHERE id = $1 RETURNING id', [id])
  return rows.length === 1
}

export interface ProjectInviteRow {
  id: string
  token: string
  project_id: string
  role: string
  user_id: string | null
  email: string | null
  inviter_id: string
  created_at: Date
}

const PROJECT_INVITE_COLUMNS = 'id, token, project_id, role, user_id, email, inviter_id, created_at'

/** Insert an invite; null when the invitee already has one to this project. */
export async function insertProjectInvite(
  db: SqlExecutor,
  row: {
    id: string
    token: string
    projectId: string
    role: string
    userId: string | null
    email: string | null
    inviterId: string
  },
): Promise<ProjectInviteRow | null> {
  const { rows } = await db.query<ProjectInviteRow>(
    `INSERT INTO project_invites (id, token, project_id, role, user_id, email, inviter_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (project_id, coalesce(user_id, email)) DO NOTHING
     RETURNING ${PROJECT_INVITE_COLUMNS}`,
    [row.id, row.token, row.projectId, row.role, row.userId, row.email, row.inviterId],
  )
  return rows[0] ?? null
}

/** A project's pending invites, oldest first. */
export async function selectProjectInvites(
  db: SqlExecutor,
  projectIds: readonly string[],
): Promise<ProjectInviteRow[]> {
  const { rows } = await db.query<ProjectInviteRow>(
    `SELECT ${PROJECT_INVITE_COLUMNS} FROM project_invites WHERE project_id = ANY($1::text[]) ORDER BY created_at, id`,
    [projectIds],
  )
  return rows
}

/** Invites for a user: to their id, or to their email address when it is verified. */
export async function selectInvitesForUser(
  db: SqlExecutor,
  userId: string,
  verifiedEmail: string | null,
): Promise<ProjectInviteRow[]> {
  const { rows } = await db.query<ProjectInviteRow>(
    `SELECT ${PROJECT_INVITE_COLUMNS} FROM project_invites WHERE user_id = $1 OR ($2::text IS NOT NULL AND email = $2)
     ORDER BY created_at, id`,
    [userId, verifiedEmail],
  )
  return rows
}

export async function selectProjectInviteByToken(
  db: SqlExecutor,
  projectId: string,
  token: string,
): Promise<ProjectInviteRow | null> {
  const { rows } = await db.query<ProjectInviteRow>(
    `SELECT ${PROJECT_INVITE_COLUMNS} FROM project_invites WHERE project_id = $1 AND token = $2`,
    [projectId, token],
  )
  return rows[0] ?? null
}

/** Delete an invite of a project; false when there was none. */
export async function deleteProjectInvite(db: SqlExecutor, projectId: string, id: string): Promise<boolean> {
  const { rows } = await db.query('DELETE FROM project_invites WHERE project_id = $1 AND id = $2 RETURNING id', [
    projectId,
    id,
  ])
  return rows.length === 1
}
