/** The comments module's SQL: threads, replies, their anchors, per-user views and mention notifications. */
import type { SqlExecutor } from '../../adapters/sql/types.js'
import type { CommentText } from './rich-text.js'

export interface CommentRow {
  id: string
  project_id: string
  author_id: string
  parent_id: string | null
  text: CommentText
  raw_text: string
  screenshot: string | null
  viewer_state: Record<string, unknown> | null
  archived: boolean
  created_at: Date
  updated_at: Date
}

export type LinkType = 'stream' | 'commit' | 'object'
export interface LinkRow {
  comment_id: string
  resource_type: LinkType
  resource_id: string
}

/** Which threads a listing wants: those anchored to any of these versions, objects or models' versions. */
export interface ThreadScope {
  versionIds?: readonly string[]
  objectIds?: readonly string[]
  modelIds?: readonly string[]
  /** Any thread anchored to a version (the `all` resource). */
  anyVersion?: boolean
}

const COLUMNS =
  'id, project_id, author_id, parent_id, text, raw_text, screenshot, viewer_state, archived, created_at, updated_at'

export async function insertComment(
  db: SqlExecutor,
  c: Pick<
    CommentRow,
    'id' | 'project_id' | 'author_id' | 'parent_id' | 'text' | 'raw_text' | 'screenshot' | 'viewer_state'
  >,
): Promise<CommentRow> {
  const { rows } = await db.query<CommentRow>(
    `INSERT INTO comments (id, project_id, author_id, parent_id, text, raw_text, screenshot, viewer_state)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8::jsonb) RETURNING ${COLUMNS}`,
    [
      c.id,
      c.project_id,
      c.author_id,
      c.parent_id,
      JSON.stringify(c.text),
      c.raw_text,
      c.screenshot,
      c.viewer_state === null ? null : JSON.stringify(c.viewer_state),
    ],
  )
  return rows[0]!
}

