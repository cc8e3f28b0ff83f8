import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AbortError,
  Base,
  DiskTransport,
  MemoryTransport,
  MissingObjectError,
  SQLiteTransport,
  SerializationError,
  receive,
  send,
  serialize,
  type OperationProgress,
} from './index.js'

const tmpRoot = mkdtempSync(join(tmpdir(), 'truss-ops-'))
const xdg = join(tmpRoot, 'xdg')
let savedXdg: string | undefined
beforeAll(() => {
  // The default cache follows XDG_DATA_HOME: point it at a temporary folder, never the real home.
  savedXdg = process.env.XDG_DATA_HOME
  process.env.XDG_DATA_HOME = xdg
})
afterAll(() => {
  if (savedXdg === undefined) delete process.env.XDG_DATA_HOME
  else process.env.XDG_DATA_HOME = savedXdg
  rmSync(tmpRoot, { recursive: true, force: true })
})

const model = (n = 100) => {
  const b = new Base({ name: 'Block A' })
  b['@floors'] = Array.from({ length: n }, (_, i) => new Base({ level: i, '@(50)pts': [i, i, i, i + 1] }))
  return b
}

describe('send', () => {
  it('resolves to the root id and writes every object to every transport and the default cache', async () => {
    const a = new MemoryTransport()
    const d = new DiskTransport({ basePath: join(tmpRoot, 'disk1') })
    const id = await send(model(), { transports: [a, d] })
    const expected = serialize(model())
    expect(id).toBe(expected.rootId)
    expect(a.objects.size).toBe(expected.objects.length)
    expect(await d.getObject(id)).toBe(a.objects.get(id))
    const cache = new SQLiteTransport()
    expect(cache.path).toBe(join(xdg, 'Speckle', 'Objects.db'))
    expect(await cache.getObject(id)).toBe(a.objects.get(id))
    await cache.close()
  })

  it('writes no file at all with useDefaultCache: false and a memory transport', async () => {
    const folder = join(tmpRoot, 'xdg-empty')
    process.env.XDG_DATA_HOME = folder
    try {
      const mem = new MemoryTransport()
      const id = await send(model(3), { transports: [mem], useDefaultCache: false })
      expect(mem.objects.has(id)).toBe(true)
      expect(existsSync(folder)).toBe(false)
    } finally {
      process.env.XDG_DATA_HOME = xdg
    }
  })

  it('refuses to send nowhere', async () => {
    await expect(send(model(1), { useDefaultCache: false })).rejects.toThrow(/at least one transport/)
  })

  it('reports progress and stops when aborted', async () => {
    const seen: OperationProgress[] = []
    await send(model(2000), {
      transports: [new MemoryTransport()],
      useDefaultCache: false,
      onProgress: (p) => seen.push(p),
    })
    expect(seen.at(-1)).toMatchObject({ stage: 'serialize', done: 4001, total: 4001 })
    const ac = new AbortController()
    ac.abort()
    await expect(
      send(model(10), { transports: [new MemoryTransport()], useDefaultCache: false, signal: ac.signal }),
    ).rejects.toThrow(AbortError)
  })

  it('fails on bad input with the property path, leaving only complete objects behind', async () => {
    const mem = new MemoryTransport()
    const bad = model(5)
    ;(bad['@floors'] as Base[])[3]!.area = NaN
    await expect(send(bad, { transports: [mem], useDefaultCache: false })).rejects.toThrow(SerializationError)
    await expect(send(bad, { transports: [mem], useDefaultCache: false })).rejects.toThrow(/@floors.*\[3\]\.area/)
    // whatever was written is complete and content-addressed
    for (const [id, json] of mem.objects) expect((JSON.parse(json) as { id: string }).id).toBe(id)
  })
})

describe('receive', () => {
  it('reads from the local transport when the whole tree is there', async () => {
    const local = new MemoryTransport()
    const id = await send(model(), { transports: [local], useDefaultCache: false })
    const back = await receive(id, { local })
    expect((back['@floors'] as Base[]).length).toBe(100)
    expect((back['@floors'] as Base[])[7]!['@(50)pts']).toEqual([7, 7, 7, 8])
  })

  it('fetches what local lacks from remote and copies it into local', async () => {
    const remote = new MemoryTransport({ name: 'remote' })
    const id = await send(model(), { transports: [remote], useDefaultCache: false })
    const local = new SQLiteTransport({ basePath: join(tmpRoot, 'local1') })
    const back = await receive(id, { remote, local })
    expect(back.name).toBe('Block A')
    expect(Object.values(await local.hasObjects([...remote.objects.keys()])).every(Boolean)).toBe(true)
    await local.close()
  })

  it('fetches only the missing children when local has a partial tree', async () => {
    const remote = new MemoryTransport({ name: 'remote' })
    const id = await send(model(10), { transports: [remote], useDefaultCache: false })
    const local = new MemoryTransport({ name: 'local' })
    let n = 0
    for (const [k, v] of remote.objects) if (n++ % 2 === 0 || k === id) await local.saveObject(k, v)
    const reads: string[] = []
    const counting = new MemoryTransport({ name: 'remote', objects: remote.objects })
    const origGetObjects = counting.getObjects.bind(counting)
    counting.getObjects = (ids, o) => {
      reads.push(...ids)
      return origGetObjects(ids, o)
    }
    const back = await receive(id, { remote: counting, local })
    expect((back['@floors'] as Base[]).length).toBe(10)
    expect(reads.length).toBeLessThan(remote.objects.size)
    expect(local.objects.size).toBe(remote.objects.size)
  })

  it('uses the default SQLite cache as local when none is named', async () => {
    const remote = new MemoryTransport()
    const id = await send(model(4), { transports: [remote], useDefaultCache: false })
    const back = await receive(id, { remote })
    expect(back.id).toBe(id)
    const cache = new SQLiteTransport()
    expect(await cache.getObject(id)).toBe(remote.objects.get(id))
    await cache.close()
  })

  it('names the missing id and transport', async () => {
    const empty = new MemoryTransport({ name: 'empty' })
    await expect(receive('0'.repeat(32), { local: empty })).rejects.toThrow(MissingObjectError)
    await expect(
      receive('0'.repeat(32), { local: empty, remote: new MemoryTransport({ name: 'far' }) }),
    ).rejects.toThrow(/0{32}.*far/)
  })

  it('leaves the listing of the default cache folder with only the Speckle cache file', () => {
    expect(readdirSync(join(xdg, 'Speckle')).filter((f) => !f.startsWith('Objects.db'))).toEqual([])
  })
})
