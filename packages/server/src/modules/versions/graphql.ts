/**
 * The versions slice: a project's and a model's versions, `Version` and `versionMutations`.
 */
import { NotFound } from '../../errors.js'
import { pageSize, type Page } from '../../pagination.js'
import { firstPageKey, type GraphqlContext } from '../graphql/context.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import { actor, authorize, int, limitedUser, obj, required, str, strs, type Args } from '../graphql/helpers.js'
import type { Model } from '../models/service.js'
import type { Project } from '../projects/types.js'
import type { Version } from './service.js'

const typeDefs = /* GraphQL */ `
  extend type Project {
    versions(limit: Int! = 25, cursor: String): VersionCollection!
    version(id: String!): Version!
  }
  extend type Model {
    versions(limit: Int! = 25, cursor: String, filter: ModelVersionsFilter): VersionCollection!
    version(id: String!): Version!
  }
  input ModelVersionsFilter {
    priorityIds: [String!]
    priorityIdsOnly: Boolean
  }
  type Version {
    id: ID!
    referencedObject: String!
    message: String
    sourceApplication: String
    totalChildrenCount: Int
    parents: [String]
    createdAt: DateTime!
    previewUrl: String!
    authorUser: LimitedUser
    model: Model!
  }
  type VersionCollection {
    totalCount: Int!
    cursor: String
    items: [Version!]!
  }
  type VersionMutations {
    create(input: CreateVersionInput!): Version!
    update(input: UpdateVersionInput!): Version!
    delete(input: DeleteVersionsInput!): Boolean!
    moveToModel(input: MoveVersionsInput!): Model!
    markReceived(input: MarkReceivedVersionInput!): Boolean!
  }
  input CreateVersionInput {
    projectId: String!
    modelId: String!
    objectId: String!
    message: String
    sourceApplication: String
    totalChildrenCount: Int
    parents: [String!]
  }
  input UpdateVersionInput {
    projectId: ID!
    versionId: ID!
    message: String
  }
  input DeleteVersionsInput {
    projectId: ID!
    versionIds: [ID!]!
  }
  input MoveVersionsInput {
    projectId: ID!
    versionIds: [ID!]!
    targetModelName: String!
  }
  input MarkReceivedVersionInput {
    projectId: String!
    versionId: String!
    sourceApplication: String!
    message: String
  }

  extend type Mutation {
    versionMutations: VersionMutations!
  }
`

function previewUrl(ctx: GraphqlContext, version: Version): string {
  return `${ctx.deps.serverInfo.canonicalUrl.replace(/\/$/, '')}/preview/${version.projectId}/commits/${version.id}`
}

async function projectVersion(ctx: GraphqlContext, projectId: string, id: string): Promise<Version> {
  const version = await ctx.deps.versions.getById(projectId, id)
  if (version === null) throw new NotFound('version', id)
  return version
}

/** A model's versions; the first page (a list of models each showing its latest versions) is batched. */
export function modelVersions(ctx: GraphqlContext, m: Model, args: Args): Promise<Page<Version>> {
  const cursor = str(args.cursor)
  if (!cursor) return ctx.loaders.modelVersions.load(firstPageKey(pageSize(int(args.limit)), m.id))
  return ctx.deps.versions.listForModel(m.id, { limit: int(args.limit), cursor })
}

function resolvers(): ResolverMap {
  return {
    Project: {
      versions: (p: Project, args: Args, ctx: GraphqlContext) =>
        ctx.deps.versions.listForProject(p.id, { limit: int(args.limit), cursor: str(args.cursor) }),
      version: (p: Project, args: Args, ctx: GraphqlContext) => projectVersion(ctx, p.id, required(args.id, 'id')),
    },
    Model: {
      versions: async (m: Model, args: Args, ctx: GraphqlContext) => {
        const filter = obj(args.filter)
        const priority = strs(filter.priorityIds) ?? []
        const first =
          priority.length > 0 ? (await ctx.deps.versions.getMany(priority)).filter((v) => v.modelId === m.id) : []
        if (filter.priorityIdsOnly === true) return { totalCount: first.length, cursor: null, items: first }
        // As Speckle: the priority versions lead the first page, and no page repeats them.
        const page = await modelVersions(ctx, m, args)
        const rest = page.items.filter((v) => !priority.includes(v.id))
        return { ...page, items: str(args.cursor) ? rest : [...first, ...rest] }
      },
      version: async (m: Model, args: Args, ctx: GraphqlContext) => {
        const version = await projectVersion(ctx, m.projectId, required(args.id, 'id'))
        if (version.modelId !== m.id) throw new NotFound('version', version.id)
        return version
      },
    },
    Version: {
      referencedObject: (v: Version) => v.objectId,
      parents: (v: Version) => v.parents,
      previewUrl: (v: Version, _a: Args, ctx: GraphqlContext) => previewUrl(ctx, v),
      authorUser: async (v: Version, _a: Args, ctx: GraphqlContext) =>
        v.authorId === null ? null : limitedUser(await ctx.loaders.users.load(v.authorId)),
      model: async (v: Version, _a: Args, ctx: GraphqlContext) => {
        const model = await ctx.loaders.models.load(v.modelId)
        if (model === null) throw new NotFound('model', v.modelId)
        return model
      },
    },
    VersionMutations: {
      create: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        return ctx.deps.versions.create({
          projectId,
          modelId: required(input.modelId, 'modelId'),
          objectId: required(input.objectId, 'objectId'),
          message: str(input.message),
          sourceApplication: str(input.sourceApplication),
          totalChildrenCount: int(input.totalChildrenCount),
          parents: strs(input.parents),
          actorId: actor(ctx).userId,
        })
      },
      update: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        return ctx.deps.versions.update({
          projectId,
          versionId: required(input.versionId, 'versionId'),
          message: str(input.message),
          actorId: actor(ctx).userId,
        })
      },
      delete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.versions.delete({
          projectId,
          versionIds: strs(input.versionIds) ?? [],
          actorId: actor(ctx).userId,
        })
        return true
      },
      moveToModel: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        return ctx.deps.versions.moveToModel({
          projectId,
          versionIds: strs(input.versionIds) ?? [],
          targetModelName: required(input.targetModelName, 'targetModelName'),
          actorId: actor(ctx).userId,
        })
      },
      markReceived: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'receive')
        await ctx.deps.versions.markReceived({
          projectId,
          versionId: required(input.versionId, 'versionId'),
          sourceApplication: required(input.sourceApplication, 'sourceApplication'),
          message: str(input.message),
          actorId: actor(ctx).userId,
        })
        return true
      },
    },
    Mutation: {
      versionMutations: () => ({}),
    },
  }
}

export function versionsSlice(): GraphqlSlice {
  return { name: 'versions', typeDefs, resolvers: resolvers() }
}
