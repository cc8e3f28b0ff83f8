import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ClosureKeyBuffer } from './closure-keys.js'

const hash = (i: number) => createHash('md5').update(String(i)).digest('hex')
const all = (buffer: ClosureKeyBuffer, batch: number) => [...buffer.sorted(batch)]

describe('ClosureKeyBuffer', () => {
  it('sorts 300,000 Speckle ids (with repeats) as Array.prototype.sort does, each once, in batches', () => {
    const ids = Array.from({ length: 300_000 }, (_, i) => hash(i % 250_000))
    const buffer = new ClosureKeyBuffer()
    expect(buffer.add(ids)).toBe(true)
    const batches = all(buffer, 1_000)
    expect(batches.every((b, i) => b.length === 1_000 || i === batches.length - 1)).toBe(true)
    expect(batches.flat()).toEqual([...new Set(ids)].sort())
  })

  it('sorts ids sharing a long prefix (counters, not hashes) and merges keys of other forms in order', () => {
    const counters = Array.from({ length: 5_000 }, (_, i) => (4_999 - i).toString(16).padStart(32, '0'))
    const others = ['ABCDEF', 'zz', '0', 'f'.repeat(64), 'élan', '0000', 'zz']
    const buffer = new ClosureKeyBuffer()
    expect(buffer.add([...counters, ...others])).toBe(true)
    expect(buffer.size).toBe(5_007)
    expect(all(buffer, 777).flat()).toEqual([...new Set([...counters, ...others])].sort())
  })

  it('says when its budget is spent, and hands on every key it took', () => {
    const buffer = new ClosureKeyBuffer(3, 1)
    expect(buffer.add([hash(1), hash(2), 'other'])).toBe(true)
    expect(buffer.add([hash(3)])).toBe(true)
    expect(buffer.add([hash(4)])).toBe(false)
    expect(new ClosureKeyBuffer(3, 1).add(['a', 'b'])).toBe(false)
    expect([...buffer.all()].sort()).toEqual([hash(1), hash(2), hash(3), 'other'].sort())
  })

  it('yields nothing for no keys', () => {
    expect(all(new ClosureKeyBuffer(), 10)).toEqual([])
  })
})
