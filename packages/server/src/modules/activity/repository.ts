/** SQL for the `activity` table (owned by the activity module). */
import type { SqlExecutor } from '../../adapters/sql/types.js'

export interface ActivityRow {
  id: string
  project_id: string | null
  user_id: string | null
  resource_type: string
  resource_id: string
  action_type: string
  info: Record<string, unknown>
  time: Date
  sort_key: string
}

export async function insertActivity(
  db: SqlExecutor,
  entry: {
    projectId: string | null
    userId: string | null
    resourceType: string
    resourceId: string
    actionType: string
    info: Record<string, unknown>
  },
): Promise<void> {
  await db.query(
    `INSERT INTO activity (project_id, user_id, resource_type, resource_id, action_type, info)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
    [entry.projectId, entry.userId, entry.resourceType, entry.resourceId, entry.actionType, JSON.stringify(entry.info)],
  )
}

/** Newest first, keyset on (time, id); `column` is fixed by the caller, never user input. */
export async function selectActivity(
  db: SqlExecutor,
  column: 'project_id' | 'user_id',
  value: string,
  options: {
    limit: number
    after: { sortKey: string; id: string } | null
    actionType?: string | null
    /** Only entries strictly inside the window (counted too). */
    since?: Date | null
    until?: Date | null
  },
): Promise<{ rows: ActivityRow[]; totalCount: number }> {
  const filters = [`${column} = $1`]
  const params: unknown[] = [value]
  if (options.actionType) {
    params.push(options.actionType)
    filters.push(`action_type = $${params.length}`)
  }
  if (options.since) {
    // Times come from clients with millisecond precision: "after" means after that millisecond, as Speckle's
    // JS dates read it (the log keeps microseconds).
    params.push(options.since)
    filters.push(`time >= $${params.length}::timestamptz + interval '1 millisecond'`)
  }
  if (options.until) {
    params.push(options.until)
    filters.push(`time < $${params.length}`)
  }
  const where = filters.join(' AND ')
  const { rows: countRows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM activity WHERE ${where}`,
    params,
  )
  const pageParams = [...params]
  let keyset = ''
  if (options.after) {
    pageParams.push(options.after.sortKey, options.after.id)
    keyset = ` AND (time, id) < ($${pageParams.length - 1}::timestamptz, $${pageParams.length}::bigint)`
  }
  pageParams.push(options.limit + 1)
  const { rows } = await db.query<ActivityRow>(
    `SELECT id::text AS id, project_id, user_id, resource_type, resource_id, action_type, info, time,
            time::text AS sort_key
     FROM activity WHERE ${where}${keyset}
     ORDER BY time DESC, id DESC LIMIT $${pageParams.length}`,
    pageParams,
  )
  return { rows, totalCount: countRows[0]?.n ?? 0 }
}
