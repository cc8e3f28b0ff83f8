/**
 * The `truss` command: dispatches to the commands in `COMMANDS`. A new command is one file in `commands/`
 * exporting a `Command`, plus one line in the table below.
 */
import { createRequire } from 'node:module'
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type CliIo, type Command } from './command.js'
import { importCommand } from './commands/import.js'
import { jobsCommand } from './commands/jobs.js'
import { accountsCommand, loginCommand, logoutCommand } from './commands/login.js'
import { projectsCommand } from './commands/projects.js'
import { queryCommand } from './commands/query.js'
import { receiveCommand } from './commands/receive.js'
import { sendCommand } from './commands/send.js'
import { serveCommand } from './commands/serve.js'
import { tokensCommand } from './commands/tokens.js'
import { usersCommand } from './commands/users.js'
import { workerCommand } from './commands/worker.js'
import { HISTORY_COMMANDS } from './history/commands.js'
import { SYNC_COMMANDS } from './history/sync-commands.js'

export const COMMANDS: readonly Command[] = [
  serveCommand,
  workerCommand,
  usersCommand,
  tokensCommand,
  projectsCommand,
  jobsCommand,
  importCommand,
  ...HISTORY_COMMANDS,
  ...SYNC_COMMANDS,
  loginCommand,
  logoutCommand,
  accountsCommand,
  sendCommand,
  receiveCommand,
  queryCommand,
]

function version(): string {
  const pkg: unknown = createRequire(import.meta.url)('../package.json')
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg ? String(pkg.version) : 'unknown'
}

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2
  return [
    'Usage: truss <command> [options]',
    '',
    'Truss: an open-source data hub for AEC, speaking Speckle’s wire protocol.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Options:',
    '  -h, --help     Show this help',
    '  -v, --version  Show the version',
    '',
    "Run 'truss <command> --help' for a command's options.",
    '',
  ].join('\n')
}

/** Run `truss` with `argv` (without node and the script); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv
  if (name === undefined) {
    io.stderr(mainHelp())
    return EXIT_USAGE
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout(mainHelp())
    return EXIT_OK
  }
  if (name === '--version' || name === '-v') {
    io.stdout(`${version()}\n`)
    return EXIT_OK
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (command === undefined) {
    io.stderr(`truss: unknown command "${name}"\nRun 'truss --help' for the list of commands.\n`)
    return EXIT_USAGE
  }
  try {
    return await command.run(args, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`truss: ${err.message}\nRun 'truss ${command.name} --help' for usage.\n`)
      return EXIT_USAGE
    }
    io.stderr(`truss: ${err instanceof Error ? err.message : String(err)}\n`)
    return EXIT_FAILURE
  }
}
