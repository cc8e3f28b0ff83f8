/** The viewer page's pure parts: routes, the view kept in the URL, and the properties it lists. */
import { describe, expect, it } from 'vitest'
import { match } from '../src/lib/match.js'
import { elementDiff, parseViewHash, propertiesOf, viewHash, type DiffItem } from '../src/lib/view.js'

describe('routes', () => {
  it('matches Speckle-shaped viewer links and decodes their parts', () => {
    expect(match('/projects/:projectId/models/:spec', '/projects/abc/models/m1@v2')).toEqual({
      projectId: 'abc',
      spec: 'm1@v2',
    })
    expect(match('/projects/:projectId', '/projects/a%20b')).toEqual({ projectId: 'a b' })
    expect(match('/projects/:projectId', '/projects/abc/models/m1')).toBeNull()
    expect(match('/projects/:projectId', '/models/abc')).toBeNull()
    // A malformed escape is no match rather than a crash.
    expect(match('/projects/:projectId', '/projects/%E0%A4%A')).toBeNull()
  })
})

describe('the view in the URL', () => {
  it('round-trips camera and selection', () => {
    const hash = viewHash([1, 2.5, -3, 0, 0, 0.125], 'obj1')
    expect(parseViewHash(hash)).toEqual({ camera: [1, 2.5, -3, 0, 0, 0.125], selected: 'obj1' })
    expect(parseViewHash(viewHash([0, 0, 0, 1, 1, 1], null))).toEqual({ camera: [0, 0, 0, 1, 1, 1], selected: null })
  })

  it('ignores a camera that is not six numbers', () => {
    expect(parseViewHash('#camera=1,2,3').camera).toBeNull()
    expect(parseViewHash('#camera=1,2,3,4,5,x').camera).toBeNull()
    expect(parseViewHash('').camera).toBeNull()
  })
})

describe('object properties', () => {
  it('lists own fields with nested paths, leaving out geometry and closures', () => {
    const rows = propertiesOf({
      id: 'abc',
      speckle_type: 'Objects.BuiltElements.Wall',
      name: 'Wall 1',
      height: 3.2,
      parameters: { fireRating: { value: 'EI60', units: null } },
      vertices: [0, 1, 2],
      __closure: { x: 1 },
      '@displayValue': [{ referencedId: 'm1' }],
      host: { referencedId: 'level1' },
      tags: ['a', 'b'],
    })
    expect(rows).toEqual([
      ['id', 'abc'],
      ['speckle_type', 'Objects.BuiltElements.Wall'],
      ['name', 'Wall 1'],
      ['height', '3.2'],
      ['parameters.fireRating.value', 'EI60'],
      ['parameters.fireRating.units', '—'],
      ['host', '→ level1'],
      ['tags', '2 items'],
    ])
  })

  it('stops at a bounded number of rows for huge objects', () => {
    const raw = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`p${i}`, i]))
    expect(propertiesOf(raw).length).toBeLessThanOrEqual(401)
  })
})

describe("comparing versions (the server's diff counted as elements of the view)", () => {
  const shown = [
    { id: 'a1', applicationId: 'wall-1' },
    { id: 'b2', applicationId: 'wall-2' },
    { id: 'd1', applicationId: 'window-1' },
  ]

  it('counts the shown elements the diff names as added or changed, and named elements as removed', () => {
    const items: DiffItem[] = [
      { kind: 'added', id: 'd1', applicationId: 'window-1' },
      { kind: 'added', id: 'chunk-9', applicationId: null }, // a data chunk of d1: not an element
      { kind: 'changed', id: 'b2', applicationId: 'wall-2' },
      { kind: 'removed', id: 'c1', applicationId: 'door-1' },
      { kind: 'removed', id: 'chunk-3', applicationId: null },
    ]
    expect(elementDiff(items, shown)).toEqual({ added: ['d1'], changed: ['b2'], removed: ['c1'], unchanged: 1 })
  })

  it('finds nothing between a version and itself', () => {
    expect(elementDiff([], shown)).toEqual({ added: [], changed: [], removed: [], unchanged: 3 })
  })
})
