/**
 * The preview page's script, bundled by esbuild for the browser (renderer.ts) and never run in Node: it
 * loads one object tree into @speckle/viewer and takes a PNG per turntable angle. The renderer answers the
 * viewer's object requests itself (`page.route`), so the resource URL's origin is a fake one.
 */
import { CameraController, DefaultViewerParams, SpeckleLoader, Viewer, ViewMode, ViewModes } from '@speckle/viewer'

export interface PageRenderInput {
  /** `<origin>/streams/<projectId>/objects/<rootId>`: SpeckleLoader reads the project and root from it. */
  resource: string
  /** Images around a full turn; the first is the viewer's default view of the whole model. */
  angles: number
  /** Canvas frames that must come out the same before an image is taken (SHADED settles in a few). */
  stableFrames: number
  /** Frames to wait at most for that, per angle. */
  maxFrames: number
  background: string
}

declare global {
  interface Window {
    trussRenderPreview(input: PageRenderInput): Promise<string[]>
  }
}

const nextFrame = () => new Promise<void>((resolve) => requestAnimationFrame(() => resolve()))

async function render(input: PageRenderInput): Promise<string[]> {
  const container = document.getElementById('viewer')
  if (container === null) throw new Error('the preview page has no #viewer element')
  const viewer = new Viewer(container, { ...DefaultViewerParams, showStats: false, verbose: false })
  await viewer.init()
  const camera = viewer.createExtension(CameraController)
  // SHADED without edges: a few cheap passes and deterministic pixels (AO is noisy and ~0.4 s a frame here).
  viewer.createExtension(ViewModes).setViewMode(ViewMode.SHADED, { edges: false })
  // Any token: without one the loader reads localStorage and logs an error. No IndexedDB cache: one render each.
  const loader = new SpeckleLoader(viewer.getWorldTree(), input.resource, 'preview', false)
  await viewer.loadObject(loader, true)
  camera.setCameraView(undefined, false)

  // The canvas is transparent where nothing is drawn: paint it over the background colour.
  const out = document.createElement('canvas')
  const source = container.querySelector('canvas')
  if (source === null) throw new Error('the viewer made no canvas')
  out.width = source.width
  out.height = source.height
  const ctx = out.getContext('2d')
  if (ctx === null) throw new Error('no 2D canvas context')

  const frame = async (): Promise<string> => {
    viewer.requestRender()
    await nextFrame()
    await nextFrame()
    ctx.fillStyle = input.background
    ctx.fillRect(0, 0, out.width, out.height)
    ctx.drawImage(source, 0, 0)
    return out.toDataURL('image/png')
  }

  const images: string[] = []
  const step = { azimuth: (2 * Math.PI) / input.angles, polar: 0 }
  for (let angle = 0; angle < input.angles; angle++) {
    if (angle > 0) camera.setCameraView(step, false)
    let last = await frame()
    for (let same = 1, frames = 1; same < input.stableFrames && frames < input.maxFrames; frames++) {
      const next = await frame()
      same = next === last ? same + 1 : 1
      last = next
    }
    images.push(last)
  }
  viewer.dispose()
  return images
}

window.trussRenderPreview = render