export async function insertLinks(db: SqlExecutor, links: readonly LinkRow[]): Promise<void> {
  if (links.length === 0) return
  await db.query(
    `INSERT INTO comment_links (comment_id, resource_type, resource_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
    [links.map((l) => l.comment_id), links.map((l) => l.resource_type), links.map((l) => l.resource_id)],
  )
}

export async function selectComments(
  db: SqlExecutor,
  ids: readonly string[],
  forUpdate = false,
): Promise<CommentRow[]> {
  if (ids.length === 0) return []
  const { rows } = await db.query<CommentRow>(
    `SELECT ${COLUMNS} FROM comments WHERE id = ANY($1::text[])${forUpdate ? ' FOR UPDATE' : ''}`,
    [ids],
  )
  return rows
}

export async function selectLinks(db: SqlExecutor, commentIds: readonly string[]): Promise<LinkRow[]> {
  if (commentIds.length === 0) return []
  const { rows } = await db.query<LinkRow>(
    `SELECT comment_id, resource_type, resource_id FROM comment_links WHERE comment_id = ANY($1::text[])
     ORDER BY resource_type, resource_id`,
    [commentIds],
  )
  return rows
}

/**
 * A project's threads, newest first, keyset on (created_at, id), with the totals of the scope: matching
 * threads (archived ones only if asked) and archived ones. The model scope reads `versions` to find a
 * model's versions (a version can move between models; its threads follow it, as in Speckle).
 */
export async function selectThreads(
  db: SqlExecutor,
  query: {
    projectId: string
    scope: ThreadScope | null
    includeArchived: boolean
    limit: number
    after: { sortKey: string; id: string } | null
  },
): Promise<{ rows: (CommentRow & { sort_key: string })[]; totalCount: number; totalArchivedCount: number }> {
  const params: unknown[] = [query.projectId]
  let scope = ''
  if (query.scope !== null) {
    const s = query.scope
    params.push(s.versionIds ?? [], s.objectIds ?? [], s.modelIds ?? [], s.anyVersion ?? false)
    scope = ` AND EXISTS (SELECT 1 FROM comment_links l WHERE l.comment_id = c.id AND (
        (l.resource_type = 'commit' AND (l.resource_id = ANY($2::text[]) OR $5::boolean
          OR EXISTS (SELECT 1 FROM versions v WHERE v.id = l.resource_id AND v.model_id = ANY($4::text[]))))
        OR (l.resource_type = 'object' AND l.resource_id = ANY($3::text[]))))`
  }
  const base = `FROM comments c WHERE c.project_id = $1 AND c.parent_id IS NULL${scope}`
  const archived = query.includeArchived ? '' : ' AND NOT c.archived'
  let keyset = ''
  if (query.after) {
    params.push(query.after.sortKey, query.after.id)
    keyset = ` AND (c.created_at, c.id) < ($${params.length - 1}::timestamptz, $${params.length})`
  }
  params.push(query.limit + 1)
  const { rows } = await db.query<CommentRow & { sort_key: string; total_count: number; archived_count: number }>(
    `SELECT t.total_count, t.archived_count, p.* FROM (
       SELECT count(*) FILTER (WHERE ${query.includeArchived ? 'true' : 'NOT c.archived'})::int AS total_count,
              count(*) FILTER (WHERE c.archived)::int AS archived_count ${base}) t
     LEFT JOIN LATERAL (
       SELECT ${COLUMNS.split(', ')
         .map((col) => `c.${col}`)
         .join(', ')}, c.created_at::text AS sort_key
       ${base}${archived}${keyset} ORDER BY c.created_at DESC, c.id DESC LIMIT $${params.length}
     ) p ON true
     ORDER BY p.created_at DESC, p.id DESC`,
    params,
  )
  const first = rows[0]
  return {
    rows: rows.filter((r) => r.id !== null),
    totalCount: first?.total_count ?? 0,
    totalArchivedCount: first?.archived_count ?? 0,
  }
}

/** A thread's replies, oldest first (a conversation reads down), keyset on (created_at, id). */
export async function selectReplies(
  db: SqlExecutor,
  threadId: string,
  limit: number,
  after: { sortKey: string; id: string } | null,
): Promise<{ rows: (CommentRow & { sort_key: string })[]; totalCount: number }> {
  const params: unknown[] = [threadId]
  let keyset = ''
  if (after) {
    params.push(after.sortKey, after.id)
    keyset = ' AND (created_at, id) > ($2::timestamptz, $3)'
  }
  params.push(limit + 1)
  const [page, total] = await Promise.all([
    db.query<CommentRow & { sort_key: string }>(
      `SELECT ${COLUMNS}, created_at::text AS sort_key FROM comments WHERE parent_id = $1${keyset}
       ORDER BY created_at, id LIMIT $${params.length}`,
      params,
    ),
    db.query<{ n: number }>('SELECT count(*)::int AS n FROM comments WHERE parent_id = $1', [threadId]),
  ])
  return { rows: page.rows, totalCount: total.rows[0]!.n }
}

/** Reply counts and distinct reply authors (first replier first) per thread. */
export async function selectReplyStats(
  db: SqlExecutor,
  threadIds: readonly string[],
): Promise<Map<string, { count: number; authorIds: string[] }>> {
  const out = new Map<string, { count: number; authorIds: string[] }>()
  if (threadIds.length === 0) return out
  const { rows } = await db.query<{ parent_id: string; n: number; authors: string[] }>(
    `SELECT parent_id, count(*)::int AS n,
            array_agg(author_id ORDER BY created_at, id) AS authors
     FROM comments WHERE parent_id = ANY($1::text[]) GROUP BY parent_id`,
    [threadIds],
  )
  for (const r of rows) out.set(r.parent_id, { count: r.n, authorIds: [...new Set(r.authors)] })
  return out
}

export async function updateText(db: SqlExecutor, id: string, text: CommentText, rawText: string): Promise<CommentRow> {
  const { rows } = await db.query<CommentRow>(
    `UPDATE comments SET text = $2::jsonb, raw_text = $3, updated_at = clock_timestamp() WHERE id = $1
     RETURNING ${COLUMNS}`,
    [id, JSON.stringify(text), rawText],
  )
  return rows[0]!
}

export async function updateArchived(db: SqlExecutor, id: string, archived: boolean): Promise<CommentRow> {
  const { rows } = await db.query<CommentRow>(
    `UPDATE comments SET archived = $2, updated_at = clock_timestamp() WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, archived],
  )
  return rows[0]!
}

/** A reply moves its thread's `updated_at` (read/unread compares against it). */
export async function touchComment(db: SqlExecutor, id: string): Promise<void> {
  await db.query('UPDATE comments SET updated_at = clock_timestamp() WHERE id = $1', [id])
}

