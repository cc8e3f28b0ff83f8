/**
 * `truss login URL`, `truss logout [URL]`, `truss accounts`: the accounts `send` and `receive` use when no
 * `--server`/`--token` is given. Login checks the token with the server (`activeUser`) before storing it.
 */
import { UsageError, type Command } from '../command.js'
import { accountsFile, listAccounts, removeAccount, saveAccount } from '../remote/accounts.js'
import { parseCommandArgs } from '../remote/args.js'
import { RemoteClient, RemoteError } from '../remote/client.js'

const LOGIN_HELP = `Usage: truss login <server-url> [--token <token>]

Check a personal access token with the server and store it as the default account (in the user data
folder, or TRUSS_HOME), so 'truss send' and 'truss receive' need no --server or --token.
Without --token the token is read from standard input, else from TRUSS_TOKEN.

Options:
  --token <token>     A personal access token (scopes: profile:read, streams:read, streams:write)
  -h, --help          Show this help
`

const LOGOUT_HELP = `Usage: truss logout [<server-url>]

Forget the stored account of a server (default: the default account).
`

const ACCOUNTS_HELP = `Usage: truss accounts

List the stored accounts; * marks the default.
`

export const loginCommand: Command = {
  name: 'login',
  summary: 'Store a token for a server (checked first); send/receive then need no flags',
  help: LOGIN_HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    })
    if (values.help) {
      io.stdout(LOGIN_HELP)
      return 0
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one server URL')
    const server = positionals[0]!
    if (!/^https?:\/\/[^/]/.test(server)) {
      throw new UsageError(`the server must be an http(s) URL (got ${JSON.stringify(server)})`)
    }
    let token = values.token
    if (token === undefined) token = (await io.readStdin?.())?.trim() || undefined
    token ??= io.env.TRUSS_TOKEN
    if (token === undefined || token.trim() === '') {
      throw new UsageError('no token: pass --token, pipe it on standard input, or set TRUSS_TOKEN')
    }
    const client = new RemoteClient({ server, token: token.trim() })
    const user = await client.whoami()
    const account = saveAccount(io.env, { server: client.server, token: token.trim(), user })
    io.stdout(`Logged in to ${account.server} as ${user.name}${user.email ? ` <${user.email}>` : ''}\n`)
    return 0
  },
}

export const logoutCommand: Command = {
  name: 'logout',
  summary: 'Forget the stored account of a server',
  help: LOGOUT_HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { help: { type: 'boolean', short: 'h' } })
    if (values.help) {
      io.stdout(LOGOUT_HELP)
      return 0
    }
    if (positionals.length > 1) throw new UsageError('give at most one server URL')
    const server = positionals[0] ?? listAccounts(io.env).find((a) => a.default)?.server
    if (server === undefined) throw new RemoteError('no account is stored')
    if (!removeAccount(io.env, server)) throw new RemoteError(`no account is stored for ${server}`)
    io.stdout(`Logged out of ${server}\n`)
    return 0
  },
}

export const accountsCommand: Command = {
  name: 'accounts',
  summary: 'List the accounts stored by truss login',
  help: ACCOUNTS_HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { help: { type: 'boolean', short: 'h' } })
    if (values.help) {
      io.stdout(ACCOUNTS_HELP)
      return 0
    }
    if (positionals.length > 0) throw new UsageError('truss accounts takes no arguments')
    const accounts = listAccounts(io.env)
    if (accounts.length === 0) {
      io.stderr(`No accounts stored (${accountsFile(io.env)}); run 'truss login URL'.\n`)
      return 0
    }
    for (const a of accounts) {
      const who = `${a.user.name}${a.user.email ? ` <${a.user.email}>` : ''}`
      io.stdout(`${a.default ? '*' : ' '} ${a.server}  ${who}  (user ${a.user.id})\n`)
    }
    return 0
  },
}
