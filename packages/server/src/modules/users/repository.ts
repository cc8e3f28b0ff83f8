/** SQL for the `users` table (owned by the users module). */
import type { SqlExecutor } from '../../adapters/sql/types.js'
import type { ServerRole } from '../../principal.js'

export interface UserRow {
  id: string
  email: string
  name: string
  password_hash: string | null
  server_role: ServerRole
  verified: boolean
  company: string | null
  bio: string | null
  avatar: string | null
  created_at: Date
}

const COLUMNS = 'id, email, name, password_hash, server_role, verified, company, bio, avatar, created_at'

// Any constant works; it only has to be the same for every server sharing the database.
const FIRST_USER_LOCK = 7_301_001

/** Serialize user creation for the rest of the transaction, so exactly one "first user" exists. */
export async function lockUserCreation(db: SqlExecutor): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock($1)', [FIRST_USER_LOCK])
}

export async function anyUserExists(db: SqlExecutor): Promise<boolean> {
  const { rows } = await db.query<{ exists: boolean }>('SELECT EXISTS (SELECT 1 FROM users) AS exists')
  return rows[0]?.exists === true
}

/** Insert a user; null when the email is taken. */
export async function insertUser(
  db: SqlExecutor,
  user: {
    id: string
    email: string
    name: string
    passwordHash: string
    serverRole: ServerRole
    company?: string | null
  },
): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>(
    `INSERT INTO users (id, email, name, password_hash, server_role, company)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (email) DO NOTHING
     RETURNING ${COLUMNS}`,
    [user.id, user.email, user.name, user.passwordHash, user.serverRole, user.company ?? null],
  )
  return rows[0] ?? null
}

export async function selectUserById(db: SqlExecutor, id: string): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id])
  return rows[0] ?? null
}

export async function selectUserByEmail(db: SqlExecutor, email: string): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE email = $1`, [email])
  return rows[0] ?? null
}

/** Replace a user's password hash; false when the user does not exist. */
export async function updatePasswordHash(db: SqlExecutor, id: string, passwordHash: string): Promise<boolean> {
  const { rows } = await db.query('UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING id', [id, passwordHash])
  return rows.length === 1
}

/** Mark a user's email verified; false when the user does not exist. */
export async function updateVerified(db: SqlExecutor, id: string): Promise<boolean> {
  const { rows } = await db.query('UPDATE users SET verified = true WHERE id = $1 RETURNING id', [id])
  return rows.length === 1
}

/** Lock a user's row for the rest of the transaction; null when the user does not exist. */
export async function selectUserForUpdate(db: SqlExecutor, id: string): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1 FOR UPDATE`, [id])
  return rows[0] ?? null
}

export async function countAdmins(db: SqlExecutor): Promise<number> {
  const { rows } = await db.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM users WHERE server_role = 'server:admin'`,
  )
  return rows[0]?.count ?? 0
}

/** Set a user's server role; false when the user does not exist. */
export async function updateServerRole(db: SqlExecutor, id: string, role: ServerRole): Promise<boolean> {
  const { rows } = await db.query('UPDATE users SET server_role = $2 WHERE id = $1 RETURNING id', [id, role])
  return rows.length === 1
}

/**
 * Change a user's address and mark it unverified: the new address has not been proven. Null when the user
 * does not exist; throws the database's unique violation when the address is taken.
 */
export async function updateEmail(db: SqlExecutor, id: string, email: string): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>(
    `UPDATE users SET email = $2, verified = false WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, email],
  )
  return rows[0] ?? null
}

export async function selectUsersByIds(db: SqlExecutor, ids: readonly string[]): Promise<UserRow[]> {
  if (ids.length === 0) return []
  const { rows } = await db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = ANY($1::text[])`, [[...ids]])
  return rows
}

/** Set the given profile fields (undefined: unchanged); null when the user does not exist. */
export async function updateProfile(
  db: SqlExecutor,
  id: string,
  changes: { name?: string; company?: string | null; bio?: string | null; avatar?: string | null },
): Promise<UserRow | null> {
  const sets: string[] = []
  const params: unknown[] = [id]
  for (const column of ['name', 'company', 'bio', 'avatar'] as const) {
    if (changes[column] === undefined) continue
    params.push(changes[column])
    sets.push(`${column} = $${params.length}`)
  }
  if (sets.length === 0) return selectUserById(db, id)
  const { rows } = await db.query<UserRow>(
    `UPDATE users SET ${sets.join(', ')} WHERE id = $1 RETURNING ${COLUMNS}`,
    params,
  )
  return rows[0] ?? null
}

/**
 * One page of users, newest first, for the admin list: `query` matches name or email (case-insensitive),
 * `after` is the last row of the previous page (created_at to the millisecond, as cursors carry it, and id).
 */
export async function selectUsersPage(
  db: SqlExecutor,
  options: { query: string | null; limit: number; after: { createdAt: Date; id: string } | null },
): Promise<{ rows: UserRow[]; total: number }> {
  const pattern = options.query ? `%${options.query.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null
  const match = `($1::text IS NULL OR name ILIKE $1 OR email ILIKE $1)`
  const { rows } = await db.query<UserRow>(
    `SELECT ${COLUMNS} FROM users
      WHERE ${match}
        AND ($2::timestamptz IS NULL OR (date_trunc('milliseconds', created_at), id) < ($2::timestamptz, $3::text))
      ORDER BY date_trunc('milliseconds', created_at) DESC, id DESC LIMIT $4`,
    [pattern, options.after?.createdAt ?? null, options.after?.id ?? null, options.limit],
  )
  const counted = await db.query<{ total: number }>(`SELECT count(*)::int AS total FROM users WHERE ${match}`, [
    pattern,
  ])
  return { rows, total: counted.rows[0]?.total ?? 0 }
}
