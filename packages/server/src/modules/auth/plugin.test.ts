import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sql } from '../../adapters/sql/types.js'
import type { User } from '../users/service.js'
import { authPlugin, tokenFromRequest } from './plugin.js'
import type { Principal } from '../../principal.js'
import { identityContext, openDatabase, type IdentityContext } from './test-utils/identity.js'

describe('authPlugin', () => {
  let sql: Sql & { dispose(): Promise<void> }
  let ctx: IdentityContext
  let app: FastifyInstance
  let user: User
  let token: string

  beforeAll(async () => {
    sql = await openDatabase('pglite')
    ctx = identityContext(sql)
    user = await ctx.newUser()
    token = await ctx.newToken(user.id, ['streams:read', 'profile:read'])
    app = Fastify()
    await app.register(authPlugin, { tokens: ctx.tokens, allowedOrigins: ['http://frontend.test:8080/'] })
    // Registered after the plugin, in the same app and in a child context: both see the principal.
    app.get('/whoami', async (request) => principalJson(request.principal))
    app.post('/whoami', async (request) => ({ ...principalJson(request.principal), via: request.credentialSource }))
    await app.register(async (child) => {
      child.get('/child/whoami', async (request) => principalJson(request.principal))
    })
  })
  afterAll(async () => {
    await app?.close()
    await sql?.dispose()
  })

  function principalJson(p: Principal | null) {
    if (p === null) return { principal: null }
    return { principal: { userId: p.userId, serverRole: p.serverRole, scopes: [...p.scopes], tokenId: p.tokenId } }
  }

  const expected = () => ({
    principal: {
      userId: user.id,
      serverRole: user.serverRole,
      scopes: ['streams:read', 'profile:read'],
      tokenId: token.slice(0, 10),
    },
  })

  it('leaves the principal null for a request without credentials', async () => {
    const res = await app.inject({ url: '/whoami' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ principal: null })
  })

  it('reads a Bearer token from the Authorization header', async () => {
    for (const header of [`Bearer ${token}`, `bearer ${token}`, token]) {
      const res = await app.inject({ url: '/whoami', headers: { authorization: header } })
      expect(res.json()).toEqual(expected())
    }
    const child = await app.inject({ url: '/child/whoami', headers: { authorization: `Bearer ${token}` } })
    expect(child.json()).toEqual(expected())
  })

  it('reads the token from the authn cookie', async () => {
    const res = await app.inject({ url: '/whoami', headers: { cookie: `theme=dark; authn=${token}` } })
    expect(res.json()).toEqual(expected())
  })

  it.each([
    ['a malformed token', 'Bearer not-a-token'],
    ['a wrong secret', 'WRONG'],
    ['an unknown token', `Bearer ${'x'.repeat(42)}`],
  ])('refuses %s with 403 before any route runs', async (_what, header) => {
    const authorization = header === 'WRONG' ? `Bearer ${token.slice(0, 10)}${'Q'.repeat(32)}` : header
    const res = await app.inject({ url: '/whoami', headers: { authorization } })
    expect(res.statusCode).toBe(403)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(res.body).toBe('{"error":"Your token is not valid."}')
  })

  it('refuses a revoked token with 403, and an invalid header even beside a valid cookie', async () => {
    const revoked = await ctx.newToken(user.id)
    await ctx.tokens.revoke(revoked.slice(0, 10))
    const res = await app.inject({ url: '/whoami', headers: { authorization: `Bearer ${revoked}` } })
    expect(res.statusCode).toBe(403)
    const both = await app.inject({
      url: '/whoami',
      headers: { authorization: `Bearer ${revoked}`, cookie: `authn=${token}` },
    })
    expect(both.statusCode).toBe(403)
  })

  it('refuses an unknown route’s invalid token with 403 too', async () => {
    const res = await app.inject({ url: '/nowhere', headers: { authorization: 'Bearer nope' } })
    expect(res.statusCode).toBe(403)
  })

  describe('CSRF: cookie-authenticated writes', () => {
    const write = (headers: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/whoami', payload: {}, headers: { host: 'truss.test:3000', ...headers } })

    it.each([
      ['another site’s Origin', { origin: 'https://evil.example' }],
      ['a look-alike host', { origin: 'http://truss.test:3000.evil.example' }],
      ['Origin: null', { origin: 'null' }],
      ['another site’s Referer', { referer: 'https://evil.example/page' }],
    ])('refuses a POST carrying only the cookie from %s with 403', async (_what, headers) => {
      const res = await write({ cookie: `authn=${token}`, ...headers })
      expect(res.statusCode).toBe(403)
      expect(res.json()).toEqual({ error: 'Cross-site requests cannot use the authn cookie.' })
    })

    it('accepts the cookie on writes from the same host, an allowed origin, or a client that names no origin', async () => {
      const cases: Record<string, string>[] = [
        { origin: 'http://truss.test:3000' },
        { referer: 'http://truss.test:3000/projects/abc' },
        { origin: 'http://frontend.test:8080' },
        {},
      ]
      for (const headers of cases) {
        const res = await write({ cookie: `authn=${token}`, ...headers })
        expect(res.statusCode).toBe(200)
        expect(res.json()).toEqual({ ...expected(), via: 'cookie' })
      }
    })

    it('leaves reads and header-authenticated writes from other sites alone', async () => {
      const read = await app.inject({
        url: '/whoami',
        headers: { host: 'truss.test:3000', origin: 'https://evil.example', cookie: `authn=${token}` },
      })
      expect(read.json()).toEqual(expected())
      const header = await write({ origin: 'https://evil.example', authorization: `Bearer ${token}` })
      expect(header.json()).toEqual({ ...expected(), via: 'header' })
      const anonymous = await write({ origin: 'https://evil.example' })
      expect(anonymous.json()).toEqual({ principal: null, via: null })
    })
  })

  it('extracts tokens like Speckle: header first, then cookie, Bearer optional', () => {
    expect(tokenFromRequest({ headers: {} })).toBeNull()
    expect(tokenFromRequest({ headers: { authorization: 'Bearer ' } })).toBeNull()
    expect(tokenFromRequest({ headers: { authorization: '  ', cookie: 'authn=abc' } })).toBe('abc')
    expect(tokenFromRequest({ headers: { authorization: 'Bearer abc', cookie: 'authn=def' } })).toBe('abc')
    expect(tokenFromRequest({ headers: { cookie: 'authn=a%20b; other=1' } })).toBe('a b')
    expect(tokenFromRequest({ headers: { cookie: 'notauthn=x' } })).toBeNull()
  })
})
