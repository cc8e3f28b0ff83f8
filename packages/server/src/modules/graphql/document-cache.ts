/**
 * Parsed and validated GraphQL documents by query text, least recently used first out. Clients send the
 * same few documents again and again (connectors' queries are constants, variables carry the rest), and
 * parsing plus validating one costs about as much as executing a small query. A document's validation
 * against a schema never changes, so both are kept; graphql-js does not mutate documents while executing.
 */
import { parse, validate, type DocumentNode, type GraphQLError, type GraphQLSchema } from 'graphql'

export interface PreparedDocument {
  document: DocumentNode
  /** Validation errors against the schema (empty: valid). */
  errors: readonly GraphQLError[]
}

export interface DocumentCache {
  /** Parse (throwing graphql's `GraphQLError` for a syntax error, not cached) and validate, or recall. */
  prepare(query: string): PreparedDocument
  stats(): { size: number; hits: number; misses: number }
}

export const DOCUMENT_CACHE_DEFAULTS = {
  /** Documents kept. */
  maxEntries: 500,
  /** Longer query texts are prepared every time and not kept (memory is bounded by both limits). */
  maxQueryLength: 32 * 1024,
}

export function createDocumentCache(
  schema: GraphQLSchema,
  options: Partial<typeof DOCUMENT_CACHE_DEFAULTS> = {},
): DocumentCache {
  const { maxEntries, maxQueryLength } = { ...DOCUMENT_CACHE_DEFAULTS, ...options }
  // A Map iterates in insertion order: re-inserting on a hit makes the first key the least recently used.
  const entries = new Map<string, PreparedDocument>()
  let hits = 0
  let misses = 0
  return {
    prepare(query) {
      const known = entries.get(query)
      if (known !== undefined) {
        hits += 1
        entries.delete(query)
        entries.set(query, known)
        return known
      }
      misses += 1
      const document = parse(query)
      const prepared: PreparedDocument = { document, errors: validate(schema, document) }
      if (query.length <= maxQueryLength) {
        if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string)
        entries.set(query, prepared)
      }
      return prepared
    },
    stats() {
      return { size: entries.size, hits, misses }
    },
  }
}

const perSchema = new WeakMap<GraphQLSchema, DocumentCache>()

/** The cache of `schema`'s documents (one per schema, made on first use). */
export function documentCacheOf(schema: GraphQLSchema): DocumentCache {
  let cache = perSchema.get(schema)
  if (cache === undefined) perSchema.set(schema, (cache = createDocumentCache(schema)))
  return cache
}
