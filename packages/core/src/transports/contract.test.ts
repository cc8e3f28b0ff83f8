import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import BetterSqlite3 from 'better-sqlite3'
import {
  AbortError,
  Base,
  CorruptObjectError,
  DiskTransport,
  MemoryTransport,
  SQLiteTransport,
  deserialize,
  serialize,
  type Transport,
  type TransportProgress,
} from '../index.js'

const tmpRoot = mkdtempSync(join(tmpdir(), 'truss-transports-'))
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }))
let n = 0
const freshDir = () => join(tmpRoot, `t${n++}`)

const sample = (count: number) => {
  const root = new Base({ name: 'root' })
  root['@children'] = Array.from({ length: count }, (_, i) => new Base({ i, label: `child ${i}`, v: [i, i + 0.5] }))
  return serialize(root)
}

/** One suite, run against every transport that stores objects on this platform. */
function transportContract(name: string, make: (progress?: (p: TransportProgress) => void) => Transport) {
  describe(`${name} transport`, () => {
    it('stores and returns objects by id; unknown ids give null', async () => {
      const t = make()
      const { objects } = sample(20)
      for (const [id, json] of objects) await t.saveObject(id, json)
      await t.flush()
      for (const [id, json] of objects) expect(await t.getObject(id)).toBe(json)
      expect(await t.getObject('0'.repeat(32))).toBeNull()
      await t.close?.()
    })

    it('answers hasObjects for known and unknown ids', async () => {
      const t = make()
      const { objects } = sample(600)
      for (const [id, json] of objects) await t.saveObject(id, json)
      await t.flush()
      const unknown = 'f'.repeat(32)
      const has = await t.hasObjects([...objects.map(([id]) => id), unknown])
      expect(Object.values(has).filter(Boolean)).toHaveLength(objects.length)
      expect(has[unknown]).toBe(false)
      await t.close?.()
    })

    it('streams a set of ids with getObjects, skipping unknown ones', async () => {
      const t = make()
      const { objects } = sample(1200)
      for (const [id, json] of objects) await t.saveObject(id, json)
      await t.flush()
      const got = new Map<string, string>()
      for await (const [id, json] of t.getObjects!([...objects.map(([id]) => id), 'e'.repeat(32)])) got.set(id, json)
      expect(got.size).toBe(objects.length)
      expect(got.get(objects[5]![0])).toBe(objects[5]![1])
      await t.close?.()
    })

    it('writes the same id twice without error or duplication', async () => {
      const t = make()
      const { objects } = sample(3)
      for (let k = 0; k < 2; k++) for (const [id, json] of objects) await t.saveObject(id, json)
      await t.flush()
      expect(await t.getObject(objects[0]![0])).toBe(objects[0]![1])
      await t.close?.()
    })

    it('round-trips a 10,000-object tree through deserialize', async () => {
      const t = make()
      const { rootId, objects } = sample(10_000)
      for (const [id, json] of objects) await t.saveObject(id, json)
      await t.flush()
      const back = await deserialize((await t.getObject(rootId))!, t)
      expect((back['@children'] as Base[]).length).toBe(10_000)
      expect((back['@children'] as Base[])[9_999]!.label).toBe('child 9999')
      await t.close?.()
    })

    it('reports write progress', async () => {
      const seen: TransportProgress[] = []
      const t = make((p) => seen.push(p))
      const { objects } = sample(2500)
      for (const [id, json] of objects) await t.saveObject(id, json)
      await t.flush()
      expect(seen.length).toBeGreaterThan(0)
      expect(seen.at(-1)!.done).toBe(objects.length)
      await t.close?.()
    })

    it('stops reads when the signal is aborted', async () => {
      const t = make()
      const ac = new AbortController()
      ac.abort()
      await expect(t.getObject('a'.repeat(32), { signal: ac.signal })).rejects.toThrow(AbortError)
      await t.close?.()
    })
  })
}

