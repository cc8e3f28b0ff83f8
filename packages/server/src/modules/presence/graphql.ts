/**
 * The presence slice: Speckle's `broadcastViewerUserActivity` mutation and `viewerUserActivityBroadcasted`
 * subscription, plus Truss's `Project.viewerUsers` (the live sessions now) and `Project.onlineUsers`.
 * Broadcasting and listening need reading the project; every delivered message is checked again against the
 * subscriber's access (projectSubscription), so a member removed from the project stops receiving at once.
 * A signed-in broadcaster's userId and userName come from its account, never from the message.
 */
import { BadUserInput } from '../../errors.js'
import { parseResourceIdString, type ViewerResource } from '../comments/resources.js'
import type { GraphqlContext } from '../graphql/context.js'
import { authorize, limitedUser, obj, required, str, type Args } from '../graphql/helpers.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import { projectSubscription } from '../graphql/subscriptions.js'
import type { Project } from '../projects/service.js'
import {
  isViewerActivityEvent,
  messageOf,
  presenceTopic,
  type PresenceService,
  type ViewerActivityMessage,
} from './service.js'

/** A viewer state larger than this is refused: it is sent to every subscriber on every heartbeat. */
export const MAX_STATE_BYTES = 32 * 1024
const MAX_NAME_CHARS = 100

const typeDefs = /* GraphQL */ `
  enum ViewerUserActivityStatus {
    VIEWING
    DISCONNECTED
  }
  input ViewerUserActivityMessageInput {
    sessionId: String!
    userId: String
    userName: String!
    status: ViewerUserActivityStatus!
    "SerializedViewerState, only null if DISCONNECTED"
    state: JSONObject
  }
  type ViewerUserActivityMessage {
    sessionId: String!
    userId: String
    user: LimitedUser
    userName: String!
    status: ViewerUserActivityStatus!
    "SerializedViewerState, only null if DISCONNECTED"
    state: JSONObject
    "Truss: the resources the session views (a resource id string)."
    resourceIdString: String!
    "Truss: when the session last sent its state."
    lastSeenAt: DateTime
  }
  extend type Mutation {
    broadcastViewerUserActivity(
      projectId: String!
      resourceIdString: String!
      message: ViewerUserActivityMessageInput!
    ): Boolean!
  }
  extend type Subscription {
    viewerUserActivityBroadcasted(target: ViewerUpdateTrackingTarget!, sessionId: String): ViewerUserActivityMessage!
  }
  extend type ServerInfo {
    "Truss: a viewer session without a heartbeat for this long ends; clients heartbeat every third of it."
    presenceTtlSeconds: Float!
  }
  extend type Project {
    "Truss: the viewer sessions live now (heartbeat within the TTL), optionally only those on these resources."
    viewerUsers(resourceIdString: String): [ViewerUserActivityMessage!]!
    "Truss: the signed-in users with a live session on this project, each once."
    onlineUsers: [LimitedUser!]!
  }
`

function service(ctx: GraphqlContext): PresenceService {
  const presence = ctx.deps.presence
  if (presence === undefined) throw new BadUserInput('Presence is not available on this server')
  return presence
}

/**
 * Whether a session on `message` resources concerns a viewer of `target` resources. An empty target is the
 * whole project; an empty message (the project page) concerns only it. A model matches itself (any version
 * unless `loadedVersionsOnly`), `all` matches every model, folders and objects match their equals.
 */
export function resourcesOverlap(
  target: readonly ViewerResource[],
  message: readonly ViewerResource[],
  loadedVersionsOnly: boolean,
): boolean {
  if (target.length === 0) return true
  for (const a of target) {
    for (const b of message) {
      if (a.kind === 'all' && (b.kind === 'all' || b.kind === 'model')) return true
      if (b.kind === 'all' && a.kind === 'model') return true
      if (a.kind === 'model' && b.kind === 'model' && a.modelId === b.modelId) {
        if (!loadedVersionsOnly || a.versionId === null || b.versionId === null || a.versionId === b.versionId)
          return true
      }
      if (a.kind === 'folder' && b.kind === 'folder' && a.name === b.name) return true
      if (a.kind === 'object' && b.kind === 'object' && a.objectId === b.objectId) return true
    }
  }
  return false
}

