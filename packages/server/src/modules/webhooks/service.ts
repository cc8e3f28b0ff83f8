/**
 * The webhooks module: per-project webhooks with Speckle's configuration (URL, description, secret,
 * triggers, enabled), the events written for them in the same transaction as the activity that triggers
 * them (an activity sink), and their delivery history. Delivery itself is the `webhook.deliver` job
 * (delivery.ts). Authorization (owners only) is the caller's: GraphQL asks the policy first.
 */
import type { Sql, SqlExecutor } from '../../adapters/sql/types.js'
import { BadUserInput, NotFound } from '../../errors.js'
import type { JobQueue } from '../../jobs/queue.js'
import type { ActivityEntry } from '../activity/service.js'
import { newId } from '../../ids.js'
import { validateWebhookUrl } from '../../workers/webhooks/address-guard.js'
import {
  countWebhooks,
  deleteWebhook,
  insertEvent,
  insertWebhook,
  selectDeliveries,
  selectEventsOfWebhooks,
  selectTriggered,
  selectWebhook,
  selectWebhooksOfProject,
  updateWebhook,
  type DeliveryRow,
  type WebhookEventRow,
  type WebhookRow,
} from './repository.js'

/** The events a webhook can listen for: Speckle's trigger names (its project activity types). */
export const WEBHOOK_TRIGGERS = [
  'stream_update',
  'stream_delete',
  'branch_create',
  'branch_update',
  'branch_delete',
  'commit_create',
  'commit_update',
  'commit_receive',
  'commit_delete',
  'comment_created',
  'comment_archived',
  'comment_replied',
  'stream_permissions_add',
  'stream_permissions_remove',
] as const
export type WebhookTrigger = (typeof WEBHOOK_TRIGGERS)[number]

/** Speckle's limit per stream. */
export const MAX_WEBHOOKS_PER_PROJECT = 100
const MAX_DESCRIPTION_LENGTH = 1000
const MAX_URL_LENGTH = 2048
const MAX_SECRET_LENGTH = 1000

/** Speckle's event statuses. */
export const EVENT_STATUS = { queued: 0, sending: 1, called: 2, failed: 3 } as const

export interface Webhook {
  id: string
  projectId: string
  url: string
  description: string | null
  triggers: string[]
  enabled: boolean
  hasSecret: boolean
  consecutiveFailures: number
  disabledReason: string | null
  createdAt: Date
  updatedAt: Date
}

export interface WebhookDelivery {
  attempt: number
  statusCode: number | null
  latencyMs: number
  responseExcerpt: string | null
  error: string | null
  at: Date
}

export interface WebhookEvent {
  id: string
  webhookId: string | null
  eventName: string
  status: number
  statusInfo: string | null
  /** The body as sent (null until the first attempt built it). */
  payload: string | null
  retryCount: number
  createdAt: Date
  lastUpdate: Date
  deliveries: WebhookDelivery[]
}

export interface CreateWebhookInput {
  projectId: string
  url: string
  description?: string | null
  secret?: string | null
  triggers: readonly string[]
  enabled?: boolean | null
}

export interface UpdateWebhookInput {
  id: string
  projectId: string
  url?: string | null
  description?: string | null
  secret?: string | null
  triggers?: readonly string[] | null
  enabled?: boolean | null
}

export interface WebhooksService {
  create(input: CreateWebhookInput): Promise<Webhook>
  update(input: UpdateWebhookInput): Promise<Webhook>
  /** Throws NotFound when the webhook is not the project's. */
  delete(input: { id: string; projectId: string }): Promise<void>
  get(projectId: string, id: string): Promise<Webhook>
  listForProject(projectId: string): Promise<Webhook[]>
  /** The newest `limit` events of each webhook, with their attempts, and each webhook's event count. */
  history(
    webhookIds: readonly string[],
    limit: number,
  ): Promise<Map<string, { totalCount: number; items: WebhookEvent[] }>>
  /**
   * The activity sink: inside the change's transaction, write one event (and one delivery job) for every
   * enabled webhook of the project whose triggers name the activity's type.
   */
  recordActivity(db: SqlExecutor, entry: ActivityEntry): Promise<void>
}

export function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    projectId: row.project_id,
    url: row.url,
    description: row.description,
    triggers: row.triggers,
    enabled: row.enabled,
    hasSecret: row.secret !== null && row.secret !== '',
    consecutiveFailures: row.consecutive_failures,
    disabledReason: row.disabled_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    attempt: row.attempt,
    statusCode: row.status_code,
    latencyMs: row.latency_ms,
    responseExcerpt: row.response_excerpt,
    error: row.error,
    at: row.created_at,
  }
}

function toEvent(row: WebhookEventRow, deliveries: WebhookDelivery[]): WebhookEvent {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    eventName: row.event_name,
    status: row.status,
    statusInfo: row.status_info,
    payload: row.payload,
    retryCount: row.retry_count,
    createdAt: row.created_at,
    lastUpdate: row.last_update,
    deliveries,
  }
}

const creationError = (message: string) => new BadUserInput(message, { graphqlCode: 'WEBHOOK_CREATION_ERROR' })

