/**
 * The request principal: `authPlugin` reads a token from `Authorization: Bearer <token>` (or the `authn`
 * cookie), verifies it and sets `request.principal` (null when the request carries no credentials). A token
 * that is present but not valid is refused before any route runs, as Speckle does on every route:
 * `403 {"error":"Your token is not valid."}` (WIRE.md, "REST object API").
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { TokensService } from '../tokens/service.js'
import type { Principal } from './principal.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling; null for a request without credentials. Set by `authPlugin`. */
    principal: Principal | null
  }
}

export interface AuthPluginOptions {
  tokens: Pick<TokensService, 'verify'>
}

export const INVALID_TOKEN_BODY = { error: 'Your token is not valid.' } as const

const BEARER = /^Bearer(\s+|$)/i

function cookieValue(header: string | undefined, name: string): string | null {
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
  const header = request.headers.authorization
  const raw = typeof header === 'string' && header.trim() !== '' ? header : cookieValue(request.headers.cookie, 'authn')
  if (raw === null) return null
  const token = raw.trim().replace(BEARER, '').trim()
  return token === '' ? null : token
}

async function auth(app: FastifyInstance, opts: AuthPluginOptions): Promise<void> {
  const { tokens } = opts
  app.decorateRequest('principal', null)
  app.addHook('onRequest', async (request, reply) => {
    const token = tokenFromRequest(request)
    if (token === null) {
      request.principal = null
      return
    }
    const principal = await tokens.verify(token)
    if (principal === null) return reply.code(403).send(INVALID_TOKEN_BODY)
    request.principal = principal
    request.log = request.log.child({ userId: principal.userId })
  })
}

// Not encapsulated (fastify-plugin semantics without the dependency): the decorator and hook apply to the
// app that registers the plugin, so to every route registered on it.
export const authPlugin: FastifyPluginAsync<AuthPluginOptions> = Object.assign(auth, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'truss-auth',
})
