import { describe, expect, it } from 'vitest'
import { BatchScanError, scanBatch, splitJsonArray } from './split.js'

describe('splitJsonArray', () => {
  it('returns each element of an array of objects as its exact text', () => {
    const items = ['{"id":"a","s":"x]}"}', '{ "id" : "b", "nested": {"arr": [1, {"q": "\\"}"}]} }', '{}']
    const text = ` [ ${items.join(' ,\n ')} ] `
    expect(splitJsonArray(text)).toEqual(items)
  })

  it('handles escaped backslashes before a closing quote', () => {
    const items = ['{"p":"C:\\\\dir\\\\"}', '{"q":"\\\\\\""}']
    expect(splitJsonArray(`[${items.join(',')}]`)).toEqual(items)
    for (const t of items) expect(() => JSON.parse(t)).not.toThrow()
  })

  it('keeps unicode and an empty array empty', () => {
    expect(splitJsonArray('[{"name":"Gebäude 東京 🏗️"}]')).toEqual(['{"name":"Gebäude 東京 🏗️"}'])
    expect(splitJsonArray('[]')).toEqual([])
  })
})

describe('scanBatch', () => {
  it('picks up each object text with its top-level id, preferring hash, ignoring nested ids', () => {
    const text = '[{"a":{"id":"nested"},"id":"top"} , {"hash":"h1","id":"i1"},{"x":1}]'
    expect(scanBatch(text)).toEqual([
      { json: '{"a":{"id":"nested"},"id":"top"}', id: 'top' },
      { json: '{"hash":"h1","id":"i1"}', id: 'h1' },
      { json: '{"x":1}', id: undefined },
    ])
  })

  it('agrees with JSON.parse on what is valid JSON', () => {
    const valid = [
      '[]',
      ' [ {} ] ',
      '[{"n":-0.5e+10,"m":0,"t":true,"f":false,"z":null,"s":"\\u00e9\\n\\"","a":[[],{}]}]',
      '[{"k":1E5,"u":"東京 🏗️"}]',
    ]
    const invalid = [
      '',
      '[',
      '[{]',
      '[{"a":1,}]',
      '[{"a":01}]',
      '[{"a":1.}]',
      '[{"a":"\\x"}]',
      '[{"a":"raw\ttab"}]',
      '[{"a":tru}]',
      '[{"a":1}] x',
      '[{"a":1},]',
      '[{"a" 1}]',
      '[{"a":-}]',
      '[{"a":"\\u12"}]',
    ]
    for (const t of valid) {
      expect(() => JSON.parse(t), t).not.toThrow()
      expect(() => scanBatch(t), t).not.toThrow()
    }
    for (const t of invalid) {
      expect(() => JSON.parse(t), t).toThrow()
      expect(() => scanBatch(t), t).toThrow(BatchScanError)
    }
  })

  it('tells not-JSON, not-an-array and non-object items apart', () => {
    const failure = (t: string) => {
      try {
        scanBatch(t)
      } catch (err) {
        return (err as BatchScanError).failure
      }
      return undefined
    }
    expect(failure('{nope')).toBe('not-json')
    expect(failure('{"id":"x"}')).toBe('not-array')
    expect(failure('[{"id":"x"}, 3]')).toEqual({ notObject: 1 })
  })

  it('splits random generated batches exactly as JSON.parse + stringify would', () => {
    let seed = 7
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
    const value = (d: number): unknown => {
      const r = rand()
      if (d > 3 || r < 0.3) return Math.round(rand() * 1e6) / 1e3 - 500
      if (r < 0.45) return ['a"b', 'c\\d', 'e\nf', 'ü', ''][Math.floor(rand() * 5)]
      if (r < 0.55) return [true, false, null][Math.floor(rand() * 3)]
      if (r < 0.75) return Array.from({ length: Math.floor(rand() * 4) }, () => value(d + 1))
      return Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, (_, i) => [`k${i}`, value(d + 1)]))
    }
    for (let round = 0; round < 50; round++) {
      const items = Array.from({ length: 20 }, (_, i) => ({ id: `id${round}-${i}`, v: value(0) }))
      const texts = items.map((o) => JSON.stringify(o))
      const scanned = scanBatch(`[${texts.join(', ')}]`)
      expect(scanned.map((s) => s.json)).toEqual(texts)
      expect(scanned.map((s) => s.id)).toEqual(items.map((o) => o.id))
    }
  })
})
