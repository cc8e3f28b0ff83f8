/**
 * The large-object checker (large-objects.ts): a real worker thread checks whole objects off the main
 * thread and hands their bytes back, and stops once idle, so its heap (which held the object as a
 * string) goes back to the system; the next check starts a new one.
 */
import { describe, expect, it } from 'vitest'
import { checkLargeObject, largeObjectCheckerRunning } from './large-objects.js'

const big = (id: string) =>
  Buffer.from(JSON.stringify({ speckle_type: 'Base', note: 'Gebäude "q" \\ '.repeat(400_000), id }))

describe('the large-object checker', () => {
  it('checks objects in a worker, then stops the worker when idle and starts another for the next', async () => {
    const id = 'a'.repeat(32)
    const bytes = big(id)
    expect(bytes.length).toBeGreaterThan(6_000_000)
    const copy = Buffer.from(bytes)
    const first = await checkLargeObject(bytes)
    expect(first.result).toEqual({ id, escapes: true, spaced: false })
    expect(first.bytes.equals(copy)).toBe(true)
    expect(largeObjectCheckerRunning()).toBe(true)

    // Stopped after two idle seconds (polled for up to ten).
    const deadline = Date.now() + 10_000
    while (largeObjectCheckerRunning() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    expect(largeObjectCheckerRunning()).toBe(false)

    const broken = Buffer.concat([big('b'.repeat(32)), Buffer.from('}')])
    expect((await checkLargeObject(broken)).result).toBeNull()
    expect(largeObjectCheckerRunning()).toBe(true)
  }, 30_000)
})
