import type { Plugin } from 'vite'

/**
 * @speckle/viewer paces its own loading: while it walks the tree and builds batches it sleeps 16–50 ms
 * after every 100 ms of work (its `AsyncPause`), about a third of the batcher's time for a large model.
 * A zero-delay timeout still yields to the page each 100 ms (input, progress, our throttled frames), so
 * the viewer stays responsive and the sleeping goes. The pattern is matched in the published bundle; a
 * viewer release that changes it is reported at build time, not silently left slow.
 */
const VIEWER_PAUSES = /\.needsWait&&await (\w+)\.wait\(\d+\)/g
export const EXPECTED_VIEWER_PAUSES = 3

/** The viewer bundle's code with its pauses shortened, and how many it found. */
export function shortenViewerPauses(code: string): { code: string; found: number } {
  let found = 0
  const out = code.replace(VIEWER_PAUSES, (_m, pause: string) => {
    found++
    return `.needsWait&&await ${pause}.wait(0)`
  })
  return { code: out, found }
}

export function viewerPacing(): Plugin {
  return {
    name: 'truss-viewer-pacing',
    enforce: 'pre',
    transform(code, id) {
      if (!/@speckle[\\/]viewer[\\/]dist[\\/]index\.js$/.test(id.split('?')[0]!)) return null
      const { code: out, found } = shortenViewerPauses(code)
      if (found !== EXPECTED_VIEWER_PAUSES) {
        this.warn(
          `@speckle/viewer: expected ${EXPECTED_VIEWER_PAUSES} loading pauses to shorten, found ${found}; ` +
            'the viewer may load large models more slowly than measured (packages/web/src/build/viewer-pacing.ts)',
        )
      }
      return found === 0 ? null : { code: out, map: null }
    },
  }
}

// No React plugin: esbuild compiles JSX (automatic runtime); the app needs no fast refresh to build.
