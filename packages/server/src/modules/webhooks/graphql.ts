/**
 * The webhooks slice: Speckle's `webhookCreate` / `webhookUpdate` / `webhookDelete` and
 * `project.webhooks` / `stream.webhooks` with each webhook's `history`. Project owners only (the policy's
 * `manage` action, which also needs `streams:write`); the secret is never returned.
 */
import { BadUserInput, Forbidden } from '../../errors.js'
import { authorize, int, obj, required, str, strs, type Args } from '../graphql/helpers.js'
import type { GraphqlContext } from '../graphql/context.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import type { Webhook, WebhookEvent, WebhooksService } from './service.js'

const typeDefs = /* GraphQL */ `
  type Webhook {
    id: String!
    streamId: String!
    projectId: String!
    url: String!
    description: String
    triggers: [String!]!
    enabled: Boolean
    hasSecret: Boolean!
    "Why Truss turned the webhook off (it kept failing); null while enabled or turned off by a person."
    disabledReason: String
    "Failed attempts in a row; a success resets it."
    consecutiveFailures: Int!
    createdAt: DateTime
    updatedAt: DateTime
    history(limit: Int! = 25): WebhookEventCollection
  }

  type WebhookCollection {
    totalCount: Int!
    items: [Webhook!]!
  }

  "One event sent (or to send) to a webhook; status 0 queued, 1 sending, 2 called, 3 failed (Speckle's)."
  type WebhookEvent {
    id: String!
    webhookId: String!
    status: Int!
    statusInfo: String!
    retryCount: Int!
    lastUpdate: DateTime!
    payload: String!
    eventName: String!
    "Every attempt made, oldest first (Truss retries; Speckle makes one attempt)."
    deliveries: [WebhookDelivery!]!
  }

  type WebhookDelivery {
    attempt: Int!
    statusCode: Int
    latencyMs: Int!
    responseExcerpt: String
    error: String
    at: DateTime!
  }

  type WebhookEventCollection {
    totalCount: Int
    items: [WebhookEvent]
  }

  input WebhookCreateInput {
    streamId: String!
    url: String!
    description: String
    triggers: [String]!
    secret: String
    enabled: Boolean
  }

  input WebhookUpdateInput {
    id: String!
    streamId: String!
    url: String
    description: String
    secret: String
    enabled: Boolean
    triggers: [String]
  }

  input WebhookDeleteInput {
    id: String!
    streamId: String!
  }

  extend type Project {
    webhooks(id: String): WebhookCollection!
  }

  extend type Stream {
    webhooks(id: String): WebhookCollection!
      @deprecated(
        reason: "Part of the old API surface and will be removed in the future. Use Project.webhooks instead."
      )
  }

  extend type Mutation {
    "Creates a webhook on a project; answers its id."
    webhookCreate(webhook: WebhookCreateInput!): String!
    "Updates a webhook; answers its id."
    webhookUpdate(webhook: WebhookUpdateInput!): String!
    "Deletes a webhook; answers its id."
    webhookDelete(webhook: WebhookDeleteInput!): String!
  }
`

type HistoryEntry = { totalCount: number; items: WebhookEvent[] }

function service(ctx: GraphqlContext): WebhooksService {
  const webhooks = ctx.deps.webhooks
  if (webhooks === undefined) throw new BadUserInput('Webhooks are not available on this server')
  return webhooks
}

/** Owners manage webhooks; a server guest never does (Speckle: server role user). */
async function authorizeManage(ctx: GraphqlContext, projectId: string): Promise<void> {
  if (ctx.principal?.serverRole === 'server:guest') throw new Forbidden('Guests cannot manage webhooks')
  await authorize(ctx, projectId, 'manage')
}

async function webhookCollection(parent: { id: string }, args: Args, ctx: GraphqlContext) {
  await authorizeManage(ctx, parent.id)
  const id = str(args.id)
  const all = await service(ctx).listForProject(parent.id)
  const items = id === null ? all : all.filter((w) => w.id === id)
  // One history query for every webhook listed, whatever `limit` each selection asks.
  const histories = new Map<number, Promise<Map<string, HistoryEntry>>>()
  const historyOf = (webhookId: string, limit: number): Promise<HistoryEntry | undefined> => {
    let batch = histories.get(limit)
    if (batch === undefined) {
      batch = service(ctx).history(
        items.map((w) => w.id),
        limit,
      )
      histories.set(limit, batch)
    }
    return batch.then((m) => m.get(webhookId))
  }
  return { totalCount: items.length, items: items.map((w) => ({ ...w, historyOf })) }
}

type WebhookParent = Webhook & { historyOf: (id: string, limit: number) => Promise<HistoryEntry | undefined> }

export function webhookResolvers(): ResolverMap {
  return {
    Project: { webhooks: webhookCollection },
    Stream: { webhooks: webhookCollection },
    Webhook: {
      streamId: (w: Webhook) => w.projectId,
      async history(w: WebhookParent, args: Args) {
        const limit = Math.min(Math.max(int(args.limit) ?? 25, 0), 100)
        const found = await w.historyOf(w.id, limit)
        return found ?? { totalCount: 0, items: [] }
      },
    },
    WebhookEvent: {
      webhookId: (e: WebhookEvent) => e.webhookId ?? '',
      statusInfo: (e: WebhookEvent) => e.statusInfo ?? (e.status === 0 ? 'Pending' : ''),
      payload: (e: WebhookEvent) => e.payload ?? '',
    },
    Mutation: {
      async webhookCreate(_: unknown, args: Args, ctx: GraphqlContext) {
        const input = obj(args.webhook)
        const projectId = required(input.streamId, 'streamId')
        await authorizeManage(ctx, projectId)
        const created = await service(ctx).create({
          projectId,
          url: required(input.url, 'url'),
          description: str(input.description),
          secret: str(input.secret),
          triggers: strs(input.triggers) ?? [],
          enabled: typeof input.enabled === 'boolean' ? input.enabled : null,
        })
        return created.id
      },
      async webhookUpdate(_: unknown, args: Args, ctx: GraphqlContext) {
        const input = obj(args.webhook)
        const projectId = required(input.streamId, 'streamId')
        await authorizeManage(ctx, projectId)
        const updated = await service(ctx).update({
          id: required(input.id, 'id'),
          projectId,
          url: str(input.url),
          description: str(input.description),
          secret: str(input.secret),
          triggers: strs(input.triggers),
          enabled: typeof input.enabled === 'boolean' ? input.enabled : null,
        })
        return updated.id
      },
      async webhookDelete(_: unknown, args: Args, ctx: GraphqlContext) {
        const input = obj(args.webhook)
        const projectId = required(input.streamId, 'streamId')
        await authorizeManage(ctx, projectId)
        const id = required(input.id, 'id')
        await service(ctx).delete({ id, projectId })
        return id
      },
    },
  }
}

export function webhooksSlice(): GraphqlSlice {
  return { name: 'webhooks', typeDefs, resolvers: webhookResolvers() }
}
