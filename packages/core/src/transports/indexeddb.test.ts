import '../platform/node.js'
import { createHash } from 'node:crypto'
import { IDBDatabase, IDBFactory, IDBObjectStore } from 'fake-indexeddb'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Base, Point, deserialize, serialize } from '../api.js'
import { AbortError, TransportError } from '../errors.js'
import { registerSha256 } from '../platform/hash.js'
import type { TransportProgress } from './transport.js'
import { IndexedDBTransport, type IndexedDBTransportOptions } from './indexeddb.js'

const opened: IndexedDBTransport[] = []

/** A transport on its own in-memory IndexedDB unless a factory is passed; closed after each test. */
function transport(options: IndexedDBTransportOptions = {}): IndexedDBTransport {
  const t = new IndexedDBTransport({ indexedDB: new IDBFactory(), ...options })
  opened.push(t)
  return t
}

afterEach(async () => {
  vi.restoreAllMocks()
  // Tests that break writes on purpose leave transports that reject on close; the database still closes.
  for (const t of opened.splice(0)) await t.close().catch(() => undefined)
})

function fakeObject(i: number): [string, string] {
  const id = i.toString(16).padStart(32, '0')
  return [id, JSON.stringify({ id, speckle_type: 'Base', n: i, name: `object ${i}` })]
}

function fakeObjects(count: number, from = 0): [string, string][] {
  return Array.from({ length: count }, (_, i) => fakeObject(from + i))
}

async function saveAll(t: IndexedDBTransport, objects: [string, string][]): Promise<void> {
  for (const [id, json] of objects) await t.saveObject(id, json)
}

/** A transport holding `count` flushed objects and one more saved but not flushed. */
async function storedAndBuffered(count: number) {
  const t = transport()
  const stored = fakeObjects(count)
  await saveAll(t, stored)
  await t.flush()
  const buffered = fakeObject(count + 100_000)
  await t.saveObject(...buffered)
  return { t, stored, buffered }
}

async function collect(iterable: AsyncIterable<[string, string]>): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for await (const [id, json] of iterable) out.set(id, json)
  return out
}

/** Make the fake store's `put` throw for the given keys, as a real store does on a bad key or value. */
function failPutFor(failures: Record<string, string>): void {
  const put = IDBObjectStore.prototype.put
  vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (
    this: IDBObjectStore,
    value: unknown,
    key?: IDBValidKey,
  ) {
    const message = typeof key === 'string' ? failures[key] : undefined
    if (message) throw new DOMException(message, 'DataError')
    return put.call(this, value, key)
  })
}

/** Open a database at `version` creating a store, as another app or tab would, then close it. */
function createStore(
  indexedDB: IDBFactory,
  dbName: string,
  version: number,
  storeName: string,
  options?: IDBObjectStoreParameters,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const request = indexedDB.open(dbName, version)
    request.onupgradeneeded = () => request.result.createObjectStore(storeName, options)
    request.onsuccess = () => {
      request.result.close()
      resolve()
    }
    request.onerror = () => reject(request.error)
  })
}

