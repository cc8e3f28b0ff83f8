/** SQL of the webhooks tables (migration 0010), owned by the webhooks module. */
import type { SqlExecutor } from '../../adapters/sql/types.js'

export interface WebhookRow {
  id: string
  project_id: string
  url: string
  description: string | null
  secret: string | null
  triggers: string[]
  enabled: boolean
  consecutive_failures: number
  disabled_reason: string | null
  created_at: Date
  updated_at: Date
}

export interface WebhookEventRow {
  id: string
  webhook_id: string | null
  project_id: string
  event_name: string
  event: Record<string, unknown>
  url: string
  secret: string | null
  payload: string | null
  status: number
  status_info: string | null
  retry_count: number
  created_at: Date
  last_update: Date
}

export interface DeliveryRow {
  event_id: string
  attempt: number
  status_code: number | null
  latency_ms: number
  response_excerpt: string | null
  error: string | null
  created_at: Date
}

export async function insertWebhook(
  db: SqlExecutor,
  row: Pick<WebhookRow, 'id' | 'project_id' | 'url' | 'description' | 'secret' | 'triggers' | 'enabled'>,
): Promise<WebhookRow> {
  const { rows } = await db.query<WebhookRow>(
    `INSERT INTO webhooks (id, project_id, url, description, secret, triggers, enabled)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    [row.id, row.project_id, row.url, row.description, row.secret, row.triggers, row.enabled],
  )
  return rows[0]!
}

export async function countWebhooks(db: SqlExecutor, projectId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhooks WHERE project_id = $1', [
    projectId,
  ])
  return rows[0]!.n
}

export async function selectWebhook(
  db: SqlExecutor,
  id: string,
  options: { lock?: boolean } = {},
): Promise<WebhookRow | null> {
  const { rows } = await db.query<WebhookRow>(
    `SELECT * FROM webhooks WHERE id = $1${options.lock ? ' FOR UPDATE' : ''}`,
    [id],
  )
  return rows[0] ?? null
}

export async function selectWebhooksOfProject(db: SqlExecutor, projectId: string): Promise<WebhookRow[]> {
  const { rows } = await db.query<WebhookRow>('SELECT * FROM webhooks WHERE project_id = $1 ORDER BY created_at, id', [
    projectId,
  ])
  return rows
}

/** The enabled webhooks of a project listening for `eventName`. */
export async function selectTriggered(db: SqlExecutor, projectId: string, eventName: string): Promise<WebhookRow[]> {
  const { rows } = await db.query<WebhookRow>(
    'SELECT * FROM webhooks WHERE project_id = $1 AND enabled AND $2 = ANY (triggers) ORDER BY created_at, id',
    [projectId, eventName],
  )
  return rows
}

export async function updateWebhook(
  db: SqlExecutor,
  id: string,
  fields: Partial<Pick<WebhookRow, 'url' | 'description' | 'secret' | 'triggers' | 'enabled'>>,
): Promise<WebhookRow | null> {
  const sets: string[] = []
  const params: unknown[] = [id]
  for (const [column, value] of Object.entries(fields)) {
    if (value === undefined) continue
    params.push(value)
    sets.push(`${column} = $${params.length}`)
  }
  // Enabling again clears what disabled it.
  if (fields.enabled === true) sets.push('consecutive_failures = 0', 'disabled_reason = NULL')
  sets.push('updated_at = clock_timestamp()')
  const { rows } = await db.query<WebhookRow>(
    `UPDATE webhooks SET ${sets.join(', ')} WHERE id = $1 RETURNING *`,
    params,
  )
  return rows[0] ?? null
}

export async function deleteWebhook(db: SqlExecutor, id: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM webhooks WHERE id = $1', [id])
  return rowCount === 1
}

export async function insertEvent(
  db: SqlExecutor,
  row: Pick<WebhookEventRow, 'id' | 'webhook_id' | 'project_id' | 'event_name' | 'event' | 'url' | 'secret'>,
): Promise<void> {
  await db.query(
    `INSERT INTO webhook_events (id, webhook_id, project_id, event_name, event, url, secret)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)`,
    [row.id, row.webhook_id, row.project_id, row.event_name, JSON.stringify(row.event), row.url, row.secret],
  )
}

export async function selectEvent(db: SqlExecutor, id: string): Promise<WebhookEventRow | null> {
  const { rows } = await db.query<WebhookEventRow>('SELECT * FROM webhook_events WHERE id = $1', [id])
  return rows[0] ?? null
}

export async function updateEvent(
  db: SqlExecutor,
  id: string,
  fields: { status: number; statusInfo?: string | null; payload?: string; retryCount?: number },
): Promise<void> {
  await db.query(
    `UPDATE webhook_events SET status = $2, status_info = COALESCE($3, status_info), payload = COALESCE($4, payload),
            retry_count = COALESCE($5, retry_count), last_update = clock_timestamp()
      WHERE id = $1`,
    [id, fields.status, fields.statusInfo ?? null, fields.payload ?? null, fields.retryCount ?? null],
  )
}

export async function selectEventsOfWebhooks(
  db: SqlExecutor,
  webhookIds: readonly string[],
  limit: number,
): Promise<{ rows: WebhookEventRow[]; totals: Map<string, number> }> {
  const { rows } = await db.query<WebhookEventRow & { rank: number }>(
    `SELECT * FROM (
       SELECT *, row_number() OVER (PARTITION BY webhook_id ORDER BY created_at DESC, id DESC) AS rank
         FROM webhook_events WHERE webhook_id = ANY ($1)
     ) ranked WHERE rank <= $2 ORDER BY created_at DESC, id DESC`,
    [webhookIds, limit],
  )
  const counts = await db.query<{ webhook_id: string; n: number }>(
    'SELECT webhook_id, count(*)::int AS n FROM webhook_events WHERE webhook_id = ANY ($1) GROUP BY webhook_id',
    [webhookIds],
  )
  return { rows, totals: new Map(counts.rows.map((r) => [r.webhook_id, r.n])) }
}

export async function insertDelivery(db: SqlExecutor, row: Omit<DeliveryRow, 'created_at'>): Promise<void> {
  await db.query(
    `INSERT INTO webhook_deliveries (event_id, attempt, status_code, latency_ms, response_excerpt, error)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [row.event_id, row.attempt, row.status_code, row.latency_ms, row.response_excerpt, row.error],
  )
}

