/** SQL for `apps`, `access_codes` and `refresh_tokens` (owned by the apps module). */
import type { SqlExecutor } from '../../adapters/sql/types.js'

export interface AppRow {
  id: string
  secret_hash: string
  name: string
  description: string | null
  redirect_url: string
  scopes: string[]
  trusted: boolean
  public: boolean
  author_id: string | null
  created_at: Date
}

const APP_COLUMNS = 'id, secret_hash, name, description, redirect_url, scopes, trusted, public, author_id, created_at'

/** Insert an app, or bring an existing one with the same id up to date (built-in apps at every start). */
export async function upsertApp(
  db: SqlExecutor,
  app: {
    id: string
    secretHash: string
    name: string
    description: string
    redirectUrl: string
    scopes: readonly string[]
    trusted: boolean
    public: boolean
  },
): Promise<void> {
  await db.query(
    `INSERT INTO apps (id, secret_hash, name, description, redirect_url, scopes, trusted, public)
     VALUES ($1, $2, $3, $4, $5, $6::text[], $7, $8)
     ON CONFLICT (id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, name = EXCLUDED.name,
       description = EXCLUDED.description, redirect_url = EXCLUDED.redirect_url, scopes = EXCLUDED.scopes,
       trusted = EXCLUDED.trusted, public = EXCLUDED.public`,
    [app.id, app.secretHash, app.name, app.description, app.redirectUrl, app.scopes, app.trusted, app.public],
  )
}

export async function selectApp(db: SqlExecutor, id: string): Promise<AppRow | null> {
  const { rows } = await db.query<AppRow>(`SELECT ${APP_COLUMNS} FROM apps WHERE id = $1`, [id])
  return rows[0] ?? null
}

export interface AccessCodeRow {
  app_id: string
  user_id: string
  challenge: string
  expires_at: Date
}

export async function insertAccessCode(
  db: SqlExecutor,
  code: { codeHash: string; appId: string; userId: string; challenge: string; expiresAt: Date },
): Promise<void> {
  await db.query(
    `INSERT INTO access_codes (code_hash, app_id, user_id, challenge, expires_at) VALUES ($1, $2, $3, $4, $5)`,
    [code.codeHash, code.appId, code.userId, code.challenge, code.expiresAt],
  )
}

/** Delete an access code and return it: whoever deletes it is the only one to use it. */
export async function takeAccessCode(db: SqlExecutor, codeHash: string): Promise<AccessCodeRow | null> {
  const { rows } = await db.query<AccessCodeRow>(
    'DELETE FROM access_codes WHERE code_hash = $1 RETURNING app_id, user_id, challenge, expires_at',
    [codeHash],
  )
  return rows[0] ?? null
}

/** Drop codes nobody exchanged; they are useless after they expire. */
export async function deleteExpiredAccessCodes(db: SqlExecutor, before: Date): Promise<void> {
  await db.query('DELETE FROM access_codes WHERE expires_at < $1', [before])
}

export interface RefreshTokenRow {
  id: string
  token_hash: string
  app_id: string
  user_id: string
  expires_at: Date
}

export async function insertRefreshToken(
  db: SqlExecutor,
  token: { id: string; tokenHash: string; appId: string; userId: string; expiresAt: Date },
): Promise<void> {
  await db.query(
    'INSERT INTO refresh_tokens (id, token_hash, app_id, user_id, expires_at) VALUES ($1, $2, $3, $4, $5)',
    [token.id, token.tokenHash, token.appId, token.userId, token.expiresAt],
  )
}

export async function selectRefreshToken(db: SqlExecutor, id: string): Promise<RefreshTokenRow | null> {
  const { rows } = await db.query<RefreshTokenRow>(
    'SELECT id, token_hash, app_id, user_id, expires_at FROM refresh_tokens WHERE id = $1',
    [id],
  )
  return rows[0] ?? null
}

export async function deleteRefreshToken(db: SqlExecutor, id: string): Promise<boolean> {
  const { rows } = await db.query('DELETE FROM refresh_tokens WHERE id = $1 RETURNING id', [id])
  return rows.length === 1
}

/** Apps a user registered, oldest first. */
export async function selectAppsByAuthor(db: SqlExecutor, userId: string): Promise<AppRow[]> {
  const { rows } = await db.query<AppRow>(
    `SELECT ${APP_COLUMNS} FROM apps WHERE author_id = $1 ORDER BY created_at, id`,
    [userId],
  )
  return rows
}

/** Apps a user authorized: those holding one of the user's unexpired refresh tokens. */
export async function selectAppsAuthorizedBy(db: SqlExecutor, userId: string, at: Date): Promise<AppRow[]> {
  const { rows } = await db.query<AppRow>(
    `SELECT ${APP_COLUMNS.split(', ')
      .map((c) => `a.${c}`)
      .join(', ')} FROM apps a
     WHERE EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.app_id = a.id AND r.user_id = $1 AND r.expires_at > $2)
     ORDER BY a.name, a.id`,
    [userId, at],
  )
  return rows
}
