/**
 * The models slice: a project's models (list, tree, by id or name), `Model` and `modelMutations`. Versions
 * add `Model.versions` and `Model.version`.
 */
import { NotFound } from '../../errors.js'
import { pageSize } from '../../pagination.js'
import { firstPageKey, treeKey, type GraphqlContext } from '../graphql/context.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import { actor, authorize, int, limitedUser, obj, required, str, strs, type Args } from '../graphql/helpers.js'
import type { Project } from '../projects/types.js'
import { displayName, type Model, type ModelsTreeItem } from './service.js'

const typeDefs = /* GraphQL */ `
  extend type Project {
    models(cursor: String, limit: Int! = 25, filter: ProjectModelsFilter): ModelCollection!
    modelsTree(cursor: String, limit: Int! = 25, filter: ProjectModelsTreeFilter): ModelsTreeItemCollection!
    modelChildrenTree(fullName: String!): [ModelsTreeItem!]!
    model(id: String!): Model!
    modelByName(name: String!): Model!
  }
  input ProjectModelsTreeFilter {
    search: String
    sourceApps: [String!]
    contributors: [String!]
  }
  type ModelsTreeItem {
    id: ID!
    name: String!
    fullName: String!
    model: Model
    hasChildren: Boolean!
    children: [ModelsTreeItem!]!
    updatedAt: DateTime!
  }
  type ModelsTreeItemCollection {
    totalCount: Int!
    cursor: String
    items: [ModelsTreeItem!]!
  }
  input ProjectModelsFilter {
    search: String
    sourceApps: [String!]
    contributors: [String!]
    onlyWithVersions: Boolean
    ids: [String!]
    excludeIds: [String!]
  }
  type Model {
    id: ID!
    name: String!
    displayName: String!
    description: String
    createdAt: DateTime!
    updatedAt: DateTime!
    previewUrl: String
    author: LimitedUser
    versionCount: Int!
    childrenTree: [ModelsTreeItem!]!
    projectId: String!
  }
  type ModelCollection {
    totalCount: Int!
    cursor: String
    items: [Model!]!
  }
  type ModelMutations {
    create(input: CreateModelInput!): Model!
    update(input: UpdateModelInput!): Model!
    delete(input: DeleteModelInput!): Boolean!
  }
  input CreateModelInput {
    projectId: ID!
    name: String!
    description: String
  }
  input UpdateModelInput {
    projectId: ID!
    id: ID!
    name: String
    description: String
  }
  input DeleteModelInput {
    projectId: ID!
    id: ID!
  }

  extend type Mutation {
    modelMutations: ModelMutations!
  }
`

async function projectModel(ctx: GraphqlContext, project: Project, id: string): Promise<Model> {
  const model = await ctx.deps.models.getById(project.id, id)
  if (model === null) throw new NotFound('model', id)
  return model
}

function resolvers(): ResolverMap {
  return {
    Project: {
      models: (p: Project, args: Args, ctx: GraphqlContext) => {
        const filter = obj(args.filter)
        // A first page without filters (a list of projects each showing its models) is batched.
        if (!str(args.cursor) && Object.values(filter).every((v) => v === null || v === undefined || v === false)) {
          return ctx.loaders.projectModels.load(firstPageKey(pageSize(int(args.limit)), p.id))
        }
        return ctx.deps.models.list(p.id, {
          limit: int(args.limit),
          cursor: str(args.cursor),
          search: str(filter.search),
          ids: strs(filter.ids),
          excludeIds: strs(filter.excludeIds),
          onlyWithVersions: filter.onlyWithVersions === true,
          sourceApps: strs(filter.sourceApps),
          contributors: strs(filter.contributors),
        })
      },
      model: (p: Project, args: Args, ctx: GraphqlContext) => projectModel(ctx, p, required(args.id, 'id')),
      modelByName: async (p: Project, args: Args, ctx: GraphqlContext) => {
        const name = required(args.name, 'name')
        const model = await ctx.loaders.modelsByName.load(treeKey(p.id, name))
        if (model === null) throw new NotFound('model', undefined)
        return model
      },
      modelsTree: (p: Project, args: Args, ctx: GraphqlContext) => {
        const filter = obj(args.filter)
        return ctx.deps.models.tree(p.id, {
          limit: int(args.limit),
          cursor: str(args.cursor),
          search: str(filter.search),
          sourceApps: strs(filter.sourceApps),
          contributors: strs(filter.contributors),
        })
      },
      modelChildrenTree: (p: Project, args: Args, ctx: GraphqlContext) =>
        ctx.loaders.childrenTrees.load(treeKey(p.id, required(args.fullName, 'fullName'))),
    },
    ModelsTreeItem: {
      model: (item: ModelsTreeItem, _a: Args, ctx: GraphqlContext) =>
        ctx.loaders.modelsByName.load(treeKey(item.projectId, item.fullName)),
      children: (item: ModelsTreeItem, _a: Args, ctx: GraphqlContext) =>
        item.hasChildren ? ctx.loaders.childrenTrees.load(treeKey(item.projectId, item.fullName)) : [],
    },
    Model: {
      displayName: (m: Model) => displayName(m.name),
      // The latest version's preview (Speckle's), null while the model has none; batched with other models.
      previewUrl: async (m: Model, _a: Args, ctx: GraphqlContext) => {
        const latest = (await ctx.loaders.modelVersions.load(firstPageKey(1, m.id))).items[0]
        const base = ctx.deps.serverInfo.canonicalUrl.replace(/\/$/, '')
        return latest ? `${base}/preview/${m.projectId}/commits/${latest.id}` : null
      },
      author: async (m: Model, _a: Args, ctx: GraphqlContext) =>
        m.authorId === null ? null : limitedUser(await ctx.loaders.users.load(m.authorId)),
      versionCount: (m: Model, _a: Args, ctx: GraphqlContext) => ctx.loaders.versionCounts.load(m.id),
      childrenTree: (m: Model, _a: Args, ctx: GraphqlContext) =>
        ctx.loaders.childrenTrees.load(treeKey(m.projectId, m.name)),
    },
    ModelMutations: {
      create: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        return ctx.deps.models.create({
          projectId,
          name: required(input.name, 'name'),
          description: str(input.description),
          actorId: actor(ctx).userId,
        })
      },
      update: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        return ctx.deps.models.update({
          projectId,
          id: required(input.id, 'id'),
          name: str(input.name),
          description: str(input.description),
          actorId: actor(ctx).userId,
        })
      },
      delete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.models.delete({ projectId, id: required(input.id, 'id'), actorId: actor(ctx).userId })
        return true
      },
    },
    Mutation: {
      modelMutations: () => ({}),
    },
  }
}

export function modelsSlice(): GraphqlSlice {
  return { name: 'models', typeDefs, resolvers: resolvers() }
}
