import { buildSchema, GraphQLError } from 'graphql'
import { describe, expect, it } from 'vitest'
import { createDocumentCache, documentCacheOf } from './document-cache.js'

const schema = buildSchema('type Query { hello: String, answer: Int }')

describe('document cache', () => {
  it('parses and validates a query text once, then recalls the same document', () => {
    const cache = createDocumentCache(schema)
    const first = cache.prepare('{ hello }')
    expect(first.errors).toEqual([])
    expect(cache.prepare('{ hello }')).toBe(first)
    expect(cache.stats()).toEqual({ size: 1, hits: 1, misses: 1 })
  })

  it('keeps validation errors with the document', () => {
    const cache = createDocumentCache(schema)
    const invalid = cache.prepare('{ nope }')
    expect(invalid.errors.map((e) => e.message)).toEqual(['Cannot query field "nope" on type "Query".'])
    expect(cache.prepare('{ nope }').errors).toBe(invalid.errors)
  })

  it('throws syntax errors every time and keeps nothing for them', () => {
    const cache = createDocumentCache(schema)
    expect(() => cache.prepare('{ hello')).toThrow(GraphQLError)
    expect(() => cache.prepare('{ hello')).toThrow(GraphQLError)
    expect(cache.stats()).toMatchObject({ size: 0, misses: 2 })
  })

  it('forgets the least recently used document beyond its size', () => {
    const cache = createDocumentCache(schema, { maxEntries: 2 })
    const hello = cache.prepare('{ hello }')
    cache.prepare('{ answer }')
    cache.prepare('{ hello }') // now the most recently used
    cache.prepare('{ hello answer }')
    expect(cache.stats().size).toBe(2)
    expect(cache.prepare('{ hello }')).toBe(hello)
    const misses = cache.stats().misses
    cache.prepare('{ answer }')
    expect(cache.stats().misses).toBe(misses + 1)
  })

  it('does not keep query texts longer than its limit', () => {
    const cache = createDocumentCache(schema, { maxQueryLength: 20 })
    const long = `{ hello ${' '.repeat(30)} }`
    expect(cache.prepare(long)).not.toBe(cache.prepare(long))
    expect(cache.stats().size).toBe(0)
  })

  it('has one cache per schema', () => {
    const other = buildSchema('type Query { hello: String }')
    expect(documentCacheOf(schema)).toBe(documentCacheOf(schema))
    expect(documentCacheOf(other)).not.toBe(documentCacheOf(schema))
  })
})