export async function selectDeliveries(db: SqlExecutor, eventIds: readonly string[]): Promise<DeliveryRow[]> {
  const { rows } = await db.query<DeliveryRow>(
    `SELECT event_id, attempt, status_code, latency_ms, response_excerpt, error, created_at
       FROM webhook_deliveries WHERE event_id = ANY ($1) ORDER BY event_id, attempt, id`,
    [eventIds],
  )
  return rows
}

/** Count a failed attempt; returns the webhook after it (null when it is gone). */
export async function recordFailure(db: SqlExecutor, id: string): Promise<WebhookRow | null> {
  const { rows } = await db.query<WebhookRow>(
    `UPDATE webhooks SET consecutive_failures = consecutive_failures + 1 WHERE id = $1 RETURNING *`,
    [id],
  )
  return rows[0] ?? null
}

export async function recordSuccess(db: SqlExecutor, id: string): Promise<void> {
  await db.query('UPDATE webhooks SET consecutive_failures = 0 WHERE id = $1 AND consecutive_failures <> 0', [id])
}

/** Disable a webhook that keeps failing; true when this call disabled it (it was enabled). */
export async function disableWebhook(db: SqlExecutor, id: string, reason: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE webhooks SET enabled = false, disabled_reason = $2, updated_at = clock_timestamp() WHERE id = $1 AND enabled`,
    [id, reason],
  )
  return rowCount === 1
}
