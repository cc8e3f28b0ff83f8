/**
 * The account and app-flow routes Speckle's clients call (WIRE.md "Auth: the app flow"): local register and
 * login ending in a redirect with an access code, `/auth/token`, `/auth/accesscode`, `/auth/logout`, plus
 * e-mail verification and password reset/change. These routes answer Speckle's own shapes (`{err}` JSON,
 * plain-text 400s) rather than the app's error envelope, so known failures are answered here.
 * Web sessions: a sign-in from this server's own site also sets the `authn` cookie (HttpOnly, SameSite=Lax,
 * Secure behind https) holding a session token of the web app, so the built-in web app never puts a token in
 * a URL; `/auth/logout` revokes it and clears the cookie.
 * Reference: speckle-server `packages/server/modules/auth/{index,rest/index}.js`, `strategies/local.js`.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { Bus } from '../../adapters/bus/types.js'
import { BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated } from '../../errors.js'
import { WEB_APP_ID } from '../apps/builtin.js'
import type { AppsService } from '../apps/service.js'
import { fromOwnSite } from '../auth/plugin.js'
import { SCOPES } from '../../principal.js'
import type { TokensService } from '../tokens/service.js'
import { checkRateLimit, DEFAULT_ACCOUNTS_RATE_LIMITS, type AccountsRateLimits } from './rate-limit.js'
import type { AccountsService } from './service.js'

export interface AccountsRoutesOptions {
  accounts: AccountsService
  apps: AppsService
  tokens: Pick<TokensService, 'verify' | 'revoke' | 'createAppToken'>
  /** Rate-limit counters. */
  bus: Pick<Bus, 'hit'>
  /** The frontend origin: login and register redirect here with the access code. */
  publicUrl: string
  /** Defaults to Speckle's (`DEFAULT_ACCOUNTS_RATE_LIMITS`); each action may be overridden. */
  rateLimits?: Partial<AccountsRateLimits>
  /** How long a web session (the `authn` cookie) lasts. Default 30 days. */
  sessionTtlSeconds?: number
}

export const SESSION_COOKIE = 'authn'
const DEFAULT_SESSION_TTL_SECONDS = 30 * 24 * 3600

const NO_CHALLENGE = 'Invalid request: no challenge detected.'
const INVALID_CREDENTIALS = { err: true, message: 'Invalid credentials.' } as const
// Form bodies are a few fields; JSON bodies keep the app's limit.
const FORM_BODY_LIMIT_BYTES = 64 * 1024

const shortText = z.string().max(1024)
const loginBody = z.object({ email: shortText, password: shortText })
const registerBody = z.object({
  email: shortText,
  password: shortText,
  name: shortText,
  company: shortText.nullish(),
})
const tokenBody = z.union([
  z.object({ appId: shortText, appSecret: shortText, accessCode: shortText, challenge: shortText }),
  z.object({ appId: shortText, appSecret: shortText, refreshToken: shortText }),
])
const logoutBody = z.object({ token: shortText.min(1).nullish(), refreshToken: shortText.nullish() })
const tokenOnlyBody = z.object({ token: shortText.min(1) })
const emailBody = z.object({ email: shortText.min(1) })
const resetBody = z.object({ token: shortText.min(1), password: shortText })
const changePasswordBody = z.object({ currentPassword: shortText, newPassword: shortText })
const changeEmailBody = z.object({ password: shortText, newEmail: shortText.min(1) })

/** A query parameter's first value, or null when absent or empty. */
function queryValue(request: FastifyRequest, name: string): string | null {
  const query = request.query as Record<string, unknown> | undefined
  const value = query?.[name]
  const first = Array.isArray(value) ? (value[0] as unknown) : value
  return typeof first === 'string' && first !== '' ? first : null
}

function sendText(reply: FastifyReply, status: number, text: string): FastifyReply {
  return reply.code(status).type('text/plain; charset=utf-8').send(text)
}

