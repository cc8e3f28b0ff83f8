/**
 * The schema clients see, as SDL sorted by name, against the committed `fixtures/schema/schema.graphql`: moving
 * types and resolvers between modules must not change it. A deliberate schema change rewrites the file
 * (`TRUSS_UPDATE_SCHEMA_SNAPSHOT=1 npx vitest run packages/server/src/modules/graphql/schema-snapshot.test.ts`)
 * and shows in review as its diff.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { lexicographicSortSchema, printSchema } from 'graphql'
import { describe, expect, it } from 'vitest'
import { createServerSchema } from '../../graphql-schema.js'
import { createGraphqlSchema, type GraphqlSlice } from './schema.js'

const SNAPSHOT = fileURLToPath(new URL('./fixtures/schema/schema.graphql', import.meta.url))

describe('the composed GraphQL schema', () => {
  it('prints the same SDL as the committed snapshot', () => {
    const printed = `${printSchema(lexicographicSortSchema(createServerSchema()))}\n`
    if (process.env.TRUSS_UPDATE_SCHEMA_SNAPSHOT === '1') writeFileSync(SNAPSHOT, printed)
    expect(printed).toBe(readFileSync(SNAPSHOT, 'utf8'))
  })
})

describe('composing slices', () => {
  const slice = (name: string, typeDefs: string): GraphqlSlice => ({
    name,
    typeDefs,
    resolvers: { Query: { [`${name}Ping`]: () => 'pong' } },
  })

  it('adds a module slice that extends the shared types', () => {
    const schema = createGraphqlSchema([slice('alpha', 'extend type Query { alphaPing: String }')])
    expect(schema.getQueryType()?.getFields().alphaPing?.resolve).toBeTypeOf('function')
  })

  it('refuses two slices that define the same field, naming both', () => {
    const a = slice('alpha', 'extend type Query { alphaPing: String }')
    const b = { ...slice('beta', 'extend type Query { alphaPing: String }'), resolvers: {} }
    expect(() => createGraphqlSchema([a, b])).toThrow(/Query\.alphaPing is defined by both the alpha and beta slices/)
  })

  it('refuses a slice redefining a core type', () => {
    const a = { name: 'alpha', typeDefs: 'type Project { id: ID! }', resolvers: {} }
    expect(() => createGraphqlSchema([a])).toThrow(/type Project is defined by both the core and alpha slices/)
  })

  it('refuses a resolver for a field no slice defines', () => {
    const a = {
      name: 'alpha',
      typeDefs: 'extend type Query { alphaPing: String }',
      resolvers: { Query: { nope: () => 1 } },
    }
    expect(() => createGraphqlSchema([a])).toThrow(/alpha: resolver for unknown field Query\.nope/)
  })
})
