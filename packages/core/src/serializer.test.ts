import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { Base, Collection, Mesh, Point, SerializationError, serialize, serializeStream } from './index.js'

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex').slice(0, 32)
const withoutId = (json: string) => {
  const o = JSON.parse(json) as Record<string, unknown>
  delete o.id
  return JSON.stringify(o)
}
const parse = (json: string) => JSON.parse(json) as Record<string, unknown>

describe('serialize: ids', () => {
  it('ids every object with sha256 of its JSON without id, first 32 hex characters', () => {
    const root = new Base({ name: 'tower', '@floors': [new Base({ level: 1 }), new Base({ level: 2 })] })
    const { rootId, objects } = serialize(root)
    expect(objects).toHaveLength(3)
    for (const [id, json] of objects) {
      expect(id).toMatch(/^[0-9a-f]{32}$/)
      expect(sha(withoutId(json))).toBe(id)
      expect(parse(json).id).toBe(id)
    }
    expect(objects.at(-1)![0]).toBe(rootId)
  })

  it('matches id vectors checked by an independent implementation (Python hashlib over the same text)', () => {
    // packages/core/test/fixtures/id-vectors.json: each JSON text with its id recomputed in Python
    // (hashlib.sha256 over the UTF-8 text minus the leading id member). Inputs rebuilt below.
    const vectors = JSON.parse(readFileSync(new URL('../test/fixtures/id-vectors.json', import.meta.url), 'utf8')) as {
      case: string
      id: string
      json: string
    }[]
    const cases: Record<string, unknown> = {
      empty: new Base(),
      point: new Base({ x: 1.5, y: -2, z: 0, units: 'm', applicationId: 'p-1' }),
      unicode: new Base({ name: 'Gebäude Ø 東京 "quoted" \\ back\nline', emoji: '🏗️' }),
      numbers: new Base({ big: 1e21, small: 5e-324, neg0: -0, int: 9007199254740991, frac: 0.1 + 0.2 }),
      detached: Object.assign(new Base({ name: 'parent' }), { '@child': new Base({ name: 'child' }) }),
      chunked: new Base({ '@(2)values': [1, 2, 3] }),
      mesh: new Mesh({ vertices: [0, 0, 0, 1, 0, 0, 0, 1, 0], faces: [3, 0, 1, 2], units: 'mm' }),
    }
    const produced = new Map<string, string>()
    for (const value of Object.values(cases)) for (const [id, json] of serialize(value).objects) produced.set(id, json)
    expect(vectors.length).toBeGreaterThan(10)
    for (const v of vectors) expect(produced.get(v.id), v.case).toBe(v.json)
  })

  it('is deterministic: same input, same bytes, across runs', () => {
    const make = () =>
      new Base({
        a: 1,
        b: [1, 2, { c: 'x' }],
        '@d': new Point(1, 2, 3),
        '@(10)e': Array.from({ length: 25 }, (_, i) => i),
      })
    expect(serialize(make()).objects).toEqual(serialize(make()).objects)
  })

  it('gives different ids for different content', () => {
    expect(serialize(new Base({ a: 1 })).rootId).not.toBe(serialize(new Base({ a: 2 })).rootId)
  })
})

