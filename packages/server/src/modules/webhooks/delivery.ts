/**
 * The `webhook.deliver` job: build Speckle's body for one event (once: retries resend the same bytes),
 * POST it signed through the guarded client (workers/webhooks), record the attempt, and retry with the
 * queue's back-off. A webhook whose attempts keep failing is disabled and its owners get a mail.
 * Delivery is at least once: a worker killed after the receiver answered but before the answer was
 * recorded delivers again (the body carries the event id, so receivers can drop repeats).
 */
import type { Mailer } from '../../adapters/mail/types.js'
import type { Sql } from '../../adapters/sql/types.js'
import { PermanentJobError, type JobHandler } from '../../jobs/runner.js'
import type { ActivityEntry } from '../activity/service.js'
import type { ProjectsService } from '../projects/service.js'
import type { User, UsersService } from '../users/service.js'
import { deliverWebhook } from '../../workers/webhooks/deliver.js'
import {
  disableWebhook,
  insertDelivery,
  recordFailure,
  recordSuccess,
  selectEvent,
  selectWebhook,
  updateEvent,
  type WebhookEventRow,
  type WebhookRow,
} from './repository.js'
import { EVENT_STATUS } from './service.js'

export interface WebhookDeliveryDeps {
  sql: Sql
  projects: Pick<ProjectsService, 'getAccess' | 'team'>
  users: Pick<UsersService, 'getById' | 'getMany'>
  mailer?: Pick<Mailer, 'send'>
  /** Speckle's `serverInfo` record, as the body's `server` field carries it. */
  serverInfo(): Promise<Record<string, unknown>>
  publicUrl: string
  /** Deliver to loopback and private addresses (TRUSS_WEBHOOKS_ALLOW_PRIVATE). */
  allowPrivate: boolean
  /** Failed attempts in a row after which the webhook is disabled. */
  disableAfterFailures: number
  timeoutMs?: number
  /** The DNS lookup (tests inject one; the client connects to the address it returns). */
  lookup?: Parameters<typeof deliverWebhook>[0]['lookup']
  logger?: { warn(obj: object, msg?: string): void }
}

/** Speckle's human line for an activity (payload.activityMessage). */
export function activityMessage(entry: ActivityEntry): string {
  const info = (entry.info ?? {}) as Record<string, Record<string, unknown> | undefined>
  const commit = info.commit ?? {}
  const branch = info.branch ?? {}
  switch (entry.actionType) {
    case 'stream_update':
      return `Stream ${entry.resourceId} was updated`
    case 'stream_delete':
      return `Stream ${entry.resourceId} was deleted`
    case 'stream_permissions_add':
      return `Permission added to stream ${entry.projectId}`
    case 'stream_permissions_remove':
      return `Permission removed from stream ${entry.projectId}`
    case 'branch_create':
      return `Branch created: ${String(branch.name ?? entry.resourceId)} (${entry.resourceId})`
    case 'branch_update':
      return `Branch metadata changed for branch ${entry.resourceId}`
    case 'branch_delete':
      return `Branch deleted: ${String(branch.name ?? entry.resourceId)} (${entry.resourceId})`
    case 'commit_create':
      return `Commit created on branch ${String(commit.branchName ?? '')}: ${entry.resourceId} (${String(commit.message ?? '')})`
    case 'commit_update':
      return `Commit ${entry.resourceId} was updated`
    case 'commit_receive':
      return `Commit ${entry.resourceId} was received by user ${entry.userId ?? ''}`
    case 'commit_delete':
      return `Commit deleted: ${entry.resourceId}`
    default:
      return `${entry.actionType} on ${entry.resourceType} ${entry.resourceId}`
  }
}

function publicUser(user: User | null): Record<string, unknown> | null {
  if (user === null) return null
  // As Speckle: the acting user without email or password.
  return {
    id: user.id,
    name: user.name,
    bio: user.bio,
    company: user.company,
    avatar: user.avatar,
    verified: user.verified,
    role: user.serverRole,
  }
}

function webhookRecord(hook: WebhookRow | null, event: WebhookEventRow): Record<string, unknown> {
  return {
    id: hook?.id ?? event.webhook_id,
    streamId: event.project_id,
    url: hook?.url ?? event.url,
    description: hook?.description ?? null,
    triggers: hook?.triggers ?? [event.event_name],
    enabled: hook?.enabled ?? true,
    createdAt: hook?.created_at ?? null,
    updatedAt: hook?.updated_at ?? null,
  }
}

async function buildBody(deps: WebhookDeliveryDeps, event: WebhookEventRow, hook: WebhookRow | null): Promise<string> {
  const entry = event.event as unknown as ActivityEntry
  const [access, user, server] = await Promise.all([
    deps.projects.getAccess(event.project_id, entry.userId === null ? null : { userId: entry.userId }),
    entry.userId === null ? Promise.resolve(null) : deps.users.getById(entry.userId),
    deps.serverInfo(),
  ])
  const info = (entry.info ?? {}) as Record<string, unknown>
  const data: Record<string, unknown> = { ...info }
  if (typeof info.commit === 'object' && info.commit !== null) {
    data.commit = {
      ...info.commit,
      id: entry.resourceId,
      streamId: event.project_id,
      projectId: event.project_id,
      versionId: entry.resourceId,
      authorId: entry.userId,
    }
  }
  // A deleted project is gone by now: the body says what the activity recorded of it.
  const stream =
    access.project === null
      ? { id: event.project_id, ...((info.stream as Record<string, unknown> | undefined) ?? {}) }
      : { ...access.project, isPublic: access.project.visibility !== 'private', role: access.role }
  return JSON.stringify({
    payload: {
      streamId: event.project_id,
      userId: entry.userId,
      activityMessage: activityMessage(entry),
      event: { event_name: event.event_name, data },
      server: { ...server, canonicalUrl: deps.publicUrl },
      stream,
      user: publicUser(user),
      webhook: webhookRecord(hook, event),
      eventId: event.id,
    },
  })
}

