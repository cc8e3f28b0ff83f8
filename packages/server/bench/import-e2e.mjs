// Upload-to-version time of a real IFC through a running `truss serve` (embedded PGlite, in-process
// workers): POST /api/file/ifc/... then poll the upload until its version exists. Run with
// `npm run bench:import-e2e -w @truss/server` (BENCH_FILE, BENCH_RUNS).
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const file = process.env.BENCH_FILE ?? join(root, '../shared/data/ifc/Office_A_20110811.ifc')
const runs = Number(process.env.BENCH_RUNS ?? 3)
const { openIdentity } = await import('../src/modules/auth/identity.ts')

const dataDir = mkdtempSync(join(tmpdir(), 'truss-bench-import-'))
const identity = await openIdentity({ dataDir })
const user = await identity.users.create({ email: 'bench@example.com', password: 'bench-password', name: 'Bench' })
const token = await identity.tokens.create({
  userId: user.id,
  name: 'bench',
  scopes: ['streams:read', 'streams:write'],
})
await identity.close()

const child = spawn(
  process.execPath,
  ['--import', 'tsx', join(root, 'packages/cli/src/bin.ts'), 'serve', '--port', '0', '--data-dir', dataDir],
  {
    cwd: root,
    // Previews render after each version and would overlap the next run's import: measured apart.
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      TRUSS_WORKER_GROUPS: process.env.TRUSS_WORKER_GROUPS ?? 'webhooks,imports,monitor',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
)
const url = await new Promise((resolve) => {
  let out = ''
  child.stdout.on('data', (b) => {
    out += b
    const m = /Truss listening on (http:\/\/\S+)/.exec(out)
    if (m) resolve(m[1])
  })
})
const gql = async (query, variables) => {
  const r = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  })
  return (await r.json()).data
}
const projectId = (await gql('mutation { streamCreate(stream: { name: "Bench" }) }')).streamCreate
const bytes = readFileSync(file)
const times = []
for (let i = 0; i < runs; i++) {
  const form = new FormData()
  form.append('file', new Blob([bytes]), basename(file))
  const started = performance.now()
  const res = await fetch(`${url}/api/file/ifc/${projectId}/run-${i}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  })
  const uploadId = (await res.json()).uploadResults[0].blobId
  for (;;) {
    const u = (
      await gql(
        'query($p: String!, $u: String!) { stream(id: $p) { fileUpload(id: $u) { convertedStatus convertedMessage } } }',
        {
          p: projectId,
          u: uploadId,
        },
      )
    ).stream.fileUpload
    if (u.convertedStatus === 3) throw new Error(u.convertedMessage)
    if (u.convertedStatus === 2) break
    await new Promise((r) => setTimeout(r, 20))
  }
  times.push(performance.now() - started)
}
child.kill('SIGTERM')
await new Promise((r) => child.once('exit', r))
rmSync(dataDir, { recursive: true, force: true })
times.sort((a, b) => a - b)
const mb = statSync(file).size / 1e6
console.log(
  JSON.stringify({
    file: basename(file),
    mb: Number(mb.toFixed(1)),
    runs: times.map((t) => Math.round(t)),
    medianMs: Math.round(times[Math.floor(times.length / 2)]),
  }),
)
