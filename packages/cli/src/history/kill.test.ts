/**
 * A `truss commit` killed with SIGKILL at random points (while converting, storing objects or writing
 * refs.db) leaves a consistent history: every branch head names a stored commit whose object is in
 * objects.db, `truss status --check` passes, and a re-run commits.
 */
import { spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { sharedData } from '../../../core/test/shared-data.js'
import { runCli } from '../cli.js'
import { Repo } from './repo.js'

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const BIN = join(REPO_ROOT, 'packages/cli/src/bin.ts')

function commitAndKill(dir: string, file: string, message: string, delayMs: number) {
  return new Promise<{ signal: NodeJS.Signals | null; code: number | null }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', BIN, 'commit', '-C', dir, file, '-m', message], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal })
    })
  })
}

async function status(dir: string) {
  let out = ''
  let err = ''
  const code = await runCli(['status', '-C', dir, '--check'], {
    env: {},
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
    signals: new EventEmitter(),
  })
  return { code, out, err }
}

describe('a killed truss commit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'truss-history-kill-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('leaves the history consistent at every kill point, and a re-run commits', async () => {
    const quiet = { env: {}, stdout: () => {}, stderr: () => {}, signals: new EventEmitter() }
    expect(await runCli(['init', '-C', dir], quiet)).toBe(0)
    // Node + tsx start in about a second here; the bunny takes a few more to convert and store.
    const delays = [400, 1200, 2000, 2800, 3600, 4400].map((d) => d + Math.floor(Math.random() * 600))
    let killed = 0
    let completed = 0
    for (const [i, delay] of delays.entries()) {
      const file = sharedData(i % 2 === 0 ? 'stl/bunny.bin.stl' : 'obj/regr01/regr01.obj')
      const run = await commitAndKill(dir, file, `attempt ${i}`, delay)
      if (run.signal === 'SIGKILL') killed++
      else completed++
      const s = await status(dir)
      expect(s.err, `after a kill at ${delay} ms`).toBe('')
      expect(s.code).toBe(0)
      const repo = Repo.open(dir)
      try {
        expect(await repo.check()).toEqual([])
        const head = repo.head('main')
        if (head !== null) expect((await repo.objects().getObject(repo.getCommit(head)!.objectId)) !== null).toBe(true)
      } finally {
        await repo.close()
      }
    }
    expect(killed + completed).toBe(delays.length)
    expect(killed).toBeGreaterThan(0)
    const rerun = await commitAndKill(dir, sharedData('stl/gearwheel.bin.stl'), 'after the kills', 120_000)
    expect(rerun).toEqual({ code: 0, signal: null })
    const repo = Repo.open(dir)
    try {
      const head = repo.getCommit(repo.head('main')!)!
      expect(head.message).toBe('after the kills')
      expect(await repo.check()).toEqual([])
    } finally {
      await repo.close()
    }
  }, 90_000)
})
