/**
 * The comments slice: Speckle 2.24's `Comment`, `project.commentThreads` / `project.comment(id)`,
 * `model.commentThreads`, `version.commentThreads`, `commentMutations { create reply edit archive markViewed }`
 * and the `projectCommentsUpdated(target)` subscription, plus Truss's additions (marked in their
 * descriptions): `commentMutations.delete`, `Project.unreadCommentThreadCount`, `User.commentNotifications`.
 * Reading needs reading the project; writing a comment needs a role on it (Speckle: any role, reviewers too).
 */
import DataLoader from 'dataloader'
import { BadUserInput, Forbidden, Unauthenticated } from '../../errors.js'
import type { Blob } from '../blobs/service.js'
import type { GraphqlContext, Loaders } from '../graphql/context.js'
import {
  actor,
  authorize,
  authorizeLoaded,
  int,
  limitedUser,
  obj,
  required,
  str,
  type Args,
} from '../graphql/helpers.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import { projectSubscription } from '../graphql/subscriptions.js'
import type { Model } from '../models/service.js'
import type { Project } from '../projects/service.js'
import type { User } from '../users/service.js'
import type { Version } from '../versions/service.js'
import { matchesResources, parseResourceIdString } from './resources.js'
import type { Comment, CommentActor, CommentNotification, CommentsService } from './service.js'

