/**
 * The monitor slice: `serverStats`, the database monitor's figures for server admins (Truss's own query;
 * Speckle's admin pages read similar numbers). Needs the admin role and the `server:setup` scope.
 */
import { BadUserInput } from '../../errors.js'
import type { GraphqlContext } from '../graphql/context.js'
import type { Args } from '../graphql/helpers.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import { requireServer } from '../policy/service.js'

const typeDefs = /* GraphQL */ `
  "Rows and bytes of one database table."
  type DatabaseTableStats {
    table: String!
    totalBytes: Float!
    approxRows: Float!
  }

  type ProjectObjectStats {
    projectId: String!
    objects: Float!
    bytes: Float!
  }

  "Unfinished jobs of one kind and status, with the age of the oldest."
  type JobQueueStats {
    kind: String!
    status: String!
    count: Int!
    oldestSeconds: Float!
  }

  type ServerStats {
    collectedAt: DateTime!
    databaseBytes: Float!
    tables: [DatabaseTableStats!]!
    projects: [ProjectObjectStats!]!
    jobs: [JobQueueStats!]!
    "Client connections by state; null where the database role cannot read them."
    connections: JSONObject
  }

  extend type Query {
    "Database and job queue statistics (server admins)."
    serverStats: ServerStats!
  }
`

function resolvers(): ResolverMap {
  return {
    Query: {
      async serverStats(_p: unknown, _a: Args, ctx: GraphqlContext) {
        requireServer(ctx.principal, 'manageServer')
        const read = ctx.deps.serverStats
        if (read === undefined) throw new BadUserInput('Server statistics are not available on this server')
        const { database, projects, jobs } = await read()
        return { ...database, projects, jobs }
      },
    },
  }
}

export function monitorSlice(): GraphqlSlice {
  return { name: 'monitor', typeDefs, resolvers: resolvers() }
}
