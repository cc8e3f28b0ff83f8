/**
 * `truss import` against a real `truss serve` (embedded PGlite, in-process workers): a real STL becomes a
 * version of a nested model; a corrupt file, a refused token, a missing file and bad flags fail clearly.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openIdentity } from '../../../server/src/modules/auth/identity.js'
import { sharedData } from '../../../core/test/shared-data.js'
import { runCli } from '../cli.js'
import type { CliIo } from '../command.js'

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const BIN = join(REPO_ROOT, 'packages/cli/src/bin.ts')

function captureIo(env: Record<string, string> = {}): CliIo & { out: string; err: string } {
  const io = {
    env,
    out: '',
    err: '',
    stdout: (text: string) => void (io.out += text),
    stderr: (text: string) => void (io.err += text),
    signals: new EventEmitter(),
  }
  return io
}

describe('truss import', () => {
  const dir = mkdtempSync(join(tmpdir(), 'truss-cli-import-'))
  let server: ChildProcess | undefined
  let url: string
  let token: string
  let projectId: string

  beforeAll(async () => {
    const identity = await openIdentity({ dataDir: dir })
    const user = await identity.users.create({ email: 'ada@example.com', password: 'import-pass', name: 'Ada' })
    token = await identity.tokens.create({ userId: user.id, name: 'cli', scopes: ['streams:read', 'streams:write'] })
    await identity.close()
    const child = spawn(process.execPath, ['--import', 'tsx', BIN, 'serve', '--port', '0', '--data-dir', dir], {
      cwd: REPO_ROOT,
      // Previews are not what this test is about; they would only add load.
      env: { ...process.env, LOG_LEVEL: 'warn', TRUSS_WORKER_GROUPS: 'imports' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    server = child
    url = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString()
        const m = /Truss listening on (http:\/\/\S+)/.exec(out)
        if (m) resolve(m[1]!)
      })
      child.once('exit', (code) => reject(new Error(`truss serve exited with ${code}`)))
    })
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { streamCreate(stream: { name: "Gears" }) }' }),
    })
    projectId = ((await res.json()) as { data: { streamCreate: string } }).data.streamCreate
  }, 120_000)

  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM')
      await new Promise((resolve) => server!.once('exit', resolve))
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it('uploads a real STL with progress and prints the new version id', async () => {
    const io = captureIo({ TRUSS_TOKEN: token })
    const code = await runCli(
      ['import', sharedData('stl/gearwheel.bin.stl'), '--project', projectId, '--model', 'parts/gear', '--server', url],
      io,
    )
    expect(io.err).toMatch(/uploading 100%/)
    expect(io.err).toMatch(/completed: .*triangle/)
    expect(code).toBe(0)
    const versionId = io.out.trim().split('\n').at(-1)!
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: 'query($p: String!, $v: String!) { project(id: $p) { version(id: $v) { message model { name } } } }',
        variables: { p: projectId, v: versionId },
      }),
    })
    const version = ((await res.json()) as { data: { project: { version: unknown } } }).data.project.version
    expect(version).toEqual({ message: 'Imported file: gearwheel.bin.stl', model: { name: 'parts/gear' } })
  })

  it('exits 1 with the reason when the file cannot be converted', async () => {
    const bad = join(dir, 'noise.stl')
    writeFileSync(bad, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]))
    const io = captureIo()
    expect(await runCli(['import', bad, '--project', projectId, '--server', url, '--token', token], io)).toBe(1)
    expect(io.err).toMatch(/^truss: the import failed: .*noise\.stl/m)
  })

  it('exits 1 with a clear message for a refused token or an unreachable server', async () => {
    const file = sharedData('stl/gearwheel.ascii.stl')
    const io = captureIo()
    expect(await runCli(['import', file, '--project', projectId, '--server', url, '--token', 'nope'], io)).toBe(1)
    // Speckle's auth answers an unknown token as a refusal of access to the project. The refusal can arrive
    // while the body is still being sent, so a progress line may come before it.
    expect(io.err).toMatch(
      /^truss: the server answered 40[13]: the token (was refused|may not write to this project)$/m,
    )
    const down = captureIo()
    expect(
      await runCli(['import', file, '--project', projectId, '--server', 'http://127.0.0.1:9', '--token', token], down),
    ).toBe(1)
    expect(down.err).toMatch(/^truss: cannot reach http:\/\/127\.0\.0\.1:9/m)
  })

  it('exits 2 for a missing file, a missing project or token, and a bad type', async () => {
    const cases: [string[], RegExp][] = [
      [['import', join(dir, 'absent.ifc'), '--project', 'p', '--token', 't'], /absent\.ifc is not a readable file/],
      [['import', sharedData('stl/gearwheel.bin.stl'), '--token', 't'], /--project is required/],
      [['import', sharedData('stl/gearwheel.bin.stl'), '--project', 'p'], /--token \(or TRUSS_TOKEN\) is required/],
      [
        ['import', sharedData('stl/gearwheel.bin.stl'), '--project', 'p', '--token', 't', '--type', 'dwg'],
        /--type must be one of/,
      ],
    ]
    for (const [args, message] of cases) {
      const io = captureIo()
      expect(await runCli(args, io), args.join(' ')).toBe(2)
      expect(io.err).toMatch(message)
    }
  })
})
