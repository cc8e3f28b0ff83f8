/**
 * The build step that stops @speckle/viewer sleeping while it loads a model, checked against the viewer
 * bundle that is installed and against the app as built.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { EXPECTED_VIEWER_PAUSES, shortenViewerPauses, viewerPacing } from '../src/build/viewer-pacing.js'
import { ensureBuilt } from './harness.js'

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..')

function installedViewer(): string {
  for (let dir = WEB; ; dir = dirname(dir)) {
    const file = join(dir, 'node_modules/@speckle/viewer/dist/index.js')
    if (existsSync(file)) return file
    if (dirname(dir) === dir) throw new Error('@speckle/viewer is not installed')
  }
}

const sleeps = (code: string) => [...code.matchAll(/\.needsWait&&await \w+\.wait\((\d+)\)/g)].map((m) => Number(m[1]))

type Transform = (this: { warn(message: string): void }, code: string, id: string) => { code: string } | null

describe('viewer pacing', () => {
  it('finds every loading pause of the installed viewer and makes it a zero-delay yield', () => {
    const original = readFileSync(installedViewer(), 'utf8')
    // The published viewer sleeps 16 ms (tree walk) and 50 ms (batcher, twice) after each 100 ms of work.
    expect(sleeps(original).sort((a, b) => a - b)).toEqual([16, 50, 50])
    const { code, found } = shortenViewerPauses(original)
    expect(found).toBe(EXPECTED_VIEWER_PAUSES)
    expect(sleeps(code)).toEqual([0, 0, 0])
    // Nothing else changed: the same text apart from the delays.
    expect(code.replace(/\.wait\(\d+\)/g, '.wait()')).toBe(original.replace(/\.wait\(\d+\)/g, '.wait()'))
  })

  it('rewrites only the viewer bundle, and warns when a viewer release no longer matches', () => {
    const plugin = viewerPacing()
    const transform = plugin.transform as Transform
    const warnings: string[] = []
    const ctx = { warn: (m: string) => warnings.push(m) }
    const code = 'x.tick(100),x.needsWait&&await x.wait(50);'
    expect(transform.call(ctx, code, '/app/src/main.tsx')).toBeNull()
    const out = transform.call(ctx, code, '/app/node_modules/@speckle/viewer/dist/index.js?v=1')
    expect(out?.code).toBe('x.tick(100),x.needsWait&&await x.wait(0);')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/expected 3 loading pauses to shorten, found 1/)
  })

  it('the built app carries the shortened pauses', async () => {
    await ensureBuilt()
    const assets = join(WEB, 'dist/assets')
    const chunk = readdirSync(assets).find((f) => /^Viewer-.*\.js$/.test(f))
    expect(chunk).toBeDefined()
    expect(sleeps(readFileSync(join(assets, chunk!), 'utf8'))).toEqual([0, 0, 0])
  })
})
