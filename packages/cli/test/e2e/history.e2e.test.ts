/**
 * The local history against a real `truss serve` (embedded PGlite): push two commits as two versions, a
 * second push that sends nothing, clone into another folder, fast-forward pull, a refused diverged pull and a
 * `--merge` with two parents.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { copyTree } from '@truss/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openIdentity } from '../../../server/src/modules/auth/identity.js'
import { sharedData } from '../../../core/test/shared-data.js'
import { runCli } from '../../src/cli.js'
import type { CliIo } from '../../src/command.js'
import { RemoteClient } from '../../src/remote/client.js'
import { Repo } from '../../src/history/repo.js'

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const BIN = join(REPO_ROOT, 'packages/cli/src/bin.ts')

describe('truss push, pull and clone against truss serve', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'truss-history-e2e-'))
  const dataDir = join(tmp, 'server')
  const a = join(tmp, 'a')
  let server: ChildProcess | undefined
  let url: string
  let token: string
  let projectId: string
  let env: Record<string, string>

  async function truss(dir: string | null, ...args: string[]) {
    const io: CliIo & { out: string; err: string } = {
      env,
      out: '',
      err: '',
      stdout: (text: string) => void (io.out += text),
      stderr: (text: string) => void (io.err += text),
      signals: new EventEmitter(),
    }
    const argv = dir === null ? args : [args[0]!, '-C', dir, ...args.slice(1)]
    const code = await runCli(argv, io)
    return { code, out: io.out, err: io.err }
  }

  const log = async (dir: string) =>
    JSON.parse((await truss(dir, 'log', '--json')).out) as {
      id: string
      message: string
      objectId: string
      parents: string[]
    }[]

  beforeAll(async () => {
    const identity = await openIdentity({ dataDir })
    const user = await identity.users.create({ email: 'ada@example.com', password: 'history-pass', name: 'Ada' })
    token = await identity.tokens.create({
      userId: user.id,
      name: 'cli',
      scopes: ['streams:read', 'streams:write', 'profile:read'],
    })
    await identity.close()
    env = { TRUSS_TOKEN: token, TRUSS_HOME: join(tmp, 'home') }
    const child = spawn(process.execPath, ['--import', 'tsx', BIN, 'serve', '--port', '0', '--data-dir', dataDir], {
      cwd: REPO_ROOT,
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
      let err = ''
      child.stderr!.on('data', (b: Buffer) => (err += b.toString()))
      child.once('exit', (code) => reject(new Error(`truss serve exited with ${code}: ${err.slice(-2000)}`)))
    })
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { streamCreate(stream: { name: "History" }) }' }),
    })
    projectId = ((await res.json()) as { data: { streamCreate: string } }).data.streamCreate
  }, 120_000)

  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM')
      await new Promise((resolve) => server!.once('exit', resolve))
    }
    rmSync(tmp, { recursive: true, force: true })
  })

  it('pushes two commits as two versions in order, then a second push sends nothing', async () => {
    expect((await truss(a, 'init', '--user', 'Ada')).code).toBe(0)
    expect((await truss(a, 'commit', sharedData('stl/gearwheel.bin.stl'), '-m', 'gearwheel')).code).toBe(0)
    expect((await truss(a, 'commit', sharedData('obj/regr01/regr01.obj'), '-m', 'regr01 house')).code).toBe(0)
    expect((await truss(a, 'remote', 'add', 'origin', url, '--project', projectId)).code).toBe(0)
    const first = await truss(a, 'push')
    expect(first.err).toMatch(/Pushed 2 commit\(s\) to origin\/main/)
    expect(first.code).toBe(0)

    const client = new RemoteClient({ server: url, token })
    const model = (await client.modelByName(projectId, 'main'))!
    const versions = (await client.versions(projectId, model.id)).items
    const commits = (await log(a)).reverse()
    expect(versions.map((v) => [v.message, v.referencedObject])).toEqual(commits.map((c) => [c.message, c.objectId]))
    expect(versions[1]!.parents).toEqual([versions[0]!.id])

    const started = performance.now()
    const second = await truss(a, 'push')
    expect(second.code).toBe(0)
    expect(second.err).toMatch(/^Everything up to date/)
    expect(performance.now() - started).toBeLessThan(2000)
    expect((await client.versions(projectId, model.id)).totalCount).toBe(2)
  })

  it('clones into another folder with the same log, and a commit pushed there fast-forwards the first', async () => {
    const b = join(tmp, 'b')
    const clone = await truss(null, 'clone', url, '--project', projectId, b)
    expect(clone.code).toBe(0)
    const [logA, logB] = [await log(a), await log(b)]
    expect(logB.map((c) => [c.message, c.objectId])).toEqual(logA.map((c) => [c.message, c.objectId]))
    expect((await truss(b, 'status', '--check')).code).toBe(0)

    expect((await truss(b, 'commit', sharedData('stl/gearwheel.ascii.stl'), '-m', 'ascii gear')).code).toBe(0)
    expect((await truss(b, 'push')).code).toBe(0)
    const pulled = await truss(a, 'pull')
    expect(pulled.err).toMatch(/Fast-forwarded main by 1 commit/)
    expect(pulled.code).toBe(0)
    const after = await log(a)
    expect(after.map((c) => c.message)).toEqual(['ascii gear', 'regr01 house', 'gearwheel'])
    expect(after[0]!.parents).toEqual([logA[0]!.id])
    expect((await truss(a, 'pull')).err).toMatch(/^Already up to date/)
  })

  it('refuses a diverged pull naming both heads, and --merge records a commit with two parents', async () => {
    const b = join(tmp, 'b')
    const local = await truss(a, 'commit', sharedData('obj/spider/spider.obj'), '-m', 'spider')
    const localHead = local.out.trimEnd().split('\n').at(-1)!
    expect((await truss(b, 'commit', sharedData('speckle/RevitObject.json'), '-m', 'floor')).code).toBe(0)
    expect((await truss(b, 'push')).code).toBe(0)
    // The first folder's push is refused too: the server has a version it has not pulled.
    const refusedPush = await truss(a, 'push')
    expect(refusedPush.code).toBe(1)
    expect(refusedPush.err).toMatch(/has version \w+ \("floor"\) that this history does not have/)

    const client = new RemoteClient({ server: url, token })
    const model = (await client.modelByName(projectId, 'main'))!
    const remoteHead = (await client.versions(projectId, model.id)).items.at(-1)!
    const refused = await truss(a, 'pull')
    expect(refused.code).toBe(1)
    expect(refused.err).toContain(`local head ${localHead.slice(0, 10)}`)
    expect(refused.err).toContain(`head version ${remoteHead.id}`)
    expect(refused.err).toMatch(/truss pull --merge/)
    expect((await log(a))[0]!.id).toBe(localHead)

    const merged = await truss(a, 'pull', '--merge')
    expect(merged.code).toBe(0)
    const repo = Repo.open(a)
    try {
      const head = repo.getCommit(repo.head('main')!)!
      expect(head.parents).toHaveLength(2)
      expect(head.parents[0]).toBe(localHead)
      expect(repo.getCommit(head.parents[1]!)!.message).toBe('floor')
      expect(await repo.check()).toEqual([])
    } finally {
      await repo.close()
    }
    const pushed = await truss(a, 'push')
    expect(pushed.err).toMatch(/Pushed 2 commit\(s\)/)
    const versions = (await client.versions(projectId, model.id)).items
    expect(versions.map((v) => v.message)).toEqual([
      'gearwheel',
      'regr01 house',
      'ascii gear',
      'floor',
      'spider',
      expect.stringMatching(/^Merge origin\/main/),
    ])
    expect(versions.at(-1)!.parents).toEqual([versions[4]!.id, versions[3]!.id])
  })

  it('resumes a push that died after creating a version: the version is reused, not made twice', async () => {
    const c = await truss(a, 'commit', sharedData('gltf/deccer-cubes/SM_Deccer_Cubes_Textured.glb'), '-m', 'cubes')
    expect(c.code).toBe(0)
    const repo = Repo.open(a)
    const commit = repo.getCommit(repo.head('main')!)!
    // What the killed push had done: objects sent and the version created, but no link in refs.db.
    const client = new RemoteClient({ server: url, token })
    const model = (await client.modelByName(projectId, 'main'))!
    const target = client.transport(projectId, { diff: false })
    await copyTree(repo.objects(), target, commit.objectId)
    await target.flush()
    await repo.close()
    const versionId = await client.createVersion({
      projectId,
      modelId: model.id,
      objectId: commit.objectId,
      message: 'cubes',
    })
    const before = (await client.versions(projectId, model.id)).totalCount
    const resumed = await truss(a, 'push')
    expect(resumed.code).toBe(0)
    expect(resumed.err).toContain(`version ${versionId}: cubes`)
    expect((await client.versions(projectId, model.id)).totalCount).toBe(before)
  })

  it('a push and a pull killed with SIGKILL leave both folders consistent; re-runs finish without duplicate versions', async () => {
    const spawnKilled = (args: string[], delayMs: number) =>
      new Promise<NodeJS.Signals | null>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], {
          cwd: REPO_ROOT,
          env: { ...process.env, ...env },
          stdio: 'ignore',
        })
        const timer = setTimeout(() => child.kill('SIGKILL'), delayMs)
        child.once('exit', (_code, signal) => {
          clearTimeout(timer)
          resolve(signal)
        })
      })
    const consistent = async (dir: string) => {
      const repo = Repo.open(dir)
      try {
        expect(await repo.check()).toEqual([])
      } finally {
        await repo.close()
      }
    }
    const file = join(tmp, 'big.json')
    const elements = Array.from({ length: 30_000 }, (_, i) => ({ speckle_type: 'Base', applicationId: `e${i}`, n: i }))
    writeFileSync(file, JSON.stringify({ speckle_type: 'Base', name: 'big', '@elements': elements }))
    expect((await truss(a, 'commit', file, '-m', 'big')).code).toBe(0)
    for (const delay of [1500, 2500].map((d) => d + Math.floor(Math.random() * 800))) {
      await spawnKilled(['push', '-C', a], delay)
      await consistent(a)
    }
    expect((await truss(a, 'push')).code).toBe(0)
    const b = join(tmp, 'b')
    await spawnKilled(['pull', '-C', b], 1500 + Math.floor(Math.random() * 1500))
    await consistent(b)
    expect((await truss(b, 'pull')).code).toBe(0)
    await consistent(b)
    expect((await log(b))[0]!.message).toBe('big')
    const client = new RemoteClient({ server: url, token })
    const model = (await client.modelByName(projectId, 'main'))!
    const messages = (await client.versions(projectId, model.id)).items.map((v) => v.message)
    expect(messages.filter((m) => m === 'big')).toHaveLength(1)
  }, 90_000)
})
