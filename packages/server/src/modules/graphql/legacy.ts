/**
 * The legacy slice: Speckle's stream/branch/commit API over the same records as projects, models and
 * versions (ids are interchangeable). It stays one slice here, not a part in each module: it is one
 * compatibility layer, and the legacy names appear nowhere else (STYLE.md).
 */
import { BadUserInput } from '../../errors.js'
import type { Page } from '../../pagination.js'
import {
  cancelInvite,
  inviteInputs,
  inviteToProject,
  lookupInvite,
  myInvites,
  pendingCollaborator,
  useInvite,
} from '../accounts/graphql.js'
import { activityPage } from '../activity/graphql.js'
import type { Model } from '../models/service.js'
import { loadObject } from '../objects/graphql.js'
import { requireServer } from '../policy/service.js'
import { deleteProjects, userProjects } from '../projects/graphql.js'
import { isProjectRole, type Project, type ProjectVisibility } from '../projects/types.js'
import type { User } from '../users/service.js'
import { modelVersions } from '../versions/graphql.js'
import type { Version } from '../versions/service.js'
import { treeKey, type GraphqlContext } from './context.js'
import {
  actor,
  authorize,
  authorizeLoaded,
  idList,
  int,
  limitedUser,
  loadProject,
  obj,
  required,
  str,
  strs,
  type Args,
} from './helpers.js'
import type { ResolverMap } from './resolvers.js'
import type { GraphqlSlice } from './schema.js'

const typeDefs = /* GraphQL */ `
  type Stream {
    id: String!
    name: String!
    description: String
    isPublic: Boolean!
    isDiscoverable: Boolean!
    allowPublicComments: Boolean!
    role: String
    createdAt: DateTime!
    updatedAt: DateTime!
    collaborators: [StreamCollaborator!]!
    size: String
    favoritesCount: Int!
    commentCount: Int!
    branches(limit: Int! = 25, cursor: String): BranchCollection
    branch(name: String = "main"): Branch
    commits(limit: Int! = 25, cursor: String): CommitCollection
    commit(id: String): Commit
    object(id: String!): Object
    pendingCollaborators: [PendingStreamCollaborator!]
    activity(
      actionType: String
      after: DateTime
      before: DateTime
      cursor: DateTime
      limit: Int! = 25
    ): ActivityCollection
  }
  type StreamCollaborator {
    id: String!
    name: String!
    role: String!
    company: String
    avatar: String
  }
  type Branch {
    id: String!
    name: String!
    description: String
    author: LimitedUser
    createdAt: DateTime
    commits(limit: Int! = 25, cursor: String): CommitCollection
  }
  type BranchCollection {
    totalCount: Int!
    cursor: String
    items: [Branch!]
  }
  type Commit {
    id: String!
    referencedObject: String!
    message: String
    sourceApplication: String
    totalChildrenCount: Int
    branchName: String
    parents: [String]
    authorId: String
    authorName: String
    authorAvatar: String
    createdAt: DateTime
    streamId: String
    streamName: String
  }
  type CommitCollection {
    totalCount: Int!
    cursor: String
    items: [Commit!]
  }
  type UserStreamCollection {
    totalCount: Int!
    cursor: String
    items: [Stream!]
    numberOfHidden: Int!
  }
  input StreamInviteCreateInput {
    email: String
    userId: String
    streamId: String!
    message: String
    role: String
    serverRole: String
  }
  input StreamCreateInput {
    name: String
    description: String
    isPublic: Boolean
    isDiscoverable: Boolean
    withContributors: [String!]
  }
  input StreamUpdateInput {
    id: String!
    name: String
    description: String
    isPublic: Boolean
    isDiscoverable: Boolean
    allowPublicComments: Boolean
  }
  input StreamUpdatePermissionInput {
    streamId: String!
    userId: String!
    role: String!
  }
  input StreamRevokePermissionInput {
    streamId: String!
    userId: String!
  }
  input BranchCreateInput {
    streamId: String!
    name: String!
    description: String
  }
  input BranchUpdateInput {
    streamId: String!
    id: String!
    name: String
    description: String
  }
  input BranchDeleteInput {
    streamId: String!
    id: String!
  }
  input CommitCreateInput {
    streamId: String!
    branchName: String!
    objectId: String!
    message: String
    sourceApplication: String = "unknown"
    totalChildrenCount: Int
    parents: [String]
  }
  input CommitUpdateInput {
    streamId: String!
    id: String!
    message: String
    newBranchName: String
  }
  input CommitReceivedInput {
    streamId: String!
    commitId: String!
    sourceApplication: String!
    message: String
  }
  input CommitDeleteInput {
    streamId: String!
    id: String!
  }
  input CommitsMoveInput {
    streamId: ID!
    targetBranch: String!
    commitIds: [String!]!
  }
  input CommitsDeleteInput {
    streamId: ID!
    commitIds: [String!]!
  }

  extend type Query {
    stream(id: String!): Stream
    streams(query: String, limit: Int = 25, cursor: String): UserStreamCollection
    streamInvite(streamId: String!, token: String): PendingStreamCollaborator
    streamInvites: [PendingStreamCollaborator!]!
  }

  extend type User {
    streams(limit: Int! = 25, cursor: String): UserStreamCollection!
  }

  extend type Mutation {
    streamInviteCreate(input: StreamInviteCreateInput!): Boolean!
    streamInviteUse(accept: Boolean!, streamId: String!, token: String!): Boolean!
    streamInviteCancel(streamId: String!, inviteId: String!): Boolean!
    streamCreate(stream: StreamCreateInput!): String
    streamUpdate(stream: StreamUpdateInput!): Boolean!
    streamDelete(id: String!): Boolean!
    streamsDelete(ids: [String!]): Boolean!
    streamUpdatePermission(permissionParams: StreamUpdatePermissionInput!): Boolean
    streamRevokePermission(permissionParams: StreamRevokePermissionInput!): Boolean
    branchCreate(branch: BranchCreateInput!): String!
    branchUpdate(branch: BranchUpdateInput!): Boolean!
    branchDelete(branch: BranchDeleteInput!): Boolean!
    commitCreate(commit: CommitCreateInput!): String!
    commitUpdate(commit: CommitUpdateInput!): Boolean!
    commitReceive(input: CommitReceivedInput!): Boolean!
    commitDelete(commit: CommitDeleteInput!): Boolean
    commitsMove(input: CommitsMoveInput!): Boolean!
    commitsDelete(input: CommitsDeleteInput!): Boolean!
  }
`

