/**
 * The request principal: `authPlugin` reads a token from `Authorization: Bearer <token>` (or the `authn`
 * cookie), verifies it and sets `request.principal` (null when the request carries no credentials). A token
 * that is present but not valid is refused before any route runs, as Speckle does on every route:
 * `403 {"error":"Your token is not valid."}` (WIRE.md, "REST object API"). An ended session's cookie
 * (signed out, expired, revoked) is cleared instead and the request goes on anonymously.
 *
 * CSRF: a browser attaches the `authn` cookie to requests other sites make, so a state-changing request
 * (not GET/HEAD/OPTIONS) authenticated by the cookie alone must come from this server's own origin: its
 * `Origin` (or `Referer`) must name the request's host or one of `allowedOrigins`, else `403`. Requests without
 * either header (SDKs, scripts) and requests carrying `Authorization` (which another site cannot set to a
 * token it does not know) are unaffected.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { TokensService } from '../tokens/service.js'
import type { Principal } from '../../principal.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling; null for a request without credentials. Set by `authPlugin`. */
    principal: Principal | null
    /** Where the request's token came from; null without one. Set by `authPlugin`. */
    credentialSource: 'header' | 'cookie' | null
  }
}

export interface AuthPluginOptions {
  tokens: Pick<TokensService, 'verify'>
  /** Origins besides the request's own host that may send cookie-authenticated writes (the frontend's). */
  allowedOrigins?: readonly string[]
}

export const INVALID_TOKEN_BODY = { error: 'Your token is not valid.' } as const
export const CROSS_SITE_BODY = { error: 'Cross-site requests cannot use the authn cookie.' } as const

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS'])

const BEARER = /^Bearer(\s+|$)/i

export function cookieValue(header: string | undefined, name: string): string | null {
  if (header === undefined) return null
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue
    const raw = part.slice(eq + 1).trim()
    try {
      return decodeURIComponent(raw)
    } catch {
      return raw
    }
  }
  return null
}

/** The token a request carries, or null. Like Speckle: the header wins over the cookie; `Bearer ` is optional. */
export function tokenFromRequest(request: Pick<FastifyRequest, 'headers'>): string | null {
  return credentialOf(request)?.token ?? null
}

function credentialOf(request: Pick<FastifyRequest, 'headers'>): { token: string; source: 'header' | 'cookie' } | null {
  const header = request.headers.authorization
  const fromHeader = typeof header === 'string' && header.trim() !== ''
  const raw = fromHeader ? header : cookieValue(request.headers.cookie, 'authn')
  if (raw === null) return null
  const token = raw.trim().replace(BEARER, '').trim()
  return token === '' ? null : { token, source: fromHeader ? 'header' : 'cookie' }
}

/** The origin a browser says the request comes from (`Origin`, else `Referer`); null when it says nothing. */
function claimedOrigin(request: Pick<FastifyRequest, 'headers'>): string | null {
  const origin = request.headers.origin
  if (typeof origin === 'string' && origin !== '') return origin
  const referer = request.headers.referer
  if (typeof referer !== 'string' || referer === '') return null
  try {
    return new URL(referer).origin
  } catch {
    return 'null'
  }
}

/**
 * Whether a WebSocket upgrade may use the session cookie: only from this site (same host or an allowed
 * origin). Browsers send `Origin` on every upgrade and WebSockets are not bound by CORS, so without this a
 * page elsewhere could open a socket as the signed-in user (cross-site WebSocket hijacking).
 */
export function sessionCookieOfUpgrade(
  request: Pick<FastifyRequest, 'headers'>,
  allowed: ReadonlySet<string>,
): string | null {
  const token = cookieValue(request.headers.cookie, 'authn')?.trim()
  if (!token) return null
  const origin = request.headers.origin
  if (typeof origin !== 'string' || origin === '') return null
  if (allowed.has(origin)) return token
  try {
    return new URL(origin).host === request.headers.host ? token : null
  } catch {
    return null
  }
}

/**
 * Whether a cookie-authenticated request may change state: same host, an allowed origin, or no browser.
 * Exported for routes that set the cookie (a sign-in from another site must not plant a session).
 */
export function fromOwnSite(
  request: Pick<FastifyRequest, 'headers' | 'method'>,
  allowed: ReadonlySet<string>,
): boolean {
  if (SAFE_METHODS.has(request.method)) return true
  const origin = claimedOrigin(request)
  if (origin === null) return true
  if (allowed.has(origin)) return true
  try {
    return new URL(origin).host === request.headers.host
  } catch {
    // `Origin: null` (sandboxed frames, some redirects) and garbage.
    return false
  }
}

async function auth(app: FastifyInstance, opts: AuthPluginOptions): Promise<void> {
  const { tokens } = opts
  const allowed: ReadonlySet<string> = new Set((opts.allowedOrigins ?? []).map((o) => new URL(o).origin))
  app.decorateRequest('principal', null)
  app.decorateRequest('credentialSource', null)
  app.addHook('onRequest', async (request, reply) => {
    const credential = credentialOf(request)
    if (credential === null) {
      request.principal = null
      request.credentialSource = null
      return
    }
    if (credential.source === 'cookie' && !fromOwnSite(request, allowed)) {
      request.log.info({ origin: claimedOrigin(request), url: request.url }, 'cross-site cookie request refused')
      return reply.code(403).send(CROSS_SITE_BODY)
    }
    const principal = await tokens.verify(credential.token)
    if (principal === null && credential.source === 'cookie') {
      // An ended session (signed out, expired, revoked): the browser goes on anonymously, so it can sign in again.
      reply.header('set-cookie', 'authn=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0')
      request.principal = null
      request.credentialSource = null
      return
    }
    if (principal === null) return reply.code(403).send(INVALID_TOKEN_BODY)
    request.principal = principal
    request.credentialSource = credential.source
    request.log = request.log.child({ userId: principal.userId })
  })
}

// Not encapsulated (fastify-plugin semantics without the dependency): the decorator and hook apply to the
// app that registers the plugin, so to every route registered on it.
export const authPlugin: FastifyPluginAsync<AuthPluginOptions> = Object.assign(auth, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'truss-auth',
})
