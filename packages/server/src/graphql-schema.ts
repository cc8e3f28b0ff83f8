/**
 * The server's schema: the shared core plus every module that owns a GraphQL slice. A module adds itself
 * here; `createGraphqlSchema` refuses two slices that define the same type or field.
 */
import type { GraphQLSchema } from 'graphql'
import { accountsSlice } from './modules/accounts/graphql.js'
import { activitySlice } from './modules/activity/graphql.js'
import { appsSlice } from './modules/apps/graphql.js'
import { legacySlice } from './modules/graphql/legacy.js'
// The composition itself, not the module's index: the GraphQL routes serve this schema by default.
import { createGraphqlSchema, type GraphqlSlice } from './modules/graphql/schema.js'
import { subscriptionsSlice } from './modules/graphql/subscriptions.js'
import { modelsSlice } from './modules/models/graphql.js'
import { objectsSlice } from './modules/objects/graphql.js'
import { projectsSlice } from './modules/projects/graphql.js'
import { tokensSlice } from './modules/tokens/graphql.js'
import { usersSlice } from './modules/users/graphql.js'
import { versionsSlice } from './modules/versions/graphql.js'
import { webhooksSlice } from './modules/webhooks/graphql.js'
import { blobsSlice } from './modules/blobs/graphql.js'
import { fileImportsSlice } from './modules/fileimports/graphql.js'
import { monitorSlice } from './modules/monitor/graphql.js'
import { commentsSlice } from './modules/comments/graphql.js'
import { querySlice } from './modules/query/graphql.js'
import { presenceSlice } from './modules/presence/graphql.js'

/** Speckle's API over the domain modules, with its legacy names: what every Truss server serves. */
export const DOMAIN_SLICES: readonly GraphqlSlice[] = [
  usersSlice(),
  projectsSlice(),
  modelsSlice(),
  versionsSlice(),
  objectsSlice(),
  tokensSlice(),
  appsSlice(),
  accountsSlice(),
  activitySlice(),
  legacySlice(),
  subscriptionsSlice(),
]

/** Every module slice the server serves: the domain modules', then the optional modules'. */
export const MODULE_SLICES: readonly GraphqlSlice[] = [
  ...DOMAIN_SLICES,
  webhooksSlice(),
  blobsSlice(),
  fileImportsSlice(),
  monitorSlice(),
  commentsSlice(),
  querySlice(),
  presenceSlice(),
]

export function createServerSchema(): GraphQLSchema {
  return createGraphqlSchema(MODULE_SLICES)
}

/** The domain modules' schema alone, without the optional modules (tests that enumerate Speckle's API). */
export function createDomainSchema(): GraphQLSchema {
  return createGraphqlSchema(DOMAIN_SLICES)
}