const typeDefs = /* GraphQL */ `
  type SmartTextEditorValue {
    "The version of the schema"
    version: String!
    "The type of editor value (comment, blog post etc.)"
    type: String!
    "The (ProseMirror) document; can be empty if there are attachments."
    doc: JSONObject
    "File attachments, if any"
    attachments: [BlobMetadata!]
  }

  type ViewerResourceItem {
    "Null if resource represents an object"
    modelId: String
    "Null if resource represents an object"
    versionId: String
    objectId: String!
  }

  enum ResourceType {
    comment
    object
    commit
    stream
  }
  type ResourceIdentifier {
    resourceId: String!
    resourceType: ResourceType!
  }

  type Comment {
    id: String!
    author: LimitedUser!
    authorId: String!
    archived: Boolean!
    screenshot: String
    text: SmartTextEditorValue
    "Plain-text version of the comment text, ideal for previews"
    rawText: String
    "Resources that this comment targets."
    resources: [ResourceIdentifier!]!
    "Resource identifiers as defined and implemented in the Viewer of the new frontend"
    viewerResources: [ViewerResourceItem!]!
    createdAt: DateTime!
    "The time this comment was last updated. Corresponds also to the latest reply to this comment, if any."
    updatedAt: DateTime!
    "The last time you viewed this comment. Present only if an auth'ed request."
    viewedAt: DateTime
    replies(limit: Int = 25, cursor: String): CommentCollection!
    replyAuthors(limit: Int! = 25): CommentReplyAuthorCollection!
    reactions: [String] @deprecated(reason: "Not actually implemented")
    hasParent: Boolean!
    parent: Comment
    "Legacy comment viewer data field"
    data: JSONObject @deprecated(reason: "Use the new viewerState field instead")
    "SerializedViewerState"
    viewerState: JSONObject
  }

  type CommentReplyAuthorCollection {
    items: [LimitedUser!]!
    totalCount: Int!
  }
  type CommentCollection {
    totalCount: Int!
    cursor: String
    items: [Comment!]!
  }
  type ProjectCommentCollection {
    totalCount: Int!
    totalArchivedCount: Int!
    cursor: String
    items: [Comment!]!
  }

  input ProjectCommentsFilter {
    resourceIdString: String
    loadedVersionsOnly: Boolean
    includeArchived: Boolean
  }

  input CommentContentInput {
    doc: JSONObject
    blobIds: [String!]
  }
  input CreateCommentInput {
    projectId: String!
    content: CommentContentInput!
    "SerializedViewerState"
    viewerState: JSONObject
    resourceIdString: String!
    screenshot: String
  }
  input CreateCommentReplyInput {
    content: CommentContentInput!
    threadId: String!
    projectId: String!
  }
  input EditCommentInput {
    commentId: String!
    projectId: String!
    content: CommentContentInput!
  }
  input MarkCommentViewedInput {
    commentId: String!
    projectId: String!
  }
  input ArchiveCommentInput {
    commentId: String!
    projectId: String!
    archived: Boolean!
  }
  "Truss: delete one's own comment."
  input DeleteCommentInput {
    commentId: String!
    projectId: String!
  }

  type CommentMutations {
    markViewed(input: MarkCommentViewedInput!): Boolean!
    create(input: CreateCommentInput!): Comment!
    reply(input: CreateCommentReplyInput!): Comment!
    edit(input: EditCommentInput!): Comment!
    archive(input: ArchiveCommentInput!): Boolean!
    "Truss: delete your own comment (a thread goes with its replies)."
    delete(input: DeleteCommentInput!): Boolean!
  }

  extend type Mutation {
    commentMutations: CommentMutations!
  }

  extend type Project {
    commentThreads(cursor: String, limit: Int, filter: ProjectCommentsFilter): ProjectCommentCollection!
    comment(id: String!): Comment
    "Truss: open threads the caller has not read since they last changed."
    unreadCommentThreadCount: Int!
  }
  extend type Model {
    commentThreads(cursor: String, limit: Int! = 25): CommentCollection!
  }
  extend type Version {
    commentThreads(cursor: String, limit: Int! = 25): CommentCollection!
  }

  "Truss: a project member was mentioned in a comment."
  type CommentNotification {
    id: String!
    kind: String!
    projectId: String!
    comment: Comment
    actor: LimitedUser
    createdAt: DateTime!
    readAt: DateTime
  }
  type CommentNotificationCollection {
    totalCount: Int!
    cursor: String
    items: [CommentNotification!]!
  }
  extend type User {
    "Truss: the signed-in user's mention notifications, newest first."
    commentNotifications(limit: Int = 25, cursor: String, unreadOnly: Boolean = false): CommentNotificationCollection!
  }

  enum ProjectCommentsUpdatedMessageType {
    CREATED
    UPDATED
    ARCHIVED
  }
  type ProjectCommentsUpdatedMessage {
    type: ProjectCommentsUpdatedMessageType!
    id: String!
    "Null if archived or deleted"
    comment: Comment
  }
  input ViewerUpdateTrackingTarget {
    projectId: String!
    resourceIdString: String!
    loadedVersionsOnly: Boolean
  }
  extend type Subscription {
    projectCommentsUpdated(target: ViewerUpdateTrackingTarget!): ProjectCommentsUpdatedMessage!
  }
`

function service(ctx: GraphqlContext): CommentsService {
  const comments = ctx.deps.comments
  if (comments === undefined) throw new BadUserInput('Comments are not available on this server')
  return comments
}

/** Per-request batch readers (a list of threads costs one query per kind, not one per thread). */
interface CommentLoaders {
  viewedAt: DataLoader<string, Date | null>
  replyStats: DataLoader<string, { count: number; authorIds: string[] }>
  links: DataLoader<string, { resourceType: string; resourceId: string }[]>
  comments: DataLoader<string, Comment | null>
}
// Keyed by the request's loaders: they are rebuilt per request (and per subscription event).
const perRequest = new WeakMap<Loaders, CommentLoaders>()
function loaders(ctx: GraphqlContext): CommentLoaders {
  let found = perRequest.get(ctx.loaders)
  if (found) return found
  const comments = service(ctx)
  const userId = ctx.principal?.userId ?? null
  found = {
    viewedAt: new DataLoader(async (ids) => {
      if (userId === null) return ids.map(() => null)
      const views = await comments.viewedAt(userId, ids)
      return ids.map((id) => views.get(id) ?? null)
    }),
    replyStats: new DataLoader(async (ids) => {
      const stats = await comments.replyStats(ids)
      return ids.map((id) => stats.get(id) ?? { count: 0, authorIds: [] })
    }),
    links: new DataLoader(async (ids) => {
      const links = await comments.links(ids)
      return ids.map((id) => links.get(id) ?? [])
    }),
    comments: new DataLoader(async (ids) => {
      const byId = new Map((await comments.getMany(ids)).map((c) => [c.id, c]))
      return ids.map((id) => byId.get(id) ?? null)
    }),
  }
  perRequest.set(ctx.loaders, found)
  return found
}