describe('IndexedDBTransport', () => {
  it('stores 10,000 objects in batched transactions and reads every one back from a new connection', async () => {
    const indexedDB = new IDBFactory()
    const objects = fakeObjects(10_000)
    const progress: TransportProgress[] = []
    const writer = transport({ indexedDB, onProgress: (p) => progress.push(p) })
    await saveAll(writer, objects)
    await writer.flush()

    // 1,000 objects a transaction by default: one progress report per committed batch, then flush's.
    expect(progress.map((p) => p.done)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10].map((k) => k * 1000))
    await writer.close()

    const reader = transport({ indexedDB })
    const found = await collect(reader.getObjects(objects.map(([id]) => id)))
    expect(found.size).toBe(10_000)
    for (const [id, json] of objects) expect(found.get(id)).toBe(json)
    expect(await reader.getObject(objects[4321][0])).toBe(objects[4321][1])
  })

  it('returns null for an unknown id', async () => {
    const t = transport()
    await t.saveObject(...fakeObject(1))
    await t.flush()
    expect(await t.getObject(fakeObject(2)[0])).toBeNull()
  })

  it('reads saved objects before flush, and flush makes all of them visible to another connection', async () => {
    const indexedDB = new IDBFactory()
    const objects = fakeObjects(2_500) // two full batches and a partial one still buffered
    const writer = transport({ indexedDB })
    await saveAll(writer, objects)
    expect(await writer.getObject(objects[2_499][0])).toBe(objects[2_499][1])
    expect(await writer.getObject(objects[0][0])).toBe(objects[0][1])

    await writer.flush()
    const other = transport({ indexedDB })
    const has = await other.hasObjects(objects.map(([id]) => id))
    expect(Object.values(has).every(Boolean)).toBe(true)
    expect(Object.keys(has)).toHaveLength(2_500)
  })

  it('resolves flush when nothing was saved', async () => {
    const progress: TransportProgress[] = []
    await transport({ onProgress: (p) => progress.push(p) }).flush()
    expect(progress).toEqual([{ transport: 'IndexedDB(truss-objects/objects)', stage: 'write', done: 0 }])
  })

  it('rejects flush with the first write error and refuses later writes with it', async () => {
    const indexedDB = new IDBFactory()
    const objects = fakeObjects(35)
    failPutFor({ [objects[12][0]]: 'first failure', [objects[25][0]]: 'second failure' })
    const t = transport({ indexedDB, maxBatchObjects: 10, maxPendingBatches: 3 })
    for (const [id, json] of objects) await t.saveObject(id, json).catch(() => undefined)

    const error = await t.flush().catch((err: unknown) => err)
    expect(error).toBeInstanceOf(TransportError)
    expect((error as Error).message).toMatch(/could not write 10 objects \(DataError: first failure\)/)
    await expect(t.saveObject(...fakeObject(99))).rejects.toBe(error)
    await expect(t.flush()).rejects.toBe(error)

    // The batch before the failure committed; the failed batch left nothing behind.
    vi.restoreAllMocks()
    const reader = transport({ indexedDB })
    expect(await reader.getObject(objects[9][0])).toBe(objects[9][1])
    expect(await reader.getObject(objects[10][0])).toBeNull()
  })

  it('reports an aborted write transaction (as a full quota aborts it) as a TransportError', async () => {
    const put = IDBObjectStore.prototype.put
    vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (
      this: IDBObjectStore,
      value: unknown,
      key?: IDBValidKey,
    ) {
      const request = put.call(this, value, key)
      this.transaction.abort()
      return request
    })
    const t = transport()
    await t.saveObject(...fakeObject(1))
    await expect(t.flush()).rejects.toThrow(/could not write 1 objects .*aborted/)
  })

  it('applies back-pressure: saveObject waits while maxPendingBatches transactions are pending', async () => {
    let committed = 0
    const t = transport({ maxBatchObjects: 10, maxPendingBatches: 1, onProgress: (p) => (committed = p.done) })
    let saved = 0
    let mostUncommitted = 0
    for (const [id, json] of fakeObjects(200)) {
      await t.saveObject(id, json)
      saved++
      mostUncommitted = Math.max(mostUncommitted, saved - committed)
    }
    // At most one batch pending and one buffering; without back-pressure all 200 would be outstanding,
    // because resolved promises never let IndexedDB's callbacks run.
    expect(mostUncommitted).toBeLessThanOrEqual(20)
    expect(committed).toBeGreaterThanOrEqual(180)
    await t.flush()
    expect(committed).toBe(200)
  })

  it('stops writing at maxBatchChars before maxBatchObjects', async () => {
    let reports = 0
    const t = transport({ maxBatchChars: 1_000, onProgress: () => reports++ })
    await saveAll(t, fakeObjects(100)) // ~90 characters each: about 12 objects a batch
    await t.flush()
    expect(reports).toBeGreaterThanOrEqual(8)
  })

  it('answers hasObjects for stored, buffered and unknown ids in one readonly transaction', async () => {
    const { t, stored, buffered } = await storedAndBuffered(3_000)
    const unknown = fakeObjects(2_000, 10_000).map(([id]) => id)

    const transaction = vi.spyOn(IDBDatabase.prototype, 'transaction')
    const has = await t.hasObjects([...stored.map(([id]) => id), buffered[0], ...unknown])
    expect(transaction).toHaveBeenCalledTimes(1)
    expect(transaction.mock.calls[0][1]).toBe('readonly')

    expect(stored.every(([id]) => has[id] === true)).toBe(true)
    expect(has[buffered[0]]).toBe(true)
    expect(unknown.every((id) => has[id] === false)).toBe(true)
    expect(await t.hasObjects([])).toEqual({})
  })

  it('streams stored and buffered objects from getObjects, skipping unknown ids', async () => {
    const { t, stored, buffered } = await storedAndBuffered(1_200)
    const ids = [...stored.map(([id]) => id), fakeObject(9_999)[0], buffered[0]]

    const found = await collect(t.getObjects(ids))
    expect(found.size).toBe(1_201)
    expect(found.get(buffered[0])).toBe(buffered[1])
    expect(found.get(stored[1_100][0])).toBe(stored[1_100][1])
    expect(found.has(fakeObject(9_999)[0])).toBe(false)
    expect(await collect(t.getObjects([]))).toEqual(new Map())

    // Stopping early is fine: the chunk read ahead is dropped.
    let seen = 0
    for await (const _row of t.getObjects(ids)) if (++seen === 3) break
    expect(seen).toBe(3)
  })

  it('reports read progress from getObjects against the number of ids asked for', async () => {
    const t = transport()
    await saveAll(t, fakeObjects(600))
    await t.flush()
    const progress: TransportProgress[] = []
    const ids = [...fakeObjects(600).map(([id]) => id), fakeObject(1_000)[0]]
    await collect(t.getObjects(ids, { onProgress: (p) => progress.push(p) }))
    expect(progress.map((p) => [p.stage, p.done, p.total])).toEqual([
      ['read', 500, 601],
      ['read', 601, 601],
    ])
  })

  it('rejects reads with AbortError when the signal is aborted before or during the call', async () => {
    const t = transport()
    await saveAll(t, fakeObjects(10))
    await t.flush()
    const [id] = fakeObject(3)

    await expect(t.getObject(id, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
    await expect(t.hasObjects([id], { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)

    const controller = new AbortController()
    const reading = t.getObject(id, { signal: controller.signal })
    controller.abort()
    await expect(reading).rejects.toBeInstanceOf(AbortError)

    const checking = new AbortController()
    const has = t.hasObjects([id], { signal: checking.signal })
    checking.abort()
    await expect(has).rejects.toBeInstanceOf(AbortError)

    // A reason that is an error of another kind (a timeout) is thrown as is.
    const timeout = new AbortController()
    const reason = new DOMException('took too long', 'TimeoutError')
    timeout.abort(reason)
    await expect(t.getObject(id, { signal: timeout.signal })).rejects.toBe(reason)

    // The transport still answers afterwards.
    expect(await t.getObject(id)).toBe(fakeObject(3)[1])
  })

  it('stops getObjects with AbortError when aborted mid-stream', async () => {
    const t = transport()
    const objects = fakeObjects(1_500)
    await saveAll(t, objects)
    await t.flush()
    const controller = new AbortController()
    let seen = 0
    const reading = (async () => {
      for await (const _row of t.getObjects(
        objects.map(([id]) => id),
        { signal: controller.signal },
      )) {
        if (++seen === 10) controller.abort()
      }
    })()
    await expect(reading).rejects.toBeInstanceOf(AbortError)
    expect(seen).toBe(10)
  })

  it('throws a TransportError naming the fix when IndexedDB is not available', () => {
    expect((globalThis as { indexedDB?: unknown }).indexedDB).toBeUndefined()
    expect(() => new IndexedDBTransport()).toThrow(TransportError)
    expect(() => new IndexedDBTransport()).toThrow(/IndexedDB is not available.*indexedDB option/)
  })

  it('adds its store to an existing database by a version upgrade, keeping the other stores', async () => {
    const indexedDB = new IDBFactory()
    await createStore(indexedDB, 'shared', 1, 'settings')
    const t = transport({ indexedDB, dbName: 'shared', storeName: 'cache' })
    await t.saveObject(...fakeObject(1))
    await t.flush()
    expect(await t.getObject(fakeObject(1)[0])).toBe(fakeObject(1)[1])

    const databases = await indexedDB.databases()
    expect(databases).toEqual([{ name: 'shared', version: 2 }])
  })

  it('lets another connection upgrade the database, then reopens it on the next call', async () => {
    const indexedDB = new IDBFactory()
    const t = transport({ indexedDB })
    await t.saveObject(...fakeObject(1))
    await t.flush()

    // Another tab adding a store: it is blocked forever unless our open connection closes itself.
    await createStore(indexedDB, 'truss-objects', 2, 'settings')

    expect(await t.getObject(fakeObject(1)[0])).toBe(fakeObject(1)[1])
    await t.saveObject(...fakeObject(2))
    await t.flush()
    expect(await t.hasObjects([fakeObject(2)[0]])).toEqual({ [fakeObject(2)[0]]: true })
  })

  it('refuses a store that other code created with in-line keys', async () => {
    const indexedDB = new IDBFactory()
    await createStore(indexedDB, 'truss-objects', 1, 'objects', { keyPath: 'id' })
    const t = transport({ indexedDB })
    await expect(t.getObject(fakeObject(1)[0])).rejects.toThrow(/created by other code \(key path "id"\)/)
  })

  it('writes buffered objects on close and refuses calls afterwards', async () => {
    const indexedDB = new IDBFactory()
    const t = transport({ indexedDB })
    await t.saveObject(...fakeObject(1))
    await t.close()
    await expect(t.saveObject(...fakeObject(2))).rejects.toThrow(/closed/)
    await expect(t.getObject(fakeObject(2)[0])).rejects.toThrow(/closed/)
    await t.close() // closing twice is harmless

    expect(await transport({ indexedDB }).getObject(fakeObject(1)[0])).toBe(fakeObject(1)[1])
  })
})

/** A tree with the shapes that matter: detached lists, chunked arrays, typed classes, unicode, nesting. */
function buildTree(): Base {
  const elements = Array.from(
    { length: 120 },
    (_, i) =>
      new Base({
        name: `element ${i} — Zürich 東京 🏗️`,
        '@(10)values': Array.from({ length: 25 }, (_, k) => i * 100 + k / 4),
        origin: new Point(i, -i, 0.5),
      }),
  )
  return new Base({
    name: 'Tower "A" — ß ü 漢字 😀',
    units: 'm',
    '@elements': elements,
    '@level': new Base({ name: 'Level 1', elevation: 3.5 }),
    properties: { fire: { rating: 'EI60', tested: true }, tags: ['a', 'b'], nothing: null },
  })
}

describe('serialize → IndexedDB → deserialize', () => {
  it('rebuilds the same tree, ids included, from a new connection', async () => {
    const indexedDB = new IDBFactory()
    const { rootId, objects } = serialize(buildTree())
    const writer = transport({ indexedDB })
    for (const [id, json] of objects) await writer.saveObject(id, json)
    await writer.close()

    const reader = transport({ indexedDB })
    const rootJson = await reader.getObject(rootId)
    expect(rootJson).not.toBeNull()
    const tree = await deserialize(rootJson!, reader)

    expect(tree.id).toBe(rootId)
    expect(tree.name).toBe('Tower "A" — ß ü 漢字 😀')
    expect(tree.properties).toEqual({ fire: { rating: 'EI60', tested: true }, tags: ['a', 'b'], nothing: null })
    expect((tree['@level'] as Base).elevation).toBe(3.5)
    const elements = tree['@elements'] as Base[]
    expect(elements).toHaveLength(120)
    expect(elements[7].name).toBe('element 7 — Zürich 東京 🏗️')
    expect(elements[7]['@(10)values']).toEqual(Array.from({ length: 25 }, (_, k) => 700 + k / 4))
    expect(elements[7].origin).toBeInstanceOf(Point)
    expect((elements[7].origin as Point).y).toBe(-7)

    // Serializing what came back gives the same objects, so nothing was lost or altered on the way.
    const again = serialize(tree)
    expect(again.rootId).toBe(rootId)
    expect(new Map(again.objects)).toEqual(new Map(objects))
  })
})

describe('browser SHA-256 (@noble/hashes)', () => {
  it('gives the same object ids as Node’s SHA-256, unicode included', async () => {
    const nodeSha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')
    const tree = buildTree()
    const inNode = serialize(tree)
    try {
      await import('../platform/browser.js') // registers the pure-JS SHA-256, as the browser entry does
      const inBrowser = serialize(tree)
      expect(inBrowser.rootId).toBe(inNode.rootId)
      expect(inBrowser.objects).toEqual(inNode.objects)

      const { sha256Hex } = await import('../platform/hash.js')
      for (const text of [
        '',
        'abc',
        'Zürich — 東京 🏗️ 😀',
        '\u0000\u007f\u0080\u07ff\u0800\uffff',
        'x'.repeat(100_000),
      ]) {
        expect(sha256Hex(text)).toBe(nodeSha256(text))
      }
    } finally {
      registerSha256(nodeSha256)
    }
  })
})
