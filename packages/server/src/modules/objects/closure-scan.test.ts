import { describe, expect, it } from 'vitest'
import { ClosureScanner, closureIds } from './closure-scan.js'

/** Feed `bytes` to a new scanner in pieces cut at `cuts`; the keys and whether the closure ended. */
function scan(bytes: Buffer, cuts: number[]): { keys: string[]; complete: boolean } {
  const scanner = new ClosureScanner()
  const keys: string[] = []
  let from = 0
  for (const to of [...cuts, bytes.length]) {
    keys.push(...scanner.push(bytes.subarray(from, to)))
    from = to
  }
  return { keys, complete: scanner.complete }
}

// Everything a closure scan must see through: escaped quotes and backslashes before and inside keys,
// multi-byte characters, `__closure` in strings and nested objects, a non-object `__closure`, nested
// values inside the closure, whitespace everywhere.
const TRICKY = Buffer.from(
  `{ "id" : "x", "s":"a \\"__closure\\":{\\"no\\":1} \\\\", "é🌉\\\\" : { "__closure": {"nested":1} },\n` +
    ` "list": [ {"__closure":{"deeper":1}}, "\\"" ], "__closure" : [ "array" ] ,\n` +
    ` "__closure" : { "k\\u0041" : 1 , "Øresund 橋" : 2, "q\\"uote" : {"inner": {"x": 1}}, "plain" : 3 } , "after": {"y":1} }`,
)

describe('ClosureScanner', () => {
  it('finds the keys JSON.parse finds in the first object-valued top-level closure', () => {
    const expected = ['kA', 'Øresund 橋', 'q"uote', 'plain']
    expect(Object.keys((JSON.parse(TRICKY.toString()) as { __closure: object }).__closure)).toEqual(expected)
    expect(scan(TRICKY, [])).toEqual({ keys: expected, complete: true })
    expect(closureIds(TRICKY.toString())).toEqual(expected)
  })

  it('gives the same answer wherever the pieces are cut, one byte at a time included', () => {
    const whole = scan(TRICKY, [])
    for (let cut = 1; cut < TRICKY.length; cut++) expect(scan(TRICKY, [cut])).toEqual(whole)
    expect(
      scan(
        TRICKY,
        Array.from({ length: TRICKY.length - 1 }, (_, i) => i + 1),
      ),
    ).toEqual(whole)
  })

  it('matches JSON.parse on a 200,000-child root read in 64 kB pieces', () => {
    const closure: Record<string, number> = {}
    const refs = []
    for (let i = 0; i < 200_000; i++) {
      const id = (i * 2654435761).toString(16).padStart(32, '0')
      closure[id] = (i % 3) + 1
      refs.push({ referencedId: id, speckle_type: 'reference', note: i % 7 === 0 ? 'a "q" \\ é' : 'plain' })
    }
    const bytes = Buffer.from(JSON.stringify({ id: 'r', '@elements': refs, __closure: closure }))
    const cuts = []
    for (let at = 65_536; at < bytes.length; at += 65_536) cuts.push(at)
    expect(scan(bytes, cuts)).toEqual({ keys: Object.keys(closure), complete: true })
  })

  it('is complete as soon as the closure ends (a reader may stop there), and ignores what follows', () => {
    const scanner = new ClosureScanner()
    expect(scanner.push(Buffer.from('{"__closure":{"a":1,"b'))).toEqual(['a'])
    expect(scanner.complete).toBe(false)
    expect(scanner.push(Buffer.from('":2},"x":'))).toEqual(['b'])
    expect(scanner.complete).toBe(true)
    expect(scanner.push(Buffer.from('{"__closure":{"c":1}}}'))).toEqual([])
  })

  it('never completes on text that is not a JSON object with an object closure', () => {
    for (const text of [
      'not json "__closure":{"a":1}',
      '["__closure",{"a":1}]',
      '{"__closure":{"a":1',
      '{"a":1}',
      '',
    ]) {
      expect(scan(Buffer.from(text), []).complete).toBe(false)
      expect(closureIds(text)).toEqual([])
    }
  })
})