function checkUrl(url: string): string {
  const trimmed = url.trim()
  if (trimmed.length > MAX_URL_LENGTH)
    throw creationError(`The webhook URL must be at most ${MAX_URL_LENGTH} characters`)
  try {
    validateWebhookUrl(trimmed)
  } catch (err) {
    throw creationError(err instanceof Error ? err.message : String(err))
  }
  return trimmed
}

function checkTriggers(triggers: readonly string[]): string[] {
  const unique = [...new Set(triggers.map((t) => t.trim()))]
  if (unique.length === 0) throw creationError('A webhook needs at least one trigger')
  const unknown = unique.filter((t) => !(WEBHOOK_TRIGGERS as readonly string[]).includes(t))
  if (unknown.length > 0) {
    throw creationError(`Unknown webhook trigger(s): ${unknown.join(', ')}; use ${WEBHOOK_TRIGGERS.join(', ')}`)
  }
  return unique
}

function checkText(value: string | null | undefined, max: number, label: string): string | null {
  if (value === null || value === undefined) return null
  if (value.length > max) throw creationError(`The webhook ${label} must be at most ${max} characters`)
  return value
}

export function createWebhooksService({
  sql: db,
  jobs,
}: {
  sql: Sql
  jobs: Pick<JobQueue, 'enqueue'>
}): WebhooksService {
  const get = async (projectId: string, id: string): Promise<WebhookRow> => {
    const row = await selectWebhook(db, id)
    if (row === null || row.project_id !== projectId) throw new NotFound('webhook', id)
    return row
  }
  return {
    async create(input) {
      const url = checkUrl(input.url)
      const triggers = checkTriggers(input.triggers)
      const description = checkText(input.description, MAX_DESCRIPTION_LENGTH, 'description')
      const secret = checkText(input.secret, MAX_SECRET_LENGTH, 'secret')
      return db.transaction(async (tx) => {
        // Serialize creations per project so two at once cannot both pass the limit.
        await tx.query('SELECT id FROM projects WHERE id = $1 FOR UPDATE', [input.projectId])
        if ((await countWebhooks(tx, input.projectId)) >= MAX_WEBHOOKS_PER_PROJECT) {
          throw creationError(`Maximum number of webhooks for a stream reached (${MAX_WEBHOOKS_PER_PROJECT})`)
        }
        const row = await insertWebhook(tx, {
          id: newId(),
          project_id: input.projectId,
          url,
          description,
          secret,
          triggers,
          enabled: input.enabled ?? true,
        })
        return toWebhook(row)
      })
    },

    async update(input) {
      await get(input.projectId, input.id)
      const row = await updateWebhook(db, input.id, {
        url: input.url === undefined || input.url === null ? undefined : checkUrl(input.url),
        description:
          input.description === undefined || input.description === null
            ? undefined
            : checkText(input.description, MAX_DESCRIPTION_LENGTH, 'description'),
        secret:
          input.secret === undefined || input.secret === null
            ? undefined
            : checkText(input.secret, MAX_SECRET_LENGTH, 'secret'),
        triggers: input.triggers === undefined || input.triggers === null ? undefined : checkTriggers(input.triggers),
        enabled: input.enabled ?? undefined,
      })
      if (row === null) throw new NotFound('webhook', input.id)
      return toWebhook(row)
    },

    async delete(input) {
      await get(input.projectId, input.id)
      await deleteWebhook(db, input.id)
    },

    async get(projectId, id) {
      return toWebhook(await get(projectId, id))
    },

    async listForProject(projectId) {
      return (await selectWebhooksOfProject(db, projectId)).map(toWebhook)
    },

    async history(webhookIds, limit) {
      const out = new Map<string, { totalCount: number; items: WebhookEvent[] }>()
      for (const id of webhookIds) out.set(id, { totalCount: 0, items: [] })
      if (webhookIds.length === 0) return out
      const size = Math.min(Math.max(0, Math.trunc(limit)), 100)
      const { rows, totals } = await selectEventsOfWebhooks(db, webhookIds, size)
      const deliveries = new Map<string, WebhookDelivery[]>()
      for (const d of await selectDeliveries(
        db,
        rows.map((r) => r.id),
      )) {
        deliveries.set(d.event_id, [...(deliveries.get(d.event_id) ?? []), toDelivery(d)])
      }
      for (const row of rows) {
        const entry = out.get(row.webhook_id ?? '')
        entry?.items.push(toEvent(row, deliveries.get(row.id) ?? []))
      }
      for (const [id, n] of totals) {
        const entry = out.get(id)
        if (entry) entry.totalCount = n
      }
      return out
    },

    async recordActivity(tx, entry) {
      if (entry.projectId === null) return
      if (!(WEBHOOK_TRIGGERS as readonly string[]).includes(entry.actionType)) return
      const hooks = await selectTriggered(tx, entry.projectId, entry.actionType)
      for (const hook of hooks) {
        const eventId = newId()
        await insertEvent(tx, {
          id: eventId,
          webhook_id: hook.id,
          project_id: entry.projectId,
          event_name: entry.actionType,
          event: { ...entry, info: entry.info ?? {} },
          url: hook.url,
          secret: hook.secret,
        })
        await jobs.enqueue(tx, 'webhook.deliver', { eventId })
      }
    },
  }
}
