/** `truss tokens create`: create a personal API token for a user (for scripts, connectors, CI). */
import { isScope, NotFound, SCOPES, type TokensService, type UsersService } from '@truss/server'
import { UsageError, type CliIo, type Command } from '../command.js'
import { DATABASE_HELP, identityCommand, parseFlags, required, type ParsedCreate } from './identity.js'

const HELP = `Usage: truss tokens create --email <email> --name <name> --scopes <a,b,c> [--expires-days <n>]

Create an API token for a user and print it as the last line. It is shown only once: only a hash of it
is stored. Send it as 'Authorization: Bearer <token>'.

Options:
  --email <email>       The user the token acts as
  --name <name>         A name to recognise the token by
  --scopes <list>       Comma-separated scopes, e.g. streams:read,streams:write
                        (${SCOPES.join(', ')})
  --expires-days <n>    Expire after n days (default: never)
  -h, --help            Show this help

${DATABASE_HELP}
`

export interface TokensCreateInput {
  email: string
  name: string
  scopes: string[]
  expiresDays?: number
}

export type TokensCreateArgs = ParsedCreate<TokensCreateInput>

export function parseTokensCreateArgs(args: readonly string[]): TokensCreateArgs {
  const values = parseFlags(args, {
    email: { type: 'string' },
    name: { type: 'string' },
    scopes: { type: 'string' },
    'expires-days': { type: 'string' },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) return { help: true }
  const scopes = required(values.scopes, '--scopes')
    .split(',')
    .map((scope) => scope.trim())
    .filter((scope) => scope !== '')
  // The service checks too; checking here answers before the database is opened.
  const unknown = scopes.filter((scope) => !isScope(scope))
  if (unknown.length > 0) {
    throw new UsageError(`unknown scope ${unknown.map((s) => `"${s}"`).join(', ')} (known: ${SCOPES.join(', ')})`)
  }
  const input: TokensCreateInput = {
    email: required(values.email, '--email'),
    name: required(values.name, '--name'),
    scopes,
  }
  const days = values['expires-days']
  if (days !== undefined) {
    if (!/^\d+$/.test(days) || Number(days) < 1 || Number(days) > 36_500) {
      throw new UsageError(
        `--expires-days must be a whole number of days from 1 to 36500 (got ${JSON.stringify(days)})`,
      )
    }
    input.expiresDays = Number(days)
  }
  return { help: false, dataDir: values['data-dir'], input }
}

const DAY_MS = 24 * 60 * 60 * 1000

/** Create the token and print it as the last line. */
export async function createToken(
  services: { users: Pick<UsersService, 'getByEmail'>; tokens: Pick<TokensService, 'create'> },
  input: TokensCreateInput,
  io: Pick<CliIo, 'stdout'>,
  now: () => number = Date.now,
): Promise<number> {
  const user = await services.users.getByEmail(input.email)
  if (user === null) throw new NotFound('user', input.email)
  const expiresAt = input.expiresDays === undefined ? null : new Date(now() + input.expiresDays * DAY_MS)
  const token = await services.tokens.create({ userId: user.id, name: input.name, scopes: input.scopes, expiresAt })
  const expiry = expiresAt === null ? 'never expires' : `expires ${expiresAt.toISOString()}`
  io.stdout(
    `Created token "${input.name}" for ${user.email} with scopes ${[...new Set(input.scopes)].join(', ')}; ${expiry}.\n` +
      `It is shown only this once:\n${token}\n`,
  )
  return 0
}

export const tokensCommand: Command = identityCommand({
  name: 'tokens',
  summary: 'Create API tokens',
  help: HELP,
  parse: parseTokensCreateArgs,
  create: createToken,
})
