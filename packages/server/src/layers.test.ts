/**
 * The import layers the code keeps (STYLE: one folder per domain, no import back up the layers):
 * - the kernel (principal, ids, errors, events, pagination) imports only adapters and itself;
 * - domain modules reach the caller's principal through the kernel, never through `modules/auth`, which sits
 *   above them (its plugin calls the tokens service); only HTTP edges (`rest.ts`) and GraphQL may use it;
 * - no module imports the process wiring (app, main, services, workers), except GraphQL's REST route
 *   serving the composed schema.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const SRC = dirname(fileURLToPath(import.meta.url))
const KERNEL = ['principal.ts', 'ids.ts', 'errors.ts', 'events.ts', 'pagination.ts']
const WIRING = ['app.ts', 'main.ts', 'services.ts', 'workers.ts', 'worker-main.ts', 'graphql-schema.ts']

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === 'test-utils' ? [] : sourceFiles(path)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && entry.name !== 'test-utils.ts'
      ? [path]
      : []
  })
}

/** The repository-relative targets of a file's relative imports (`./x.js` → `src/x.ts`). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const targets: string[] = []
  for (const match of text.matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)'/g)) {
    const target = resolve(dirname(file), match[1]!).replace(/\.js$/, '.ts')
    targets.push(relative(SRC, target).split(sep).join('/'))
  }
  return targets
}

const rel = (file: string): string => relative(SRC, file).split(sep).join('/')

describe('import layers', () => {
  it('finds the source files it checks', () => {
    expect(sourceFiles(join(SRC, 'modules')).length).toBeGreaterThan(50)
  })

  it('keeps the kernel free of modules and wiring', () => {
    const offending = KERNEL.flatMap((name) =>
      importsOf(join(SRC, name))
        .filter((target) => !target.startsWith('adapters/') && !KERNEL.includes(target))
        .map((target) => `${name} → ${target}`),
    )
    expect(offending).toEqual([])
  })

  it('has domain modules take the principal from the kernel, not from modules/auth', () => {
    const offending = sourceFiles(join(SRC, 'modules'))
      .filter((file) => {
        const path = rel(file)
        return !path.startsWith('modules/auth/') && !path.startsWith('modules/graphql/') && !path.endsWith('/rest.ts')
      })
      .flatMap((file) =>
        importsOf(file)
          .filter((target) => target.startsWith('modules/auth/'))
          .map((target) => `${rel(file)} → ${target}`),
      )
    expect(offending).toEqual([])
  })

  it('has no module import the process wiring', () => {
    const offending = sourceFiles(join(SRC, 'modules')).flatMap((file) =>
      importsOf(file)
        .filter((target) => WIRING.includes(target))
        .filter((target) => !(rel(file) === 'modules/graphql/rest.ts' && target === 'graphql-schema.ts'))
        .map((target) => `${rel(file)} → ${target}`),
    )
    expect(offending).toEqual([])
  })
})
