/**
 * Issue 12's budget for what the browser loads before any viewer page: the JavaScript that the built
 * `index.html` loads (its module scripts and module preloads) is under 500 KB gzipped, and the viewer's
 * chunk (@speckle/viewer, three.js) is not part of it: it loads only on a viewer page.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { ensureBuilt } from './harness.js'

const DIST = join(import.meta.dirname, '..', 'dist')
const BUDGET = 500 * 1024

describe('the web app bundle', () => {
  it('loads under 500 KB of gzipped JavaScript before a viewer page, without the viewer chunk', async () => {
    await ensureBuilt()
    const html = readFileSync(join(DIST, 'index.html'), 'utf8')
    const initial = [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="\/(assets\/[^"]+\.js)"/g)].map(
      (m) => m[1]!,
    )
    expect(initial.length).toBeGreaterThan(0)
    const gzipped = initial.map((file) => gzipSync(readFileSync(join(DIST, file)), { level: 9 }).length)
    const total = gzipped.reduce((a, b) => a + b, 0)
    expect(total).toBeLessThan(BUDGET)

    // The viewer chunk exists, is loaded lazily, and is not among the initial files.
    const viewer = readdirSync(join(DIST, 'assets')).filter((f) => /^Viewer-.*\.js$/.test(f))
    expect(viewer).toHaveLength(1)
    expect(initial).not.toContain(`assets/${viewer[0]}`)
    const viewerGzipped = gzipSync(readFileSync(join(DIST, 'assets', viewer[0]!)), { level: 9 }).length
    expect(viewerGzipped).toBeGreaterThan(BUDGET) // it holds the 3D engine: were it initial, the budget would fail
  }, 120_000)
})
