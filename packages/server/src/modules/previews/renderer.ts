/**
 * Renders preview images of an object tree with @speckle/viewer in one shared headless Chromium (software
 * WebGL through SwiftShader; see VIEWER.md). Each render gets a fresh browser context and page on a fake
 * origin whose requests Playwright answers: the page, its bundled script (page.ts, built by esbuild on
 * first use and kept in memory), and Speckle's two object routes, read through `readObjects`. So a worker
 * needs database access only, never HTTP access to the API server. Every other request is aborted.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Route } from 'playwright-core'
import type { PageRenderInput } from './page.js'

/** An object's id and its JSON text (as a string or its UTF-8 bytes). */
export type ObjectEntry = readonly [id: string, json: string | Uint8Array]

/** The stored objects among `ids` (unknown ids skipped), in any order. */
export type ReadObjects = (
  ids: readonly string[],
) => AsyncIterable<ObjectEntry> | Promise<Iterable<ObjectEntry> | AsyncIterable<ObjectEntry>>

export interface RenderRequest {
  projectId: string
  /** The root object; its `__closure` names the rest of the tree. */
  objectId: string
  readObjects: ReadObjects
}

export interface RenderOptions {
  /** Images around a full turn, the first being the default view (default `DEFAULT_PREVIEW_ANGLES`). */
  angles?: number
  width?: number
  height?: number
  /** The whole render, browser start-up excluded (default 120 s). */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface PreviewRenderer {
  /** One PNG per angle, in turntable order. */
  render(request: RenderRequest, options?: RenderOptions): Promise<Buffer[]>
  /** Close the browser; renders after this fail with `BrowserUnavailable`. */
  close(): Promise<void>
}

export interface PreviewRendererOptions {
  /** Default `/usr/bin/chromium` (Debian's package). */
  executablePath?: string
  /** CSS colour behind the model; the images are opaque. */
  background?: string
  logger?: { warn(obj: object, msg?: string): void }
}

/**
 * Speckle's preview service takes 24 angles; here each angle costs a few SHADED frames of software GL
 * (≈ 0.1–0.2 s at 700×400 on 2 cores), so 8 keep a render within a few seconds. Routes map Speckle's
 * 24-step angles onto however many were stored.
 */
export const DEFAULT_PREVIEW_ANGLES = 8
/** Speckle's preview size. */
export const DEFAULT_PREVIEW_WIDTH = 700
export const DEFAULT_PREVIEW_HEIGHT = 400
const DEFAULT_TIMEOUT_MS = 120_000
const MAX_ANGLES = 48
const MAX_SIDE = 4096

/** The render ran over its time limit; its page was closed. */
export class PreviewTimeout extends Error {
  override readonly name = 'PreviewTimeout'
  constructor(readonly timeoutMs: number) {
    super(`the preview render ran over ${timeoutMs} ms`)
  }
}

/** The browser could not start, crashed or went away during the render: trying again may work. */
export class BrowserUnavailable extends Error {
  override readonly name = 'BrowserUnavailable'
}

/** The viewer could not render this tree (unknown root, missing children, unreadable JSON). Retrying will not help. */
export class PreviewRenderFailed extends Error {
  override readonly name = 'PreviewRenderFailed'
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  // Chromium 156 still falls back to SwiftShader without it, but warns that a later release will not.
  '--enable-unsafe-swiftshader',
]

const ORIGIN = 'http://truss-preview.local'
const BUNDLE_PATH = '/preview.js'
const SINGLE = /^\/objects\/([^/]+)\/([^/]+)\/single\/?$/
const OBJECT_STREAM = /^\/api\/v2\/projects\/([^/]+)\/object-stream\/?$/

/** page.ts next to this file: `.ts` in the sources (tests, tsx), `.js` once built. */
function pageEntry(): string {
  const ts = fileURLToPath(new URL('./page.ts', import.meta.url))
  return existsSync(ts) ? ts : fileURLToPath(new URL('./page.js', import.meta.url))
}

let bundle: Promise<string> | undefined

/** The page script bundled with the viewer (≈ 2 MB), built once per process. */
function pageBundle(): Promise<string> {
  bundle ??= (async () => {
    const { build } = await import('esbuild')
    const result = await build({
      entryPoints: [pageEntry()],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'chrome110',
      minify: true,
      legalComments: 'none',
      logLevel: 'silent',
      define: { 'process.env.NODE_ENV': '"production"' },
    })
    return result.outputFiles[0]!.text
  })()
  bundle.catch(() => {
    bundle = undefined
  })
  return bundle
}

function pageHtml(width: number, height: number, background: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>preview</title></head>
<body style="margin:0;background:${background}"><div id="viewer" style="width:${width}px;height:${height}px"></div>
<script src="${BUNDLE_PATH}"></script></body></html>`
}

/** The tree's lines as Speckle's object-stream answers them: `id \t json \n`. */
async function objectLines(read: ReadObjects, ids: readonly string[]): Promise<Buffer> {
  const pieces: Buffer[] = []
  const tab = Buffer.from('\t')
  const newline = Buffer.from('\n')
  for await (const [id, json] of await read(ids)) {
    pieces.push(Buffer.from(id), tab, typeof json === 'string' ? Buffer.from(json) : Buffer.from(json), newline)
  }
  return Buffer.concat(pieces)
}

async function firstObject(read: ReadObjects, id: string): Promise<Buffer | null> {
  for await (const [found, json] of await read([id])) {
    if (found === id) return typeof json === 'string' ? Buffer.from(json) : Buffer.from(json)
  }
  return null
}

function idsOf(body: string | null): string[] {
  const parsed = JSON.parse(body ?? '{}') as { objectIds?: unknown }
  const ids = parsed.objectIds
  return Array.isArray(ids) ? ids.filter((i): i is string => typeof i === 'string') : []
}

function clamp(value: number | undefined, fallback: number, max: number): number {
  if (value === undefined || !Number.isFinite(value)) return fallback
  return Math.min(max, Math.max(1, Math.round(value)))
}

export function createPreviewRenderer(options: PreviewRendererOptions = {}): PreviewRenderer {
  const executablePath = options.executablePath ?? '/usr/bin/chromium'
  const background = options.background ?? '#ffffff'
  let browser: Promise<Browser> | undefined
  let closed = false

  /** The shared browser, launched on first use and again after it crashed or disconnected. */
  function getBrowser(): Promise<Browser> {
    const current = browser
    if (current !== undefined) {
      return current.then((b) => (b.isConnected() ? b : relaunch(current)))
    }
    return relaunch(undefined)
  }

  function relaunch(stale: Promise<Browser> | undefined): Promise<Browser> {
    if (browser !== stale) return getBrowser()
    const launching = (async () => {
      const { chromium } = await import('playwright-core')
      try {
        const b = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true })
        b.on('disconnected', () => {
          if (browser === launching) browser = undefined
        })
        return b
      } catch (err) {
        throw new BrowserUnavailable(`could not start Chromium at ${executablePath}: ${(err as Error).message}`, {
          cause: err,
        })
      }
    })()
    browser = launching
    launching.catch(() => {
      if (browser === launching) browser = undefined
    })
    return launching
  }

  async function route(routeTo: Route, request: RenderRequest, html: string): Promise<void> {
    const req = routeTo.request()
    const url = new URL(req.url())
    if (url.origin !== ORIGIN) return routeTo.abort('blockedbyclient')
    const path = url.pathname
    if (path === '/' || path === '/index.html') {
      return routeTo.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html })
    }
    if (path === BUNDLE_PATH) {
      return routeTo.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: await pageBundle() })
    }
    const single = SINGLE.exec(path)
    if (single !== null && req.method() === 'GET' && single[1] === request.projectId) {
      const json = await firstObject(request.readObjects, decodeURIComponent(single[2]!))
      if (json === null)
        return routeTo.fulfill({ status: 404, contentType: 'text/plain', body: 'Failed to find object.' })
      return routeTo.fulfill({ status: 200, contentType: 'application/json; charset=utf-8', body: json })
    }
    const stream = OBJECT_STREAM.exec(path)
    if (stream !== null && req.method() === 'POST' && stream[1] === request.projectId) {
      const body = await objectLines(request.readObjects, idsOf(req.postData()))
      return routeTo.fulfill({ status: 200, contentType: 'text/plain; charset=utf-8', body })
    }
    return routeTo.fulfill({ status: 404, contentType: 'text/plain', body: 'Not found' })
  }

  async function render(request: RenderRequest, opts: RenderOptions = {}): Promise<Buffer[]> {
    if (closed) throw new BrowserUnavailable('the preview renderer is closed')
    const angles = clamp(opts.angles, DEFAULT_PREVIEW_ANGLES, MAX_ANGLES)
    const width = clamp(opts.width, DEFAULT_PREVIEW_WIDTH, MAX_SIDE)
    const height = clamp(opts.height, DEFAULT_PREVIEW_HEIGHT, MAX_SIDE)
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
    // Start building the bundle while the browser starts.
    const script = pageBundle()
    const b = await getBrowser()
    await script

    let context: BrowserContext | undefined
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    let failure: Error | undefined
    const stop = new Promise<never>((_resolve, reject) => {
      const fail = (err: Error) => {
        failure ??= err
        reject(failure)
        void context?.close().catch(() => undefined)
      }
      timer = setTimeout(() => fail(new PreviewTimeout(timeoutMs)), timeoutMs)
      onAbort = () => fail(opts.signal?.reason instanceof Error ? opts.signal.reason : new Error('render aborted'))
      if (opts.signal?.aborted) onAbort()
      else opts.signal?.addEventListener('abort', onAbort, { once: true })
    })
    stop.catch(() => undefined)

    const work = async (): Promise<Buffer[]> => {
      try {
        context = await b.newContext({ viewport: { width, height }, deviceScaleFactor: 1 })
      } catch (err) {
        throw new BrowserUnavailable(`could not open a browser context: ${(err as Error).message}`, { cause: err })
      }
      if (failure !== undefined) throw failure
      const page = await context.newPage()
      const pageErrors: string[] = []
      page.on('pageerror', (err) => pageErrors.push(err.message))
      const crashed = new Promise<never>((_resolve, reject) =>
        page.on('crash', () => reject(new BrowserUnavailable('the preview page crashed'))),
      )
      crashed.catch(() => undefined)
      const html = pageHtml(width, height, background)
      await context.route('**/*', (r) =>
        route(r, request, html).catch(async (err: unknown) => {
          options.logger?.warn({ err, url: r.request().url() }, 'preview request failed')
          await r.abort('failed').catch(() => undefined)
        }),
      )
      // `useCache=false`: objectloader2 reads it from the page's own query string.
      await Promise.race([page.goto(`${ORIGIN}/?useCache=false`), crashed])
      const input: PageRenderInput = {
        resource: `${ORIGIN}/streams/${encodeURIComponent(request.projectId)}/objects/${encodeURIComponent(request.objectId)}`,
        angles,
        stableFrames: 2,
        maxFrames: 12,
        background,
      }
      let urls: string[]
      try {
        urls = await Promise.race([page.evaluate((i) => window.trussRenderPreview(i), input), crashed])
      } catch (err) {
        if (failure !== undefined || err instanceof BrowserUnavailable) throw err
        if (!b.isConnected()) throw new BrowserUnavailable('the browser went away during the render', { cause: err })
        const message = (err as Error).message.split('\n')[0]
        throw new PreviewRenderFailed(
          `the viewer could not render ${request.objectId}: ${message}${pageErrors.length > 0 ? ` (${pageErrors[0]})` : ''}`,
          { cause: err },
        )
      }
      return urls.map((u) => Buffer.from(u.slice(u.indexOf(',') + 1), 'base64'))
    }

    try {
      return await Promise.race([work(), stop])
    } catch (err) {
      // A closed context makes Playwright throw its own error: report why it was closed.
      if (failure !== undefined) throw failure
      if (!b.isConnected() && !(err instanceof BrowserUnavailable)) {
        throw new BrowserUnavailable(`the browser went away during the render: ${(err as Error).message}`, {
          cause: err,
        })
      }
      throw err
    } finally {
      clearTimeout(timer)
      if (onAbort !== undefined) opts.signal?.removeEventListener('abort', onAbort)
      await context?.close().catch(() => undefined)
    }
  }

  return {
    render,
    async close() {
      closed = true
      const current = browser
      browser = undefined
      if (current !== undefined) await (await current.catch(() => undefined))?.close()
    },
  }
}
