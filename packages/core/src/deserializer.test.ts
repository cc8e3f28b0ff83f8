import { pathToFileURL } from 'node:url'
import { readFileSync, existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  Base,
  Collection,
  CorruptObjectError,
  DataChunk,
  MemoryTransport,
  Mesh,
  MissingObjectError,
  Point,
  deserialize,
  serialize,
} from './index.js'

// The sample data sits next to the checkout (../shared/data); TRUSS_SHARED_DATA points elsewhere, and a
// clone made outside the workspace still finds the workspace's copy.
const speckleData =
  [
    process.env.TRUSS_SHARED_DATA && pathToFileURL(`${process.env.TRUSS_SHARED_DATA.replace(/\/$/, '')}/speckle/`),
    new URL('../../../../shared/data/speckle/', import.meta.url),
    pathToFileURL('/work/shared/data/speckle/'),
  ].find((url): url is URL => url instanceof URL && existsSync(url)) ??
  new URL('../../../../shared/data/speckle/', import.meta.url)
const readFixture = (name: string) => readFileSync(new URL(name, speckleData), 'utf8').replace(/^\uFEFF/, '')

describe('deserialize', () => {
  it('round-trips a tree: references resolved, chunks joined, types rebuilt', async () => {
    const root = new Collection({ name: 'Model', elements: [] })
    const mesh = new Mesh({ vertices: Array.from({ length: 70000 }, (_, i) => i / 3), faces: [3, 0, 1, 2], units: 'm' })
    root.elements = [mesh, new Base({ name: 'wall', '@(5)ids': ['a', 'b', 'c', 'd', 'e', 'f', 'g'] })]
    root['@origin'] = new Point(1, 2, 3)
    root.props = { rating: 5, tags: ['x', 'y'] }
    const { rootId, objects } = serialize(root)
    const back = await deserialize(new Map(objects).get(rootId)!, new Map(objects))

    expect(back).toBeInstanceOf(Collection)
    expect(back.id).toBe(rootId)
    expect(back.name).toBe('Model')
    const [m, wall] = back.elements as [Mesh, Base]
    expect(m).toBeInstanceOf(Mesh)
    expect(m.vertices).toEqual(mesh.vertices)
    expect(m.faces).toEqual([3, 0, 1, 2])
    expect(wall['@(5)ids']).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g'])
    expect(back['@origin']).toBeInstanceOf(Point)
    expect((back['@origin'] as Point).z).toBe(3)
    expect(back.props).toEqual({ rating: 5, tags: ['x', 'y'] })
    expect(back.__closure).toBeUndefined()
    // re-serializing the received tree gives the same ids
    expect(serialize(back).rootId).toBe(rootId)
  })

  it('keeps unknown speckle_types as Base with their type string', async () => {
    const { rootId, objects } = serialize({ speckle_type: 'Vendor.Custom.Widget', size: 3 })
    const back = await deserialize(new Map(objects).get(rootId)!, new Map(objects))
    expect(back).toBeInstanceOf(Base)
    expect(back.speckle_type).toBe('Vendor.Custom.Widget')
    expect(back.size).toBe(3)
  })

  it('picks the most specific registered class of an inheritance chain', async () => {
    const json = JSON.stringify({ id: 'x', speckle_type: 'Objects.Geometry.Mesh:Vendor.SpecialMesh', vertices: [] })
    const back = await deserialize(json)
    expect(back).toBeInstanceOf(Mesh)
    expect(back.speckle_type).toBe('Objects.Geometry.Mesh:Vendor.SpecialMesh')
  })

  it('names the missing id and the transport when a child is absent', async () => {
    const { rootId, objects } = serialize(new Base({ '@child': new Base({ n: 1 }) }))
    const t = new MemoryTransport({ name: 'Memory(test)' })
    await t.saveObject(rootId, new Map(objects).get(rootId)!)
    const childId = objects[0]![0]
    await expect(deserialize((await t.getObject(rootId))!, t)).rejects.toThrow(MissingObjectError)
    await expect(deserialize((await t.getObject(rootId))!, t)).rejects.toThrow(
      new RegExp(`${childId}.*Memory\\(test\\).*${rootId}`),
    )
  })

  it('reports a corrupt stored object instead of returning it', async () => {
    const { rootId, objects } = serialize(new Base({ '@child': new Base({ n: 1 }) }))
    const childId = objects[0]![0]
    const t = new MemoryTransport()
    await t.saveObject(childId, '{"id": "' + childId + '", "speckle_type": ')
    await expect(deserialize(new Map(objects).get(rootId)!, t)).rejects.toThrow(CorruptObjectError)
    await t.saveObject(childId, JSON.stringify({ id: 'someoneelse', speckle_type: 'Base' }))
    await expect(deserialize(new Map(objects).get(rootId)!, t)).rejects.toThrow(/holds object someoneelse/)
  })
})

describe('deserialize: objects written by the Speckle .NET SDK', () => {
  it('reads a complete Revit floor graph: 13 objects, chunked meshes joined', async () => {
    const list = JSON.parse(readFixture('RevitObject.json')) as { id: string }[]
    expect(list).toHaveLength(13)
    const source = new Map(list.map((o) => [o.id, JSON.stringify(o)]))
    const root = await deserialize(source.get('551513ff4f3596024547fc818f1f3f70')!, source)
    expect(root.speckle_type).toMatch(/RevitFloor$/)
    expect(root.id).toBe('551513ff4f3596024547fc818f1f3f70')
    const display = root.displayValue as Mesh[]
    expect(display.length).toBe(2)
    for (const m of display) {
      expect(m).toBeInstanceOf(Mesh)
      expect(m.vertices.length % 3).toBe(0)
      expect(m.vertices.length).toBeGreaterThan(0)
      expect(typeof m.vertices[0]).toBe('number')
    }
    // every DataChunk was folded back into its array: none survives in the tree
    const seen = new Set<unknown>()
    const walk = (v: unknown): void => {
      if (typeof v !== 'object' || v === null || seen.has(v)) return
      seen.add(v)
      expect(v).not.toBeInstanceOf(DataChunk)
      for (const x of Object.values(v)) walk(x)
    }
    walk(root)
  })

  it('reads the detached and chunked layout of the .NET serializer snapshot', async () => {
    const byId = JSON.parse(readFixture('DetachedTests.CanSerialize_New_Detached2.verified.json')) as Record<
      string,
      unknown
    >
    const source = new Map(Object.entries(byId).map(([id, o]) => [id, JSON.stringify(o)]))
    const root = await deserialize(source.get('2ebfd4f317754fce14cadd001151441e')!, source)
    expect(root.dynamicProp).toBe(123)
    const detached = root.detachedProp as Base
    expect(detached.name).toBe('detachedProp')
    const line = detached.line as Base
    expect(line.speckle_type).toBe('Objects.Geometry.Polyline')
    expect(line.value).toEqual([1, 2])
    expect(((root.attachedProp as Base).line as Base).value).toEqual([3, 4])
  })

  it('keeps references unresolved when no source is given', async () => {
    const top = readFixture('RevitObjectsTop.json')
    const root = await deserialize(top)
    expect(root.id).toBe('7238c0e0bbd1bafbe1a287aa7fc88619')
    expect(root.speckle_type).toBe('Speckle.Core.Models.Collection')
    const first = (root.elements as Record<string, unknown>[])[0]!
    expect(first.speckle_type).toBe('reference')
    expect(first.referencedId).toMatch(/^[0-9a-f]{32}$/)
  })
})
