/**
 * Webhooks end to end over GraphQL, the job runner and a real HTTP receiver on loopback: configuration
 * (owners only, validation, the secret never read back), events written with the activity that triggers
 * them, Speckle's signed body, retries with an attempt history, and a webhook that keeps failing disabled
 * with its owners told by mail. On PGlite and PostgreSQL.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createJobQueue } from '../../jobs/queue.js'
import { createJobRunner, type JobRunner } from '../../jobs/runner.js'
import { verifyWebhookSignature, WEBHOOK_SIGNATURE_HEADER } from '../../workers/webhooks/signature.js'
import { ALL_SCOPES, graphqlHarness, outboxMailer, type GraphqlHarness, type Json } from '../graphql/test-utils.js'
import { createWebhookDeliveryHandler } from './delivery.js'
import { createWebhooksService, MAX_WEBHOOKS_PER_PROJECT, type WebhooksService } from './service.js'

const silent = pino({ level: 'silent' })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until<T>(check: () => Promise<T | undefined | false | null>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > end) throw new Error('condition not met in time')
    await sleep(25)
  }
}

interface Received {
  headers: IncomingMessage['headers']
  body: string
}

/** A loopback receiver answering each request with the next queued status (200 when none is queued). */
async function receiver() {
  const received: Received[] = []
  const statuses: number[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      const status = statuses.shift() ?? 200
      res.writeHead(status, { 'content-type': 'text/plain' })
      res.end(status < 300 ? 'thanks' : 'receiver is down')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    statuses,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

const CREATE = `mutation($w: WebhookCreateInput!) { webhookCreate(webhook: $w) }`
const UPDATE = `mutation($w: WebhookUpdateInput!) { webhookUpdate(webhook: $w) }`
const DELETE = `mutation($w: WebhookDeleteInput!) { webhookDelete(webhook: $w) }`
const LIST = `query($id: String!) { project(id: $id) { webhooks { totalCount items {
  id streamId projectId url description triggers enabled hasSecret disabledReason consecutiveFailures
  history(limit: 10) { totalCount items { id webhookId status statusInfo retryCount payload eventName
    deliveries { attempt statusCode latencyMs responseExcerpt error } } } } } } }`

function suite(kind: 'pglite' | 'postgres') {
  describe(`webhooks (${kind})`, () => {
    let h: GraphqlHarness
    let webhooks: WebhooksService
    let runner: JobRunner
    let rx: Awaited<ReturnType<typeof receiver>>
    let owner: { id: string; token: string; email: string }
    let contributor: { id: string; token: string }
    let projectId: string
    let modelId: string
    const disableAfter = 3

    beforeAll(async () => {
      rx = await receiver()
      h = await graphqlHarness(kind, {
        moduleDeps: (ctx, sql) => {
          webhooks = createWebhooksService({ sql, jobs: createJobQueue({ sql }) })
          ctx.activity.addSink(webhooks.recordActivity)
          return { webhooks }
        },
      })
      const handler = createWebhookDeliveryHandler({
        sql: h.sql,
        projects: h.ctx.projects,
        users: h.ctx.users,
        mailer: await outboxMailer(h.dir),
        serverInfo: async () => ({ name: 'Truss test', company: 'Truss' }),
        publicUrl: 'http://truss.test',
        allowPrivate: true,
        disableAfterFailures: disableAfter,
        timeoutMs: 5000,
      })
      runner = createJobRunner({
        sql: h.sql,
        logger: silent,
        handlers: [handler],
        pollSeconds: 0.05,
        policies: { 'webhook.deliver': { backoff: { baseSeconds: 0.05, maxSeconds: 0.1 }, maxAttempts: 4 } },
      })
      await runner.start()
      const o = await h.ctx.newUser({ email: `owner-${kind}@example.org` })
      owner = { id: o.id, email: o.email, token: await h.ctx.newToken(o.id, [...ALL_SCOPES]) }
      const c = await h.ctx.newUser()
      contributor = { id: c.id, token: await h.ctx.newToken(c.id, [...ALL_SCOPES]) }
      const project = await h.ctx.newProject(owner.id, { name: 'Bridge' })
      projectId = project.id
      await h.ctx.projects.setRole({ projectId, userId: contributor.id, role: 'stream:contributor', actorId: owner.id })
      modelId = (await h.ctx.models.create({ projectId, name: 'deck', actorId: owner.id })).id
    })
    afterAll(async () => {
      await runner?.stop()
      await h?.close()
      await rx?.close()
    })
    beforeEach(() => {
      rx.received.length = 0
      rx.statuses.length = 0
    })

    const create = async (input: Json, token = owner.token) =>
      h.gql(CREATE, { w: { streamId: projectId, ...input } }, token)
    const list = async () => (await h.gql(LIST, { id: projectId }, owner.token)).body.data.project.webhooks

    it('creates a webhook for an owner, reads it back without its secret, and refuses others and bad input', async () => {
      const res = await create({ url: rx.url, description: 'CI', triggers: ['commit_create'], secret: 's3cret' })
      expect(res.body.errors).toBeUndefined()
      const id = res.body.data.webhookCreate as string
      const { items } = await list()
      const hook = items.find((w: Json) => w.id === id)
      expect(hook).toMatchObject({
        streamId: projectId,
        projectId,
        url: rx.url,
        triggers: ['commit_create'],
        hasSecret: true,
      })
      expect(JSON.stringify(hook)).not.toContain('s3cret')

      const denied = await create({ url: rx.url, triggers: ['commit_create'] }, contributor.token)
      expect(denied.body.errors[0].extensions.code).toBe('FORBIDDEN')
      const unknown = await create({ url: rx.url, triggers: ['commit_explode'] })
      expect(unknown.body.errors[0]).toMatchObject({ extensions: { code: 'WEBHOOK_CREATION_ERROR' } })
      expect(unknown.body.errors[0].message).toMatch(/Unknown webhook trigger/)
      const badUrl = await create({ url: 'ftp://example.org/x', triggers: ['commit_create'] })
      expect(badUrl.body.errors[0].extensions.code).toBe('WEBHOOK_CREATION_ERROR')
      const wrongProject = await h.gql(
        UPDATE,
        { w: { id, streamId: (await h.ctx.newProject(owner.id)).id, enabled: false } },
        owner.token,
      )
      expect(wrongProject.body.errors[0].extensions.code).toMatch(/NOT_FOUND/)

      await h.gql(DELETE, { w: { id, streamId: projectId } }, owner.token)
      expect((await list()).totalCount).toBe(0)
    })

    it("refuses more than Speckle's 100 webhooks on a project", async () => {
      const other = await h.ctx.newProject(owner.id)
      for (let i = 0; i < MAX_WEBHOOKS_PER_PROJECT; i++) {
        await webhooks.create({ projectId: other.id, url: `${rx.url}?n=${i}`, triggers: ['stream_update'] })
      }
      const res = await h.gql(
        CREATE,
        { w: { streamId: other.id, url: rx.url, triggers: ['stream_update'] } },
        owner.token,
      )
      expect(res.body.errors[0]).toMatchObject({ extensions: { code: 'WEBHOOK_CREATION_ERROR' } })
      expect(res.body.errors[0].message).toMatch(/Maximum number of webhooks/)
    })

    it('delivers a new version to the webhooks whose triggers name it, signed as Speckle signs', async () => {
      const signed = (await create({ url: rx.url, triggers: ['commit_create'], secret: 'k3y' })).body.data.webhookCreate
      const other = (await create({ url: `${rx.url}?other`, triggers: ['branch_delete'] })).body.data.webhookCreate
      const off = (await create({ url: `${rx.url}?off`, triggers: ['commit_create'], enabled: false })).body.data
        .webhookCreate
      const version = await h.ctx.newVersion(projectId, modelId, owner.id, 'girders placed')

      await until(async () => rx.received.length >= 1)
      await sleep(200) // nothing else may arrive: the other two must not be called
      expect(rx.received).toHaveLength(1)
      const [req] = rx.received
      expect(req!.headers['content-type']).toMatch(/application\/json/)
      const signature = req!.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] as string
      expect(verifyWebhookSignature(req!.body, 'k3y', signature)).toBe(true)
      const { payload } = JSON.parse(req!.body)
      expect(payload).toMatchObject({
        streamId: projectId,
        userId: owner.id,
        event: {
          event_name: 'commit_create',
          data: { commit: { message: 'girders placed', projectId, versionId: version.id } },
        },
        stream: { id: projectId, name: 'Bridge' },
        user: { id: owner.id },
        webhook: { id: signed, url: rx.url, triggers: ['commit_create'] },
      })
      expect(payload.activityMessage).toContain(version.id)
      expect(payload.user.email).toBeUndefined()
      expect(JSON.stringify(payload)).not.toContain('k3y')

      const hooks = (await list()).items as Json[]
      const history = hooks.find((w) => w.id === signed).history
      const event = await until(async () => {
        const e = ((await list()).items as Json[]).find((w) => w.id === signed).history.items[0]
        return e?.status === 2 ? e : undefined
      })
      expect(history.totalCount).toBe(1)
      expect(event).toMatchObject({
        webhookId: signed,
        status: 2,
        statusInfo: 'Webhook called',
        eventName: 'commit_create',
      })
      expect(event.payload).toBe(req!.body)
      expect(event.deliveries).toEqual([
        expect.objectContaining({ attempt: 1, statusCode: 200, responseExcerpt: 'thanks', error: null }),
      ])
      expect(hooks.find((w) => w.id === other).history.totalCount).toBe(0)
      expect(hooks.find((w) => w.id === off).history.totalCount).toBe(0)
      for (const id of [signed, other, off]) await webhooks.delete({ id, projectId })
    })

    it('retries a failed delivery with the same body and keeps every attempt', async () => {
      const id = (await create({ url: rx.url, triggers: ['branch_update'] })).body.data.webhookCreate
      rx.statuses.push(500, 503)
      await h.ctx.models.update({ projectId, id: modelId, description: 'new', actorId: owner.id })
      const event = await until(async () => {
        const e = ((await list()).items as Json[]).find((w) => w.id === id).history.items[0]
        return e?.status === 2 ? e : undefined
      })
      expect(rx.received).toHaveLength(3)
      expect(new Set(rx.received.map((r) => r.body)).size).toBe(1)
      expect(event.deliveries.map((d: Json) => [d.attempt, d.statusCode])).toEqual([
        [1, 500],
        [2, 503],
        [3, 200],
      ])
      expect(event.deliveries[0].error).toMatch(/500/)
      expect(event.retryCount).toBe(2)
      const hook = ((await list()).items as Json[]).find((w) => w.id === id)
      expect(hook).toMatchObject({ enabled: true, consecutiveFailures: 0 })
      await webhooks.delete({ id, projectId })
    })

    it('disables a webhook that keeps failing and mails its owners; enabling it again clears the count', async () => {
      const id = (await create({ url: rx.url, triggers: ['branch_update'] })).body.data.webhookCreate
      rx.statuses.push(...Array.from({ length: 10 }, () => 500))
      await h.ctx.models.update({ projectId, id: modelId, description: 'again', actorId: owner.id })
      const hook = await until(async () => {
        const w = ((await list()).items as Json[]).find((x) => x.id === id)
        return w.enabled === false ? w : undefined
      })
      expect(rx.received).toHaveLength(disableAfter)
      expect(hook.consecutiveFailures).toBe(disableAfter)
      expect(hook.disabledReason).toMatch(/failed 3 times in a row/)
      expect(hook.history.items[0]).toMatchObject({ status: 3 })
      const mail = await until(async () => {
        const files = await readdir(join(h.dir, 'outbox')).catch(() => [] as string[])
        // Only delivered messages: the outbox writes `.<name>.eml.tmp` first and renames it when complete.
        for (const f of files.filter((name) => name.endsWith('.eml') && !name.startsWith('.'))) {
          const text = await readFile(join(h.dir, 'outbox', f), 'utf8')
          if (text.includes('was disabled') && text.includes(owner.email)) return text
        }
        return undefined
      })
      expect(mail).toContain(rx.url)

      // A disabled webhook gets nothing.
      const before = rx.received.length
      await h.ctx.models.update({ projectId, id: modelId, description: 'while off', actorId: owner.id })
      await sleep(300)
      expect(rx.received.length).toBe(before)

      await h.gql(UPDATE, { w: { id, streamId: projectId, enabled: true } }, owner.token)
      const back = ((await list()).items as Json[]).find((x) => x.id === id)
      expect(back).toMatchObject({ enabled: true, consecutiveFailures: 0, disabledReason: null })
      await webhooks.delete({ id, projectId })
    })

    it('still tells a webhook that its project was deleted', async () => {
      const doomed = await h.ctx.newProject(owner.id, { name: 'Doomed' })
      await webhooks.create({ projectId: doomed.id, url: rx.url, triggers: ['stream_delete'] })
      await h.ctx.projects.delete(doomed.id, owner.id)
      await until(async () => rx.received.length >= 1)
      const { payload } = JSON.parse(rx.received[0]!.body)
      expect(payload).toMatchObject({ streamId: doomed.id, event: { event_name: 'stream_delete' } })
      expect(payload.stream).toMatchObject({ id: doomed.id, name: 'Doomed' })
    })
  })
}

suite('pglite')
suite('postgres')

describe('webhook addresses', () => {
  it('refuses loopback targets unless private addresses are allowed, without retrying', async () => {
    const h = await graphqlHarness('pglite', {
      moduleDeps: (ctx, sql) => {
        const webhooks = createWebhooksService({ sql, jobs: createJobQueue({ sql }) })
        ctx.activity.addSink(webhooks.recordActivity)
        return { webhooks }
      },
    })
    const rx = await receiver()
    const runner = createJobRunner({
      sql: h.sql,
      logger: silent,
      pollSeconds: 0.05,
      handlers: [
        createWebhookDeliveryHandler({
          sql: h.sql,
          projects: h.ctx.projects,
          users: h.ctx.users,
          serverInfo: async () => ({}),
          publicUrl: 'http://truss.test',
          allowPrivate: false,
          disableAfterFailures: 10,
        }),
      ],
    })
    try {
      await runner.start()
      const o = await h.ctx.newUser()
      const token = await h.ctx.newToken(o.id, [...ALL_SCOPES])
      const p = await h.ctx.newProject(o.id)
      await h.gql(CREATE, { w: { streamId: p.id, url: rx.url, triggers: ['stream_update'] } }, token)
      await h.ctx.projects.update({ id: p.id, description: 'x', actorId: o.id })
      const event = await until(async () => {
        const w = (await h.gql(LIST, { id: p.id }, token)).body.data.project.webhooks.items[0]
        const e = w.history.items[0]
        return e?.status === 3 ? e : undefined
      })
      expect(event.statusInfo).toMatch(/loopback|private|not allowed|refused/i)
      expect(event.deliveries).toHaveLength(1)
      expect(rx.received).toHaveLength(0)
      const job = (
        await h.sql.query<{ status: string; attempts: number }>(
          `SELECT status, attempts FROM jobs WHERE kind = 'webhook.deliver'`,
        )
      ).rows[0]
      expect(job).toMatchObject({ status: 'dead', attempts: 1 })
    } finally {
      await runner.stop()
      await rx.close()
      await h.close()
    }
  })
})
