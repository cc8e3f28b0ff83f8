/**
 * The accounts routes wired into the real app as `main.ts` does (auth plugin, then `accountsRoutes`) over a
 * real database, the in-process bus and the outbox mailer in a temporary folder; with a movable clock and
 * a reader for the mail written to the outbox.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createBlobStore } from '../../../adapters/blobs/index.js'
import type { BlobStore } from '../../../adapters/blobs/types.js'
import { createBus } from '../../../adapters/bus/index.js'
import type { Bus } from '../../../adapters/bus/types.js'
import { createOutboxMailer } from '../../../adapters/mail/index.js'
import type { Mailer } from '../../../adapters/mail/types.js'
import type { Sql } from '../../../adapters/sql/types.js'
import { buildApp, type TrussApp } from '../../../app.js'
import { loadConfig } from '../../../config.js'
import { createAppsService, type AppsService } from '../../apps/service.js'
import { authPlugin } from '../../auth/plugin.js'
import { openDatabase } from '../../auth/test-utils/identity.js'
import { createTokensService, subscribeTokenRevocations, type TokensService } from '../../tokens/service.js'
import { createUsersService, type UsersService } from '../../users/service.js'
import { createServerInvitesService, type ServerInvitesService } from '../invites.js'
import type { AccountsRateLimits } from '../rate-limit.js'
import { accountsRoutes } from '../rest.js'
import { createAccountsService, type AccountsService } from '../service.js'
import { createServerSettingsService, type ServerSettingsService } from '../settings.js'

export const PUBLIC_URL = 'http://truss.test:3000'
const silent = pino({ level: 'silent' })

/** Limits far above what the tests send from one address; the rate-limit test builds its own app. */
export const GENEROUS_LIMITS: AccountsRateLimits = {
  login: [{ limit: 10_000, windowSeconds: 60 }],
  register: [{ limit: 10_000, windowSeconds: 60 }],
  mail: [{ limit: 10_000, windowSeconds: 60 }],
}

export interface Mail {
  to: string
  subject: string
  text: string
}

export interface AccountsHarness {
  sql: Sql & { dispose(): Promise<void> }
  bus: Bus
  mailer: Mailer
  app: TrussApp
  users: UsersService
  tokens: TokensService
  apps: AppsService
  settings: ServerSettingsService
  invites: ServerInvitesService
  accounts: AccountsService
  /** Move the apps' and accounts' clock forward. */
  advance(ms: number): void
  /** Another app over the same services, e.g. with other rate limits. */
  buildApp(rateLimits?: Partial<AccountsRateLimits>): Promise<TrussApp>
  /** Every mail in the outbox, oldest first, bodies decoded. */
  mails(): Promise<Mail[]>
  close(): Promise<void>
}

export async function accountsHarness(kind: 'pglite' | 'postgres'): Promise<AccountsHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'truss-accounts-'))
  const sql = await openDatabase(kind)
  const blobs: BlobStore = await createBlobStore({ dataDir: dir })
  const bus = await createBus({ logger: silent })
  const mailer = await createOutboxMailer({ dataDir: dir, from: 'Truss <no-reply@truss.test>', logger: silent })
  const config = loadConfig({}, { dataDir: dir, publicUrl: PUBLIC_URL })
  let offsetMs = 0
  const now = () => Date.now() + offsetMs

  // ── the wiring handed to main.ts ──
  const tokens = createTokensService({ sql, bus })
  const users = createUsersService({ sql, tokens })
  const unsubscribe = await subscribeTokenRevocations(bus, tokens)
  const apps = createAppsService({ sql, tokens, now })
  await apps.ensureBuiltInApps(config.publicUrl)
  const settings = createServerSettingsService({ sql, defaults: { name: config.serverName } })
  const invites = createServerInvitesService({
    sql,
    users,
    mailer,
    publicUrl: config.publicUrl,
    settings,
    now,
  })
  const accounts = createAccountsService({ sql, users, mailer, settings, invites, publicUrl: config.publicUrl, now })

  const apps_: TrussApp[] = []
  async function build(rateLimits: Partial<AccountsRateLimits> = GENEROUS_LIMITS): Promise<TrussApp> {
    const app = buildApp({ config, sql, blobs, bus, logger: silent })
    await app.register(authPlugin, { tokens })
    await app.register(accountsRoutes, { accounts, apps, tokens, bus, publicUrl: config.publicUrl, rateLimits })
    // A protected route standing for any route behind auth.
    app.get('/test/whoami', async (request, reply) => {
      const p = request.principal
      if (p === null) return reply.code(401).send()
      return { userId: p.userId, serverRole: p.serverRole, scopes: [...p.scopes].sort() }
    })
    await app.ready()
    apps_.push(app)
    return app
  }
  const app = await build()

  return {
    sql,
    bus,
    mailer,
    app,
    users,
    tokens,
    apps,
    settings,
    invites,
    accounts,
    advance(ms) {
      offsetMs += ms
    },
    buildApp: build,
    async mails() {
      const folder = join(dir, 'outbox')
      const files = (await readdir(folder)).filter((f) => f.endsWith('.eml')).sort()
      return Promise.all(files.map(async (f) => parseEml(await readFile(join(folder, f), 'utf8'))))
    },
    async close() {
      for (const a of apps_) await a.close()
      await unsubscribe()
      await Promise.all([sql.dispose(), blobs.close(), bus.close(), mailer.close()])
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Just enough of RFC 5322 + MIME for nodemailer's single-part text messages. */
function parseEml(raw: string): Mail {
  const split = raw.indexOf('\r\n\r\n')
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ')
  const body = raw.slice(split + 4)
  const header = (name: string) => new RegExp(`^${name}: (.*)$`, 'im').exec(head)?.[1]?.trim() ?? ''
  const encoding = header('Content-Transfer-Encoding').toLowerCase()
  const text =
    encoding === 'quoted-printable'
      ? Buffer.from(
          body
            .replace(/=\r?\n/g, '')
            .replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
          'latin1',
        ).toString('utf8')
      : encoding === 'base64'
        ? Buffer.from(body, 'base64').toString('utf8')
        : body
  return { to: header('To'), subject: header('Subject'), text: text.replace(/\r\n/g, '\n') }
}

/** The value of `token` in the first link in `text` that starts with `prefix`. */
export function tokenFromLink(text: string, prefix: string): string {
  const link = text.split(/\s+/).find((word) => word.startsWith(prefix))
  if (link === undefined) throw new Error(`no link starting with ${prefix} in:\n${text}`)
  const token = new URL(link).searchParams.get('token')
  if (token === null) throw new Error(`no token in ${link}`)
  return token
}
