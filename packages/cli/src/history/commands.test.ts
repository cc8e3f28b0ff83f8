/**
 * The local history commands on a temporary folder, through `runCli` as a user types them: real STL, OBJ
 * and Speckle JSON files from shared/data, real SQLite files under .truss/.
 */
import { EventEmitter } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { sharedData } from '../../../core/test/shared-data.js'
import { runCli } from '../cli.js'
import type { CliIo } from '../command.js'
import { Repo } from './repo.js'

function captureIo(): CliIo & { out: string; err: string } {
  const io = {
    env: {},
    out: '',
    err: '',
    stdout: (text: string) => void (io.out += text),
    stderr: (text: string) => void (io.err += text),
    signals: new EventEmitter(),
  }
  return io
}

async function truss(dir: string, ...args: string[]) {
  const io = captureIo()
  const code = await runCli([args[0]!, '-C', dir, ...args.slice(1)], io)
  return { code, out: io.out, err: io.err, last: io.out.trimEnd().split('\n').at(-1)! }
}

describe('truss local history', () => {
  const dir = mkdtempSync(join(tmpdir(), 'truss-history-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('init creates .truss/objects.db, refs.db and config, and refuses a second init', async () => {
    expect((await truss(dir, 'init', '--user', 'Ada', '--email', 'ada@example.com')).code).toBe(0)
    for (const f of ['objects.db', 'refs.db', 'config']) expect(existsSync(join(dir, '.truss', f))).toBe(true)
    const again = await truss(dir, 'init')
    expect(again.code).toBe(1)
    expect(again.err).toMatch(/already holds a Truss history/)
    const status = await truss(dir, 'status')
    expect(status.out).toBe('On branch main\nNo commits yet\n')
  })

  it('commits an STL and an OBJ with parents, and logs them newest first', async () => {
    const gear = await truss(dir, 'commit', sharedData('stl/gearwheel.bin.stl'), '-m', 'gearwheel')
    expect(gear.code).toBe(0)
    expect(gear.err).toMatch(/storing \d+ objects in .* objects\/s/)
    const house = await truss(dir, 'commit', sharedData('obj/regr01/regr01.obj'), '-m', 'regr01 house')
    expect(house.code).toBe(0)
    const repo = Repo.open(dir)
    try {
      const head = repo.getCommit(house.last)!
      expect(head.parents).toEqual([gear.last])
      expect(head.author).toBe('Ada <ada@example.com>')
      expect(head.sourceApp).toBe('truss-import obj')
      expect(repo.getCommit(gear.last)!.parents).toEqual([])
      expect(repo.head('main')).toBe(house.last)
      expect(await repo.check()).toEqual([])
    } finally {
      await repo.close()
    }
    const log = await truss(dir, 'log', '--json')
    const commits = JSON.parse(log.out) as { message: string }[]
    expect(commits.map((c) => c.message)).toEqual(['regr01 house', 'gearwheel'])
    const graph = await truss(dir, 'log', '--graph')
    expect(graph.out).toMatch(/^\* {2}\w{10} .* Ada <ada@example.com>: regr01 house\n\* {2}\w{10} .*: gearwheel\n$/)
  })

  it('diffs two commits: the house adds its 55 meshes, the gear mesh is removed', async () => {
    const res = await truss(dir, 'diff', 'HEAD~1', 'HEAD', '--json')
    expect(res.code).toBe(0)
    const diff = JSON.parse(res.out) as {
      added: number
      removed: number
      entries: { status: string; speckleType: string }[]
    }
    const addedMeshes = diff.entries.filter((e) => e.status === 'added' && e.speckleType === 'Objects.Geometry.Mesh')
    // SOURCES.md: regr01 has 55 meshes (55 named groups with faces).
    expect(addedMeshes.length).toBe(55)
    expect(
      diff.entries.filter((e) => e.status === 'removed' && e.speckleType === 'Objects.Geometry.Mesh'),
    ).toHaveLength(1)
    const table = await truss(dir, 'diff', 'HEAD~1', 'HEAD')
    expect(table.out).toMatch(/^status +applicationId +speckle_type +from +to\n/)
    expect(table.last).toBe(`${diff.added} added, ${diff.removed} removed, 0 changed, 0 unchanged`)
  })

  it('matches objects by applicationId: a re-committed Speckle JSON with an edit shows as changed', async () => {
    const { writeFileSync, readFileSync } = await import('node:fs')
    const file = join(dir, 'floor.json')
    const objects = JSON.parse(readFileSync(sharedData('speckle/RevitObject.json'), 'utf8')) as Record<
      string,
      unknown
    >[]
    writeFileSync(file, JSON.stringify(objects))
    const first = await truss(dir, 'commit', file, '-m', 'floor')
    expect(first.code).toBe(0)
    const repo = Repo.open(dir)
    // SOURCES.md: the RevitFloor root of RevitObject.json.
    expect(repo.getCommit(first.last)!.objectId).toBe('551513ff4f3596024547fc818f1f3f70')
    await repo.close()
    const edited = { speckle_type: 'Base', applicationId: 'floor-1', name: 'floor', level: 2 }
    const a = join(dir, 'a.json')
    writeFileSync(a, JSON.stringify({ ...edited, level: 1 }))
    const one = await truss(dir, 'commit', a, '-m', 'level 1')
    writeFileSync(a, JSON.stringify(edited))
    const two = await truss(dir, 'commit', a, '-m', 'level 2')
    const diff = JSON.parse((await truss(dir, 'diff', one.last, two.last, '--json')).out) as {
      changed: number
      entries: unknown[]
    }
    expect(diff).toMatchObject({ changed: 1, entries: [{ status: 'changed', applicationId: 'floor-1' }] })
  })

  it('branches, switches and tags; commits go to the current branch', async () => {
    const main = (await truss(dir, 'log', '--json', '-n', '1')).out
    const mainHead = (JSON.parse(main) as { id: string }[])[0]!.id
    expect((await truss(dir, 'branch', 'dev')).code).toBe(0)
    expect((await truss(dir, 'switch', 'dev')).out).toBe('Switched to branch dev\n')
    const onDev = await truss(dir, 'commit', sharedData('stl/gearwheel.ascii.stl'), '-m', 'ascii gear')
    expect((await truss(dir, 'tag', 'v1', 'HEAD~1')).code).toBe(0)
    expect((await truss(dir, 'tag')).out).toBe(`v1 ${mainHead.slice(0, 10)}\n`)
    expect((await truss(dir, 'branch')).out).toBe(`* dev ${onDev.last.slice(0, 10)}\n  main ${mainHead.slice(0, 10)}\n`)
    expect((await truss(dir, 'status')).out).toMatch(/^On branch dev\nHead \w{10} ascii gear/)
    // The tag and the short id name the same commit.
    const byTag = JSON.parse((await truss(dir, 'log', 'v1', '--json', '-n', '1')).out) as { id: string }[]
    const byId = JSON.parse((await truss(dir, 'log', mainHead.slice(0, 8), '--json', '-n', '1')).out) as {
      id: string
    }[]
    expect(byTag[0]!.id).toBe(mainHead)
    expect(byId[0]!.id).toBe(mainHead)
    // --object commits what is stored already.
    const again = await truss(dir, 'commit', '--object', '551513ff4f3596024547fc818f1f3f70', '-m', 'floor again')
    expect(again.code).toBe(0)
    expect((await truss(dir, 'switch', 'main')).code).toBe(0)
    expect((await truss(dir, 'status', '--check')).out).toMatch(/History is consistent\n$/)
  })

  it('refuses unknown refs, missing objects, bad names and missing messages clearly', async () => {
    expect((await truss(dir, 'switch', 'nope')).err).toMatch(/^truss: no branch "nope"/)
    expect((await truss(dir, 'log', 'ghost')).err).toBe('truss: unknown branch, tag or commit "ghost"\n')
    expect((await truss(dir, 'commit', '--object', 'f'.repeat(32), '-m', 'x')).err).toMatch(/is not in objects\.db/)
    expect((await truss(dir, 'branch', 'bad name')).err).toMatch(/is not a valid branch name/)
    expect((await truss(dir, 'tag', 'v1')).err).toBe('truss: tag v1 already exists\n')
    const noMessage = await truss(dir, 'commit', sharedData('stl/gearwheel.bin.stl'))
    expect(noMessage.code).toBe(2)
    expect(noMessage.err).toMatch(/-m MESSAGE is required/)
    const outside = mkdtempSync(join(tmpdir(), 'truss-nohistory-'))
    expect((await truss(outside, 'status')).err).toMatch(/is not inside a Truss history \(run 'truss init' first\)/)
    rmSync(outside, { recursive: true })
  })

  it('adds and lists remotes in the config', async () => {
    expect((await truss(dir, 'remote', 'add', 'origin', 'http://127.0.0.1:9/', '--project', 'p1')).code).toBe(0)
    expect((await truss(dir, 'remote')).out).toBe('origin\thttp://127.0.0.1:9\tproject p1\n')
    expect((await truss(dir, 'remote', 'add', 'origin', 'http://x', '--project', 'p')).err).toMatch(/already exists/)
  })
})
