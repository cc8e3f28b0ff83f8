/**
 * `truss serve` as a user runs it: a real process (the CLI source run through tsx), a temporary data
 * folder, real HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../../', import.meta.url))
const bin = join(root, 'packages/cli/src/bin.ts')

interface Truss {
  child: ChildProcess
  output(): { stdout: string; stderr: string }
  /** Resolves with the URL once the process prints `Truss listening on <url>`. */
  listening: Promise<string>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

function truss(args: string[], env: Record<string, string> = {}): Truss {
  const child = spawn(process.execPath, ['--import', 'tsx', bin, ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const match = /^Truss listening on (\S+)$/m.exec(stdout)
      if (match) resolve(match[1])
    })
    void exited.then(({ code }) => reject(new Error(`truss exited with ${code} before listening:\n${stderr}`)))
  })
  listening.catch(() => {}) // some tests expect the process to fail
  return { child, output: () => ({ stdout, stderr }), listening, exited }
}

describe('truss serve', () => {
  let dataDir: string
  let server: Truss
  let url: string

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'truss-e2e-'))
    server = truss(['serve', '--port', '0', '--data-dir', dataDir])
    url = await server.listening
  })

  afterAll(async () => {
    if (server?.child.exitCode === null) {
      server.child.kill('SIGKILL')
      await server.exited
    }
    await rm(dataDir, { recursive: true, force: true })
  })

  it('prints the URL it listens on, with the port it was given', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(url).not.toMatch(/:0$/)
  })

  it('answers /healthz, /readyz and Speckle /api/ping', async () => {
    const healthz = await fetch(`${url}/healthz`)
    expect(healthz.status).toBe(200)
    expect(await healthz.json()).toEqual({ status: 'ok' })

    const readyz = await fetch(`${url}/readyz`)
    expect(readyz.status).toBe(200)
    expect(await readyz.json()).toEqual({ status: 'ok', checks: { sql: 'ok', blobs: 'ok', bus: 'ok' } })

    const ping = await fetch(`${url}/api/ping`)
    expect(ping.status).toBe(200)
    expect(await ping.text()).toBe('pong')
  })

  it('answers the root URL with x-speckle-frontend-2: true', async () => {
    const res = await fetch(url)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-speckle-frontend-2')).toBe('true')
    expect(await res.text()).toContain('Truss')
  })

  it('serves Prometheus metrics including the requests it answered', async () => {
    await fetch(`${url}/healthz`)
    const res = await fetch(`${url}/metrics`)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).toContain('process_resident_memory_bytes')
    expect(text).toMatch(
      /truss_http_request_duration_seconds_count\{method="GET",route="\/healthz",status_code="200"\}/,
    )
    expect(text).toContain('truss_objects_stored_total 0')
  })

  it('refuses to start a second server on the same data folder, saying it is in use', async () => {
    const second = truss(['serve', '--port', '0', '--data-dir', dataDir])
    const { code } = await second.exited
    expect(code).not.toBe(0)
    expect(second.output().stderr).toMatch(/^truss: .*in use/m)
    expect(second.output().stdout).not.toContain('Truss listening on')
  })

  it('stops with exit code 0 on SIGTERM and closes its port', async () => {
    server.child.kill('SIGTERM')
    const exit = await Promise.race([
      server.exited,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000)),
    ])
    expect(exit).toEqual({ code: 0, signal: null })
    await expect(fetch(`${url}/healthz`)).rejects.toThrow()
  })
})

describe('truss serve refusing to start', () => {
  it('exits 2 with a message on an unknown flag', async () => {
    const run = truss(['serve', '--prot', '80'])
    expect((await run.exited).code).toBe(2)
    expect(run.output().stderr).toMatch(/^truss: Unknown option '--prot'/)
  })

  it('exits 1 with a message on bad configuration, without echoing secrets', async () => {
    const run = truss(['serve'], { REDIS_URL: 'http://:very-secret@cache:6379' })
    expect((await run.exited).code).toBe(1)
    expect(run.output().stderr).toMatch(/^truss: invalid configuration: REDIS_URL must be a redis:\/\//)
    expect(run.output().stderr).not.toContain('very-secret')
  })
})
