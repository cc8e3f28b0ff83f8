/**
 * What the identity commands (`users`, `tokens`, `projects`) share: opening the server's database from
 * `--data-dir` / `TRUSS_DATA_DIR` or `DATABASE_URL` (migrated first), and the `create` subcommand shape.
 */
import { parseArgs } from 'node:util'
import { loadConfig, openIdentity, type IdentityServices } from '@truss/server'
import { UsageError, type CliIo, type Command } from '../command.js'

export const DATABASE_HELP = `Database:
  --data-dir <path>   Data folder of the embedded database (TRUSS_DATA_DIR; default ./.truss);
                      stop 'truss serve' on the same folder first, it holds it open
  DATABASE_URL        postgres://… to use PostgreSQL instead (as 'truss serve' does)`

/** Open the identity services on the server's database, run `fn`, and close the database whatever happens. */
export async function withIdentity<T>(
  dataDir: string | undefined,
  io: CliIo,
  fn: (services: IdentityServices) => Promise<T>,
): Promise<T> {
  const config = loadConfig(io.env, dataDir === undefined ? {} : { dataDir })
  const identity = await openIdentity({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
  try {
    return await fn(identity)
  } finally {
    await identity.close()
  }
}

type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>
type FlagValues<O extends FlagSpec> = { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string }

/** Parse a subcommand's flags strictly; `UsageError` with parseArgs' own words on anything unknown. */
export function parseFlags<O extends FlagSpec>(args: readonly string[], options: O): FlagValues<O> {
  try {
    // Strict, no multiples: every value is a string or a boolean, as FlagValues says.
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values as FlagValues<O>
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
}

/** A `--port` value: a whole number from 0 (the kernel picks) to 65535. */
export function parsePort(value: string, flag = '--port'): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) {
    throw new UsageError(`${flag} must be a whole number from 0 to 65535 (got ${JSON.stringify(value)})`)
  }
  return Number(value)
}

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value.trim() === '') throw new UsageError(`${flag} is required`)
  return value
}

/**
 * Dispatch `truss <group> <subcommand> …`: `--help` (or `help`) prints `help`; a missing or unknown
 * subcommand is a usage error naming the ones that exist.
 */
async function runSubcommand(
  group: string,
  args: readonly string[],
  io: CliIo,
  help: string,
  subcommands: Record<string, (args: string[], io: CliIo) => Promise<number>>,
): Promise<number> {
  const [name, ...rest] = args
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout(help)
    return 0
  }
  const known = Object.keys(subcommands)
  if (name === undefined) throw new UsageError(`truss ${group} needs a subcommand: ${known.join(', ')}`)
  const run = Object.hasOwn(subcommands, name) ? subcommands[name] : undefined
  if (run === undefined) {
    throw new UsageError(`unknown subcommand "${name}" for truss ${group} (known: ${known.join(', ')})`)
  }
  return run(rest, io)
}

/** What a `create` subcommand's flags parse to. */
export type ParsedCreate<I> = { help: true } | { help: false; dataDir?: string; input: I }

/** A `truss <name> create …` command: parse the flags, open the database, run `create` on the services. */
export function identityCommand<I>(spec: {
  name: string
  summary: string
  help: string
  parse(args: readonly string[]): ParsedCreate<I>
  create(services: IdentityServices, input: I, io: CliIo): Promise<number>
}): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    help: spec.help,
    run: (args, io) =>
      runSubcommand(spec.name, args, io, spec.help, {
        async create(rest, io) {
          const parsed = spec.parse(rest)
          if (parsed.help) {
            io.stdout(spec.help)
            return 0
          }
          return withIdentity(parsed.dataDir, io, (services) => spec.create(services, parsed.input, io))
        },
      }),
  }
}
