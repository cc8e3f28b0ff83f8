/**
 * The account and app-flow routes end to end over HTTP (Fastify inject) on the real app, PGlite, the
 * in-process bus and the outbox mailer; the connector flow and logout once more on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TrussApp } from '../../app.js'
import { SCOPES } from '../../principal.js'
import { CONNECTOR_SCOPES } from '../apps/builtin.js'
import { createTokensService, subscribeTokenRevocations } from '../tokens/service.js'
import { accountsHarness, PUBLIC_URL, tokenFromLink, type AccountsHarness } from './test-utils/harness.js'

const PASSWORD = 'correct horse battery'
let sequence = 0
const newEmail = () => `person${++sequence}-${Math.random().toString(36).slice(2, 8)}@example.com`

function post(app: TrussApp, url: string, payload: object, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url, payload, headers })
}

function accessCodeOf(location: string | undefined): string {
  const code = new URL(location ?? '').searchParams.get('access_code')
  expect(code).toMatch(/^[A-Za-z0-9]{42}$/)
  return code as string
}

async function register(app: TrussApp, email = newEmail(), challenge = 'web-challenge') {
  const res = await post(app, `/auth/local/register?challenge=${challenge}`, { email, password: PASSWORD, name: 'Ada' })
  expect(res.statusCode).toBe(302)
  return { email, code: accessCodeOf(res.headers.location) }
}

async function exchange(app: TrussApp, appId: string, accessCode: string, challenge: string) {
  const res = await post(app, '/auth/token', { appId, appSecret: appId, accessCode, challenge })
  expect(res.statusCode).toBe(200)
  return res.json<{ token: string; refreshToken: string }>()
}

/** Register, then sign the web app in: its token holds every scope. */
async function webAppSession(app: TrussApp) {
  const { email, code } = await register(app)
  return { email, ...(await exchange(app, 'spklwebapp', code, 'web-challenge')) }
}

function whoami(app: TrussApp, token: string) {
  return app.inject({ url: '/test/whoami', headers: { authorization: `Bearer ${token}` } })
}

/** The connector flow: login → web app token → access code for `sca` → connector token. */
async function connectorFlow(app: TrussApp) {
  const email = newEmail()
  await register(app, email)
  const login = await post(app, '/auth/local/login?challenge=c1', { email, password: PASSWORD })
  expect(login.statusCode).toBe(302)
  expect(login.headers.location).toMatch(new RegExp(`^${PUBLIC_URL}/\\?access_code=[A-Za-z0-9]{42}$`))
  const web = await exchange(app, 'spklwebapp', accessCodeOf(login.headers.location), 'c1')
  expect(web.token).toMatch(/^[A-Za-z0-9]{42}$/)
  expect(web.refreshToken).toMatch(/^[A-Za-z0-9]{42}$/)

  const redirect = await app.inject({ url: `/auth/accesscode?appId=sca&challenge=c2&token=${web.token}` })
  expect(redirect.statusCode).toBe(302)
  expect(redirect.headers.location).toMatch(/^http:\/\/localhost:29363\?access_code=[A-Za-z0-9]{42}$/)
  const connector = await exchange(app, 'sca', accessCodeOf(redirect.headers.location), 'c2')
  const me = await whoami(app, connector.token)
  expect(me.statusCode).toBe(200)
  expect(me.json<{ scopes: string[] }>().scopes).toEqual([...CONNECTOR_SCOPES].sort())
  return { email, web, connector }
}

