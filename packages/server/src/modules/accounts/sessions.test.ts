/**
 * Web sessions over HTTP on a real database: a sign-in from the server's own site sets the `authn` cookie (a
 * hashed, expiring, revocable web-app token), the cookie authenticates GraphQL, cross-site writes with it are
 * refused, and signing out revokes it and clears it.
 */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { graphqlHarness, type GraphqlHarness } from '../graphql/test-utils.js'

const PASSWORD = 'correct horse battery'
const ME = '{ activeUser { id } }'
const CREATE = 'mutation { projectMutations { create(input: { name: "via cookie" }) { id } } }'
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** The `authn` value a response sets, with the cookie's attributes. */
function sessionCookie(setCookie: string | string[] | undefined): { value: string; attributes: string[] } | null {
  const all = Array.isArray(setCookie) ? setCookie : setCookie === undefined ? [] : [setCookie]
  const cookie = all.find((c) => c.startsWith('authn='))
  if (cookie === undefined) return null
  const [pair, ...attributes] = cookie.split(';').map((part) => part.trim())
  return { value: pair!.slice('authn='.length), attributes }
}

describe.each(['pglite', 'postgres'] as const)('web sessions (%s)', (kind) => {
  const PUBLIC_URL = 'http://truss.test:3000'
  let h: GraphqlHarness
  let email: string
  let userId: string

  beforeAll(async () => {
    h = await graphqlHarness(kind, { accountRoutes: true, publicUrl: PUBLIC_URL })
    const user = await h.ctx.newUser({ password: PASSWORD })
    email = user.email
    userId = user.id
  })
  afterAll(() => h?.close())

  const login = (origin?: string) =>
    h.app.inject({
      method: 'POST',
      url: '/auth/local/login?challenge=web',
      headers: { host: 'truss.test:3000', ...(origin ? { origin } : {}) },
      payload: { email, password: PASSWORD },
    })

  const gqlWithCookie = (token: string, query: string, origin = PUBLIC_URL) =>
    h.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { host: 'truss.test:3000', origin, cookie: `authn=${token}` },
      payload: { query },
    })

  it('sets an HttpOnly, SameSite=Lax authn cookie holding a hashed, expiring web-app token', async () => {
    const res = await login(PUBLIC_URL)
    expect(res.statusCode).toBe(302)
    expect(new URL(res.headers.location!).searchParams.get('access_code')).toMatch(/^[A-Za-z0-9]{42}$/)
    const cookie = sessionCookie(res.headers['set-cookie'])
    expect(cookie?.value).toMatch(/^[A-Za-z0-9]{42}$/)
    expect(cookie?.attributes).toEqual(['Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${30 * 24 * 3600}`])
    const { rows } = await h.sql.query<{ token_hash: string; app_id: string; user_id: string; expires_at: Date }>(
      'SELECT token_hash, app_id, user_id, expires_at FROM api_tokens WHERE id = $1',
      [cookie!.value.slice(0, 10)],
    )
    expect(rows).toEqual([
      {
        token_hash: sha256(cookie!.value.slice(10)),
        app_id: 'spklwebapp',
        user_id: userId,
        expires_at: expect.any(Date),
      },
    ])
    const days = (rows[0]!.expires_at.getTime() - Date.now()) / 86_400_000
    expect(days).toBeGreaterThan(29.9)
    expect(days).toBeLessThanOrEqual(30)
  })

  it('authenticates GraphQL with the cookie alone', async () => {
    const cookie = sessionCookie((await login(PUBLIC_URL)).headers['set-cookie'])!
    const res = await gqlWithCookie(cookie.value, ME)
    expect(res.statusCode).toBe(200)
    expect(res.json().data.activeUser).toEqual({ id: userId })
    const created = await gqlWithCookie(cookie.value, CREATE)
    expect(created.json().data.projectMutations.create.id).toEqual(expect.any(String))
  })

  it('refuses a cross-site write carrying only the cookie', async () => {
    const cookie = sessionCookie((await login(PUBLIC_URL)).headers['set-cookie'])!
    const before = (await h.ctx.projects.listForUser(userId)).totalCount
    const res = await gqlWithCookie(cookie.value, CREATE, 'https://evil.example')
    expect(res.statusCode).toBe(403)
    expect(res.json()).toEqual({ error: 'Cross-site requests cannot use the authn cookie.' })
    expect((await h.ctx.projects.listForUser(userId)).totalCount).toEqual(before)
  })

  it('plants no session for a sign-in posted from another site', async () => {
    const res = await login('https://evil.example')
    expect(res.statusCode).toBe(302)
    expect(sessionCookie(res.headers['set-cookie'])).toBeNull()
  })

  it('signs out with the cookie: the token is revoked, the cookie cleared, and it no longer authenticates', async () => {
    const cookie = sessionCookie((await login(PUBLIC_URL)).headers['set-cookie'])!
    expect((await gqlWithCookie(cookie.value, ME)).json().data.activeUser).toEqual({ id: userId })
    const out = await h.app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { host: 'truss.test:3000', origin: PUBLIC_URL, cookie: `authn=${cookie.value}` },
      payload: {},
    })
    expect(out.statusCode).toBe(200)
    const cleared = sessionCookie(out.headers['set-cookie'])
    expect(cleared?.value).toBe('')
    expect(cleared?.attributes).toContain('Max-Age=0')
    const { rows } = await h.sql.query<{ revoked: boolean }>(
      'SELECT revoked_at IS NOT NULL AS revoked FROM api_tokens WHERE id = $1',
      [cookie.value.slice(0, 10)],
    )
    expect(rows).toEqual([{ revoked: true }])
    // The old cookie: anonymous (and cleared again), so the browser can sign in anew; writes are refused.
    const after = await gqlWithCookie(cookie.value, ME)
    expect(after.json().data.activeUser).toBeNull()
    expect(sessionCookie(after.headers['set-cookie'])?.attributes).toContain('Max-Age=0')
    expect((await gqlWithCookie(cookie.value, CREATE)).json().errors[0].extensions.code).toBe('FORBIDDEN')
    // A bearer token that is not valid is still refused outright.
    const bearer = await h.gql(ME, {}, cookie.value)
    expect(bearer.status).toBe(403)
  })

  it('refuses a cross-site sign-out and a sign-out with neither token nor cookie', async () => {
    const cookie = sessionCookie((await login(PUBLIC_URL)).headers['set-cookie'])!
    const crossSite = await h.app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: { host: 'truss.test:3000', origin: 'https://evil.example', cookie: `authn=${cookie.value}` },
      payload: {},
    })
    expect(crossSite.statusCode).toBe(403)
    expect((await gqlWithCookie(cookie.value, ME)).json().data.activeUser).toEqual({ id: userId })
    const bare = await h.app.inject({ method: 'POST', url: '/auth/logout', payload: {} })
    expect(bare.statusCode).toBe(400)
  })
})

describe('web sessions behind https', () => {
  let h: GraphqlHarness
  beforeAll(async () => {
    h = await graphqlHarness('pglite', { accountRoutes: true, publicUrl: 'https://truss.example.com' })
  })
  afterAll(() => h?.close())

  it('marks the cookie Secure', async () => {
    const user = await h.ctx.newUser({ password: PASSWORD })
    const res = await h.app.inject({
      method: 'POST',
      url: '/auth/local/login?challenge=web',
      headers: { host: 'truss.example.com', origin: 'https://truss.example.com' },
      payload: { email: user.email, password: PASSWORD },
    })
    expect(res.statusCode).toBe(302)
    expect(sessionCookie(res.headers['set-cookie'])?.attributes).toEqual([
      'Path=/',
      'HttpOnly',
      'SameSite=Lax',
      'Secure',
      `Max-Age=${30 * 24 * 3600}`,
    ])
  })
})