function legacyVisibility(isPublic: unknown, isDiscoverable: unknown): ProjectVisibility | undefined {
  if (isPublic === false) return 'private'
  if (isPublic === true) return isDiscoverable === true ? 'public' : 'unlisted'
  if (isDiscoverable === true) return 'public'
  return undefined
}

async function legacyStreamCommits(ctx: GraphqlContext, page: Page<Version>) {
  return page
}

function resolvers(): ResolverMap {
  return {
    Query: {
      stream: (_p: unknown, args: Args, ctx: GraphqlContext) => loadProject(ctx, required(args.id, 'id')),
      streams: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        if (ctx.principal === null) throw new BadUserInput('You must be signed in to list your streams')
        return userProjects(ctx, { id: ctx.principal.userId }, args)
      },
      streamInvite: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        lookupInvite(ctx, required(args.streamId, 'streamId'), str(args.token)),
      streamInvites: async (_p: unknown, _a: Args, ctx: GraphqlContext) => {
        requireServer(ctx.principal, 'readOwnInvites')
        const me = await ctx.loaders.users.load(actor(ctx).userId)
        return me === null ? [] : myInvites(ctx, me)
      },
    },
    User: {
      streams: (u: User, args: Args, ctx: GraphqlContext) => userProjects(ctx, u, args),
    },
    Stream: {
      role: (p: Project, _a: Args, ctx: GraphqlContext) => ctx.loaders.roles.load(p.id),
      allowPublicComments: () => false,
      object: (p: Project, args: Args, ctx: GraphqlContext) =>
        loadObject(ctx.deps.objects, p.id, required(args.id, 'id')),
      isPublic: (p: Project) => p.visibility !== 'private',
      isDiscoverable: (p: Project) => p.visibility === 'public',
      collaborators: async (p: Project, _a: Args, ctx: GraphqlContext) => {
        const team = await ctx.loaders.teams.load(p.id)
        return Promise.all(
          team.map(async (m) => {
            const user = await ctx.loaders.users.load(m.userId)
            return { id: m.userId, role: m.role, name: user?.name ?? '', company: user?.company, avatar: user?.avatar }
          }),
        )
      },
      activity: async (p: Project, args: Args, ctx: GraphqlContext) => {
        await authorizeLoaded(ctx, p, 'readProjectActivity')
        return activityPage((q) => ctx.deps.activity.forProject(p.id, q), args)
      },
      // Speckle shows a stream's pending collaborators to its owners only.
      pendingCollaborators: async (p: Project, _a: Args, ctx: GraphqlContext) => {
        await authorizeLoaded(ctx, p, 'manage')
        return (await ctx.loaders.projectInvites.load(p.id)).map((i) => pendingCollaborator(ctx, i))
      },
      size: () => null,
      favoritesCount: () => 0,
      // Speckle counts a stream's open comment threads (not replies, not resolved threads).
      commentCount: async (p: Project, _a: Args, ctx: GraphqlContext) =>
        ctx.deps.comments ? (await ctx.deps.comments.threads(p.id, { limit: 1 })).totalCount : 0,
      branches: (p: Project, args: Args, ctx: GraphqlContext) =>
        ctx.deps.models.list(p.id, { limit: int(args.limit), cursor: str(args.cursor) }),
      // Legacy lookups answer null rather than an error for an unknown branch or commit.
      branch: (p: Project, args: Args, ctx: GraphqlContext) =>
        ctx.loaders.modelsByName.load(treeKey(p.id, (str(args.name) ?? 'main').trim())),
      commits: async (p: Project, args: Args, ctx: GraphqlContext) =>
        legacyStreamCommits(
          ctx,
          await ctx.deps.versions.listForProject(p.id, { limit: int(args.limit), cursor: str(args.cursor) }),
        ),
      commit: async (p: Project, args: Args, ctx: GraphqlContext) => {
        const id = str(args.id)
        if (id !== null) return ctx.deps.versions.getById(p.id, id)
        return (await ctx.deps.versions.listForProject(p.id, { limit: 1 })).items[0] ?? null
      },
    },
    Branch: {
      author: async (m: Model, _a: Args, ctx: GraphqlContext) =>
        m.authorId === null ? null : limitedUser(await ctx.loaders.users.load(m.authorId)),
      commits: (m: Model, args: Args, ctx: GraphqlContext) => modelVersions(ctx, m, args),
    },
    Commit: {
      referencedObject: (v: Version) => v.objectId,
      branchName: async (v: Version, _a: Args, ctx: GraphqlContext) => (await ctx.loaders.models.load(v.modelId))?.name,
      authorName: async (v: Version, _a: Args, ctx: GraphqlContext) =>
        v.authorId === null ? null : (await ctx.loaders.users.load(v.authorId))?.name,
      authorAvatar: async (v: Version, _a: Args, ctx: GraphqlContext) =>
        v.authorId === null ? null : (await ctx.loaders.users.load(v.authorId))?.avatar,
      streamId: (v: Version) => v.projectId,
      streamName: async (v: Version, _a: Args, ctx: GraphqlContext) =>
        (await ctx.loaders.projects.load(v.projectId))?.name,
    },
    Mutation: {
      streamInviteCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        await inviteToProject(ctx, required(input.streamId, 'streamId'), inviteInputs(input))
        return true
      },
      streamInviteUse: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        useInvite(ctx, required(args.streamId, 'streamId'), required(args.token, 'token'), args.accept),
      streamInviteCancel: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        await cancelInvite(ctx, required(args.streamId, 'streamId'), required(args.inviteId, 'inviteId'))
        return true
      },
      streamCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const principal = requireServer(ctx.principal, 'createProject')
        const input = obj(args.stream)
        const project = await ctx.deps.projects.create({
          ownerId: principal.userId,
          name: str(input.name) ?? 'Unnamed Stream',
          description: str(input.description),
          visibility: legacyVisibility(input.isPublic ?? true, input.isDiscoverable),
        })
        for (const userId of strs(input.withContributors) ?? []) {
          await ctx.deps.projects.setRole({
            projectId: project.id,
            userId,
            role: 'stream:contributor',
            actorId: principal.userId,
          })
        }
        return project.id
      },
      streamUpdate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.stream)
        const id = required(input.id, 'id')
        await authorize(ctx, id, 'manage')
        await ctx.deps.projects.update({
          id,
          actorId: actor(ctx).userId,
          name: str(input.name),
          description: str(input.description),
          visibility: legacyVisibility(input.isPublic, input.isDiscoverable),
        })
        return true
      },
      streamDelete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const id = required(args.id, 'id')
        await authorize(ctx, id, 'manage')
        return ctx.deps.projects.delete(id, actor(ctx).userId)
      },
      // An admin tool in Speckle: deletes any streams, whoever owns them.
      streamsDelete: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        deleteProjects(ctx, idList(args.ids, 'ids'), true),
      streamUpdatePermission: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.permissionParams)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'manage')
        const role = required(input.role, 'role')
        if (!isProjectRole(role)) throw new BadUserInput(`Unknown role ${role}`)
        await ctx.deps.projects.setRole({
          projectId,
          userId: required(input.userId, 'userId'),
          role,
          actorId: actor(ctx).userId,
        })
        return true
      },
      streamRevokePermission: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.permissionParams)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'manage')
        return ctx.deps.projects.removeRole(projectId, required(input.userId, 'userId'), actor(ctx).userId)
      },
      branchCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.branch)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        const model = await ctx.deps.models.create({
          projectId,
          name: required(input.name, 'name'),
          description: str(input.description),
          actorId: actor(ctx).userId,
        })
        return model.id
      },
      branchUpdate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.branch)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.models.update({
          projectId,
          id: required(input.id, 'id'),
          name: str(input.name),
          description: str(input.description),
          actorId: actor(ctx).userId,
        })
        return true
      },
      branchDelete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.branch)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.models.delete({ projectId, id: required(input.id, 'id'), actorId: actor(ctx).userId })
        return true
      },
      commitCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.commit)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        const branchName = required(input.branchName, 'branchName')
        const model =
          (await ctx.deps.models.getByName(projectId, branchName)) ??
          (await ctx.deps.models.getById(projectId, branchName))
        if (model === null) {
          throw new BadUserInput(`Failed to find branch with name or id ${branchName}.`, {
            graphqlCode: 'COMMIT_CREATE_ERROR',
          })
        }
        const version = await ctx.deps.versions.create({
          projectId,
          modelId: model.id,
          objectId: required(input.objectId, 'objectId'),
          message: str(input.message),
          sourceApplication: str(input.sourceApplication),
          totalChildrenCount: int(input.totalChildrenCount),
          parents: strs(input.parents),
          actorId: actor(ctx).userId,
        })
        return version.id
      },
      commitUpdate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.commit)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        const id = required(input.id, 'id')
        const newBranchName = str(input.newBranchName)
        if (newBranchName) {
          await ctx.deps.versions.moveToModel({
            projectId,
            versionIds: [id],
            targetModelName: newBranchName,
            actorId: actor(ctx).userId,
          })
        }
        if (input.message !== undefined) {
          await ctx.deps.versions.update({
            projectId,
            versionId: id,
            message: str(input.message),
            actorId: actor(ctx).userId,
          })
        }
        return true
      },
      commitReceive: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'receive')
        await ctx.deps.versions.markReceived({
          projectId,
          versionId: required(input.commitId, 'commitId'),
          sourceApplication: required(input.sourceApplication, 'sourceApplication'),
          message: str(input.message),
          actorId: actor(ctx).userId,
        })
        return true
      },
      commitDelete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.commit)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.versions.delete({
          projectId,
          versionIds: [required(input.id, 'id')],
          actorId: actor(ctx).userId,
        })
        return true
      },
      commitsMove: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.versions.moveToModel({
          projectId,
          versionIds: idList(input.commitIds, 'commitIds'),
          targetModelName: required(input.targetBranch, 'targetBranch'),
          actorId: actor(ctx).userId,
        })
        return true
      },
      commitsDelete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.versions.delete({
          projectId,
          versionIds: idList(input.commitIds, 'commitIds'),
          actorId: actor(ctx).userId,
        })
        return true
      },
    },
  }
}

export function legacySlice(): GraphqlSlice {
  return { name: 'legacy', typeDefs, resolvers: resolvers() }
}
