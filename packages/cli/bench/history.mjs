// Local history benchmark: commit of a 100,000-object synthetic model, its push to a local `truss serve`
// (embedded PGlite) and a second push of the unchanged branch.
// Run: node --import tsx packages/cli/bench/history.mjs [objects]
import { spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openIdentity } from '../../server/src/modules/auth/identity.ts'
import { runCli } from '../src/cli.ts'

const COUNT = Number(process.argv[2] ?? 100_000)
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'truss-bench-history-'))
const dataDir = join(tmp, 'server')
const dir = join(tmp, 'model')

const identity = await openIdentity({ dataDir })
const user = await identity.users.create({ email: 'bench@example.com', password: 'bench-pass', name: 'Bench' })
const token = await identity.tokens.create({
  userId: user.id,
  name: 'bench',
  scopes: ['streams:read', 'streams:write'],
})
await identity.close()
const server = spawn(
  process.execPath,
  ['--import', 'tsx', 'packages/cli/src/bin.ts', 'serve', '--port', '0', '--data-dir', dataDir],
  {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', TRUSS_WORKER_GROUPS: 'imports' },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
)
const url = await new Promise((resolve, reject) => {
  let out = ''
  server.stdout.on('data', (b) => {
    out += b.toString()
    const m = /Truss listening on (http:\/\/\S+)/.exec(out)
    if (m) resolve(m[1])
  })
  server.once('exit', (code) => reject(new Error(`truss serve exited with ${code}`)))
})
const res = await fetch(`${url}/graphql`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  body: JSON.stringify({ query: 'mutation { streamCreate(stream: { name: "Bench" }) }' }),
})
const projectId = (await res.json()).data.streamCreate

async function truss(...args) {
  let err = ''
  const started = performance.now()
  const code = await runCli([args[0], '-C', dir, ...args.slice(1)], {
    env: { TRUSS_TOKEN: token, TRUSS_HOME: join(tmp, 'home') },
    stdout: () => {},
    stderr: (t) => void (err += t),
    signals: new EventEmitter(),
  })
  const seconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`truss ${args.join(' ')} failed: ${err}`)
  return { seconds, err }
}

// A root with COUNT detached elements: COUNT + 1 objects.
const elements = Array.from({ length: COUNT }, (_, i) => ({
  speckle_type: 'Base',
  applicationId: `el-${i}`,
  name: `element ${i}`,
  level: i % 40,
  area: (i * 0.37) % 100,
}))
const file = join(tmp, 'model.json')
writeFileSync(
  file,
  JSON.stringify({ speckle_type: 'Speckle.Core.Models.Collection', name: 'bench', '@elements': elements }),
)

await truss('init')
const commit = await truss('commit', file, '-m', 'bench model')
await truss('remote', 'add', 'origin', url, '--project', projectId)
const first = await truss('push')
const second = await truss('push')
// A new commit of the same model: the server's diff finds every object, only the root and a version go.
await truss('commit', file, '-m', 'bench model again')
const third = await truss('push')
const objects = COUNT + 1
const out = {
  objects,
  commitSeconds: +commit.seconds.toFixed(2),
  commitObjectsPerSecond: Math.round(objects / commit.seconds),
  pushSeconds: +first.seconds.toFixed(2),
  pushObjectsPerSecond: Math.round(objects / first.seconds),
  secondPushSeconds: +second.seconds.toFixed(3),
  secondPush: second.err.trim(),
  recommitPushSeconds: +third.seconds.toFixed(2),
  recommitPush: third.err.trim().split('\n').at(-1),
}
console.log(JSON.stringify(out, null, 2))
server.kill('SIGTERM')
await new Promise((r) => server.once('exit', r))
rmSync(tmp, { recursive: true, force: true })