/** Authorize writing a comment: a role on the project (Speckle's comment rights), any server role but archived. */
async function commenter(ctx: GraphqlContext, projectId: string): Promise<CommentActor> {
  if (ctx.principal === null) throw new Unauthenticated()
  // `leave` is exactly "signed in, streams:read, any role on the project": who may comment.
  const access = await ctx.deps.policy.requireProject(ctx.principal, projectId, 'leave')
  return { userId: ctx.principal.userId, role: access.role }
}

function limitOf(v: unknown, fallback = 25): number {
  const n = int(v)
  if (n === null) return fallback
  if (!Number.isInteger(n) || n < 0) throw new BadUserInput('limit must be a non-negative integer')
  return Math.min(n, 100)
}

function deletedUser(id: string) {
  return { id, name: 'Deleted user', company: null, avatar: null, bio: null, verified: false, role: null }
}

/** Speckle's legacy `data`: the camera and filters of the viewer state, in the old viewer's shape. */
function legacyData(state: Record<string, unknown> | null): Record<string, unknown> | null {
  if (state === null) return null
  const ui = obj(state.ui)
  const camera = obj(ui.camera)
  const filters = obj(ui.filters)
  const nums = (v: unknown): number[] => (Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : [])
  return {
    location: ui.selection ?? camera.target ?? null,
    camPos: [
      ...nums(camera.position),
      ...nums(camera.target),
      camera.isOrthoProjection ? 1 : 0,
      Number(camera.zoom ?? 1),
    ],
    sectionBox: ui.sectionBox ?? null,
    selection: null,
    filters: {
      hiddenIds: Array.isArray(filters.hiddenObjectIds) ? filters.hiddenObjectIds : null,
      isolatedIds: Array.isArray(filters.isolatedObjectIds) ? filters.isolatedObjectIds : null,
      propertyInfoKey: null,
      passMin: null,
      passMax: null,
      sectionBox: ui.sectionBox ?? null,
    },
  }
}

const MESSAGE_TYPES = { CommentCreated: 'CREATED', CommentUpdated: 'UPDATED', CommentArchived: 'ARCHIVED' } as const

