import { describe, expect, it } from 'vitest'
import { BatchScanError, PartScanner, scanBatch, splitJsonArray } from './split.js'

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
    expect(scanBatch(text).map((o) => ({ json: o.bytes.toString(), id: o.id }))).toEqual([
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
      expect(scanned.map((s) => s.bytes.toString())).toEqual(texts)
      expect(scanned.map((s) => s.id)).toEqual(items.map((o) => o.id))
    }
  })
})

describe('PartScanner (a part as it arrives)', () => {
  /** Scan `text` pushed in chunks of the given sizes (cycled); the objects' texts and ids, or the failure. */
  const chunked = (text: string, sizes: number[], carrySlice?: number) => {
    const bytes = Buffer.from(text)
    const out: { json: string; id: string | undefined; escapes: boolean; spaced: boolean }[] = []
    const scanner = new PartScanner(
      (o) => out.push({ json: o.bytes.toString(), id: o.id, escapes: o.escapes, spaced: o.spaced }),
      Infinity,
      carrySlice,
    )
    try {
      for (let at = 0, k = 0; at < bytes.length; k++) {
        const n = sizes[k % sizes.length]!
        scanner.push(bytes.subarray(at, at + n))
        at += n
      }
      scanner.end()
    } catch (err) {
      return (err as BatchScanError).failure
    }
    return out
  }

  it('finds the same objects however the bytes are cut, multi-byte characters and escapes included', () => {
    const items = Array.from({ length: 40 }, (_, i) => ({
      id: `${i}`.padStart(32, 'a'),
      name: i % 3 ? 'Gebäude 東京 🏗️' : 'quote " and \\ backslash {[',
      v: [i, -i / 7, 1e-7, true, null, { deep: [[{}]] }],
    }))
    const texts = items.map((o) => JSON.stringify(o))
    const text = `\uFEFF [ ${texts.join(' ,\n')} ] \n`
    const whole = chunked(text, [text.length])
    expect(Array.isArray(whole) && whole.map((o) => o.json)).toEqual(texts)
    for (const sizes of [[1], [2, 3], [7], [64, 1, 300], [1000]])
      expect(chunked(text, sizes), `${sizes}`).toEqual(whole)
    expect(Array.isArray(whole) && whole.map((o) => [o.id, o.escapes, o.spaced])).toEqual(
      items.map((o, i) => [o.id, i % 3 === 0, false]),
    )
  })

  it('flags objects with raw tabs or line breaks between tokens', () => {
    expect(chunked('[{"id":"x",\n\t"a": 1}, {"id":"y"}]', [5])).toMatchObject([
      { id: 'x', spaced: true },
      { id: 'y', spaced: false },
    ])
  })

  it('gathers one object spanning hundreds of chunks and hands it out whole', () => {
    const closure = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`${i}`.padStart(32, '0'), 1]))
    const root = JSON.stringify({ id: 'f'.repeat(32), note: 'a } ] " \\" {', __closure: closure })
    const out = chunked(`[{"id":"${'e'.repeat(32)}"},${root}]`, [1500])
    expect(Array.isArray(out) && out.map((o) => [o.id, o.json.length])).toEqual([
      ['e'.repeat(32), 41],
      ['f'.repeat(32), root.length],
    ])
  })

  it('keeps every byte of a large object while its buffer grows and the old bytes move a slice at a time', () => {
    const closure = Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`${i}`.padStart(32, '0'), 1]))
    const root = JSON.stringify({ id: 'f'.repeat(32), name: 'Gebäude 東京 🏗️', __closure: closure })
    const text = `[{"id":"${'e'.repeat(32)}"},${root},{"id":"${'d'.repeat(32)}"}]`
    const expected = [
      ['e'.repeat(32), `{"id":"${'e'.repeat(32)}"}`],
      ['f'.repeat(32), root],
      ['d'.repeat(32), `{"id":"${'d'.repeat(32)}"}`],
    ]
    // Slices of at least 7 bytes to at least 70 kB per chunk; chunk sizes that end the root just after a
    // growth (the rest of the carry moves at once) and long after one.
    for (const carrySlice of [7, 1_000, 70_000])
      for (const sizes of [[1500], [65_536], [333, 4_096, 100_000]]) {
        const out = chunked(text, sizes, carrySlice)
        expect(Array.isArray(out) && out.map((o) => [o.id, o.json]), `${carrySlice} ${sizes}`).toEqual(expected)
      }
  })

  it('moves the rest of the old bytes at once when the object ends just after its buffer grew', () => {
    // The root starts 43 bytes into the first 1,000-byte chunk, so its buffer starts at 64 KiB and doubles;
    // it ends 300 bytes past 512 KiB, a chunk or so after the last growth, with most old bytes still to move.
    const head = `[{"id":"${'e'.repeat(32)}"},`
    const shell = (pad: string) => `{"id":"${'f'.repeat(32)}","pad":"${pad}"}`
    const root = shell('p'.repeat(512 * 1024 + 300 - shell('').length))
    expect(Buffer.byteLength(head)).toBe(43)
    const out = chunked(`${head}${root}]`, [1_000], 7)
    expect(Array.isArray(out) && out.map((o) => o.json)).toEqual([`{"id":"${'e'.repeat(32)}"}`, root])
  })

  it('refuses broken batches wherever the chunks are cut', () => {
    for (const sizes of [[1], [3], [10_000]]) {
      expect(chunked('[{"id":"x","a":tru}]', sizes)).toBe('not-json')
      expect(chunked('[{"id":"x","a":1}', sizes)).toBe('not-json')
      expect(chunked('[{"id":"x","a":"\\q"}, {"b":2}]', sizes)).toBe('not-json')
      expect(chunked('[{"id":"x"}] {"y":1}', sizes)).toBe('not-json')
      expect(chunked('{"id":"x"}', sizes)).toBe('not-array')
      expect(chunked('not json', sizes)).toBe('not-json')
      expect(chunked('[{"id":"x"}, "s"]', sizes)).toEqual({ notObject: 1 })
      expect(chunked('', sizes)).toBe('not-json')
      expect(chunked('[' + '{"a":'.repeat(1001) + '1' + '}'.repeat(1001) + ']', sizes)).toBe('not-json')
    }
  })
})

