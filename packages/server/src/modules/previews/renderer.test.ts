import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { decodePng } from './png.js'
import { createPreviewRenderer, PreviewRenderFailed, PreviewTimeout, type ReadObjects } from './renderer.js'
import { sharedData } from '../../../../core/test/shared-data.js'

const MODEL = sharedData('speckle/RevitObject.json')
const objects = JSON.parse(readFileSync(MODEL, 'utf8')) as { id: string }[]
const ROOT = objects[0]!.id
const byId = new Map(objects.map((o) => [o.id, JSON.stringify(o)]))
const readObjects: ReadObjects = async (ids) => ids.filter((id) => byId.has(id)).map((id) => [id, byId.get(id)!])

/** Pixels that differ from white by more than a little. */
function inkedPixels(png: Buffer): number {
  const { pixels, channels, width, height } = decodePng(png)
  let count = 0
  for (let i = 0; i < width * height; i++) {
    const at = i * channels
    if (255 * 3 - pixels[at]! - pixels[at + 1]! - pixels[at + 2]! > 24) count++
  }
  return count
}

function differingPixels(a: Buffer, b: Buffer): number {
  const x = decodePng(a)
  const y = decodePng(b)
  let count = 0
  for (let i = 0; i < x.pixels.length; i += x.channels) {
    if (x.pixels[i] !== y.pixels[i] || x.pixels[i + 1] !== y.pixels[i + 1] || x.pixels[i + 2] !== y.pixels[i + 2])
      count++
  }
  return count
}

describe('preview renderer', () => {
  const renderer = createPreviewRenderer()
  afterAll(() => renderer.close())

  it(
    'renders a Revit floor from Speckle objects into opaque PNGs that change with the angle',
    { timeout: 120_000 },
    async () => {
      const pngs = await renderer.render({ projectId: 'p1', objectId: ROOT, readObjects }, { angles: 4 })
      expect(pngs).toHaveLength(4)
      const first = decodePng(pngs[0]!)
      expect([first.width, first.height]).toEqual([700, 400])
      // Opaque: every pixel's alpha is 255.
      for (let i = first.channels - 1; first.channels === 4 && i < first.pixels.length; i += 4) {
        if (first.pixels[i] !== 255) throw new Error(`pixel ${i >> 2} is not opaque`)
      }
      // The slab covers a good part of the image (16% of a 1024×768 frame in VIEWER.md).
      expect(inkedPixels(pngs[0]!)).toBeGreaterThan(700 * 400 * 0.05)
      expect(differingPixels(pngs[0]!, pngs[1]!)).toBeGreaterThan(1000)
    },
  )

  it(
    'fails with PreviewTimeout when the render runs over its time limit, and renders again afterwards',
    { timeout: 120_000 },
    async () => {
      await expect(
        renderer.render({ projectId: 'p1', objectId: ROOT, readObjects }, { angles: 1, timeoutMs: 300 }),
      ).rejects.toBeInstanceOf(PreviewTimeout)
      const [png] = await renderer.render({ projectId: 'p1', objectId: ROOT, readObjects }, { angles: 1 })
      expect(inkedPixels(png!)).toBeGreaterThan(10_000)
    },
  )

  it('launches the browser again after it crashed', { timeout: 120_000 }, async () => {
    // The tests above launched it. The Chromium this test process started (its child), killed as a crash would end it.
    const children = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' })
    const pids = children
      .split('\n')
      .filter((line) => line.includes('chrom'))
      .map((line) => Number.parseInt(line.trim(), 10))
    expect(pids.length).toBeGreaterThan(0)
    for (const pid of pids) process.kill(pid, 'SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 500))
    const [png] = await renderer.render({ projectId: 'p1', objectId: ROOT, readObjects }, { angles: 1 })
    expect(inkedPixels(png!)).toBeGreaterThan(10_000)
  })

  it('fails with PreviewRenderFailed when the root object is unknown', async () => {
    await expect(
      renderer.render({ projectId: 'p1', objectId: 'f'.repeat(32), readObjects }, { angles: 1, timeoutMs: 30_000 }),
    ).rejects.toBeInstanceOf(PreviewRenderFailed)
  })
})