function parseState(value: unknown): Record<string, unknown> | null {
  if (value === null || value === undefined) return null
  if (typeof value !== 'object' || Array.isArray(value)) throw new BadUserInput('message.state must be an object')
  if (Buffer.byteLength(JSON.stringify(value)) > MAX_STATE_BYTES) {
    throw new BadUserInput(`message.state is larger than ${MAX_STATE_BYTES} bytes`)
  }
  return value as Record<string, unknown>
}

function resolvers(): ResolverMap {
  const broadcasted = projectSubscription(
    'viewerUserActivityBroadcasted',
    'projectId',
    (received, args) => {
      const event: unknown = received
      if (!isViewerActivityEvent(event)) return undefined
      const target = obj(args.target)
      const message = event.message
      // As Speckle: a viewer does not hear its own session.
      if (typeof args.sessionId === 'string' && args.sessionId === message.sessionId) return undefined
      const wanted = parseResourceIdString(str(target.resourceIdString) ?? '')
      const resources = safeResources(message.resourceIdString)
      if (!resourcesOverlap(wanted, resources, target.loadedVersionsOnly === true)) return undefined
      return { viewerUserActivityBroadcasted: message }
    },
    presenceTopic,
  )

  return {
    ViewerUserActivityMessage: {
      async user(m: ViewerActivityMessage, _a: Args, ctx: GraphqlContext) {
        return m.userId === null ? null : limitedUser(await ctx.loaders.users.load(m.userId))
      },
    },
    ServerInfo: {
      presenceTtlSeconds: (_s: unknown, _a: Args, ctx: GraphqlContext) => ctx.deps.presence?.ttlSeconds ?? 24,
    },
    Project: {
      async viewerUsers(p: Project, args: Args, ctx: GraphqlContext) {
        const wanted = parseResourceIdString(str(args.resourceIdString) ?? '')
        const sessions = await service(ctx).present(p.id)
        return sessions
          .filter((s) => resourcesOverlap(wanted, safeResources(s.resourceIdString), false))
          .sort((a, b) => a.userName.localeCompare(b.userName) || a.sessionId.localeCompare(b.sessionId))
          .map(messageOf)
      },
      async onlineUsers(p: Project, _a: Args, ctx: GraphqlContext) {
        const sessions = await service(ctx).present(p.id)
        const ids = [...new Set(sessions.flatMap((s) => (s.userId === null ? [] : [s.userId])))]
        const users = await Promise.all(ids.map((id) => ctx.loaders.users.load(id)))
        return users.map(limitedUser).filter((u) => u !== null)
      },
    },
    Mutation: {
      async broadcastViewerUserActivity(_p: unknown, args: Args, ctx: GraphqlContext) {
        const projectId = required(args.projectId, 'projectId')
        const resourceIdString = str(args.resourceIdString) ?? ''
        parseResourceIdString(resourceIdString)
        const input = obj(args.message)
        const sessionId = required(input.sessionId, 'message.sessionId')
        if (sessionId.length > 128) throw new BadUserInput('message.sessionId is too long')
        const status = input.status === 'DISCONNECTED' ? 'DISCONNECTED' : 'VIEWING'
        const state = parseState(input.state)
        await authorize(ctx, projectId, 'read')
        const user = ctx.principal ? await ctx.loaders.users.load(ctx.principal.userId) : null
        await service(ctx).broadcast({
          projectId,
          resourceIdString,
          sessionId,
          userId: user?.id ?? null,
          userName: user?.name ?? ((str(input.userName) ?? '').slice(0, MAX_NAME_CHARS) || 'Anonymous viewer'),
          status,
          state,
        })
        return true
      },
    },
    Subscription: {
      // The project id sits in the target input; projectSubscription reads it from the arguments.
      viewerUserActivityBroadcasted: {
        subscribe: (p: unknown, args: Args, ctx: GraphqlContext) =>
          broadcasted.subscribe(
            p,
            { ...args, projectId: required(obj(args.target).projectId, 'target.projectId') },
            ctx,
          ),
        resolve: broadcasted.resolve,
      },
    } as unknown as ResolverMap[string],
  }
}

/** A stored resource string was valid when broadcast; parse it without throwing. */
function safeResources(value: string): ViewerResource[] {
  try {
    return parseResourceIdString(value)
  } catch {
    return []
  }
}

export function presenceSlice(): GraphqlSlice {
  return { name: 'presence', typeDefs, resolvers: resolvers() }
}
