/**
 * A real browser round trip: bundle the browser entry (src/browser.ts) with esbuild, serve it on loopback, and
 * in Debian's Chromium serialize a tree into IndexedDB, reload the page (a new JS context), then read it back
 * and deserialize it. Needs /usr/bin/chromium: CI installs it because `.ci/browser` exists, and this test
 * fails (never skips) without it, so a missing browser cannot pass unnoticed.
 */
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import * as core from '../../src/index.js'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
]
const ENTRY = fileURLToPath(new URL('../../src/browser.ts', import.meta.url))

/**
 * Plain JS, so the very same tree is built in the page (from the bundle's global `Truss`) and in Node (from
 * src/index.ts): 500 elements, each with a chunked list and a typed Point, plus unicode everywhere —
 * 2,001 objects, three write transactions at the default batch size.
 */
const BUILD_TREE = `
function buildTree(T) {
  const elements = []
  for (let i = 0; i < 500; i++) {
    elements.push(new T.Base({
      name: 'element ' + i + ' — Zürich 東京 🏗️',
      '@(100)values': Array.from({ length: 300 }, (_, k) => i * 1000 + k / 8),
      origin: new T.Point(i, -i, 0.25),
    }))
  }
  return new T.Base({
    name: 'Tower — ß 漢字 😀',
    units: 'm',
    '@elements': elements,
    properties: { rating: 'EI60', tags: ['a', 'b'], nothing: null },
  })
}
`

/** The page's side: write before the reload, read after it. Each call uses the default database. */
const PAGE_JS = `${BUILD_TREE}
window.trussPage = {
  async write() {
    const { rootId, objects } = Truss.serialize(buildTree(Truss))
    const transport = new Truss.IndexedDBTransport()
    for (const [id, json] of objects) await transport.saveObject(id, json)
    await transport.close()
    window.wroteHere = true
    return { rootId, ids: objects.map((o) => o[0]) }
  },
  async read(rootId, ids) {
    const transport = new Truss.IndexedDBTransport()
    const has = await transport.hasObjects(ids)
    const rootJson = await transport.getObject(rootId)
    const tree = await Truss.deserialize(rootJson, transport)
    const elements = tree['@elements']
    const e7 = elements[7]
    const result = {
      sameContext: window.wroteHere === true,
      navigation: performance.getEntriesByType('navigation')[0].type,
      stored: Object.values(has).filter(Boolean).length,
      missing: await transport.getObject('0'.repeat(32)),
      rootId: tree.id,
      reserializedRootId: Truss.serialize(tree).rootId,
      name: tree.name,
      properties: tree.properties,
      elementCount: elements.length,
      e7: { name: e7.name, values: e7['@(100)values'], originIsPoint: e7.origin instanceof Truss.Point, originY: e7.origin.y },
    }
    await transport.close()
    return result
  },
}
`

const HTML = `<!doctype html>
<meta charset="utf-8">
<title>Truss IndexedDB test</title>
<script src="/truss.js"></script>
<script src="/page.js"></script>
`

interface ReadResult {
  sameContext: boolean
  navigation: string
  stored: number
  missing: string | null
  rootId: string
  reserializedRootId: string
  name: string
  properties: unknown
  elementCount: number
  e7: { name: string; values: number[]; originIsPoint: boolean; originY: number }
}

async function bundleBrowserEntry(): Promise<string> {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: 'Truss',
    platform: 'browser', // a Node built-in reached from the entry fails the build
    target: 'es2022',
    logLevel: 'silent',
  })
  return result.outputFiles[0].text
}

/** A loopback server for the page and its two scripts; everything else is 404. */
async function serve(files: Record<string, { type: string; body: string }>): Promise<Server> {
  const server = createServer((req, res) => {
    const file = files[req.url ?? '']
    if (!file) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-type': `${file.type}; charset=utf-8`, 'cache-control': 'no-store' }).end(file.body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

interface Harness {
  bundle: string
  server: Server
  url: string
  browser?: Browser
}

describe('@truss/core in Chromium', () => {
  // Set up inside the tests, not in beforeAll: a failing beforeAll reports its tests as skipped, and a
  // missing Chromium must count as a failed test.
  let harness: Promise<Harness> | undefined
  const setUp = () => (harness ??= startHarness())

  async function startHarness(): Promise<Harness> {
    const bundle = await bundleBrowserEntry()
    const server = await serve({
      '/': { type: 'text/html', body: HTML },
      '/truss.js': { type: 'text/javascript', body: bundle },
      '/page.js': { type: 'text/javascript', body: PAGE_JS },
    })
    return { bundle, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }
  }

  async function openPage(h: Harness): Promise<{ page: Page; pageErrors: string[] }> {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run this test`,
      )
    }
    h.browser ??= await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    const page = await h.browser.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (err) => pageErrors.push(err.message))
    return { page, pageErrors }
  }

  afterAll(async () => {
    const h = await harness?.catch(() => undefined)
    await h?.browser?.close()
    if (h) await new Promise((resolve) => h.server.close(resolve))
  })

  it('bundles the browser entry without Node-only code', async () => {
    const { bundle } = await setUp()
    expect(bundle).toContain('IndexedDBTransport')
    expect(bundle).not.toMatch(/better-sqlite3|node:crypto|node:fs/)
  })

  it('writes a serialized tree to IndexedDB and, after a reload, deserializes the same tree from it', async () => {
    const h = await setUp()
    const { page, pageErrors } = await openPage(h)
    await page.goto(h.url)
    const written = await page.evaluate<{ rootId: string; ids: string[] }>('trussPage.write()')
    expect(written.ids).toHaveLength(2_001)

    // The pure-JS SHA-256 in the page gives the ids Node's OpenSSL gives.
    const tree = new Function('T', `${BUILD_TREE}\nreturn buildTree(T)`)(core) as core.Base
    const inNode = core.serialize(tree)
    expect(written.rootId).toBe(inNode.rootId)
    expect(written.ids).toEqual(inNode.objects.map(([id]) => id))

    await page.reload()
    const read = await page.evaluate<ReadResult>(
      `trussPage.read(${JSON.stringify(written.rootId)}, ${JSON.stringify(written.ids)})`,
    )
    expect(read.sameContext).toBe(false)
    expect(read.navigation).toBe('reload')
    expect(read.stored).toBe(2_001)
    expect(read.missing).toBeNull()
    expect(read.rootId).toBe(written.rootId)
    expect(read.reserializedRootId).toBe(written.rootId)
    expect(read.name).toBe('Tower — ß 漢字 😀')
    expect(read.properties).toEqual({ rating: 'EI60', tags: ['a', 'b'], nothing: null })
    expect(read.elementCount).toBe(500)
    expect(read.e7).toEqual({
      name: 'element 7 — Zürich 東京 🏗️',
      values: Array.from({ length: 300 }, (_, k) => 7000 + k / 8),
      originIsPoint: true,
      originY: -7,
    })
    expect(pageErrors).toEqual([])
  })
})
