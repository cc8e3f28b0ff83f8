/**
 * The projects slice: `project`, a project's own fields and team, `user.projects` and
 * `projectMutations`. Models, versions, objects and invites add their fields to `Project`.
 */
import { BadUserInput, NotFound } from '../../errors.js'
import type { GraphqlContext } from '../graphql/context.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import {
  actor,
  authorize,
  idList,
  int,
  limitedUser,
  loadProject,
  obj,
  required,
  str,
  strs,
  type Args,
} from '../graphql/helpers.js'
import { requireServer } from '../policy/service.js'
import type { User } from '../users/service.js'
import { isProjectRole, type Project, type ProjectRole, type ProjectVisibility } from './types.js'

const typeDefs = /* GraphQL */ `
  extend type Project {
    id: ID!
    name: String!
    description: String
    visibility: SimpleProjectVisibility!
    role: String
    createdAt: DateTime!
    updatedAt: DateTime!
    allowPublicComments: Boolean!
    sourceApps: [String!]!
    workspaceId: String
    team: [ProjectCollaborator!]!
  }
  type ProjectCollaborator {
    id: ID!
    role: String!
    user: LimitedUser!
  }
  enum ProjectVisibility {
    PRIVATE
    PUBLIC
    UNLISTED
  }
  enum SimpleProjectVisibility {
    PRIVATE
    UNLISTED
  }
  input UserProjectsFilter {
    search: String
    onlyWithRoles: [String!]
    workspaceId: ID
    personalOnly: Boolean
    includeImplicitAccess: Boolean
  }
  type UserProjectCollection {
    totalCount: Int!
    cursor: String
    items: [Project!]!
    numberOfHidden: Int!
  }
  type ProjectMutations {
    create(input: ProjectCreateInput): Project!
    update(update: ProjectUpdateInput!): Project!
    delete(id: String!): Boolean!
    updateRole(input: ProjectUpdateRoleInput!): Project!
    leave(id: String!): Boolean!
    batchDelete(ids: [String!]!): Boolean!
  }
  input ProjectCreateInput {
    name: String
    description: String
    visibility: ProjectVisibility
    workspaceId: String
  }
  input ProjectUpdateInput {
    id: ID!
    name: String
    description: String
    visibility: ProjectVisibility
    allowPublicComments: Boolean
  }
  input ProjectUpdateRoleInput {
    projectId: String!
    userId: String!
    role: String
  }

  extend type Query {
    project(id: String!): Project!
  }

  extend type User {
    projects(limit: Int! = 25, cursor: String, filter: UserProjectsFilter, sortBy: [String!]): UserProjectCollection!
  }

  extend type Mutation {
    projectMutations: ProjectMutations!
  }
`

const VISIBILITY_IN: Record<string, ProjectVisibility> = { PRIVATE: 'private', PUBLIC: 'public', UNLISTED: 'unlisted' }

/** `User.projects` / legacy `streams`: the caller's own projects only. */
export async function userProjects(ctx: GraphqlContext, user: { id: string }, args: Args) {
  if (ctx.principal?.userId !== user.id) throw new NotFound('user', user.id)
  requireServer(ctx.principal, 'readProfile')
  const filter = obj(args.filter)
  const page = await ctx.deps.projects.listForUser(user.id, {
    limit: int(args.limit),
    cursor: str(args.cursor),
    search: str(filter.search) ?? str(args.query),
    onlyWithRoles: strs(filter.onlyWithRoles),
  })
  for (const item of page.items) ctx.loaders.roles.prime(item.id, item.role)
  return { ...page, numberOfHidden: 0 }
}

/** Delete projects the caller owns (or, `asAdmin`, any project): all are checked before any is deleted. */
export async function deleteProjects(ctx: GraphqlContext, ids: string[], asAdmin: boolean): Promise<boolean> {
  const principal = requireServer(ctx.principal, 'deleteAnyProjects')
  if (!asAdmin) await Promise.all(ids.map((id) => authorize(ctx, id, 'manage')))
  const deleted = await Promise.all(ids.map((id) => ctx.deps.projects.delete(id, principal.userId)))
  return deleted.every(Boolean)
}

function resolvers(): ResolverMap {
  return {
    Query: {
      project: (_p: unknown, args: Args, ctx: GraphqlContext) => loadProject(ctx, required(args.id, 'id')),
    },
    User: {
      projects: (u: User, args: Args, ctx: GraphqlContext) => userProjects(ctx, u, args),
    },
    Project: {
      visibility: (p: Project) => (p.visibility === 'private' ? 'PRIVATE' : 'UNLISTED'),
      role: (p: Project, _a: Args, ctx: GraphqlContext) => ctx.loaders.roles.load(p.id),
      allowPublicComments: () => false,
      sourceApps: (p: Project, _a: Args, ctx: GraphqlContext) => ctx.loaders.sourceApps.load(p.id),
      // Truss has no workspaces: every project is a personal one.
      workspaceId: () => null,
      team: async (p: Project, _a: Args, ctx: GraphqlContext) => {
        const team = await ctx.loaders.teams.load(p.id)
        return Promise.all(
          team.map(async (m) => ({
            id: m.userId,
            role: m.role,
            user: limitedUser(await ctx.loaders.users.load(m.userId)),
          })),
        )
      },
    },
    ProjectMutations: {
      create: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const principal = requireServer(ctx.principal, 'createProject')
        const input = obj(args.input)
        const visibility = str(input.visibility)
        return ctx.deps.projects.create({
          ownerId: principal.userId,
          name: str(input.name) ?? 'Unnamed Project',
          description: str(input.description),
          visibility: visibility === null ? 'public' : VISIBILITY_IN[visibility],
          withDefaultModel: false,
        })
      },
      update: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.update)
        const id = required(input.id, 'id')
        await authorize(ctx, id, 'manage')
        const visibility = str(input.visibility)
        const project = await ctx.deps.projects.update({
          id,
          actorId: actor(ctx).userId,
          name: str(input.name),
          description: str(input.description),
          visibility: visibility === null ? null : VISIBILITY_IN[visibility],
        })
        return project
      },
      delete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const id = required(args.id, 'id')
        await authorize(ctx, id, 'manage')
        return ctx.deps.projects.delete(id, actor(ctx).userId)
      },
      updateRole: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        const userId = required(input.userId, 'userId')
        await authorize(ctx, projectId, 'manage')
        const role = str(input.role)
        if (role === null) {
          await ctx.deps.projects.removeRole(projectId, userId, actor(ctx).userId)
        } else {
          if (!isProjectRole(role)) throw new BadUserInput(`Unknown role ${role}`)
          await ctx.deps.projects.setRole({ projectId, userId, role: role as ProjectRole, actorId: actor(ctx).userId })
        }
        ctx.loaders.teams.clear(projectId)
        ctx.loaders.roles.clear(projectId)
        return loadProject(ctx, projectId)
      },
      batchDelete: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        deleteProjects(ctx, idList(args.ids, 'ids'), false),
      leave: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const id = required(args.id, 'id')
        await authorize(ctx, id, 'leave')
        const userId = actor(ctx).userId
        return ctx.deps.projects.removeRole(id, userId, userId)
      },
    },
    Mutation: {
      projectMutations: () => ({}),
    },
  }
}

export function projectsSlice(): GraphqlSlice {
  return { name: 'projects', typeDefs, resolvers: resolvers() }
}
