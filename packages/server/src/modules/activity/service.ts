/**
 * The activity module: the log of what happened to projects, models, versions and users' profiles, with Speckle's action
 * names. Other modules call `record` with their own transaction, so an entry commits with its change
 * (DESIGN.md decision 4); readers page it per project or per user.
 */
import type { SqlExecutor } from '../../adapters/sql/types.js'
import { decodeCursor, pageSize, toPage, type Page } from '../../pagination.js'
import { insertActivity, selectActivity, type ActivityRow } from './repository.js'

/** Speckle's `ActionTypes` for the resources this server keeps. */
export const ACTION_TYPES = [
  'stream_create',
  'stream_update',
  'stream_delete',
  'stream_permissions_add',
  'stream_permissions_remove',
  'stream_invite_sent',
  'stream_permissions_invite_accepted',
  'stream_invite_declined',
  'branch_create',
  'branch_update',
  'branch_delete',
  'commit_create',
  'commit_update',
  'commit_move',
  'commit_delete',
  'commit_receive',
  'user_update',
] as const
export type ActionType = (typeof ACTION_TYPES)[number]

export function isActionType(value: string): value is ActionType {
  return (ACTION_TYPES as readonly string[]).includes(value)
}
export type ResourceType = 'stream' | 'branch' | 'commit' | 'user'

export interface ActivityEntry {
  projectId: string | null
  userId: string | null
  resourceType: ResourceType
  resourceId: string
  actionType: ActionType
  /** What changed: Speckle keeps `{ old, new }` for updates and the created record for creations. */
  info?: Record<string, unknown>
}

export interface Activity {
  id: string
  projectId: string | null
  userId: string | null
  resourceType: string
  resourceId: string
  actionType: string
  info: Record<string, unknown>
  time: Date
}

export interface ActivityQuery {
  limit?: number | null
  cursor?: string | null
  actionType?: ActionType | null
  /** Only entries after this time's millisecond (clients' dates have no finer precision). */
  since?: Date | null
  /** Only entries before this time (exclusive); also how Speckle's time cursors page. */
  until?: Date | null
}

/** Work that must commit with an activity entry (webhook events), run in the entry's transaction. */
export type ActivitySink = (db: SqlExecutor, entry: ActivityEntry) => Promise<void>

export interface ActivityService {
  /** Write an entry through `db`, the caller's transaction, and run the sinks in it. */
  record(db: SqlExecutor, entry: ActivityEntry): Promise<void>
  /** Add a sink (wiring, at start-up: the webhooks module is built after the modules that record). */
  addSink(sink: ActivitySink): void
  forProject(projectId: string, query?: ActivityQuery): Promise<Page<Activity>>
  forUser(userId: string, query?: ActivityQuery): Promise<Page<Activity>>
}

function toActivity(row: ActivityRow): Activity {
  return {
    id: row.id,
    projectId: row.project_id,
    userId: row.user_id,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    actionType: row.action_type,
    info: row.info,
    time: row.time,
  }
}

export function createActivityService({ sql }: { sql: SqlExecutor }): ActivityService {
  async function list(column: 'project_id' | 'user_id', value: string, query: ActivityQuery = {}) {
    const size = pageSize(query.limit)
    const after = decodeCursor(query.cursor)
    const { rows, totalCount } = await selectActivity(sql, column, value, {
      limit: size,
      after,
      actionType: query.actionType,
      since: query.since,
      until: query.until,
    })
    return toPage(rows, size, totalCount, toActivity)
  }
  const sinks: ActivitySink[] = []
  return {
    async record(db, entry) {
      await insertActivity(db, { ...entry, info: entry.info ?? {} })
      for (const sink of sinks) await sink(db, entry)
    },
    addSink(sink) {
      sinks.push(sink)
    },
    forProject: (projectId, query) => list('project_id', projectId, query),
    forUser: (userId, query) => list('user_id', userId, query),
  }
}
