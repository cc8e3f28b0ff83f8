// Builds every package in dependency order with plain tsc, so that `npm install` leaves
// `import('@truss/core')` and `npx truss` working from plain Node.
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, lstatSync, mkdirSync, rmSync, symlinkSync } from 'node:fs'
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
