/** Who is calling: the principal a valid token stands for, and the scope names tokens may carry (WIRE.md). */

export const SERVER_ROLES = ['server:admin', 'server:user', 'server:guest', 'server:archived-user'] as const
export type ServerRole = (typeof SERVER_ROLES)[number]

/** Speckle 2.24's scope names (no `webhooks:*`: webhooks need `streams:write` and the owner role). */
export const SCOPES = [
  'streams:read',
  'streams:write',
  'profile:read',
  'profile:email',
  'profile:delete',
  'users:read',
  'users:email',
  'users:invite',
  'server:stats',
  'server:setup',
  'tokens:read',
  'tokens:write',
  'apps:read',
  'apps:write',
] as const
export type Scope = (typeof SCOPES)[number]

const SCOPE_SET: ReadonlySet<string> = new Set(SCOPES)

export function isScope(name: string): name is Scope {
  return SCOPE_SET.has(name)
}

export interface Principal {
  userId: string
  serverRole: ServerRole
  scopes: ReadonlySet<string>
  /** The token that authenticated this request (its 10-character id). */
  tokenId: string
}
