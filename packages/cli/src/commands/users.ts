/** `truss users create`: create a user account (the first one becomes the server admin). */
import type { CreateUserInput, UsersService } from '@truss/server'
import type { CliIo, Command } from '../command.js'
import { DATABASE_HELP, identityCommand, parseFlags, required, type ParsedCreate } from './identity.js'

const HELP = `Usage: truss users create --email <email> --password <password> --name <name> [--admin]

Create a user account with a password. The first user created on a server becomes its admin.
Prints the new user's id as the last line.

Options:
  --email <email>       Email address (unique, case-insensitive)
  --password <text>     Password, at least 8 characters
  --name <name>         Display name
  --admin               Make the user a server admin
  -h, --help            Show this help

${DATABASE_HELP}
`

export type UsersCreateArgs = ParsedCreate<CreateUserInput>

export function parseUsersCreateArgs(args: readonly string[]): UsersCreateArgs {
  const values = parseFlags(args, {
    email: { type: 'string' },
    password: { type: 'string' },
    name: { type: 'string' },
    admin: { type: 'boolean' },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) return { help: true }
  return {
    help: false,
    dataDir: values['data-dir'],
    input: {
      email: required(values.email, '--email'),
      password: required(values.password, '--password'),
      name: required(values.name, '--name'),
      admin: values.admin === true,
    },
  }
}

/** Create the user and report it; the id is the last line. Domain errors propagate (`truss: <message>`). */
export async function createUser(
  services: { users: Pick<UsersService, 'create'> },
  input: CreateUserInput,
  io: Pick<CliIo, 'stdout'>,
): Promise<number> {
  const user = await services.users.create(input)
  io.stdout(`Created user ${user.email} (${user.name}, ${user.serverRole})\n${user.id}\n`)
  return 0
}

export const usersCommand: Command = identityCommand({
  name: 'users',
  summary: 'Create user accounts',
  help: HELP,
  parse: parseUsersCreateArgs,
  create: createUser,
})
