/**
 * End to end: the real `truss` executable (run from source with tsx) creating a user, a token and a project
 * in a fresh data folder, and refusing bad input with `truss: <message>` and a non-zero exit code.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openIdentity } from '@truss/server'

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx')
const BIN = join(ROOT, 'packages', 'cli', 'src', 'bin.ts')

interface Run {
  code: number
  stdout: string
  stderr: string
}

describe('truss users|tokens|projects create (spawned)', () => {
  let dataDir: string
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' }
  delete env.DATABASE_URL
  delete env.TRUSS_DATA_DIR

  function truss(...args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(TSX, [BIN, ...args, '--data-dir', dataDir], { cwd: ROOT, env }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
        resolve({ code, stdout, stderr })
      })
    })
  }

  const lastLine = (text: string) => text.trimEnd().split('\n').at(-1)

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'truss-cli-identity-'))
  })
  afterAll(() => rm(dataDir, { recursive: true, force: true }))

  it('creates a user, a token and a project, and refuses bad input', async () => {
    const user = await truss(
      'users',
      'create',
      '--email',
      'ada@example.com',
      '--password',
      'analytical',
      '--name',
      'Ada',
    )
    expect(user.stderr).toBe('')
    expect(user.code).toBe(0)
    expect(user.stdout).toContain('server:admin')
    const userId = lastLine(user.stdout)
    expect(userId).toMatch(/^[A-Za-z0-9]{10}$/)

    const token = await truss(
      'tokens',
      'create',
      '--email',
      'ada@example.com',
      '--name',
      'ci',
      '--scopes',
      'streams:read,streams:write',
    )
    expect(token.code).toBe(0)
    const secret = lastLine(token.stdout)!
    expect(secret).toMatch(/^[A-Za-z0-9]{42}$/)

    const project = await truss('projects', 'create', '--owner', 'ada@example.com', '--name', 'Tower', '--public')
    expect(project.code).toBe(0)
    const projectId = lastLine(project.stdout)!
    expect(projectId).toMatch(/^[A-Za-z0-9]{10}$/)

    const duplicate = await truss(
      'users',
      'create',
      '--email',
      'ADA@example.com',
      '--password',
      'analytical',
      '--name',
      'A',
    )
    expect(duplicate.code).toBe(1)
    expect(duplicate.stderr).toBe('truss: A user with email ada@example.com already exists\n')
    expect(duplicate.stdout).toBe('')

    const badScope = await truss(
      'tokens',
      'create',
      '--email',
      'ada@example.com',
      '--name',
      'x',
      '--scopes',
      'streams:rw',
    )
    expect(badScope.code).toBe(2)
    expect(badScope.stderr).toMatch(/^truss: unknown scope "streams:rw" \(known: streams:read, streams:write, /)

    const noOwner = await truss('projects', 'create', '--owner', 'ghost@example.com', '--name', 'P')
    expect(noOwner.code).toBe(1)
    expect(noOwner.stderr).toBe('truss: User ghost@example.com not found\n')

    const usage = await truss('tokens', 'create', '--email', 'ada@example.com', '--scopes', 'streams:read')
    expect(usage.code).toBe(2)
    expect(usage.stderr).toBe("truss: --name is required\nRun 'truss tokens --help' for usage.\n")

    // What the commands wrote is what the server will read.
    const identity = await openIdentity({ dataDir })
    try {
      const principal = await identity.tokens.verify(secret)
      expect(principal).toMatchObject({ userId, serverRole: 'server:admin', tokenId: secret.slice(0, 10) })
      expect(await identity.projects.getAccess(projectId, principal)).toEqual({
        project: { id: projectId, name: 'Tower', visibility: 'public' },
        role: 'stream:owner',
      })
    } finally {
      await identity.close()
    }
  }, 120_000)
})