describe('serialize: layout', () => {
  it('detaches @ properties as references and keeps the @ name', () => {
    const root = new Base()
    root['@rooms'] = [new Base({ name: 'r1' }), new Base({ name: 'r2' })]
    const { rootId, objects } = serialize(root)
    const rootObj = parse(new Map(objects).get(rootId)!)
    const refs = rootObj['@rooms'] as Record<string, unknown>[]
    expect(refs).toHaveLength(2)
    for (const ref of refs) {
      expect(Object.keys(ref)).toEqual(['referencedId', 'speckle_type'])
      expect(ref.speckle_type).toBe('reference')
    }
    expect(rootObj.totalChildrenCount).toBe(2)
    expect(rootObj.__closure).toEqual({ [refs[0]!.referencedId as string]: 1, [refs[1]!.referencedId as string]: 1 })
  })

  it('records the minimum depth of every detached descendant in __closure', () => {
    const leaf = new Base({ name: 'leaf' })
    const mid = new Base({ name: 'mid', '@leaf': leaf })
    const root = new Base({ '@mid': mid, '@leafDirect': leaf })
    const { rootId, objects } = serialize(root)
    const map = new Map(objects)
    const leafId = serialize(leaf).rootId
    const midId = serialize(mid).rootId
    expect(parse(map.get(rootId)!).__closure).toEqual({ [midId]: 1, [leafId]: 1 })
    expect(parse(map.get(midId)!).__closure).toEqual({ [leafId]: 1 })
    // the shared leaf is written once
    expect(objects.filter(([id]) => id === leafId)).toHaveLength(1)
  })

  it('counts detached children of inline objects toward the enclosing detached object, as the .NET SDK does', () => {
    const inline = new Base({ name: 'attached', '@line': new Base({ name: 'detached-line' }) })
    const root = new Base({ attachedProp: inline })
    const { rootId, objects } = serialize(root)
    const rootObj = parse(new Map(objects).get(rootId)!)
    const attached = rootObj.attachedProp as Record<string, unknown>
    expect(attached.id).toMatch(/^[0-9a-f]{32}$/)
    expect(attached.__closure).toBeUndefined()
    const lineId = (attached['@line'] as { referencedId: string }).referencedId
    expect(rootObj.__closure).toEqual({ [lineId]: 1 })
    // an inline object's id is the hash of its own JSON without id
    const { id, ...rest } = attached
    expect(sha(JSON.stringify(rest))).toBe(id)
  })

  it('chunks @(N) arrays into DataChunk objects of N items', () => {
    const root = new Base({ '@(100)vertices': Array.from({ length: 250 }, (_, i) => i * 0.5) })
    const { rootId, objects } = serialize(root)
    const map = new Map(objects)
    const rootObj = parse(map.get(rootId)!)
    const refs = rootObj['@(100)vertices'] as { referencedId: string }[]
    expect(refs).toHaveLength(3)
    const chunks = refs.map((r) => parse(map.get(r.referencedId)!))
    expect(chunks.map((c) => c.speckle_type)).toEqual(Array(3).fill('Speckle.Core.Models.DataChunk'))
    expect(chunks.map((c) => (c.data as number[]).length)).toEqual([100, 100, 50])
  })

  it('chunks typed chunkable properties (Mesh.vertices) without an @ in the name', () => {
    const mesh = new Mesh({ vertices: Array.from({ length: 31250 * 2 + 3 }, (_, i) => i), faces: [3, 0, 1, 2] })
    const { rootId, objects } = serialize(mesh)
    const rootObj = parse(new Map(objects).get(rootId)!)
    expect(rootObj.speckle_type).toBe('Objects.Geometry.Mesh')
    expect((rootObj.vertices as unknown[]).length).toBe(3)
    expect((rootObj.faces as unknown[]).length).toBe(1)
  })

  it('detaches typed detachable properties (Collection.elements)', () => {
    const c = new Collection({ name: 'Level 1', elements: [new Base({ n: 1 })] })
    const { rootId, objects } = serialize(c)
    const rootObj = parse(new Map(objects).get(rootId)!)
    expect((rootObj.elements as { speckle_type: string }[])[0]!.speckle_type).toBe('reference')
  })

  it('treats plain objects with a speckle_type as Base and others as inline dictionaries', () => {
    const root = {
      speckle_type: 'Base',
      '@kids': [{ speckle_type: 'Custom.Thing', v: 1 }],
      dict: { a: 1, nested: { b: [1, 2] } },
    }
    const { rootId, objects } = serialize(root)
    expect(objects).toHaveLength(2)
    const rootObj = parse(new Map(objects).get(rootId)!)
    expect(rootObj.dict).toEqual({ a: 1, nested: { b: [1, 2] } })
    expect(parse(objects[0]![1]).speckle_type).toBe('Custom.Thing')
  })

  it('skips id, _private and undefined properties and writes null', () => {
    const b = new Base({ _secret: 1, __hidden: 2, id: 'ignored', gone: undefined, nothing: null })
    const obj = parse(serialize(b).objects[0]![1])
    expect(obj).not.toHaveProperty('_secret')
    expect(obj).not.toHaveProperty('__hidden')
    expect(obj).not.toHaveProperty('gone')
    expect(obj.nothing).toBeNull()
    expect(obj.id).not.toBe('ignored')
  })

  it('writes typed arrays and Maps with string keys as JSON arrays and objects', () => {
    const b = new Base({ v: new Float64Array([1, 2.5]), m: new Map([['k', 1]]) })
    const obj = parse(serialize(b).objects[0]![1])
    expect(obj.v).toEqual([1, 2.5])
    expect(obj.m).toEqual({ k: 1 })
  })

  it('streams children before their parents, the root last', () => {
    const root = new Base({ '@a': new Base({ '@b': new Base({ x: 1 }) }) })
    const it = serializeStream(root)
    const order: string[] = []
    for (let n = it.next(); !n.done; n = it.next()) order.push(n.value[0])
    const map = new Map(serialize(root).objects)
    const position = new Map(order.map((id, i) => [id, i]))
    for (const [id, json] of map) {
      for (const child of Object.keys((parse(json).__closure as object) ?? {})) {
        expect(position.get(child)!).toBeLessThan(position.get(id)!)
      }
    }
  })
})

describe('serialize: bad input names the property path', () => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      'a cycle',
      () => {
        const a = new Base()
        a['@self'] = a
        return a
      },
      /@self.*circular/,
    ],
    [
      'a cycle through a dictionary',
      () => {
        const d: Record<string, unknown> = {}
        d.me = d
        return new Base({ d })
      },
      /d\.me.*circular/,
    ],
    ['a function', () => new Base({ f: () => 1 }), /f.*functions/],
    ['a symbol', () => new Base({ s: Symbol('x') }), /s.*symbols/],
    ['NaN', () => new Base({ values: [1, NaN] }), /values\[1\].*NaN/],
    ['Infinity in a nested object', () => new Base({ a: { b: Infinity } }), /a\.b.*Infinity/],
    ['a BigInt', () => new Base({ n: 10n }), /n.*BigInt/],
    ['a Map with non-string keys', () => new Base({ m: new Map([[1, 'x']]) }), /m.*Map key 1/],
    ['a symbol key', () => new Base({ o: { [Symbol('k')]: 1 } }), /o.*symbol-keyed/],
    [
      'an over-deep tree',
      () => {
        let v: Record<string, unknown> = { leaf: 1 }
        for (let i = 0; i < 2000; i++) v = { v }
        return new Base({ v })
      },
      /deeper than 1000/,
    ],
    ['a root without speckle_type', () => ({ a: 1 }), /root must be a Base/],
  ]
  for (const [name, make, message] of cases) {
    it(`refuses ${name} with a SerializationError`, () => {
      let caught: unknown
      try {
        serialize(make())
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(SerializationError)
      expect((caught as Error).message).toMatch(message)
    })
  }

  it('refuses a cycle through detached children and names the path', () => {
    const a = new Base({ name: 'a' })
    const b = new Base({ name: 'b', '@back': a })
    a['@b'] = b
    expect(() => serialize(a)).toThrow(/@b\.@back|\["@b"\]\["@back"\]|circular/)
  })
})
