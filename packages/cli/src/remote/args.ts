/** Flag parsing for the remote commands: strict flags plus positionals (a file, a URL, a link). */
import { parseArgs } from 'node:util'
import { UsageError } from '../command.js'

type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>
type FlagValues<O extends FlagSpec> = { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string }

export function parseCommandArgs<O extends FlagSpec>(
  args: readonly string[],
  options: O,
): { values: FlagValues<O>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, strict: true, allowPositionals: true })
    return { values: values as FlagValues<O>, positionals }
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
}

/** The flags every remote command takes. */
export const TARGET_FLAGS = {
  server: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

export const TARGET_HELP = `  --server <url>      The server (TRUSS_SERVER / TRUSS_SERVER_URL; default: the account of 'truss login')
  --token <token>     A personal access token (TRUSS_TOKEN; default: the stored account's)
  -h, --help          Show this help`
