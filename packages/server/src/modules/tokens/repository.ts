/** SQL for the `api_tokens` table (owned by the tokens module). */
import type { SqlExecutor } from '../../adapters/sql/types.js'
import type { ServerRole } from '../../principal.js'

export interface TokenRow {
  id: string
  token_hash: string
  user_id: string
  scopes: string[]
  expires_at: Date | null
  revoked_at: Date | null
  last_used_at: Date | null
  /** The owner's server role, read with the token so verifying costs one round trip. */
  server_role: ServerRole
}

/** Insert a token for an existing user; false when the user does not exist. */
export async function insertToken(
  db: SqlExecutor,
  token: {
    id: string
    tokenHash: string
    userId: string
    name: string
    scopes: string[]
    expiresAt: Date | null
    /** The app the token was issued to through the app flow; null for a personal token. */
    appId?: string | null
    lastChars?: string | null
  },
): Promise<boolean> {
  // INSERT … SELECT: an unknown user inserts nothing instead of failing the foreign key.
  const { rows } = await db.query(
    `INSERT INTO api_tokens (id, token_hash, user_id, name, scopes, expires_at, app_id, last_chars)
     SELECT $1, $2, u.id, $4, $5::text[], $6, $7, $8 FROM users u WHERE u.id = $3
     RETURNING id`,
    [
      token.id,
      token.tokenHash,
      token.userId,
      token.name,
      token.scopes,
      token.expiresAt,
      token.appId ?? null,
      token.lastChars ?? null,
    ],
  )
  return rows.length === 1
}

export async function selectToken(db: SqlExecutor, id: string): Promise<TokenRow | null> {
  // The token's owner is read here rather than through the users service: this is the hot path of every
  // authenticated request, and the join keeps it to one query.
  const { rows } = await db.query<TokenRow>(
    `SELECT t.id, t.token_hash, t.user_id, t.scopes, t.expires_at, t.revoked_at, t.last_used_at, u.server_role
     FROM api_tokens t JOIN users u ON u.id = t.user_id
     WHERE t.id = $1`,
    [id],
  )
  return rows[0] ?? null
}

/** Record a use, unless one was recorded within the last minute (by this or another server). */
export async function touchToken(db: SqlExecutor, id: string): Promise<void> {
  await db.query(
    `UPDATE api_tokens SET last_used_at = now()
     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [id],
  )
}

/** Mark a token revoked; false when it does not exist or was already revoked. */
export async function revokeToken(db: SqlExecutor, id: string): Promise<boolean> {
  const { rows } = await db.query(
    'UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id',
    [id],
  )
  return rows.length === 1
}

/** Who owns a token that is still usable (not revoked, not expired); null otherwise. */
export async function selectActiveTokenOwner(db: SqlExecutor, id: string, at: Date): Promise<string | null> {
  const { rows } = await db.query<{ user_id: string }>(
    `SELECT user_id FROM api_tokens
     WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`,
    [id, at],
  )
  return rows[0]?.user_id ?? null
}

export interface TokenListRow {
  id: string
  name: string
  scopes: string[]
  last_chars: string | null
  created_at: Date
  expires_at: Date | null
  last_used_at: Date | null
}

/** A user's usable personal tokens (not issued to an app), newest first. */
export async function selectPersonalTokens(db: SqlExecutor, userId: string, at: Date): Promise<TokenListRow[]> {
  const { rows } = await db.query<TokenListRow>(
    `SELECT id, name, scopes, last_chars, created_at, expires_at, last_used_at FROM api_tokens
     WHERE user_id = $1 AND app_id IS NULL AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
     ORDER BY created_at DESC, id`,
    [userId, at],
  )
  return rows
}

/** The app a token was issued to (null for a personal or unknown token). */
export async function selectTokenApp(db: SqlExecutor, id: string): Promise<string | null> {
  const { rows } = await db.query<{ app_id: string | null }>('SELECT app_id FROM api_tokens WHERE id = $1', [id])
  return rows[0]?.app_id ?? null
}

/** The apps a user holds usable tokens from (the apps they authorized). */
export async function selectAuthorizedAppIds(db: SqlExecutor, userId: string, at: Date): Promise<string[]> {
  const { rows } = await db.query<{ app_id: string }>(
    `SELECT DISTINCT app_id FROM api_tokens
     WHERE user_id = $1 AND app_id IS NOT NULL AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`,
    [userId, at],
  )
  return rows.map((r) => r.app_id)
}
