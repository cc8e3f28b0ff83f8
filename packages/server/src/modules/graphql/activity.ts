/** Speckle's legacy activity collections (`stream.activity`, `user.activity`) over the activity service. */
import { BadUserInput } from '../../errors.js'
import { isActionType, type Activity, type ActivityQuery } from '../activity/service.js'
import { int, str, type Args } from './helpers.js'

// Human-readable lines for Speckle's `Activity.message` (Truss's log keeps the structured `info` only).
export const ACTIVITY_MESSAGES: Record<string, string> = {
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

export function activityItem(a: Activity) {
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

export function dateArg(v: unknown, name: string): Date | null {
  if (v === undefined || v === null) return null
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw new BadUserInput(`${name} must be a date-time`)
  return v
}

export function actionTypeArg(v: unknown) {
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