describe('scanBatch against JSON.parse on mutated texts', () => {
  it('accepts exactly what JSON.parse accepts (as an array of objects), over 20,000 random one-byte edits', () => {
    let seed = 11
    const rand = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * n)
    const base =
      '[{"id":"ab12","a":[1,-2.5e+3,0.25,true,false,null],"s":"x\\"y\\\\z\\u00e9 ü","o":{"k":[],"m":{}},"n":-0}]'
    const alphabet = '{}[]",:.-+eE0123456789 \t\ntrufalsn\\\\u"x'
    let accepted = 0
    for (let k = 0; k < 20_000; k++) {
      const chars = [...base]
      const at = rand(chars.length)
      const op = rand(3)
      const ch = alphabet[rand(alphabet.length)]!
      if (op === 0) chars.splice(at, 1)
      else if (op === 1) chars.splice(at, 0, ch)
      else chars[at] = ch
      const text = chars.join('')
      let expected: boolean
      try {
        const parsed = JSON.parse(text) as unknown
        expected =
          Array.isArray(parsed) && parsed.every((o) => typeof o === 'object' && o !== null && !Array.isArray(o))
      } catch {
        expected = false
      }
      let got: boolean
      try {
        scanBatch(text)
        got = true
      } catch (err) {
        if (!(err instanceof BatchScanError)) throw err
        got = false
      }
      if (got !== expected) expect.fail(`${JSON.stringify(text)}: scanner ${got}, JSON.parse ${expected}`)
      if (got) accepted++
    }
    expect(accepted).toBeGreaterThan(1000)
  })
})