export async function deleteComment(db: SqlExecutor, id: string): Promise<void> {
  await db.query('DELETE FROM comments WHERE id = $1', [id])
}

export async function upsertView(db: SqlExecutor, commentId: string, userId: string): Promise<void> {
  await db.query(
    `INSERT INTO comment_views (comment_id, user_id) VALUES ($1, $2)
     ON CONFLICT (comment_id, user_id) DO UPDATE SET viewed_at = clock_timestamp()`,
    [commentId, userId],
  )
}

export async function selectViews(db: SqlExecutor, userId: string, ids: readonly string[]): Promise<Map<string, Date>> {
  const { rows } = await db.query<{ comment_id: string; viewed_at: Date }>(
    'SELECT comment_id, viewed_at FROM comment_views WHERE user_id = $1 AND comment_id = ANY($2::text[])',
    [userId, ids],
  )
  return new Map(rows.map((r) => [r.comment_id, r.viewed_at]))
}

/** Open threads of the project the user has not opened since they last changed. */
export async function countUnreadThreads(db: SqlExecutor, projectId: string, userId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM comments c
     LEFT JOIN comment_views w ON w.comment_id = c.id AND w.user_id = $2
     WHERE c.project_id = $1 AND c.parent_id IS NULL AND NOT c.archived
       AND (w.viewed_at IS NULL OR w.viewed_at < c.updated_at)`,
    [projectId, userId],
  )
  return rows[0]!.n
}

export interface NotificationRow {
  id: string
  user_id: string
  project_id: string
  comment_id: string
  kind: 'mention'
  actor_id: string | null
  created_at: Date
  read_at: Date | null
}

/** Insert mention notifications; answers the rows actually inserted (a user is told once per comment). */
export async function insertNotifications(
  db: SqlExecutor,
  rows: readonly Pick<NotificationRow, 'id' | 'user_id' | 'project_id' | 'comment_id' | 'actor_id'>[],
): Promise<NotificationRow[]> {
  if (rows.length === 0) return []
  const { rows: inserted } = await db.query<NotificationRow>(
    `INSERT INTO comment_notifications (id, user_id, project_id, comment_id, kind, actor_id)
     SELECT n.id, n.user_id, n.project_id, n.comment_id, 'mention', n.actor_id
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS n(id, user_id, project_id, comment_id, actor_id)
     ON CONFLICT (user_id, comment_id, kind) DO NOTHING
     RETURNING *`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.user_id),
      rows.map((r) => r.project_id),
      rows.map((r) => r.comment_id),
      rows.map((r) => r.actor_id),
    ],
  )
  return inserted
}

export async function selectNotifications(
  db: SqlExecutor,
  userId: string,
  query: { unreadOnly: boolean; limit: number; after: { sortKey: string; id: string } | null },
): Promise<{ rows: (NotificationRow & { sort_key: string })[]; totalCount: number }> {
  const params: unknown[] = [userId, query.unreadOnly]
  let keyset = ''
  if (query.after) {
    params.push(query.after.sortKey, query.after.id)
    keyset = ' AND (created_at, id) < ($3::timestamptz, $4)'
  }
  params.push(query.limit + 1)
  const where = 'user_id = $1 AND (NOT $2::boolean OR read_at IS NULL)'
  const [page, total] = await Promise.all([
    db.query<NotificationRow & { sort_key: string }>(
      `SELECT *, created_at::text AS sort_key FROM comment_notifications WHERE ${where}${keyset}
       ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    ),
    db.query<{ n: number }>(`SELECT count(*)::int AS n FROM comment_notifications WHERE ${where}`, [
      userId,
      query.unreadOnly,
    ]),
  ])
  return { rows: page.rows, totalCount: total.rows[0]!.n }
}

/** Mark read the user's notifications about a thread and its replies. */
export async function markNotificationsRead(db: SqlExecutor, userId: string, threadId: string): Promise<void> {
  await db.query(
    `UPDATE comment_notifications SET read_at = clock_timestamp()
     WHERE user_id = $1 AND read_at IS NULL AND comment_id IN (SELECT id FROM comments WHERE id = $2 OR parent_id = $2)`,
    [userId, threadId],
  )
}