/** Append `access_code` (and more) to a redirect URL that may already carry a query. */
function withParams(url: string, params: Record<string, string>): string {
  const query = new URLSearchParams(params).toString()
  return `${url}${url.includes('?') ? '&' : '?'}${query}`
}

async function accountsRoutesPlugin(app: FastifyInstance, opts: AccountsRoutesOptions): Promise<void> {
  const { accounts, apps, tokens, bus } = opts
  const given = opts.rateLimits ?? {}
  const rateLimits: AccountsRateLimits = {
    login: given.login ?? DEFAULT_ACCOUNTS_RATE_LIMITS.login,
    register: given.register ?? DEFAULT_ACCOUNTS_RATE_LIMITS.register,
    mail: given.mail ?? DEFAULT_ACCOUNTS_RATE_LIMITS.mail,
  }
  const frontend = opts.publicUrl.replace(/\/+$/, '')
  const sessionTtlSeconds = opts.sessionTtlSeconds ?? DEFAULT_SESSION_TTL_SECONDS
  const ownOrigins: ReadonlySet<string> = new Set([new URL(frontend).origin])
  const cookieFlags = `Path=/; HttpOnly; SameSite=Lax${frontend.startsWith('https:') ? '; Secure' : ''}`

  /**
   * Start a web session: a web-app token (stored hashed, expiring, revocable like any token) in the `authn`
   * cookie. Only for sign-ins from this site: another site's form must not sign the browser into its account.
   */
  async function startSession(request: FastifyRequest, reply: FastifyReply, userId: string): Promise<void> {
    if (!fromOwnSite(request, ownOrigins)) return
    const token = await tokens.createAppToken({
      userId,
      appId: WEB_APP_ID,
      name: 'Web session',
      scopes: SCOPES,
      expiresAt: new Date(Date.now() + sessionTtlSeconds * 1000),
    })
    reply.header('set-cookie', `${SESSION_COOKIE}=${token}; ${cookieFlags}; Max-Age=${sessionTtlSeconds}`)
  }

  // Speckle's login page posts a form; parsed only in this plugin's scope.
  if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) {
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT_BYTES },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
    )
  }

  const limited = (action: keyof AccountsRateLimits, request: FastifyRequest, reply: FastifyReply) =>
    checkRateLimit(bus, rateLimits[action], action, request, reply)

  /** The redirect ending a sign-in: the frontend with a web-app access code for the client's challenge. */
  async function finishSignIn(
    request: FastifyRequest,
    reply: FastifyReply,
    userId: string,
    challenge: string,
    registered: boolean,
  ) {
    await startSession(request, reply, userId)
    const code = await apps.createAccessCode({ appId: WEB_APP_ID, userId, challenge })
    const params: Record<string, string> = { access_code: code }
    if (registered) params.register = 'true'
    return reply.redirect(withParams(`${frontend}/`, params), 302)
  }

  app.post('/auth/local/login', async (request, reply) => {
    if (!(await limited('login', request, reply))) return reply
    const challenge = queryValue(request, 'challenge')
    if (challenge === null) return sendText(reply, 400, NO_CHALLENGE)
    const body = loginBody.safeParse(request.body ?? {})
    if (!body.success) return reply.code(401).send(INVALID_CREDENTIALS)
    const user = await accounts.login(body.data.email, body.data.password)
    if (user === null || user.serverRole === 'server:archived-user') {
      request.log.info({ ip: request.ip }, 'login refused')
      return reply.code(401).send(INVALID_CREDENTIALS)
    }
    return finishSignIn(request, reply, user.id, challenge, false)
  })

  app.post('/auth/local/register', async (request, reply) => {
    if (!(await limited('register', request, reply))) return reply
    const challenge = queryValue(request, 'challenge')
    if (challenge === null) return sendText(reply, 400, NO_CHALLENGE)
    const body = registerBody.safeParse(request.body ?? {})
    if (!body.success) return reply.code(400).send({ err: 'Provide an email, a password and a name.' })
    let user
    try {
      user = await accounts.register({
        ...body.data,
        inviteToken: queryValue(request, 'token') ?? queryValue(request, 'inviteId'),
      })
    } catch (err) {
      if (err instanceof Conflict) return reply.code(400).send({ err: 'Email taken. Try logging in?' })
      if (err instanceof BadUserInput || err instanceof Forbidden) return reply.code(400).send({ err: err.message })
      throw err
    }
    request.log.info({ userId: user.id, serverRole: user.serverRole }, 'user registered')
    if (!user.verified) {
      try {
        await accounts.sendEmailVerification(user.id)
      } catch (err) {
        // The account exists; the user can ask for another mail.
        request.log.error({ err, userId: user.id }, 'could not send the verification mail')
      }
    }
    return finishSignIn(request, reply, user.id, challenge, true)
  })

  app.post('/auth/token', async (request, reply) => {
    const body = tokenBody.safeParse(request.body ?? {})
    if (!body.success) return reply.code(401).send({ err: 'Invalid request' })
    try {
      const pair = 'accessCode' in body.data ? await apps.exchangeAccessCode(body.data) : await apps.refresh(body.data)
      return pair
    } catch (err) {
      if (err instanceof Unauthenticated || err instanceof BadUserInput) {
        request.log.info({ appId: body.data.appId, reason: err.message }, 'token exchange refused')
        return reply.code(401).send({ err: err.message })
      }
      throw err
    }
  })

  app.get('/auth/accesscode', async (request, reply) => {
    const appId = queryValue(request, 'appId')
    const target = appId === null ? null : await apps.get(appId)
    if (target === null) return sendText(reply, 400, 'App does not exist.')
    const challenge = queryValue(request, 'challenge')
    if (challenge === null) return sendText(reply, 400, 'Missing challenge')
    // Speckle's web app puts the token in the query; a client may keep it out of URLs (and logs) by sending it
    // in `Authorization` instead. Never the cookie: a page elsewhere could then mint codes for its own app.
    const token = queryValue(request, 'token')
    const fromHeader = request.credentialSource === 'header' ? request.principal : null
    if (token === null && fromHeader === null) return sendText(reply, 400, 'Missing token')
    const principal = token === null ? fromHeader : await tokens.verify(token)
    if (
      principal === null ||
      !principal.scopes.has('tokens:write') ||
      principal.serverRole === 'server:archived-user'
    ) {
      return sendText(reply, 400, 'Invalid token')
    }
    let code
    try {
      code = await apps.createAccessCode({ appId: target.id, userId: principal.userId, challenge })
    } catch (err) {
      if (err instanceof NotFound) return sendText(reply, 400, 'App does not exist.')
      throw err
    }
    const redirectUrl = withParams(target.redirectUrl, { access_code: code })
    if (queryValue(request, 'preventRedirect') !== null) return { redirectUrl }
    return reply.redirect(redirectUrl, 302)
  })

  app.post('/auth/logout', async (request, reply) => {
    const body = logoutBody.safeParse(request.body ?? {})
    // The session cookie (checked same-site by the auth plugin) signs out without a token in the body.
    const session = request.credentialSource === 'cookie' ? request.principal : null
    if (!body.success || (!body.data.token && session === null)) {
      return reply.code(400).send({ err: 'Invalid request. No token provided.' })
    }
    if (session !== null) {
      await tokens.revoke(session.tokenId)
      reply.header('set-cookie', `${SESSION_COOKIE}=; ${cookieFlags}; Max-Age=0`)
    }
    // Only a token shown whole is revoked: its id alone must not let anyone sign someone else out.
    const principal = body.data.token ? await tokens.verify(body.data.token) : session
    if (principal !== null && principal !== session) await tokens.revoke(principal.tokenId)
    if (body.data.refreshToken) await apps.revokeRefreshToken(body.data.refreshToken, principal?.userId)
    return { message: 'You have logged out.' }
  })

  app.get('/auth/verify-email', async (request, reply) => {
    const token = queryValue(request, 'token')
    const target = new URL(`${frontend}/`)
    try {
      if (token === null) throw new BadUserInput('The verification link has no token.')
      await accounts.verifyEmail(token)
      target.searchParams.set('emailverifiedstatus', 'true')
    } catch (err) {
      if (!(err instanceof BadUserInput)) throw err
      target.searchParams.set('emailverifiederror', err.message)
    }
    return reply.redirect(target.href, 302)
  })

  app.post('/auth/verify-email', async (request, reply) => {
    const body = tokenOnlyBody.safeParse(request.body ?? {})
    if (!body.success) return reply.code(400).send({ err: 'Provide the verification token.' })
    try {
      const user = await accounts.verifyEmail(body.data.token)
      request.log.info({ userId: user.id }, 'email verified')
      return { message: 'Your email address is verified.' }
    } catch (err) {
      if (err instanceof BadUserInput) return reply.code(400).send({ err: err.message })
      throw err
    }
  })

  app.post('/auth/verify-email/request', async (request, reply) => {
    if (request.principal === null) return reply.code(401).send({ err: 'You must be logged in.' })
    if (!(await limited('mail', request, reply))) return reply
    try {
      await accounts.sendEmailVerification(request.principal.userId)
    } catch (err) {
      if (err instanceof BadUserInput) return reply.code(400).send({ err: err.message })
      throw err
    }
    return { message: 'Verification email sent.' }
  })

  app.post('/auth/password-reset/request', async (request, reply) => {
    if (!(await limited('mail', request, reply))) return reply
    const body = emailBody.safeParse(request.body ?? {})
    if (!body.success) return reply.code(400).send({ err: 'Provide an email address.' })
    try {
      await accounts.requestPasswordReset(body.data.email)
    } catch (err) {
      // The same answer either way, so nobody learns which addresses have accounts.
      request.log.error({ err }, 'could not send a password reset mail')
    }
    return { message: 'If the address has an account, a password reset link is on its way.' }
  })

  app.post('/auth/password-reset/finalize', async (request, reply) => {
    const body = resetBody.safeParse(request.body ?? {})
    if (!body.success) return reply.code(400).send({ err: 'Provide the reset token and a new password.' })
    try {
      await accounts.finalizePasswordReset(body.data.token, body.data.password)
    } catch (err) {
      if (err instanceof BadUserInput) return reply.code(400).send({ err: err.message })
      throw err
    }
    return { message: 'Your password has been changed. You can log in now.' }
  })

  app.post('/auth/change-password', async (request, reply) => {
    if (request.principal === null) return reply.code(401).send({ err: 'You must be logged in.' })
    const body = changePasswordBody.safeParse(request.body ?? {})
    if (!body.success) return reply.code(400).send({ err: 'Provide the current and the new password.' })
    try {
      await accounts.changePassword(request.principal.userId, body.data.currentPassword, body.data.newPassword)
    } catch (err) {
      if (err instanceof BadUserInput) return reply.code(400).send({ err: err.message })
      throw err
    }
    return { message: 'Your password has been changed.' }
  })

  // Not a Speckle route (2.24 manages several addresses per user through GraphQL): one address per user here.
  app.post('/auth/change-email', async (request, reply) => {
    if (request.principal === null) return reply.code(401).send({ err: 'You must be logged in.' })
    if (!(await limited('mail', request, reply))) return reply
    const body = changeEmailBody.safeParse(request.body ?? {})
    if (!body.success) return reply.code(400).send({ err: 'Provide your password and the new email address.' })
    try {
      const user = await accounts.changeEmail(request.principal.userId, body.data.password, body.data.newEmail)
      request.log.info({ userId: user.id }, 'email changed')
      return { message: 'Your email address has been changed. Check your inbox to verify it.', email: user.email }
    } catch (err) {
      if (err instanceof Conflict) return reply.code(400).send({ err: 'Email taken.' })
      if (err instanceof BadUserInput) return reply.code(400).send({ err: err.message })
      throw err
    }
  })
}

export const accountsRoutes: FastifyPluginAsync<AccountsRoutesOptions> = accountsRoutesPlugin
