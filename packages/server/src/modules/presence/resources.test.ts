import { describe, expect, it } from 'vitest'
import { parseResourceIdString } from '../comments/resources.js'
import { resourcesOverlap } from './graphql.js'

const overlap = (target: string, message: string, loadedVersionsOnly = false) =>
  resourcesOverlap(parseResourceIdString(target), parseResourceIdString(message), loadedVersionsOnly)

describe('which viewer sessions a target hears', () => {
  it('hears every session of the project when the target is empty', () => {
    expect(overlap('', 'm1@v1')).toBe(true)
    expect(overlap('', '')).toBe(true)
  })

  it('hears the same model in any version, unless loadedVersionsOnly', () => {
    expect(overlap('m1@v1', 'm1@v2')).toBe(true)
    expect(overlap('m1@v1', 'm1@v2', true)).toBe(false)
    expect(overlap('m1@v1', 'm1@v1', true)).toBe(true)
    expect(overlap('m1', 'm1@v2', true)).toBe(true)
    expect(overlap('m1,m2', 'm3,m2@v9')).toBe(true)
    expect(overlap('m1', 'm2')).toBe(false)
  })

  it("matches 'all' with every model, and never hears the project page from a model", () => {
    expect(overlap('all', 'm1@v1')).toBe(true)
    expect(overlap('m1', 'all')).toBe(true)
    expect(overlap('m1', '')).toBe(false)
  })
})
