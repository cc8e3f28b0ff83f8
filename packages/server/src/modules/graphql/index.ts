/** The GraphQL module: Speckle's schema subset over the projects, models and versions services. */
export { graphqlRoutes, runGraphql, formatError, type GraphqlRoutesOptions } from './rest.js'
export { checkSlices, coreSlice, createGraphqlSchema, type GraphqlSlice } from './schema.js'
export type { ResolverMap } from './resolvers.js'
export {
  createGraphqlContext,
  createLoaders,
  type GraphqlContext,
  type GraphqlDeps,
  type ServerInfoFacts,
  type Subscribe,
} from './context.js'
export { busSubscribe } from './subscriptions.js'
export { checkLimits, DEFAULT_LIMITS, type QueryLimits } from './limits.js'
