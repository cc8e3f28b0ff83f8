/**
 * The query slice: `Version.objects` (filtered, masked, paged reads of a version's tree), `Version.diff`
 * and the admin's path indexes. A Version is reached through its project, which authorized the read.
 */
import { BadUserInput, NotFound } from '../../errors.js'
import type { GraphqlContext } from '../graphql/context.js'
import { int, required, str, strs, type Args } from '../graphql/helpers.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import { requireServer } from '../policy/service.js'
import type { Version } from '../versions/service.js'
import type { DiffKind, ObjectQuery, QueryService } from './service.js'

const typeDefs = /* GraphQL */ `
  extend type Version {
    """
    The objects of this version's tree matching \`filter\` (the query language of docs/server.md, e.g.
    \`speckle_type = "Objects.BuiltElements.Wall" and height > 3\`), ordered by id. \`select\` lists the
    dotted paths to return in \`data\` (all of the object without it).
    """
    objects(filter: String, select: [String!], limit: Int = 100, cursor: String): VersionObjectCollection!
    "What changed from version \`against\` (of the same project) to this one."
    diff(against: String!, kinds: [VersionDiffKind!], limit: Int = 100, cursor: String): VersionDiff!
  }
  type VersionObject {
    id: String!
    speckleType: String
    applicationId: String
    data: JSONObject!
  }
  type VersionObjectCollection {
    "Counts every match (a second query: ask for it only when needed)."
    totalCount: Int!
    cursor: String
    items: [VersionObject!]!
  }
  enum VersionDiffKind {
    added
    removed
    changed
  }
  type VersionDiffItem {
    kind: VersionDiffKind!
    "The object in this version (in \`against\` for a removed one)."
    id: String!
    "The object a changed one replaces."
    previousId: String
    applicationId: String
    speckleType: String
  }
  type VersionDiff {
    added: Int!
    removed: Int!
    changed: Int!
    unchanged: Int!
    cursor: String
    items: [VersionDiffItem!]!
  }
  type QueryPathIndex {
    name: String!
    definition: String!
    valid: Boolean!
  }
  extend type Query {
    "Indexes on object paths for version queries (server admins)."
    queryPathIndexes: [QueryPathIndex!]!
  }
  extend type Mutation {
    "Index an object path (\`parameters.fireRating.value\`) for version queries; answers the index names."
    queryPathIndexCreate(path: String!): [String!]!
    queryPathIndexDelete(path: String!): Boolean!
  }
`

function service(ctx: GraphqlContext): QueryService {
  if (!ctx.deps.query) throw new NotFound('query service')
  return ctx.deps.query
}

type Collection = { query: ObjectQuery; ctx: GraphqlContext }

function resolvers(): ResolverMap {
  return {
    Version: {
      objects: async (v: Version, args: Args, ctx: GraphqlContext) => {
        const query: ObjectQuery = {
          projectId: v.projectId,
          rootId: v.objectId,
          filter: str(args.filter),
          select: strs(args.select),
          limit: int(args.limit),
          cursor: str(args.cursor),
        }
        const page = await service(ctx).find(query)
        return { ...page, query, ctx } satisfies Collection & object
      },
      diff: async (v: Version, args: Args, ctx: GraphqlContext) => {
        const againstId = required(args.against, 'against')
        const against = await ctx.deps.versions.getById(v.projectId, againstId)
        if (against === null) throw new NotFound('version', againstId)
        const kinds = strs(args.kinds) as DiffKind[] | null
        return service(ctx).diff({
          projectId: v.projectId,
          fromRootId: against.objectId,
          toRootId: v.objectId,
          kinds,
          limit: int(args.limit),
          cursor: str(args.cursor),
        })
      },
    },
    VersionObjectCollection: {
      totalCount: (c: Collection) => service(c.ctx).count(c.query),
    },
    Query: {
      queryPathIndexes: (_: unknown, __: Args, ctx: GraphqlContext) => {
        requireServer(ctx.principal, 'manageServer')
        return service(ctx).listPathIndexes()
      },
    },
    Mutation: {
      queryPathIndexCreate: (_: unknown, args: Args, ctx: GraphqlContext) => {
        requireServer(ctx.principal, 'manageServer')
        return service(ctx).createPathIndex(required(args.path, 'path'))
      },
      queryPathIndexDelete: async (_: unknown, args: Args, ctx: GraphqlContext) => {
        requireServer(ctx.principal, 'manageServer')
        const path = required(args.path, 'path')
        if (path.length > 1000) throw new BadUserInput('path is too long')
        await service(ctx).dropPathIndex(path)
        return true
      },
    },
  }
}

export function querySlice(): GraphqlSlice {
  return { name: 'query', typeDefs, resolvers: resolvers() }
}
