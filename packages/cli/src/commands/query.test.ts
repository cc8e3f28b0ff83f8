import { describe, expect, it } from 'vitest'
import { formatCsv, formatTable } from './query.js'

describe('truss query output', () => {
  it('prints an aligned table', () => {
    expect(
      formatTable(
        ['name', 'height'],
        [
          ['Wall 1', '3.5'],
          ['W', '12'],
        ],
      ),
    ).toBe('name    height\n------  ------\nWall 1  3.5\nW       12\n')
  })

  it('prints CSV, quoting cells with commas, quotes or newlines', () => {
    expect(
      formatCsv(
        ['name', 'note'],
        [
          ['a,b', 'say "hi"'],
          ['c', 'x'],
        ],
      ),
    ).toBe('name,note\n"a,b","say ""hi"""\nc,x\n')
  })
})
