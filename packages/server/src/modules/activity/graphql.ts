/**
 * The activity slice: Speckle's legacy activity collections (`user.activity`; the legacy slice's
 * `stream.activity` pages through `activityPage` too) over the activity service.
 */
import { BadUserInput, Forbidden } from '../../errors.js'
import type { GraphqlContext } from '../graphql/context.js'
import { int, str, type Args } from '../graphql/helpers.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import { requireServer } from '../policy/service.js'
import type { User } from '../users/service.js'
import { isActionType, type Activity, type ActivityQuery } from './service.js'

const typeDefs = /* GraphQL */ `
  type ActivityCollection {
    totalCount: Int!
    cursor: String
    items: [Activity!]!
  }
  type Activity {
    id: ID!
    actionType: String!
    info: JSONObject!
    userId: String!
    streamId: String
    resourceId: String!
    resourceType: String!
    time: DateTime!
    message: String!
  }

  extend type User {
    activity(
      actionType: String
      after: DateTime
      before: DateTime
      cursor: DateTime
      limit: Int! = 25
    ): ActivityCollection
  }
`

// Human-readable lines for Speckle's `Activity.message` (Truss's log keeps the structured `info` only).
const ACTIVITY_MESSAGES: Record<string, string> = {
  stream_create: 'Stream created',
  stream_update: 'Stream updated',
  stream_delete: 'Stream deleted',
  stream_permissions_add: 'Permission granted',
  stream_permissions_remove: 'Permission revoked',
  stream_invite_sent: 'Invite sent',
  stream_permissions_invite_accepted: 'Invite accepted',
  stream_invite_declined: 'Invite declined',
  branch_create: 'Branch created',
  branch_update: 'Branch updated',
  branch_delete: 'Branch deleted',
  commit_create: 'Commit created',
  commit_update: 'Commit updated',
  commit_move: 'Commit moved',
  commit_delete: 'Commit deleted',
  commit_receive: 'Commit received',
  user_update: 'User updated',
}

function activityItem(a: Activity) {
  return {
    id: a.id,
    actionType: a.actionType,
    info: a.info,
    userId: a.userId ?? '',
    streamId: a.projectId,
    resourceId: a.resourceId,
    resourceType: a.resourceType,
    time: a.time,
    message: ACTIVITY_MESSAGES[a.actionType] ?? a.actionType,
  }
}

function dateArg(v: unknown, name: string): Date | null {
  if (v === undefined || v === null) return null
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw new BadUserInput(`${name} must be a date-time`)
  return v
}

function actionTypeArg(v: unknown) {
  const actionType = str(v)
  if (actionType === null || actionType === '') return null
  if (!isActionType(actionType)) throw new BadUserInput(`Unknown actionType ${actionType}`)
  return actionType
}

/**
 * Speckle's legacy activity pages: newest first; `cursor` is the last item's time, passed back for older
 * entries; `before`/`after` bound the window and `totalCount` counts it (without the cursor); null cursor at
 * the end.
 */
export async function activityPage(
  list: (query: ActivityQuery) => Promise<{ totalCount: number; cursor: string | null; items: Activity[] }>,
  args: Args,
) {
  const limit = int(args.limit) ?? 25
  if (!Number.isInteger(limit) || limit < 0 || limit > 1000) throw new BadUserInput('limit must be 0 to 1000')
  const window = {
    actionType: actionTypeArg(args.actionType),
    since: dateArg(args.after, 'after'),
    until: dateArg(args.before, 'before'),
  }
  const cursor = dateArg(args.cursor, 'cursor')
  const until = cursor !== null && (window.until === null || cursor < window.until) ? cursor : window.until
  const page = await list({ ...window, limit, until })
  const totalCount = cursor === null ? page.totalCount : (await list({ ...window, limit: 0 })).totalCount
  const last = page.items.at(-1)
  return {
    totalCount,
    cursor: page.cursor !== null && last !== undefined ? last.time.toISOString() : null,
    items: page.items.map(activityItem),
  }
}

function resolvers(): ResolverMap {
  return {
    User: {
      activity: async (u: User, args: Args, ctx: GraphqlContext) => {
        if (ctx.principal?.userId !== u.id) throw new Forbidden('You can only see your own activity')
        requireServer(ctx.principal, 'readActivity')
        return activityPage((q) => ctx.deps.activity.forUser(u.id, q), args)
      },
    },
  }
}

export function activitySlice(): GraphqlSlice {
  return { name: 'activity', typeDefs, resolvers: resolvers() }
}
