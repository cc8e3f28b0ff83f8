/** What every `truss` command is: a name, help text and a `run` that returns the exit code. */
import type { SignalSource } from '@truss/server'

export interface CliIo {
  env: Record<string, string | undefined>
  stdout(text: string): void
  stderr(text: string): void
  /** Where long-running commands listen for SIGTERM/SIGINT (`process` in the real CLI). */
  signals: SignalSource
  /** All of standard input as text, when it is not a terminal (`truss login` reads a token from it). */
  readStdin?: () => Promise<string | undefined>
  /** Whether standard error is a terminal (progress bars redraw there; elsewhere they print a few lines). */
  stderrIsTTY?: boolean
}

export interface Command {
  name: string
  /** One line for `truss --help`. */
  summary: string
  /** Full text for `truss <name> --help`. */
  help: string
  run(args: string[], io: CliIo): Promise<number>
}

/** Bad flags or arguments: printed as `truss: <message>` with a pointer to the help, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

export const EXIT_OK = 0
/** Start-up or runtime failure (bad configuration, port in use, …). */
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2
