/** `truss projects create`: create a project owned by a user, with its `main` model. */
import { NotFound, type ProjectsService, type UsersService } from '@truss/server'
import type { CliIo, Command } from '../command.js'
import { DATABASE_HELP, identityCommand, parseFlags, required, type ParsedCreate } from './identity.js'

const HELP = `Usage: truss projects create --owner <email> --name <name> [--public] [--description <text>]

Create a project owned by a user, with a model named 'main'. Prints the project id as the last line.

Options:
  --owner <email>       The user who owns the project
  --name <name>         Project name
  --public              Anyone may read the project, without a token (default: private)
  --description <text>  A description
  -h, --help            Show this help

${DATABASE_HELP}
`

export interface ProjectsCreateInput {
  ownerEmail: string
  name: string
  public: boolean
  description?: string
}

export type ProjectsCreateArgs = ParsedCreate<ProjectsCreateInput>

export function parseProjectsCreateArgs(args: readonly string[]): ProjectsCreateArgs {
  const values = parseFlags(args, {
    owner: { type: 'string' },
    name: { type: 'string' },
    public: { type: 'boolean' },
    description: { type: 'string' },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) return { help: true }
  const input: ProjectsCreateInput = {
    ownerEmail: required(values.owner, '--owner'),
    name: required(values.name, '--name'),
    public: values.public === true,
  }
  if (values.description !== undefined) input.description = values.description
  return { help: false, dataDir: values['data-dir'], input }
}

/** Create the project and print its id as the last line. */
export async function createProject(
  services: { users: Pick<UsersService, 'getByEmail'>; projects: Pick<ProjectsService, 'create'> },
  input: ProjectsCreateInput,
  io: Pick<CliIo, 'stdout'>,
): Promise<number> {
  const owner = await services.users.getByEmail(input.ownerEmail)
  if (owner === null) throw new NotFound('user', input.ownerEmail)
  const project = await services.projects.create({
    ownerId: owner.id,
    name: input.name,
    description: input.description ?? null,
    visibility: input.public ? 'public' : 'private',
  })
  io.stdout(`Created ${project.visibility} project "${project.name}" owned by ${owner.email}\n${project.id}\n`)
  return 0
}

export const projectsCommand: Command = identityCommand({
  name: 'projects',
  summary: 'Create projects',
  help: HELP,
  parse: parseProjectsCreateArgs,
  create: createProject,
})