export function createWebhookDeliveryHandler(deps: WebhookDeliveryDeps): JobHandler<'webhook.deliver'> {
  const { sql } = deps

  async function notifyDisabled(hook: WebhookRow, reason: string): Promise<void> {
    if (deps.mailer === undefined) return
    const owners = (await deps.projects.team(hook.project_id)).filter((m) => m.role === 'stream:owner')
    const users = await deps.users.getMany(owners.map((o) => o.userId))
    const access = await deps.projects.getAccess(hook.project_id, null)
    const projectName = access.project?.name ?? hook.project_id
    for (const user of users) {
      try {
        await deps.mailer.send({
          to: user.email,
          subject: `A webhook of ${projectName} was disabled`,
          text:
            `The webhook ${hook.url} of project "${projectName}" failed ${hook.consecutive_failures} times in a row ` +
            `and was disabled.\n\nLast error: ${reason}\n\nFix the receiver, then enable the webhook again in the ` +
            `project's settings: ${deps.publicUrl}/projects/${hook.project_id}\n`,
        })
      } catch (err) {
        deps.logger?.warn({ err, webhookId: hook.id }, 'could not mail an owner about a disabled webhook')
      }
    }
  }

  return {
    kind: 'webhook.deliver',
    async run(job, ctx) {
      const event = await selectEvent(sql, job.payload.eventId)
      if (event === null || event.status === EVENT_STATUS.called) return { skipped: 'no event to deliver' }
      const hook = event.webhook_id === null ? null : await selectWebhook(sql, event.webhook_id)
      if (hook !== null && !hook.enabled) {
        await updateEvent(sql, event.id, { status: EVENT_STATUS.failed, statusInfo: 'The webhook is disabled' })
        return { skipped: 'webhook disabled' }
      }
      // The webhook was deleted: only an event about the project's own deletion still goes (to the old target).
      if (hook === null && event.event_name !== 'stream_delete') {
        await updateEvent(sql, event.id, { status: EVENT_STATUS.failed, statusInfo: 'The webhook was deleted' })
        return { skipped: 'webhook deleted' }
      }
      const body = event.payload ?? (await buildBody(deps, event, hook))
      await updateEvent(sql, event.id, { status: EVENT_STATUS.sending, payload: body, retryCount: job.attempts - 1 })

      const outcome = await deliverWebhook({
        url: hook?.url ?? event.url,
        body,
        secret: hook?.secret ?? event.secret ?? '',
        allowPrivate: deps.allowPrivate,
        timeoutMs: deps.timeoutMs,
        lookup: deps.lookup,
      })
      const attempt = {
        event_id: event.id,
        attempt: job.attempts,
        status_code: outcome.statusCode ?? null,
        latency_ms: Math.round(outcome.latencyMs),
        response_excerpt: outcome.responseExcerpt ?? null,
        error: outcome.ok ? null : (outcome.error ?? `HTTP ${outcome.statusCode ?? '?'}`),
      }
      if (outcome.ok) {
        await ctx.complete(async (tx) => {
          await insertDelivery(tx, attempt)
          await updateEvent(tx, event.id, { status: EVENT_STATUS.called, statusInfo: 'Webhook called' })
          if (hook !== null) await recordSuccess(tx, hook.id)
        })
        return { statusCode: outcome.statusCode }
      }

      const error = attempt.error ?? 'delivery failed'
      const { turnedOff, final } = await sql.transaction(async (tx) => {
        await insertDelivery(tx, attempt)
        const after = hook === null ? null : await recordFailure(tx, hook.id)
        const disable = after !== null && after.consecutive_failures >= deps.disableAfterFailures
        const off =
          disable &&
          (await disableWebhook(tx, after.id, `failed ${after.consecutive_failures} times in a row: ${error}`))
        // A refused address stays refused: retrying cannot help until someone changes the URL.
        const refused = outcome.errorCode === 'WEBHOOK_URL_FORBIDDEN' || outcome.errorCode === 'WEBHOOK_URL_INVALID'
        const last = ctx.lastAttempt || disable || refused
        await updateEvent(tx, event.id, {
          status: last ? EVENT_STATUS.failed : EVENT_STATUS.queued,
          statusInfo: last ? error : `${error} (attempt ${job.attempts} of ${job.maxAttempts}; retrying)`,
        })
        return { turnedOff: off ? after : null, final: last }
      })
      if (turnedOff !== null) {
        await notifyDisabled(turnedOff, error)
        return { disabled: true, error }
      }
      if (final && !ctx.lastAttempt) throw new PermanentJobError(error)
      throw new Error(error)
    },
  }
}
