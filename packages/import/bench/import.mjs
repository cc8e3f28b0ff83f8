// Import benchmark: Office_A_20110811.ifc (the peer took 6.0 s), then a ≥ 100 MB IFC built from Office_A
// by repeating its content with fresh ids and GlobalIds (copies share the one IfcProject), in os.tmpdir().
// Each measured import runs in its own child process, so its peak RSS (maxRSS) is its own.
//   npm run bench:import -w @truss/import          BENCH_IMPORT_MB (100), BENCH_RUNS (3)
import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const OFFICE_A = fileURLToPath(new URL('../../../../shared/data/ifc/Office_A_20110811.ifc', import.meta.url))
const self = fileURLToPath(import.meta.url)

if (process.argv[2] === '--one') {
  const { importFile } = await import('../src/index.ts')
  const { serialize } = await import('@truss/core')
  const t0 = performance.now()
  const r = await importFile({ path: process.argv[3] })
  const importMs = performance.now() - t0
  const heapMb = process.memoryUsage().heapUsed / 1e6
  let serializeMs
  let objects
  if (process.argv[4] === '--serialize') {
    const t1 = performance.now()
    objects = serialize(r.root).objects.length
    serializeMs = performance.now() - t1
  }
  const out = {
    importMs,
    heapMb,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    stats: r.stats,
    serializeMs,
    objects,
  }
  process.stdout.write(`\nRESULT ${JSON.stringify(out)}\n`)
  process.exit(0)
}

if (process.argv[2] === '--floor') {
  // web-ifc alone: open, then stream every mesh and copy its arrays out, as the converter does.
  const { createRequire } = await import('node:module')
  const W = createRequire(import.meta.url)('web-ifc')
  const api = new W.IfcAPI()
  const t0 = performance.now()
  await api.Init(undefined, true)
  const model = api.OpenModel(readFileSync(process.argv[3]))
  api.StreamAllMeshes(
    model,
    (flat) => {
      for (let i = 0; i < flat.geometries.size(); i++) {
        const g = api.GetGeometry(model, flat.geometries.get(i).geometryExpressID)
        api.GetVertexArray(g.GetVertexData(), g.GetVertexDataSize())
        api.GetIndexArray(g.GetIndexData(), g.GetIndexDataSize())
        g.delete()
      }
    },
    false,
  )
  const importMs = performance.now() - t0
  process.stdout.write(`\nRESULT ${JSON.stringify({ importMs, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`)
  process.exit(0)
}

function run(path, extra = [], mode = '--one') {
  const text = execFileSync(process.execPath, ['--import', 'tsx', self, mode, path, ...extra], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 64 << 20,
  })
  // web-ifc logs its BREP errors on stdout: the result is the line after them.
  const line = text.split('\n').find((l) => l.startsWith('RESULT '))
  return JSON.parse(line.slice(7))
}

/** Office_A repeated until `targetBytes`: ids shifted per copy, GlobalIds made unique, one IfcProject. */
function buildBig(targetBytes) {
  const text = readFileSync(OFFICE_A, 'latin1')
  const start = text.indexOf('\nDATA;') + 6
  const end = text.lastIndexOf('\nENDSEC;')
  const lines = text
    .slice(start, end)
    .split('\n')
    .filter((l) => l.startsWith('#'))
  let maxId = 0
  for (const l of lines) maxId = Math.max(maxId, Number(l.slice(1, l.indexOf('='))))
  const projectLine = lines.find((l) => /^#\d+=IFCPROJECT\(/.test(l))
  const projectId = projectLine.slice(1, projectLine.indexOf('='))
  const copies = Math.ceil(targetBytes / text.length)
  const path = join(tmpdir(), `truss-bench-office-x${copies}.ifc`)
  const chunks = [text.slice(0, start)]
  const b64 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$'
  for (let k = 0; k < copies; k++) {
    const offset = k * maxId
    const tag = b64[Math.floor(k / 64) % 64] + b64[k % 64]
    const out = []
    for (const l of lines) {
      if (k > 0 && l === projectLine) continue
      if (k === 0) {
        out.push(l)
        continue
      }
      const shifted = l.replace(/#(\d+)/g, (_, id) => (id === projectId ? `#${id}` : `#${Number(id) + offset}`))
      // A rooted entity's first attribute is its GlobalId: two characters of it carry the copy number.
      out.push(shifted.replace(/^(#\d+=\w+\(')([0-9A-Za-z_$]{2})([0-9A-Za-z_$]{20}')/, `$1${tag}$3`))
    }
    chunks.push(out.join('\n'), '\n')
  }
  chunks.push(text.slice(end + 1))
  writeFileSync(path, chunks.join(''))
  return { path, copies }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const runs = Number(process.env.BENCH_RUNS ?? 3)
const mb = (n) => n / 1e6

const office = []
for (let i = 0; i < runs; i++) office.push(run(OFFICE_A, ['--serialize']))
const officeMb = mb(statSync(OFFICE_A).size)
const o = office[Math.floor(office.length / 2)]
console.log(
  `Office_A (${officeMb.toFixed(1)} MB): import ${median(office.map((r) => r.importMs)).toFixed(0)} ms ` +
    `(runs ${office.map((r) => r.importMs.toFixed(0)).join(', ')}), ` +
    `serialize ${median(office.map((r) => r.serializeMs)).toFixed(0)} ms for ${o.objects} objects, ` +
    `peak RSS ${median(office.map((r) => r.maxRssMb)).toFixed(0)} MB; ${JSON.stringify(o.stats)}`,
)

const big = buildBig(Number(process.env.BENCH_IMPORT_MB ?? 100) * 1e6)
try {
  const size = mb(statSync(big.path).size)
  const r = run(big.path)
  console.log(
    `Office_A x${big.copies} (${size.toFixed(1)} MB): import ${(r.importMs / 1000).toFixed(1)} s, ` +
      `${(size / (r.importMs / 1000)).toFixed(2)} MB/s, peak RSS ${r.maxRssMb.toFixed(0)} MB, ` +
      `heap after ${r.heapMb.toFixed(0)} MB; ${JSON.stringify(r.stats)}`,
  )
  const floor = run(big.path, [], '--floor')
  console.log(
    `web-ifc alone on it (open + stream meshes): ${(floor.importMs / 1000).toFixed(1)} s, peak RSS ${floor.maxRssMb.toFixed(0)} MB`,
  )
  const peer = officeMb / 6.0
  console.log(`peer (speckle-server 2.24, Office_A): ${peer.toFixed(2)} MB/s`)
} finally {
  rmSync(big.path, { force: true })
}
