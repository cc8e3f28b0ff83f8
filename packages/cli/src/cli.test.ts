import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { COMMANDS, runCli } from './cli.js'
import type { CliIo } from './command.js'
import { parseServeArgs } from './commands/serve.js'

function captureIo(env: Record<string, string> = {}): CliIo & { out: string; err: string } {
  const io = {
    env,
    out: '',
    err: '',
    stdout: (text: string) => {
      io.out += text
    },
    stderr: (text: string) => {
      io.err += text
    },
    signals: new EventEmitter(),
  }
  return io
}

describe('truss', () => {
  it('lists every command in --help and exits 0', async () => {
    const io = captureIo()
    expect(await runCli(['--help'], io)).toBe(0)
    expect(io.out).toContain('Usage: truss <command> [options]')
    const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    for (const command of COMMANDS) {
      expect(io.out).toMatch(new RegExp(`\\n  ${command.name} +${escape(command.summary)}`))
    }
  })

  it('prints the help on stderr and exits 2 without a command', async () => {
    const io = captureIo()
    expect(await runCli([], io)).toBe(2)
    expect(io.err).toContain('Usage: truss <command>')
  })

  it('refuses an unknown command with exit 2', async () => {
    const io = captureIo()
    expect(await runCli(['sevre'], io)).toBe(2)
    expect(io.err).toBe('truss: unknown command "sevre"\nRun \'truss --help\' for the list of commands.\n')
  })

  it('prints the package version', async () => {
    const io = captureIo()
    expect(await runCli(['--version'], io)).toBe(0)
    expect(io.out).toMatch(/^\d+\.\d+\.\d+/)
  })
})

describe('truss serve', () => {
  it('prints its options for --help and exits 0', async () => {
    const io = captureIo()
    expect(await runCli(['serve', '--help'], io)).toBe(0)
    for (const flag of ['--port', '--host', '--data-dir', '--no-workers', 'DATABASE_URL', 'SHUTDOWN_TIMEOUT_SECONDS']) {
      expect(io.out).toContain(flag)
    }
  })

  it('refuses an unknown flag with exit 2 and a pointer to the help', async () => {
    const io = captureIo()
    expect(await runCli(['serve', '--prot', '80'], io)).toBe(2)
    expect(io.err).toMatch(/^truss: Unknown option '--prot'/)
    expect(io.err).toContain("Run 'truss serve --help' for usage.")
  })

  it('refuses a port that is not a number with exit 2', async () => {
    const io = captureIo()
    expect(await runCli(['serve', '--port', 'http'], io)).toBe(2)
    expect(io.err).toContain('truss: --port must be a whole number from 0 to 65535 (got "http")')
  })

  it('refuses a port out of range with exit 1, naming the flag', async () => {
    const io = captureIo()
    expect(await runCli(['serve', '--port', '70000'], io)).toBe(1)
    expect(io.err).toMatch(/^truss: invalid configuration: --port must be at most 65535/)
  })

  it('refuses bad configuration from the environment without echoing secrets', async () => {
    const io = captureIo({ DATABASE_URL: 'mysql://root:s3cr3t-pw@db/truss' })
    expect(await runCli(['serve'], io)).toBe(1)
    expect(io.err).toContain('truss: invalid configuration: DATABASE_URL must be a postgres://')
    expect(io.err).not.toContain('s3cr3t-pw')
    expect(io.out).toBe('')
  })

  it('turns flags into config settings', () => {
    expect(parseServeArgs(['--port', '0', '--host', '0.0.0.0', '--data-dir', '/tmp/t', '--no-workers'])).toEqual({
      help: false,
      flags: { port: 0, host: '0.0.0.0', dataDir: '/tmp/t', workers: false },
    })
    expect(parseServeArgs(['--port=8080'])).toEqual({ help: false, flags: { port: 8080 } })
    expect(parseServeArgs([])).toEqual({ help: false, flags: {} })
    expect(parseServeArgs(['-h'])).toEqual({ help: true })
  })

  it('refuses positional arguments', () => {
    expect(() => parseServeArgs(['now'])).toThrow(/Unexpected argument 'now'/)
  })
})