transportContract('Memory', (onProgress) => new MemoryTransport({ onProgress }))
transportContract(
  'SQLite',
  (onProgress) => new SQLiteTransport({ basePath: freshDir(), onProgress, batchBytes: 100_000 }),
)
transportContract('Disk', (onProgress) => new DiskTransport({ basePath: freshDir(), onProgress }))

describe('SQLite transport: the Speckle cache layout', () => {
  it('writes <basePath>/<scope>.db with table objects(hash, content) in WAL mode', async () => {
    const basePath = freshDir()
    const t = new SQLiteTransport({ basePath, scope: 'Custom' })
    const { objects } = sample(3)
    for (const [id, json] of objects) await t.saveObject(id, json)
    await t.close()
    expect(t.path).toBe(join(basePath, 'Custom.db'))
    const db = new BetterSqlite3(t.path, { readonly: true })
    const table = db.prepare("SELECT sql FROM sqlite_master WHERE name = 'objects'").pluck().get() as string
    expect(table).toMatch(/hash TEXT PRIMARY KEY, content TEXT\) WITHOUT ROWID/)
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.prepare('SELECT count(*) FROM objects').pluck().get()).toBe(4)
    db.close()
  })

  it('reads a cache written by another program in the Speckle layout (as specklepy writes it)', async () => {
    const basePath = freshDir()
    const { mkdirSync } = await import('node:fs')
    mkdirSync(basePath, { recursive: true })
    const db = new BetterSqlite3(join(basePath, 'Objects.db'))
    db.exec('CREATE TABLE objects(hash TEXT PRIMARY KEY, content TEXT) WITHOUT ROWID')
    const { rootId, objects } = sample(5)
    const ins = db.prepare('INSERT INTO objects VALUES (?, ?)')
    for (const [id, json] of objects) ins.run(id, json)
    db.close()
    const t = new SQLiteTransport({ basePath })
    const back = await deserialize((await t.getObject(rootId))!, t)
    expect((back['@children'] as Base[]).length).toBe(5)
    await t.close()
  })

  it('defaults to the user data folder of the application, following XDG_DATA_HOME', async () => {
    const { defaultDataPath } = await import('./sqlite.js')
    expect(defaultDataPath('Speckle', { XDG_DATA_HOME: '/data/x' })).toBe('/data/x/Speckle')
    expect(defaultDataPath('Truss', {})).toMatch(/\.local\/share\/Truss$/)
  })

  it('reports a corrupt row instead of returning it', async () => {
    const basePath = freshDir()
    const t = new SQLiteTransport({ basePath })
    await t.close()
    const db = new BetterSqlite3(join(basePath, 'Objects.db'))
    db.prepare('INSERT INTO objects VALUES (?, ?)').run('a'.repeat(32), 'garbage')
    db.close()
    const t2 = new SQLiteTransport({ basePath })
    await expect(t2.getObject('a'.repeat(32))).rejects.toThrow(CorruptObjectError)
    await t2.close()
  })
})

describe('Disk transport: layout', () => {
  it('shards files by the first two characters of the id and leaves no temporary files', async () => {
    const basePath = freshDir()
    const t = new DiskTransport({ basePath })
    const { objects } = sample(50)
    for (const [id, json] of objects) await t.saveObject(id, json)
    await t.flush()
    const { readdirSync, readFileSync } = await import('node:fs')
    const [id, json] = objects[0]!
    expect(readFileSync(join(basePath, id.slice(0, 2), `${id}.json`), 'utf8')).toBe(json)
    const all = readdirSync(basePath, { recursive: true }) as string[]
    expect(all.filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('refuses ids that could escape the folder', async () => {
    const t = new DiskTransport({ basePath: freshDir() })
    await expect(t.saveObject('../../etc/passwd', '{}')).rejects.toThrow(/invalid object id/)
    await expect(t.getObject('../x')).rejects.toThrow(/invalid object id/)
  })
})
