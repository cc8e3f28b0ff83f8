/**
 * `truss login|send|receive` against a real `truss serve` (embedded PGlite): an account stored by login
 * serves send and receive without flags; Speckle JSON and an STL go up and come back whole; wrong tokens,
 * unknown projects, unreadable files, bad links and an unreachable server fail with a sentence.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openIdentity } from '../../../server/src/modules/auth/identity.js'
import { sharedData } from '../../../core/test/shared-data.js'
import { runCli } from '../cli.js'
import type { CliIo } from '../command.js'
import { listAccounts } from '../remote/accounts.js'
import { RemoteClient } from '../remote/client.js'

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const BIN = join(REPO_ROOT, 'packages/cli/src/bin.ts')

type Io = CliIo & { out: string; err: string }

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1)!

/** A port nothing listens on: bound once by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('truss login, send, receive', () => {
  const dir = mkdtempSync(join(tmpdir(), 'truss-cli-remote-'))
  const home = join(dir, 'home')
  let server: ChildProcess | undefined
  let url: string
  let token: string
  let projectId: string

  /** The CLI in-process, with only the variables given (never the test runner's environment). */
  async function truss(args: string[], env: Record<string, string> = {}, stdin?: string) {
    const io: Io = {
      env: { TRUSS_HOME: home, ...env },
      out: '',
      err: '',
      stdout: (text: string) => void (io.out += text),
      stderr: (text: string) => void (io.err += text),
      signals: new EventEmitter(),
      readStdin: async () => stdin,
    }
    const code = await runCli(args, io)
    return { code, out: io.out, err: io.err }
  }

  beforeAll(async () => {
    const identity = await openIdentity({ dataDir: join(dir, 'server') })
    const user = await identity.users.create({ email: 'ada@example.com', password: 'remote-pass', name: 'Ada' })
    token = await identity.tokens.create({
      userId: user.id,
      name: 'cli',
      scopes: ['streams:read', 'streams:write', 'profile:read', 'profile:email'],
    })
    await identity.close()
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', BIN, 'serve', '--port', '0', '--data-dir', join(dir, 'server')],
      {
        cwd: REPO_ROOT,
        // No workers: this test converts on the client side.
        env: { ...process.env, LOG_LEVEL: 'warn', TRUSS_WORKER_GROUPS: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
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
      body: JSON.stringify({
        query: 'mutation { projectMutations { create(input: { name: "Tower", visibility: PRIVATE }) { id } } }',
      }),
    })
    projectId = ((await res.json()) as { data: { projectMutations: { create: { id: string } } } }).data.projectMutations
      .create.id
  }, 120_000)

  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM')
      await new Promise((resolve) => server!.once('exit', resolve))
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it('logs in with a token from standard input and stores the account with mode 0600', async () => {
    const login = await truss(['login', url], {}, `${token}\n`)
    expect(login.err).toBe('')
    expect(login.code).toBe(0)
    expect(login.out).toBe(`Logged in to ${url} as Ada <ada@example.com>\n`)
    const accounts = listAccounts({ TRUSS_HOME: home })
    expect(accounts).toEqual([
      { server: url, token, user: { id: expect.any(String), name: 'Ada', email: 'ada@example.com' }, default: true },
    ])
    expect(statSync(join(home, 'accounts.json')).mode & 0o777).toBe(0o600)
    const list = await truss(['accounts'])
    expect(list.out).toMatch(new RegExp(`^\\* ${url}  Ada <ada@example.com>`))
  })

  it('sends a Speckle JSON array with no flags but --project, and receives it back by link', async () => {
    const sent = await truss(['send', sharedData('speckle/RevitObject.json'), '--project', projectId])
    expect(sent.err).toMatch(/uploading: 13 objects in/)
    expect(sent.code).toBe(0)
    const link = lastLine(sent.out)
    expect(link).toMatch(new RegExp(`^${url}/projects/${projectId}/models/[A-Za-z0-9]+@[A-Za-z0-9]+$`))
    // The model `main` was created on the way; the version says who made it and how big it is.
    const [modelId, versionId] = link.split('/models/')[1]!.split('@') as [string, string]
    const client = new RemoteClient({ server: url, token })
    expect(await client.model(projectId, modelId)).toEqual({ id: modelId, name: 'main' })
    const version = await client.version(projectId, versionId)
    expect(version).toMatchObject({
      referencedObject: '551513ff4f3596024547fc818f1f3f70',
      message: 'Sent RevitObject.json',
      sourceApplication: 'truss-cli',
      parents: [],
      modelId,
    })

    // Without an account the link still names the server, but the project is private.
    const summary = await truss(['receive', link], { TRUSS_HOME: join(dir, 'other-home') })
    expect(summary.code).toBe(1)
    expect(summary.err).toBe(`truss: project ${projectId} not found or not visible with this token\n`)

    const received = await truss(['receive', link])
    expect(received.code).toBe(0)
    expect(received.out).toBe(
      [
        'id: 551513ff4f3596024547fc818f1f3f70',
        'speckle_type: Objects.BuiltElements.Floor:Objects.BuiltElements.Revit.RevitFloor',
        'totalChildrenCount: 12',
        'objects: 13',
        '',
      ].join('\n'),
    )

    // A model link (no @version) is its latest version; --out writes the tree with children in place.
    const out = join(dir, 'revit.json')
    const modelLink = link.slice(0, link.indexOf('@'))
    const written = await truss(['receive', modelLink, '--out', out])
    expect(written.code).toBe(0)
    expect(lastLine(written.out)).toBe(out)
    const tree = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>
    expect(tree.id).toBe('551513ff4f3596024547fc818f1f3f70')
    // Every object of the file is in the resolved tree, except the DataChunks the SDK joins into their lists.
    const text = readFileSync(out, 'utf8')
    const fileObjects = JSON.parse(readFileSync(sharedData('speckle/RevitObject.json'), 'utf8')) as {
      id: string
      speckle_type: string
    }[]
    const kept = fileObjects.filter((o) => !o.speckle_type.endsWith('DataChunk'))
    expect(kept).toHaveLength(9)
    for (const o of kept) expect(text).toContain(`"id":"${o.id}"`)
    expect(text).not.toContain('"referencedId"')
  })

  it('detects a BOM-prefixed id → object map and finds its root', async () => {
    const file = sharedData('speckle/DetachedTests.CanSerialize_New_Detached2.verified.json')
    const sent = await truss(['send', file, '--project', projectId, '--model', 'detached', '-m', 'from a map'])
    expect(sent.code).toBe(0)
    expect(sent.err).toMatch(/uploading: 9 objects in/)
    const received = await truss(['receive', lastLine(sent.out)])
    // The root is the one object nothing else refers to.
    expect(received.out).toMatch(/^id: 2ebfd4f317754fce14cadd001151441e\n/)
    expect(received.out).toContain('objects: 9\n')
  })

  it('converts an STL locally and its triangles and vertices survive the round trip', async () => {
    const sent = await truss([
      'send',
      sharedData('stl/gearwheel.bin.stl'),
      '--project',
      projectId,
      '--model',
      'parts/gear',
    ])
    expect(sent.err).toMatch(/converted gearwheel\.bin\.stl: 1 elements, 1 meshes, 2444 triangles, 1222 vertices/)
    expect(sent.code).toBe(0)
    const out = join(dir, 'gear.json')
    // Received into an empty cache, by link, from the server only.
    const received = await truss(['receive', lastLine(sent.out), '--out', out], {
      TRUSS_HOME: join(dir, 'fresh'),
      TRUSS_TOKEN: token,
    })
    expect(received.code).toBe(0)
    const tree = JSON.parse(readFileSync(out, 'utf8')) as {
      sourceFormat: string
      '@elements': { '@displayValue': { vertices: number[]; faces: number[] }[] }[]
    }
    expect(tree.sourceFormat).toBe('stl')
    const mesh = tree['@elements'][0]!['@displayValue'][0]!
    expect(mesh.vertices.length / 3).toBe(1222)
    // Speckle faces: [n, i1 … in] per face.
    let triangles = 0
    for (let i = 0; i < mesh.faces.length; i += mesh.faces[i]! + 1) triangles++
    expect(triangles).toBe(2444)
  })

  it('converts an OBJ with its MTL beside it, keeping its triangles and materials', async () => {
    const sent = await truss(['send', sharedData('obj/regr01/regr01.obj'), '--project', projectId, '--model', 'house'])
    expect(sent.code).toBe(0)
    expect(sent.err).toMatch(/converted regr01\.obj: \d+ elements, \d+ meshes, 2710 triangles/)
    const out = join(dir, 'house.json')
    expect((await truss(['receive', lastLine(sent.out), '--out', out])).code).toBe(0)
    const text = readFileSync(out, 'utf8')
    let triangles = 0
    const materials = new Set<string>()
    // Every mesh of the tree, wherever it hangs: its faces ([n, i1 … in] each) and its material's name.
    JSON.parse(text, (key, value: unknown) => {
      if (key === 'faces' && Array.isArray(value)) {
        const faces = value as number[]
        for (let i = 0; i < faces.length; i += faces[i]! + 1) triangles++
      }
      if (key === 'renderMaterial' && typeof value === 'object' && value !== null && 'name' in value) {
        materials.add(String(value.name))
      }
      return value
    })
    expect(triangles).toBe(2710)
    expect(materials.size).toBe(12)
  })

  it('receives an object id with --project from the local cache', async () => {
    const received = await truss(['receive', '551513ff4f3596024547fc818f1f3f70', '--project', projectId])
    expect(received.code).toBe(0)
    expect(received.err).toMatch(/whole in the local cache/)
    expect(received.out).toContain('objects: 13\n')
  })

  it('refuses a wrong token, an unknown project, an unreachable server with exit 1 and a sentence', async () => {
    const file = sharedData('speckle/RevitObject.json')
    const wrong = await truss(['send', file, '--project', projectId, '--token', 'not-a-token'])
    expect(wrong.code).toBe(1)
    expect(wrong.err).toBe(`truss: the token was rejected by ${url}\n`)
    const badLogin = await truss(['login', url, '--token', 'not-a-token'])
    expect(badLogin.code).toBe(1)
    expect(badLogin.err).toBe(`truss: the token was rejected by ${url}\n`)

    const unknown = await truss(['send', file, '--project', 'nope123456'])
    expect(unknown.code).toBe(1)
    expect(unknown.err).toBe('truss: project nope123456 not found or not visible with this token\n')

    const gone = `http://127.0.0.1:${await closedPort()}`
    const unreachable = await truss(['send', file, '--project', projectId, '--server', gone])
    expect(unreachable.code).toBe(1)
    expect(unreachable.err).toBe(`truss: could not reach ${gone}: ECONNREFUSED\n`)

    const missingVersion = await truss(['receive', `${url}/projects/${projectId}/models/zzzzzzzzzz@yyyyyyyyyy`])
    expect(missingVersion.code).toBe(1)
    expect(missingVersion.err).toBe(`truss: version yyyyyyyyyy not found in project ${projectId}\n`)
  })

  it('refuses unreadable or invalid files and bad links before touching the server', async () => {
    const missing = await truss(['send', join(dir, 'nope.json'), '--project', projectId])
    expect(missing.code).toBe(1)
    expect(missing.err).toBe(`truss: cannot read ${join(dir, 'nope.json')}: no such file\n`)
    const broken = join(dir, 'broken.json')
    writeFileSync(broken, '{"id": "abc", ')
    const invalid = await truss(['send', broken, '--project', projectId])
    expect(invalid.code).toBe(1)
    expect(invalid.err).toMatch(/^truss: broken\.json is not valid JSON: /)
    const partial = await truss(['send', sharedData('speckle/RevitObjectsTop.json'), '--project', projectId])
    expect(partial.code).toBe(1)
    expect(partial.err).toMatch(/refers to 8873 object\(s\) that are neither in the file nor on the server/)
    const noProject = await truss(['send', broken])
    expect(noProject.code).toBe(2)
    expect(noProject.err).toMatch(/^truss: --project is required\n/)
    const badLink = await truss(['receive', 'projects/x/models/y'])
    expect(badLink.code).toBe(2)
    expect(badLink.err).toMatch(/is neither a link .* nor an object id/)
  })

  it('logs out, after which send needs a server again', async () => {
    const out = await truss(['logout'])
    expect(out.code).toBe(0)
    expect(out.out).toBe(`Logged out of ${url}\n`)
    expect(listAccounts({ TRUSS_HOME: home })).toEqual([])
    const send = await truss(['send', sharedData('speckle/RevitObject.json'), '--project', projectId])
    expect(send.code).toBe(2)
    expect(send.err).toMatch(/^truss: no server: pass --server, set TRUSS_SERVER, or run 'truss login URL' first\n/)
  })
})