describe('accounts and the app flow (pglite)', () => {
  let h: AccountsHarness
  let app: TrussApp

  beforeAll(async () => {
    h = await accountsHarness('pglite')
    app = h.app
  })
  afterAll(async () => {
    await h?.close()
  })

  it('makes the first registered user server admin and redirects with a web-app code and register=true', async () => {
    const email = newEmail()
    const res = await post(app, '/auth/local/register?challenge=abc', {
      email,
      password: PASSWORD,
      name: 'First',
      company: 'ACME',
    })
    expect(res.statusCode).toBe(302)
    const location = new URL(res.headers.location ?? '')
    expect(location.origin).toBe(PUBLIC_URL)
    expect(location.searchParams.get('register')).toBe('true')
    const { token } = await exchange(app, 'spklwebapp', accessCodeOf(res.headers.location), 'abc')
    const me = (await whoami(app, token)).json<{ serverRole: string; scopes: string[] }>()
    expect(me.serverRole).toBe('server:admin')
    expect(me.scopes).toEqual([...SCOPES].sort())
    expect((await h.users.getByEmail(email))?.company).toBe('ACME')
    const second = await register(app)
    expect((await h.users.getByEmail(second.email))?.serverRole).toBe('server:user')
  })

  it('runs the connector flow: login, web-app token, access code for sca, connector token on a protected route', async () => {
    await connectorFlow(app)
  })

  it('takes the token for /auth/accesscode from the Authorization header, so it need not be in the URL; never the cookie', async () => {
    const { token } = await webAppSession(app)
    const res = await app.inject({
      url: '/auth/accesscode?appId=sca&challenge=c9',
      headers: { authorization: `Bearer ${token}` },
    })
    expect(res.statusCode).toBe(302)
    const connector = await exchange(app, 'sca', accessCodeOf(res.headers.location), 'c9')
    expect((await whoami(app, connector.token)).statusCode).toBe(200)
    const cookie = await app.inject({
      url: '/auth/accesscode?appId=sca&challenge=c9',
      headers: { cookie: `authn=${token}` },
    })
    expect(cookie.statusCode).toBe(400)
    expect(cookie.body).toBe('Missing token')
  })

  it('answers the access code as JSON with preventRedirect', async () => {
    const { token } = await webAppSession(app)
    const res = await app.inject({ url: `/auth/accesscode?appId=sdm&challenge=x&token=${token}&preventRedirect=1` })
    expect(res.statusCode).toBe(200)
    expect(res.json<{ redirectUrl: string }>().redirectUrl).toMatch(
      /^speckle:\/\/account\?access_code=[A-Za-z0-9]{42}$/,
    )
  })

  it('accepts a form-encoded login', async () => {
    const { email } = await register(app)
    const res = await app.inject({
      method: 'POST',
      url: '/auth/local/login?challenge=form',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ email, password: PASSWORD }).toString(),
    })
    expect(res.statusCode).toBe(302)
    expect(new URL(res.headers.location ?? '').searchParams.has('register')).toBe(false)
  })

  it('refreshes a token pair; the new token works and the old refresh token stays valid', async () => {
    const { web } = await connectorFlow(app)
    const res = await post(app, '/auth/token', {
      appId: 'spklwebapp',
      appSecret: 'spklwebapp',
      refreshToken: web.refreshToken,
    })
    expect(res.statusCode).toBe(200)
    const pair = res.json<{ token: string; refreshToken: string }>()
    expect(pair.token).not.toBe(web.token)
    expect(pair.refreshToken).not.toBe(web.refreshToken)
    expect((await whoami(app, pair.token)).statusCode).toBe(200)
    const again = await post(app, '/auth/token', {
      appId: 'spklwebapp',
      appSecret: 'spklwebapp',
      refreshToken: web.refreshToken,
    })
    expect(again.statusCode).toBe(200)
  })

  it('refuses refresh tokens of another app, with a wrong secret or a wrong app secret', async () => {
    const { web } = await connectorFlow(app)
    const cases: [object, string][] = [
      [{ appId: 'sca', appSecret: 'sca', refreshToken: web.refreshToken }, 'Invalid request'],
      [{ appId: 'spklwebapp', appSecret: 'spklwebapp', refreshToken: 'x'.repeat(42) }, 'Invalid request'],
      [
        { appId: 'spklwebapp', appSecret: 'spklwebapp', refreshToken: web.refreshToken.slice(0, 10) + 'Q'.repeat(32) },
        'Invalid token',
      ],
      [{ appId: 'spklwebapp', appSecret: 'nope', refreshToken: web.refreshToken }, 'Invalid app credentials'],
    ]
    for (const [body, err] of cases) {
      const res = await post(app, '/auth/token', body)
      expect(res.statusCode).toBe(401)
      expect(res.json()).toEqual({ err })
    }
  })

  it('answers 400 text "Invalid request: no challenge detected." to login and register without a challenge', async () => {
    for (const url of ['/auth/local/login', '/auth/local/register', '/auth/local/login?challenge=']) {
      const res = await post(app, url, { email: newEmail(), password: PASSWORD, name: 'X' })
      expect(res.statusCode).toBe(400)
      expect(res.headers['content-type']).toMatch(/^text\/plain/)
      expect(res.body).toBe('Invalid request: no challenge detected.')
    }
  })

  it('refuses a wrong password, an unknown email and a missing field with 401 Invalid credentials.', async () => {
    const { email } = await register(app)
    for (const body of [{ email, password: 'wrong password' }, { email: newEmail(), password: PASSWORD }, { email }]) {
      const res = await post(app, '/auth/local/login?challenge=c', body)
      expect(res.statusCode).toBe(401)
      expect(res.json()).toEqual({ err: true, message: 'Invalid credentials.' })
    }
  })

  it('refuses a taken email, a short password and missing fields at registration with 400 {err}', async () => {
    const { email } = await register(app)
    const taken = await post(app, '/auth/local/register?challenge=c', { email, password: PASSWORD, name: 'Again' })
    expect(taken.statusCode).toBe(400)
    expect(taken.json()).toEqual({ err: 'Email taken. Try logging in?' })
    const upper = await post(app, '/auth/local/register?challenge=c', {
      email: email.toUpperCase(),
      password: PASSWORD,
      name: 'Again',
    })
    expect(upper.json()).toEqual({ err: 'Email taken. Try logging in?' })
    const short = await post(app, '/auth/local/register?challenge=c', {
      email: newEmail(),
      password: 'short',
      name: 'S',
    })
    expect(short.statusCode).toBe(400)
    expect(short.json<{ err: string }>().err).toMatch(/at least 8 characters/)
    const missing = await post(app, '/auth/local/register?challenge=c', { email: newEmail(), password: PASSWORD })
    expect(missing.statusCode).toBe(400)
    expect(typeof missing.json<{ err: unknown }>().err).toBe('string')
  })

  it('refuses access codes with Speckle’s messages and uses each code once, even after a failed exchange', async () => {
    const { code } = await register(app, newEmail(), 'ch')
    const refuse = async (body: object, err: string) => {
      const res = await post(app, '/auth/token', body)
      expect(res.statusCode).toBe(401)
      expect(res.json()).toEqual({ err })
    }
    await refuse(
      { appId: 'spklwebapp', appSecret: 'wrong', accessCode: code, challenge: 'ch' },
      'Invalid app credentials',
    )
    // The failed attempt used the code up.
    await refuse(
      { appId: 'spklwebapp', appSecret: 'spklwebapp', accessCode: code, challenge: 'ch' },
      'Access code not found.',
    )

    const second = (await register(app, newEmail(), 'ch')).code
    await refuse(
      { appId: 'spklwebapp', appSecret: 'spklwebapp', accessCode: second, challenge: 'other' },
      'Invalid request',
    )
    const third = (await register(app, newEmail(), 'ch')).code
    await refuse({ appId: 'sca', appSecret: 'sca', accessCode: third, challenge: 'ch' }, 'Invalid request')
    await refuse({ appId: 'spklwebapp' }, 'Invalid request')
    await refuse({}, 'Invalid request')

    const fourth = (await register(app, newEmail(), 'ch')).code
    await exchange(app, 'spklwebapp', fourth, 'ch')
    await refuse(
      { appId: 'spklwebapp', appSecret: 'spklwebapp', accessCode: fourth, challenge: 'ch' },
      'Access code not found.',
    )
  })

  it('lets exactly one of two concurrent exchanges of a code succeed', async () => {
    const { code } = await register(app, newEmail(), 'ch')
    const body = { appId: 'spklwebapp', appSecret: 'spklwebapp', accessCode: code, challenge: 'ch' }
    const answers = await Promise.all([post(app, '/auth/token', body), post(app, '/auth/token', body)])
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 401])
  })

  it('expires access codes after 10 minutes', async () => {
    const fresh = (await register(app, newEmail(), 'ch')).code
    const stale = (await register(app, newEmail(), 'ch')).code
    h.advance(9 * 60_000)
    await exchange(app, 'spklwebapp', fresh, 'ch')
    h.advance(2 * 60_000)
    const res = await post(app, '/auth/token', {
      appId: 'spklwebapp',
      appSecret: 'spklwebapp',
      accessCode: stale,
      challenge: 'ch',
    })
    expect(res.statusCode).toBe(401)
    expect(res.json()).toEqual({ err: 'Access code expired' })
  })

  it('answers /auth/accesscode errors with 400 text', async () => {
    const { token } = await webAppSession(app)
    const { connector } = await connectorFlow(app)
    const cases: [string, string][] = [
      [`/auth/accesscode?appId=nope&challenge=c&token=${token}`, 'App does not exist.'],
      [`/auth/accesscode?challenge=c&token=${token}`, 'App does not exist.'],
      [`/auth/accesscode?appId=sca&token=${token}`, 'Missing challenge'],
      ['/auth/accesscode?appId=sca&challenge=c', 'Missing token'],
      [`/auth/accesscode?appId=sca&challenge=c&token=${'x'.repeat(42)}`, 'Invalid token'],
      // A connector token lacks tokens:write: it cannot mint codes for other apps.
      [`/auth/accesscode?appId=sca&challenge=c&token=${connector.token}`, 'Invalid token'],
    ]
    for (const [url, text] of cases) {
      const res = await app.inject({ url })
      expect(res.statusCode).toBe(400)
      expect(res.headers['content-type']).toMatch(/^text\/plain/)
      expect(res.body).toBe(text)
    }
  })

  it('logs out: the token answers 403 afterwards and the refresh token is gone', async () => {
    const { connector } = await connectorFlow(app)
    expect((await whoami(app, connector.token)).statusCode).toBe(200)
    const res = await post(app, '/auth/logout', { token: connector.token, refreshToken: connector.refreshToken })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ message: 'You have logged out.' })
    const after = await whoami(app, connector.token)
    expect(after.statusCode).toBe(403)
    const refresh = await post(app, '/auth/token', {
      appId: 'sca',
      appSecret: 'sca',
      refreshToken: connector.refreshToken,
    })
    expect(refresh.json()).toEqual({ err: 'Invalid request' })
    expect((await post(app, '/auth/logout', {})).statusCode).toBe(400)
  })

  it('announces revocations on the bus so another node drops its cached token at once', async () => {
    const otherNode = createTokensService({ sql: h.sql })
    const unsubscribe = await subscribeTokenRevocations(h.bus, otherNode)
    try {
      const { token } = await webAppSession(app)
      expect(await otherNode.verify(token)).not.toBeNull()
      await post(app, '/auth/logout', { token })
      await expect.poll(() => otherNode.verify(token)).toBeNull()
    } finally {
      await unsubscribe()
    }
  })

  it('mails a verification link on registration; the link verifies the address once', async () => {
    const { email } = await register(app)
    const mail = (await h.mails()).findLast((m) => m.to === email)
    expect(mail?.subject).toMatch(/Verify your email/)
    const token = tokenFromLink(mail?.text ?? '', `${PUBLIC_URL}/verify-email?token=`)
    expect((await h.users.getByEmail(email))?.verified).toBe(false)
    const res = await post(app, '/auth/verify-email', { token })
    expect(res.statusCode).toBe(200)
    expect((await h.users.getByEmail(email))?.verified).toBe(true)
    const again = await post(app, '/auth/verify-email', { token })
    expect(again.statusCode).toBe(400)
    expect(again.json<{ err: string }>().err).toMatch(/not valid/)
  })

  it('verifies by GET and redirects to the frontend with the outcome; resends on request', async () => {
    const { token: apiToken, email } = await webAppSession(app)
    const resend = await post(app, '/auth/verify-email/request', {}, { authorization: `Bearer ${apiToken}` })
    expect(resend.statusCode).toBe(200)
    const mail = (await h.mails()).findLast((m) => m.to === email)
    const token = tokenFromLink(mail?.text ?? '', `${PUBLIC_URL}/verify-email?token=`)
    const res = await app.inject({ url: `/auth/verify-email?token=${token}` })
    expect(res.statusCode).toBe(302)
    expect(res.headers.location).toBe(`${PUBLIC_URL}/?emailverifiedstatus=true`)
    const bad = await app.inject({ url: `/auth/verify-email?token=${token}` })
    expect(new URL(bad.headers.location ?? '').searchParams.get('emailverifiederror')).toMatch(/not valid/)
    const verified = await post(app, '/auth/verify-email/request', {}, { authorization: `Bearer ${apiToken}` })
    expect(verified.json()).toEqual({ err: 'Your email address is already verified.' })
    expect((await post(app, '/auth/verify-email/request', {})).statusCode).toBe(401)
  })

  it('resets a password through the mailed link, and answers 200 for unknown addresses without mail', async () => {
    const unknown = newEmail()
    const before = (await h.mails()).length
    const none = await post(app, '/auth/password-reset/request', { email: unknown })
    expect(none.statusCode).toBe(200)
    expect((await h.mails()).length).toBe(before)

    const { email } = await register(app)
    const res = await post(app, '/auth/password-reset/request', { email: email.toUpperCase() })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual(none.json())
    const mail = (await h.mails()).findLast((m) => m.to === email && /Reset/.test(m.subject))
    const token = tokenFromLink(mail?.text ?? '', `${PUBLIC_URL}/reset-password?token=`)

    const short = await post(app, '/auth/password-reset/finalize', { token, password: 'short' })
    expect(short.statusCode).toBe(400)
    const done = await post(app, '/auth/password-reset/finalize', { token, password: 'a brand new password' })
    expect(done.statusCode).toBe(200)
    const reused = await post(app, '/auth/password-reset/finalize', { token, password: 'another new password' })
    expect(reused.statusCode).toBe(400)
    expect(reused.json<{ err: string }>().err).toMatch(/not valid/)

    const oldLogin = await post(app, '/auth/local/login?challenge=c', { email, password: PASSWORD })
    expect(oldLogin.statusCode).toBe(401)
    const newLogin = await post(app, '/auth/local/login?challenge=c', { email, password: 'a brand new password' })
    expect(newLogin.statusCode).toBe(302)
  })

  it('expires password reset links after an hour', async () => {
    const { email } = await register(app)
    await post(app, '/auth/password-reset/request', { email })
    const mail = (await h.mails()).findLast((m) => m.to === email && /Reset/.test(m.subject))
    const token = tokenFromLink(mail?.text ?? '', `${PUBLIC_URL}/reset-password?token=`)
    h.advance(61 * 60_000)
    const res = await post(app, '/auth/password-reset/finalize', { token, password: 'a brand new password' })
    expect(res.json()).toEqual({ err: 'This password reset link has expired.' })
  })

  it('changes a password only given the current one', async () => {
    const { token, email } = await webAppSession(app)
    const auth = { authorization: `Bearer ${token}` }
    const wrong = await post(
      app,
      '/auth/change-password',
      { currentPassword: 'nope', newPassword: 'next password' },
      auth,
    )
    expect(wrong.statusCode).toBe(400)
    expect(wrong.json()).toEqual({ err: 'Your current password is not correct.' })
    const ok = await post(
      app,
      '/auth/change-password',
      { currentPassword: PASSWORD, newPassword: 'next password' },
      auth,
    )
    expect(ok.statusCode).toBe(200)
    expect(await h.users.checkPassword(email, 'next password')).not.toBeNull()
    const anonymous = await post(app, '/auth/change-password', { currentPassword: 'x', newPassword: 'y' })
    expect(anonymous.statusCode).toBe(401)
  })

  it('changes the email given the password: the account reads unverified and the new address gets the link', async () => {
    const { token, email } = await webAppSession(app)
    const auth = { authorization: `Bearer ${token}` }
    const verifyLink = tokenFromLink(
      (await h.mails()).findLast((m) => m.to === email)?.text ?? '',
      `${PUBLIC_URL}/verify-email?token=`,
    )
    const next = newEmail()
    const wrong = await post(app, '/auth/change-email', { password: 'nope', newEmail: next }, auth)
    expect(wrong.statusCode).toBe(400)
    expect(wrong.json()).toEqual({ err: 'Your password is not correct.' })
    const taken = (await register(app)).email
    const clash = await post(app, '/auth/change-email', { password: PASSWORD, newEmail: taken.toUpperCase() }, auth)
    expect(clash.json()).toEqual({ err: 'Email taken.' })
    const malformed = await post(app, '/auth/change-email', { password: PASSWORD, newEmail: 'not an address' }, auth)
    expect(malformed.statusCode).toBe(400)
    expect((await post(app, '/auth/change-email', { password: PASSWORD, newEmail: next })).statusCode).toBe(401)

    const ok = await post(app, '/auth/change-email', { password: PASSWORD, newEmail: next }, auth)
    expect(ok.statusCode).toBe(200)
    expect(await h.users.getByEmail(email)).toBeNull()
    expect((await h.users.getByEmail(next))?.verified).toBe(false)
    expect(await h.users.checkPassword(next, PASSWORD)).not.toBeNull()
    // The link mailed to the old address no longer verifies anything; the new address's link does.
    expect((await post(app, '/auth/verify-email', { token: verifyLink })).statusCode).toBe(400)
    const mail = (await h.mails()).findLast((m) => m.to === next)
    expect(mail?.subject).toMatch(/Verify your email/)
    const newLink = tokenFromLink(mail?.text ?? '', `${PUBLIC_URL}/verify-email?token=`)
    expect((await post(app, '/auth/verify-email', { token: newLink })).statusCode).toBe(200)
    expect((await h.users.getByEmail(next))?.verified).toBe(true)
  })

  it('refuses an archived user’s sign-in and every use of their tokens', async () => {
    const { email, web, connector } = await connectorFlow(app)
    const user = await h.users.getByEmail(email)
    await h.users.setServerRole(user!.id, 'server:archived-user')
    const login = await post(app, '/auth/local/login?challenge=c', { email, password: PASSWORD })
    expect(login.statusCode).toBe(401)
    expect(login.json()).toEqual({ err: true, message: 'Invalid credentials.' })
    // Tokens issued before the archiving: cached principals carry the old role until their cache entry ages
    // out, so fresh token services stand in for a later request.
    const fresh = createTokensService({ sql: h.sql })
    for (const token of [web.token, connector.token]) {
      const principal = await fresh.verify(token)
      expect(principal?.serverRole).toBe('server:archived-user')
    }
    await h.users.setServerRole(user!.id, 'server:user')
    await expect(h.users.setServerRole(user!.id, 'server:boss')).rejects.toThrow(/Server role must be one of/)
  })

  it('rate limits login per IP with 429, Retry-After and X-RateLimit-Reset (Speckle’s 4 per 10 minutes)', async () => {
    const limitedDefault = await h.buildApp({ login: [{ limit: 4, windowSeconds: 600 }] })
    const { email } = await register(app)
    const attempt = (target: TrussApp, ip: string) =>
      target.inject({
        method: 'POST',
        url: '/auth/local/login?challenge=c',
        payload: { email, password: 'wrong password' },
        remoteAddress: ip,
      })
    for (let i = 0; i < 4; i++) {
      const res = await attempt(limitedDefault, '10.0.0.1')
      expect(res.statusCode).toBe(401)
      expect(res.headers['x-ratelimit-remaining']).toBe(String(3 - i))
    }
    const refused = await attempt(limitedDefault, '10.0.0.1')
    expect(refused.statusCode).toBe(429)
    expect(refused.json<{ err: string }>().err).toMatch(/rate limited/)
    const retryAfter = Number(refused.headers['retry-after'])
    expect(retryAfter).toBeGreaterThan(500)
    expect(retryAfter).toBeLessThanOrEqual(600)
    expect(Date.parse(String(refused.headers['x-ratelimit-reset']))).toBeGreaterThan(Date.now())
    // Another address is counted apart.
    expect((await attempt(limitedDefault, '10.0.0.2')).statusCode).toBe(401)
  })

  it('rate limits registration with Speckle’s default of 6 per hour (unset limits take the defaults)', async () => {
    const defaults = await h.buildApp({ register: undefined })
    let last = 0
    for (let i = 0; i < 7; i++) {
      const res = await defaults.inject({
        method: 'POST',
        url: '/auth/local/register?challenge=c',
        payload: { email: newEmail(), password: PASSWORD, name: 'R' },
        remoteAddress: '10.0.1.1',
      })
      last = res.statusCode
      if (i < 6) expect(res.statusCode).toBe(302)
    }
    expect(last).toBe(429)
  })

  it('on an invite-only server registers only through a valid invite for the same address', async () => {
    const admin = await h.users.create({ email: newEmail(), password: PASSWORD, name: 'Admin', admin: true })
    await h.settings.update({ inviteOnly: true })
    try {
      const refused = await post(app, '/auth/local/register?challenge=c', {
        email: newEmail(),
        password: PASSWORD,
        name: 'N',
      })
      expect(refused.statusCode).toBe(400)
      expect(refused.json<{ err: string }>().err).toMatch(/invite only/)

      const invited = newEmail()
      await h.invites.createInvite({ email: invited, inviterId: admin.id })
      const mail = (await h.mails()).findLast((m) => m.to === invited)
      expect(mail?.subject).toMatch(/Admin invited you/)
      const token = tokenFromLink(mail?.text ?? '', `${PUBLIC_URL}/authn/register?token=`)

      const wrongEmail = await post(app, `/auth/local/register?challenge=c&token=${token}`, {
        email: newEmail(),
        password: PASSWORD,
        name: 'N',
      })
      expect(wrongEmail.statusCode).toBe(400)
      expect(wrongEmail.json<{ err: string }>().err).toMatch(/Invite email mismatch/)
      const bogus = await post(app, `/auth/local/register?challenge=c&inviteId=${'x'.repeat(42)}`, {
        email: invited,
        password: PASSWORD,
        name: 'N',
      })
      expect(bogus.statusCode).toBe(400)

      const ok = await post(app, `/auth/local/register?challenge=c&inviteId=${token}`, {
        email: invited,
        password: PASSWORD,
        name: 'Invited',
      })
      expect(ok.statusCode).toBe(302)
      expect((await h.users.getByEmail(invited))?.verified).toBe(true)
      // Used up.
      expect(await h.invites.find(token)).toBeNull()
      await expect(h.invites.createInvite({ email: invited, inviterId: admin.id })).rejects.toThrow(/already/)
    } finally {
      await h.settings.update({ inviteOnly: false })
    }
  })

  it("registers an invitee with the invite's server role: guest only in guest mode, admin only from an admin", async () => {
    const admin = await h.users.create({ email: newEmail(), password: PASSWORD, name: 'Admin', admin: true })
    const member = await h.users.create({ email: newEmail(), password: PASSWORD, name: 'Member' })
    const register = async (email: string) => {
      const mail = (await h.mails()).findLast((m) => m.to === email)
      const token = tokenFromLink(mail?.text ?? '', `${PUBLIC_URL}/authn/register?token=`)
      const res = await post(app, `/auth/local/register?challenge=c&token=${token}`, {
        email,
        password: PASSWORD,
        name: 'Invited',
      })
      expect(res.statusCode).toBe(302)
      return (await h.users.getByEmail(email))?.serverRole
    }
    await expect(
      h.invites.createInvite({ email: newEmail(), inviterId: admin.id, serverRole: 'server:guest' }),
    ).rejects.toThrow('Guest mode is not enabled on this server')
    await expect(
      h.invites.createInvite({ email: newEmail(), inviterId: member.id, serverRole: 'server:admin' }),
    ).rejects.toThrow('Only server admins can assign the admin server role')
    await expect(
      h.invites.createInvite({ email: newEmail(), inviterId: admin.id, serverRole: 'server:archived-user' }),
    ).rejects.toThrow('Invalid server role')

    await h.settings.update({ guestModeEnabled: true })
    try {
      const guest = newEmail()
      await h.invites.createInvite({ email: guest, inviterId: member.id, serverRole: 'server:guest' })
      expect(await register(guest)).toBe('server:guest')
      const promoted = newEmail()
      await h.invites.createInvite({ email: promoted, inviterId: admin.id, serverRole: 'server:admin' })
      expect(await register(promoted)).toBe('server:admin')
      const plain = newEmail()
      await h.invites.createInvite({ email: plain, inviterId: member.id })
      expect(await register(plain)).toBe('server:user')
    } finally {
      await h.settings.update({ guestModeEnabled: false })
    }
  })

  it('keeps server settings: defaults first, partial updates, validation', async () => {
    const initial = await h.settings.get()
    expect(initial).toMatchObject({ name: 'Truss', inviteOnly: false, guestModeEnabled: false })
    const updated = await h.settings.update({ name: 'My hub', company: 'ACME', adminContact: 'admin@example.com' })
    expect(updated).toMatchObject({ name: 'My hub', company: 'ACME', adminContact: 'admin@example.com' })
    const cleared = await h.settings.update({ company: '', guestModeEnabled: true })
    expect(cleared).toMatchObject({ name: 'My hub', company: null, guestModeEnabled: true })
    expect(await h.settings.get()).toEqual(cleared)
    await expect(h.settings.update({ name: '' })).rejects.toThrow()
    await expect(h.settings.update({ unknown: 1 } as never)).rejects.toThrow()
    await h.settings.update({ name: 'Truss', guestModeEnabled: false })
  })

  it('seeds the built-in apps idempotently with their redirect URLs', async () => {
    await h.apps.ensureBuiltInApps(PUBLIC_URL)
    const expected: Record<string, string> = {
      spklwebapp: PUBLIC_URL,
      explorer: `${PUBLIC_URL}/explorer`,
      sdm: 'speckle://account',
      sca: 'http://localhost:29363',
      sdas: 'http://localhost:29364',
    }
    for (const [id, redirectUrl] of Object.entries(expected)) {
      expect((await h.apps.get(id))?.redirectUrl).toBe(redirectUrl)
    }
    for (const id of ['spklexcel', 'spklpwerbi', 'spklautoma', 'sdm', 'sca', 'sdas']) {
      expect((await h.apps.get(id))?.scopes).toEqual([...CONNECTOR_SCOPES])
    }
    expect((await h.apps.get('explorer'))?.scopes).toEqual([...SCOPES])
  })
})

describe('accounts and the app flow (postgres)', () => {
  let h: AccountsHarness

  beforeAll(async () => {
    h = await accountsHarness('postgres')
  })
  afterAll(async () => {
    await h?.close()
  })

  it('runs the connector flow, refresh and logout on PostgreSQL', async () => {
    const { connector } = await connectorFlow(h.app)
    const refreshed = await post(h.app, '/auth/token', {
      appId: 'sca',
      appSecret: 'sca',
      refreshToken: connector.refreshToken,
    })
    expect(refreshed.statusCode).toBe(200)
    await post(h.app, '/auth/logout', { token: connector.token })
    expect((await whoami(h.app, connector.token)).statusCode).toBe(403)
  })
})
