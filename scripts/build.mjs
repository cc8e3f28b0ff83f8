// Builds every package in dependency order with plain tsc, so that `npm install` leaves
// `import('@truss/core')` and `npx truss` working from plain Node.
import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { gzipSync } from 'node:zlib'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const order = ['core', 'import', 'server', 'cli']
for (const name of order) {
  const dir = join(root, 'packages', name)
  const config = join(dir, 'tsconfig.build.json')
  if (!existsSync(config)) continue
  rmSync(join(dir, 'dist'), { recursive: true, force: true })
  execFileSync(process.execPath, [tsc, '-p', config], { stdio: 'inherit', cwd: dir })
}

// The web app: Vite bundles it into packages/web/dist, which `truss serve` serves at `/`. Its JS and CSS
// also get `.gz` siblings, sent to clients that accept gzip without compressing per request.
const web = join(root, 'packages', 'web')
if (existsSync(join(web, 'vite.config.ts'))) {
  const { build } = await import('vite')
  await build({ root: web, configFile: join(web, 'vite.config.ts'), logLevel: 'warn' })
  const assets = join(web, 'dist', 'assets')
  for (const name of readdirSync(assets)) {
    if (!/\.(js|css|svg|json)$/.test(name)) continue
    writeFileSync(join(assets, `${name}.gz`), gzipSync(readFileSync(join(assets, name)), { level: 9 }))
  }
}

// npm links workspace bins before `prepare` builds them, and skips a bin whose file is missing: link
// `truss` here so `npx truss` works right after the first `npm install`.
const bin = join(root, 'packages', 'cli', 'dist', 'bin.js')
if (existsSync(bin)) {
  chmodSync(bin, 0o755)
  const binDir = join(root, 'node_modules', '.bin')
  mkdirSync(binDir, { recursive: true })
  const link = join(binDir, 'truss')
  let present = false
  try {
    lstatSync(link)
    present = true
  } catch {
    present = false
  }
  if (!present) symlinkSync('../@truss/cli/dist/bin.js', link)
}
