/**
 * The server's schema: the shared core plus every module that owns a GraphQL slice. A module adds itself
 * here; `createGraphqlSchema` refuses two slices that define the same type or field.
 */
import type { GraphQLSchema } from 'graphql'
import { createGraphqlSchema, type GraphqlSlice } from './modules/graphql/index.js'
import { webhooksSlice } from './modules/webhooks/graphql.js'

export const MODULE_SLICES: readonly GraphqlSlice[] = [webhooksSlice()]

export function createServerSchema(): GraphQLSchema {
  return createGraphqlSchema(MODULE_SLICES)
}
