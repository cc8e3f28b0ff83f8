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
import { createGraphqlSchema } from './schema.js'

const SNAPSHOT = fileURLToPath(new URL('./fixtures/schema/schema.graphql', import.meta.url))

describe('the composed GraphQL schema', () => {
  it('prints the same SDL as the committed snapshot', () => {
    const printed = `${printSchema(lexicographicSortSchema(createGraphqlSchema()))}\n`
    if (process.env.TRUSS_UPDATE_SCHEMA_SNAPSHOT === '1') writeFileSync(SNAPSHOT, printed)
    expect(printed).toBe(readFileSync(SNAPSHOT, 'utf8'))
  })
})