function resolvers(): ResolverMap {
  const commentThreadsUpdated = projectSubscription(
    'projectCommentsUpdated',
    'projectId',
    async (event, args, ctx, node) => {
      if (!(event.type in MESSAGE_TYPES)) return undefined
      const e = event as Extract<typeof event, { type: keyof typeof MESSAGE_TYPES }>
      const target = obj(args.target)
      const comments = service(ctx)
      const comment = await node.once(event, 'comment', () => comments.get(e.projectId, e.commentId))
      const resourceIdString = str(target.resourceIdString) ?? ''
      if (resourceIdString.trim() !== '') {
        const resources = parseResourceIdString(resourceIdString)
        // An archived-then-deleted comment cannot say where it was; its id still tells open viewers.
        if (comment !== null) {
          const items = await node.once(event, 'items', () => comments.viewerResources(comment))
          const inScope = await matchesResources(items, resources, target.loadedVersionsOnly === true, async (id) => {
            const model = await ctx.loaders.models.load(id)
            return model?.name ?? null
          })
          if (!inScope) return undefined
        }
      }
      // As Speckle: un-archiving reads as CREATED, an archived (or deleted) comment comes without its body.
      const archivedNow = e.type === 'CommentArchived' && e.archived
      const type = e.type === 'CommentArchived' ? (e.archived ? 'ARCHIVED' : 'CREATED') : MESSAGE_TYPES[e.type]
      return {
        projectCommentsUpdated: { type, id: e.commentId, comment: archivedNow ? null : comment },
      }
    },
  )
  // The project id sits in the target input; projectSubscription reads it from the arguments.
  const projectCommentsUpdated = {
    subscribe: (p: unknown, args: Args, ctx: GraphqlContext) =>
      commentThreadsUpdated.subscribe(
        p,
        { ...args, projectId: required(obj(args.target).projectId, 'target.projectId') },
        ctx,
      ),
    resolve: commentThreadsUpdated.resolve,
  }

  const threadPage = async (ctx: GraphqlContext, projectId: string, query: Parameters<CommentsService['threads']>[1]) =>
    service(ctx).threads(projectId, query)

  return {
    SmartTextEditorValue: {
      async attachments(t: Comment['text'] & { projectId: string }, _a: Args, ctx: GraphqlContext) {
        const blobs = ctx.deps.blobs
        if (blobs === undefined || t.blobIds.length === 0) return []
        const found = await Promise.all(t.blobIds.map((id) => blobs.get(t.projectId, id)))
        return found.filter((b): b is Blob => b !== null)
      },
    },
    Comment: {
      async author(c: Comment, _a: Args, ctx: GraphqlContext) {
        return limitedUser(await ctx.loaders.users.load(c.authorId)) ?? deletedUser(c.authorId)
      },
      text: (c: Comment) => ({ ...c.text, projectId: c.projectId }),
      async resources(c: Comment, _a: Args, ctx: GraphqlContext) {
        if (c.parentId !== null) return [{ resourceType: 'comment', resourceId: c.parentId }]
        return loaders(ctx).links.load(c.id)
      },
      viewerResources: (c: Comment, _a: Args, ctx: GraphqlContext) => service(ctx).viewerResources(c),
      viewedAt: (c: Comment, _a: Args, ctx: GraphqlContext) => loaders(ctx).viewedAt.load(c.parentId ?? c.id),
      replies: (c: Comment, args: Args, ctx: GraphqlContext) =>
        c.parentId !== null
          ? { totalCount: 0, cursor: null, items: [] }
          : service(ctx).replies(c.id, { limit: limitOf(args.limit), cursor: str(args.cursor) }),
      async replyAuthors(c: Comment, args: Args, ctx: GraphqlContext) {
        const stats = await loaders(ctx).replyStats.load(c.id)
        const users = await Promise.all(
          stats.authorIds.slice(0, limitOf(args.limit)).map((id) => ctx.loaders.users.load(id)),
        )
        return {
          totalCount: stats.authorIds.length,
          items: users.map((u, i) => limitedUser(u) ?? deletedUser(stats.authorIds[i]!)),
        }
      },
      reactions: () => null,
      hasParent: (c: Comment) => c.parentId !== null,
      parent: (c: Comment, _a: Args, ctx: GraphqlContext) =>
        c.parentId === null ? null : loaders(ctx).comments.load(c.parentId),
      data: (c: Comment) => legacyData(c.viewerState),
    },
    Project: {
      async commentThreads(p: Project, args: Args, ctx: GraphqlContext) {
        await authorizeLoaded(ctx, p, 'read')
        const filter = obj(args.filter)
        return threadPage(ctx, p.id, {
          resourceIdString: str(filter.resourceIdString),
          loadedVersionsOnly: filter.loadedVersionsOnly === true,
          includeArchived: filter.includeArchived === true,
          limit: limitOf(args.limit),
          cursor: str(args.cursor),
        })
      },
      async comment(p: Project, args: Args, ctx: GraphqlContext) {
        await authorizeLoaded(ctx, p, 'read')
        return service(ctx).get(p.id, required(args.id, 'id'))
      },
      async unreadCommentThreadCount(p: Project, _a: Args, ctx: GraphqlContext) {
        await authorizeLoaded(ctx, p, 'read')
        if (ctx.principal === null) return 0
        return service(ctx).unreadThreadCount(p.id, ctx.principal.userId)
      },
    },
    Model: {
      async commentThreads(m: Model, args: Args, ctx: GraphqlContext) {
        await authorize(ctx, m.projectId, 'read')
        return threadPage(ctx, m.projectId, { modelId: m.id, limit: limitOf(args.limit), cursor: str(args.cursor) })
      },
    },
    Version: {
      async commentThreads(v: Version, args: Args, ctx: GraphqlContext) {
        await authorize(ctx, v.projectId, 'read')
        return threadPage(ctx, v.projectId, { versionId: v.id, limit: limitOf(args.limit), cursor: str(args.cursor) })
      },
    },
    User: {
      async commentNotifications(u: User, args: Args, ctx: GraphqlContext) {
        if (ctx.principal?.userId !== u.id) throw new Forbidden('You can only read your own notifications')
        return service(ctx).notifications(u.id, {
          unreadOnly: args.unreadOnly === true,
          limit: limitOf(args.limit),
          cursor: str(args.cursor),
        })
      },
    },
    CommentNotification: {
      comment: (n: CommentNotification, _a: Args, ctx: GraphqlContext) => loaders(ctx).comments.load(n.commentId),
      async actor(n: CommentNotification, _a: Args, ctx: GraphqlContext) {
        return n.actorId === null ? null : limitedUser(await ctx.loaders.users.load(n.actorId))
      },
    },
    Mutation: {
      commentMutations: () => ({}),
    },
    CommentMutations: {
      async create(_p: unknown, args: Args, ctx: GraphqlContext) {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        const who = await commenter(ctx, projectId)
        return service(ctx).createThread(who, {
          projectId,
          resourceIdString: required(input.resourceIdString, 'resourceIdString'),
          content: input.content,
          viewerState: input.viewerState,
          screenshot: str(input.screenshot),
        })
      },
      async reply(_p: unknown, args: Args, ctx: GraphqlContext) {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        const who = await commenter(ctx, projectId)
        return service(ctx).reply(who, {
          projectId,
          threadId: required(input.threadId, 'threadId'),
          content: input.content,
        })
      },
      async edit(_p: unknown, args: Args, ctx: GraphqlContext) {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        const who = await commenter(ctx, projectId)
        return service(ctx).edit(who, {
          projectId,
          commentId: required(input.commentId, 'commentId'),
          content: input.content,
        })
      },
      async archive(_p: unknown, args: Args, ctx: GraphqlContext) {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        const who = await commenter(ctx, projectId)
        await service(ctx).archive(who, {
          projectId,
          commentId: required(input.commentId, 'commentId'),
          archived: input.archived === true,
        })
        return true
      },
      async delete(_p: unknown, args: Args, ctx: GraphqlContext) {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        const who = await commenter(ctx, projectId)
        await service(ctx).delete(who, { projectId, commentId: required(input.commentId, 'commentId') })
        return true
      },
      async markViewed(_p: unknown, args: Args, ctx: GraphqlContext) {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        if (ctx.principal === null) throw new Unauthenticated()
        await authorize(ctx, projectId, 'read')
        await service(ctx).markViewed(actor(ctx).userId, {
          projectId,
          commentId: required(input.commentId, 'commentId'),
        })
        return true
      },
    },
    Subscription: { projectCommentsUpdated } as unknown as ResolverMap[string],
  }
}

export function commentsSlice(): GraphqlSlice {
  return { name: 'comments', typeDefs, resolvers: resolvers() }
}
