/**
 * Comment threads over GraphQL on PGlite and PostgreSQL, with the real services, the outbox mailer and a
 * memory bus: threads anchored to versions and objects with their viewer state, replies, editing and
 * archiving rules, pages, read state, mentions (notification and e-mail, members only), typed errors,
 * hostile markup, and `projectCommentsUpdated` with per-event authorization.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, subscribe, type ExecutionResult } from 'graphql'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Bus } from '../../adapters/bus/types.js'
import type { Mailer } from '../../adapters/mail/types.js'
import { createServerSchema } from '../../graphql-schema.js'
import { createGraphqlContext } from '../graphql/context.js'
import { busSubscribe } from '../graphql/subscriptions.js'
import { ALL_SCOPES, graphqlHarness, outboxMailer, type GraphqlHarness, type Json } from '../graphql/test-utils.js'
import type { User } from '../users/service.js'
import type { Version } from '../versions/service.js'
import { createCommentsService } from './service.js'
import { SAFE_HTML_TAGS, toSafeHtml, parseCommentDoc } from './rich-text.js'

const COMMENT_FIELDS = `id rawText archived authorId author { id name } hasParent viewedAt createdAt updatedAt
  text { version type doc attachments { id } } resources { resourceId resourceType }
  viewerResources { modelId versionId objectId } viewerState data`
const CREATE = `mutation($input: CreateCommentInput!) { commentMutations { create(input: $input) { ${COMMENT_FIELDS} } } }`
const REPLY = `mutation($input: CreateCommentReplyInput!) { commentMutations { reply(input: $input) { id rawText hasParent parent { id } } } }`
const EDIT = `mutation($input: EditCommentInput!) { commentMutations { edit(input: $input) { id rawText } } }`
const ARCHIVE = `mutation($input: ArchiveCommentInput!) { commentMutations { archive(input: $input) } }`
const VIEWED = `mutation($input: MarkCommentViewedInput!) { commentMutations { markViewed(input: $input) } }`
const THREADS = `query($id: String!, $filter: ProjectCommentsFilter, $limit: Int, $cursor: String) { project(id: $id) {
  unreadCommentThreadCount
  commentThreads(filter: $filter, limit: $limit, cursor: $cursor) { totalCount totalArchivedCount cursor
    items { id rawText archived viewedAt replies { totalCount items { id rawText } } replyAuthors { totalCount items { id } } } } } }`

const doc = (...paragraphs: Json[][]) => ({
  type: 'doc',
  content: paragraphs.map((content) => ({ type: 'paragraph', content })),
})
const text = (t: string, marks?: Json[]) => (marks ? { type: 'text', text: t, marks } : { type: 'text', text: t })
const mention = (u: User) => ({ type: 'mention', attrs: { id: u.id, label: u.name } })

const VIEWER_STATE = {
  projectId: 'p',
  sessionId: 'session-1',
  viewer: { metadata: { filteringState: null } },
  resources: { request: { resourceIdString: 'x', threadFilters: {} } },
  ui: {
    threads: { openThread: { threadId: null, isTyping: false, newThreadEditor: true } },
    spotlightUserSessionId: null,
    filters: {
      isolatedObjectIds: ['a1', 'a2'],
      hiddenObjectIds: ['h1'],
      selectedObjectIds: ['s1'],
      propertyFilter: { key: null, isApplied: false },
    },
    camera: { position: [10, 20, 30], target: [1, 2, 3], isOrthoProjection: false, zoom: 1 },
    sectionBox: { min: [-1, -1, -1], max: [5, 5, 5] },
    selection: [1, 2, 3],
  },
}

function suite(kind: 'pglite' | 'postgres') {
  describe(`comment threads (${kind})`, () => {
    let h: GraphqlHarness
    let mailDir: string
    let mailer: Mailer
    let owner: User
    let reviewer: User
    let stranger: User
    let ownerToken: string
    let reviewerToken: string
    let strangerToken: string
    let projectId: string
    let modelId: string
    let version: Version

    const gqlOk = async (query: string, variables: Record<string, unknown>, token: string) => {
      const res = await h.gql(query, variables, token)
      expect(res.body.errors).toBeUndefined()
      return res.body.data
    }
    const gqlError = async (query: string, variables: Record<string, unknown>, token: string | undefined) => {
      const res = await h.gql(query, variables, token)
      expect(res.status).toBeLessThan(500)
      expect(res.body.errors?.length).toBeGreaterThan(0)
      return res.body.errors[0] as { message: string; extensions: { code: string } }
    }
    const commentCount = async () =>
      (await h.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM comments WHERE project_id = $1', [projectId]))
        .rows[0]!.n
    const mails = async (): Promise<string[]> => {
      const folder = join(mailDir, 'outbox')
      const names = await readdir(folder).catch(() => [] as string[])
      const raw = await Promise.all(names.sort().map((n) => readFile(join(folder, n), 'utf8')))
      // Undo quoted-printable soft breaks and escapes (ASCII is all these assertions need).
      return raw.map((m) =>
        m.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
      )
    }
    const createThread = async (token: string, content: Json, extra: Record<string, unknown> = {}) =>
      (
        await gqlOk(
          CREATE,
          { input: { projectId, resourceIdString: `${modelId}@${version.id}`, content: { doc: content }, ...extra } },
          token,
        )
      ).commentMutations.create

    beforeAll(async () => {
      mailDir = await mkdtemp(join(tmpdir(), 'truss-comments-mail-'))
      mailer = await outboxMailer(mailDir)
      h = await graphqlHarness(kind, {
        moduleDeps: (ctx, sql) => ({
          comments: createCommentsService({
            sql,
            bus: ctx.bus,
            mailer,
            projects: ctx.projects,
            models: ctx.models,
            versions: ctx.versions,
            objects: ctx.objects,
            users: ctx.users,
            publicUrl: 'https://truss.example',
          }),
        }),
      })
      owner = await h.ctx.newUser({ name: 'Olga Owner' })
      reviewer = await h.ctx.newUser({ name: 'Rita Reviewer' })
      stranger = await h.ctx.newUser({ name: 'Sam Stranger' })
      ownerToken = await h.ctx.newToken(owner.id, [...ALL_SCOPES])
      reviewerToken = await h.ctx.newToken(reviewer.id, [...ALL_SCOPES])
      strangerToken = await h.ctx.newToken(stranger.id, [...ALL_SCOPES])
      projectId = (await h.ctx.newProject(owner.id, { name: 'Tower', visibility: 'private' })).id
      await h.ctx.projects.setRole({ projectId, userId: reviewer.id, role: 'stream:reviewer', actorId: owner.id })
      modelId = (await h.ctx.models.getByName(projectId, 'main'))!.id
      version = await h.ctx.newVersion(projectId, modelId, owner.id, 'first')
    })
    afterAll(async () => {
      await h?.close()
      await mailer?.close()
      if (mailDir) await rm(mailDir, { recursive: true, force: true })
    })

    it('anchors a thread to a version and an object and gives its viewer state back as sent', async () => {
      const input = {
        projectId,
        resourceIdString: `${modelId}@${version.id},${version.objectId}`,
        content: { doc: doc([text('Check this '), text('beam', [{ type: 'bold' }])]) },
        viewerState: VIEWER_STATE,
      }
      const created = (await gqlOk(CREATE, { input }, reviewerToken)).commentMutations.create
      expect(created.rawText).toBe('Check this beam')
      expect(created.author).toEqual({ id: reviewer.id, name: 'Rita Reviewer' })
      expect(created.text).toMatchObject({ version: '1.0.0', type: 'stream_comment', attachments: [] })
      expect(created.text.doc).toEqual(input.content.doc)
      expect(created.viewerState).toEqual(VIEWER_STATE)
      expect(created.data).toMatchObject({
        camPos: [10, 20, 30, 1, 2, 3, 0, 1],
        sectionBox: VIEWER_STATE.ui.sectionBox,
      })
      expect(created.resources).toEqual(
        expect.arrayContaining([
          { resourceType: 'commit', resourceId: version.id },
          { resourceType: 'object', resourceId: version.objectId },
        ]),
      )
      expect(created.viewerResources).toEqual(
        expect.arrayContaining([
          { modelId, versionId: version.id, objectId: version.objectId },
          { modelId: null, versionId: null, objectId: version.objectId },
        ]),
      )
      // Its author has seen it; opening it again restores the same view.
      expect(created.viewedAt).not.toBeNull()
      const again = await gqlOk(
        `query($id: String!, $c: String!) { project(id: $id) { comment(id: $c) { viewerState resources { resourceId } } } }`,
        { id: projectId, c: created.id },
        ownerToken,
      )
      expect(again.project.comment.viewerState).toEqual(VIEWER_STATE)

      // Found by the version, the model, and a viewer asking for the model or the object.
      const byVersion = await gqlOk(
        `query($id: String!, $m: String!, $v: String!) { project(id: $id) {
          model(id: $m) { commentThreads { totalCount items { id } } }
          version(id: $v) { commentThreads { totalCount items { id } } } } }`,
        { id: projectId, m: modelId, v: version.id },
        ownerToken,
      )
      expect(byVersion.project.model.commentThreads.items.map((c: Json) => c.id)).toContain(created.id)
      expect(byVersion.project.version.commentThreads.items.map((c: Json) => c.id)).toContain(created.id)
      for (const resourceIdString of [modelId, version.objectId, 'all']) {
        const page = await gqlOk(THREADS, { id: projectId, filter: { resourceIdString } }, ownerToken)
        expect(page.project.commentThreads.items.map((c: Json) => c.id)).toContain(created.id)
      }
      const other = await h.ctx.models.create({ projectId, name: 'other', actorId: owner.id } as never)
      const none = await gqlOk(THREADS, { id: projectId, filter: { resourceIdString: other.id } }, ownerToken)
      expect(none.project.commentThreads.items.map((c: Json) => c.id)).not.toContain(created.id)
    })

    it('takes replies, lets only the author edit and the author or an owner archive and reopen', async () => {
      const thread = await createThread(reviewerToken, doc([text('Is this wall load-bearing?')]))
      const reply = (
        await gqlOk(
          REPLY,
          { input: { projectId, threadId: thread.id, content: { doc: doc([text('Yes.')]) } } },
          ownerToken,
        )
      ).commentMutations.reply
      expect(reply).toMatchObject({ rawText: 'Yes.', hasParent: true, parent: { id: thread.id } })

      // The owner cannot edit the reviewer's words; the reviewer can.
      const foreignEdit = await gqlError(
        EDIT,
        { input: { projectId, commentId: thread.id, content: { doc: doc([text('hijacked')]) } } },
        ownerToken,
      )
      expect(foreignEdit.extensions.code).toBe('FORBIDDEN')
      const edited = await gqlOk(
        EDIT,
        { input: { projectId, commentId: thread.id, content: { doc: doc([text('Is this wall structural?')]) } } },
        reviewerToken,
      )
      expect(edited.commentMutations.edit.rawText).toBe('Is this wall structural?')

      // A reviewer cannot resolve the owner's thread; the owner can resolve anyone's; the author reopens.
      const ownersThread = await createThread(ownerToken, doc([text('Owner thread')]))
      const refused = await gqlError(
        ARCHIVE,
        { input: { projectId, commentId: ownersThread.id, archived: true } },
        reviewerToken,
      )
      expect(refused.extensions.code).toBe('FORBIDDEN')
      // The legacy stream's commentCount (what older connectors show) counts open threads only.
      const legacyCount = async () =>
        (await gqlOk(`query($id: String!) { stream(id: $id) { commentCount } }`, { id: projectId }, ownerToken)).stream
          .commentCount as number
      const openBefore = (await gqlOk(THREADS, { id: projectId, limit: 100 }, ownerToken)).project.commentThreads
      expect(await legacyCount()).toBe(openBefore.totalCount)
      expect(openBefore.totalCount).toBeGreaterThanOrEqual(2)
      await gqlOk(ARCHIVE, { input: { projectId, commentId: thread.id, archived: true } }, ownerToken)
      const open = await gqlOk(THREADS, { id: projectId, limit: 100 }, ownerToken)
      expect(open.project.commentThreads.items.map((c: Json) => c.id)).not.toContain(thread.id)
      expect(await legacyCount()).toBe(openBefore.totalCount - 1)
      const all = await gqlOk(THREADS, { id: projectId, limit: 100, filter: { includeArchived: true } }, ownerToken)
      const archived = all.project.commentThreads.items.find((c: Json) => c.id === thread.id)
      expect(archived).toMatchObject({
        archived: true,
        replies: { totalCount: 1, items: [{ id: reply.id, rawText: 'Yes.' }] },
      })
      expect(archived.replyAuthors).toEqual({ totalCount: 1, items: [{ id: owner.id }] })
      expect(all.project.commentThreads.totalArchivedCount).toBeGreaterThanOrEqual(1)
      await gqlOk(ARCHIVE, { input: { projectId, commentId: thread.id, archived: false } }, reviewerToken)
      const reopened = await gqlOk(THREADS, { id: projectId, limit: 100 }, ownerToken)
      expect(reopened.project.commentThreads.items.map((c: Json) => c.id)).toContain(thread.id)

      // Deleting: only one's own.
      const del = `mutation($input: DeleteCommentInput!) { commentMutations { delete(input: $input) } }`
      expect((await gqlError(del, { input: { projectId, commentId: reply.id } }, reviewerToken)).extensions.code).toBe(
        'FORBIDDEN',
      )
      await gqlOk(del, { input: { projectId, commentId: reply.id } }, ownerToken)
      const after = await gqlOk(
        `query($id: String!, $c: String!) { project(id: $id) { comment(id: $c) { replies { totalCount } } } }`,
        { id: projectId, c: thread.id },
        ownerToken,
      )
      expect(after.project.comment.replies.totalCount).toBe(0)
    })

    it('pages threads newest first with a cursor until it is null', async () => {
      const project = await h.ctx.newProject(owner.id, { visibility: 'private' })
      const main = (await h.ctx.models.getByName(project.id, 'main'))!
      const v = await h.ctx.newVersion(project.id, main.id, owner.id)
      const ids: string[] = []
      for (let i = 0; i < 5; i++) {
        const input = { projectId: project.id, resourceIdString: main.id, content: { doc: doc([text(`n${i}`)]) } }
        ids.push((await gqlOk(CREATE, { input }, ownerToken)).commentMutations.create.id)
      }
      const seen: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const page: Json = (await gqlOk(THREADS, { id: project.id, limit: 2, cursor }, ownerToken)).project
          .commentThreads
        expect(page.totalCount).toBe(5)
        seen.push(...page.items.map((c: Json) => c.rawText))
        cursor = page.cursor
        pages++
      } while (cursor !== null && pages < 10)
      expect(pages).toBe(3)
      expect(seen).toEqual(['n4', 'n3', 'n2', 'n1', 'n0'])
      expect(v.modelId).toBe(main.id)
      const bad = await gqlError(THREADS, { id: project.id, cursor: 'not-a-cursor' }, ownerToken)
      expect(bad.extensions.code).toBe('BAD_USER_INPUT')
    })

    it('counts unread threads per user: new for others, read once viewed, unread again after a reply', async () => {
      const project = await h.ctx.newProject(owner.id, { visibility: 'private' })
      await h.ctx.projects.setRole({
        projectId: project.id,
        userId: reviewer.id,
        role: 'stream:reviewer',
        actorId: owner.id,
      })
      const main = (await h.ctx.models.getByName(project.id, 'main'))!
      await h.ctx.newVersion(project.id, main.id, owner.id)
      const post = async (token: string, t: string) =>
        (
          await gqlOk(
            CREATE,
            { input: { projectId: project.id, resourceIdString: main.id, content: { doc: doc([text(t)]) } } },
            token,
          )
        ).commentMutations.create.id as string
      const unread = async (token: string) =>
        (await gqlOk(THREADS, { id: project.id }, token)).project.unreadCommentThreadCount as number
      const a = await post(ownerToken, 'a')
      await post(ownerToken, 'b')
      expect(await unread(ownerToken)).toBe(0)
      expect(await unread(reviewerToken)).toBe(2)
      await gqlOk(VIEWED, { input: { projectId: project.id, commentId: a } }, reviewerToken)
      expect(await unread(reviewerToken)).toBe(1)
      const items = (await gqlOk(THREADS, { id: project.id }, reviewerToken)).project.commentThreads.items
      expect(items.find((c: Json) => c.id === a).viewedAt).not.toBeNull()
      await gqlOk(
        REPLY,
        { input: { projectId: project.id, threadId: a, content: { doc: doc([text('more')]) } } },
        ownerToken,
      )
      expect(await unread(reviewerToken)).toBe(2)
      expect(await unread(ownerToken)).toBe(0)
    })

    it('notifies and e-mails a mentioned member, and nobody outside the project', async () => {
      const before = (await mails()).length
      const thread = await createThread(
        ownerToken,
        doc([text('Hey '), mention(reviewer), text(' and '), mention(stranger), text(', see the <b>beam</b>')]),
      )
      expect(thread.rawText).toBe('Hey @Rita Reviewer and @Sam Stranger, see the <b>beam</b>')
      const sent = (await mails()).slice(before)
      expect(sent).toHaveLength(1)
      expect(sent[0]).toContain(reviewer.email)
      expect(sent[0]).not.toContain(stranger.email)
      expect(sent[0]).toContain('Olga Owner mentioned you in Tower')
      expect(sent[0]).toContain(`#threadId=${thread.id}`)
      // The plain-text part says what was typed; the HTML part shows it escaped.
      const htmlPart = sent[0]!.slice(sent[0]!.indexOf('text/html'))
      expect(htmlPart).toContain('&lt;b&gt;beam&lt;/b&gt;')
      expect(htmlPart).not.toMatch(/<b>beam/)
      const NOTIFICATIONS = `{ activeUser { commentNotifications(unreadOnly: true) { totalCount items { kind projectId
        actor { id } comment { id rawText } } } } }`
      const mine = (await gqlOk(NOTIFICATIONS, {}, reviewerToken)).activeUser.commentNotifications
      expect(mine.items).toContainEqual({
        kind: 'mention',
        projectId,
        actor: { id: owner.id },
        comment: { id: thread.id, rawText: thread.rawText },
      })
      expect((await gqlOk(NOTIFICATIONS, {}, strangerToken)).activeUser.commentNotifications.totalCount).toBe(0)
      // Opening the thread reads its notifications.
      await gqlOk(VIEWED, { input: { projectId, commentId: thread.id } }, reviewerToken)
      const left = (await gqlOk(NOTIFICATIONS, {}, reviewerToken)).activeUser.commentNotifications.items
      expect(left.map((n: Json) => n.comment.id)).not.toContain(thread.id)
    })

    it('lets a reviewer comment and refuses a stranger and anonymous callers with typed errors', async () => {
      const count = await commentCount()
      const input = { projectId, resourceIdString: modelId, content: { doc: doc([text('hello')]) } }
      for (const token of [strangerToken, undefined]) {
        const refused = await gqlError(CREATE, { input }, token as string)
        expect(refused.extensions.code).toBe('FORBIDDEN')
        const read = await gqlError(THREADS, { id: projectId }, token as string)
        expect(read.extensions.code).toBe('FORBIDDEN')
      }
      // Bad input: typed, and nothing written.
      const cases: Json[] = [
        { ...input, resourceIdString: 'nosuchmodel' },
        { ...input, resourceIdString: `${modelId}@nosuchversion` },
        { ...input, resourceIdString: 'f'.repeat(32) },
        { ...input, content: { doc: doc() } },
        { ...input, content: { blobIds: ['nosuchblob'] } },
        { ...input, viewerState: { bad: 'a\u0000b' } },
        { ...input, screenshot: 'javascript:alert(1)' },
      ]
      for (const bad of cases) {
        const error = await gqlError(CREATE, { input: bad }, reviewerToken)
        expect(error.extensions.code).toBe('BAD_USER_INPUT')
      }
      const missing = await gqlError(
        REPLY,
        { input: { projectId, threadId: 'nosuchthread', content: { doc: doc([text('x')]) } } },
        reviewerToken,
      )
      expect(missing.extensions.code).toBe('NOT_FOUND_ERROR')
      expect(await commentCount()).toBe(count)
      expect((await gqlOk(CREATE, { input }, reviewerToken)).commentMutations.create.rawText).toBe('hello')
    })

    it('keeps hostile markup inert: stored as text, refused where it is structure, escaped in HTML', async () => {
      const hostile = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&'
      const thread = await createThread(
        reviewerToken,
        doc([
          text(hostile),
          { type: 'mention', attrs: { id: owner.id, label: '<svg onload=alert(3)>', onclick: 'alert(4)' } },
          text('site', [{ type: 'link', attrs: { href: 'https://example.com/?a=1&b=2', onmouseover: 'x' } }]),
        ]),
      )
      expect(thread.rawText).toContain(hostile)
      // Unknown attributes were dropped before storage.
      const stored = JSON.stringify(thread.text.doc)
      expect(stored).not.toContain('onclick')
      expect(stored).not.toContain('onmouseover')
      const refusals: Json[] = [
        doc([{ type: 'html', text: '<script>alert(1)</script>' }]),
        doc([{ type: 'image', attrs: { src: 'javascript:alert(1)' } }]),
        doc([text('x', [{ type: 'link', attrs: { href: 'javascript:alert(1)' } }])]),
        doc([text('x', [{ type: 'link', attrs: { href: 'data:text/html,<script>alert(1)</script>' } }])]),
        doc([text('x', [{ type: 'script' }])]),
        doc([text('x', [{ type: 'link', attrs: { href: 'https://example.com/"><script>alert(1)</script>' } }])]),
        doc([{ type: 'text', text: { toString: '<script>' } }]),
        { type: 'doc', content: [{ type: 'blockquote', content: [text('<script>')] }] },
      ]
      for (const bad of refusals) {
        const error = await gqlError(
          CREATE,
          { input: { projectId, resourceIdString: modelId, content: { doc: bad } } },
          reviewerToken,
        )
        expect(error.extensions.code).toBe('BAD_USER_INPUT')
      }
      // The renderer writes only its own tags; every user character is escaped.
      const html = toSafeHtml(parseCommentDoc(thread.text.doc))
      const tags = [...html.matchAll(/<\/?([a-zA-Z0-9]+)/g)].map((m) => m[1]!.toLowerCase())
      expect(tags.every((t) => (SAFE_HTML_TAGS as readonly string[]).includes(t))).toBe(true)
      expect(html).not.toMatch(/<script|<img|<svg|javascript:/i)
      // No event-handler attribute inside any tag (the escaped text may spell one out, inertly).
      expect(html).not.toMatch(/<[^>]*\son\w+\s*=/i)
      expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
      expect(html).toContain('href="https://example.com/?a=1&amp;b=2" rel="noopener noreferrer nofollow"')
      // And the mention e-mail to the owner carries the same escaped HTML, no live markup.
      const mail = (await mails()).find((m) => m.includes(`#threadId=${thread.id}`))
      expect(mail).toBeDefined()
      const htmlPart = mail!.slice(mail!.indexOf('text/html'))
      expect(htmlPart).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
      expect(htmlPart).not.toMatch(/<script|<img |<svg |<[^>]*\son\w+\s*=/i)
    })

    it('delivers a posted comment to project subscribers and stops at once for a member whose role was removed', async () => {
      const project = await h.ctx.newProject(owner.id, { visibility: 'private' })
      const member = await h.ctx.newUser()
      await h.ctx.projects.setRole({
        projectId: project.id,
        userId: member.id,
        role: 'stream:reviewer',
        actorId: owner.id,
      })
      const main = (await h.ctx.models.getByName(project.id, 'main'))!
      await h.ctx.newVersion(project.id, main.id, owner.id)
      const schema = createServerSchema()
      const feed = busSubscribe(h.ctx.bus as Bus)
      const SUB = `subscription($t: ViewerUpdateTrackingTarget!) { projectCommentsUpdated(target: $t) { type id comment { rawText } } }`
      const open = async (userId: string) => {
        const principal = await h.ctx.tokens.verify(await h.ctx.newToken(userId, [...ALL_SCOPES]))
        const result = await subscribe({
          schema,
          document: parse(SUB),
          variableValues: { t: { projectId: project.id, resourceIdString: main.id } },
          contextValue: createGraphqlContext(h.deps, principal, feed),
        })
        if (!(Symbol.asyncIterator in result)) throw new Error(JSON.stringify(result.errors))
        const got: string[] = []
        const stream = result as AsyncGenerator<ExecutionResult>
        void (async () => {
          for (let next = await stream.next(); !next.done; next = await stream.next()) {
            const m = (next.value.data as Json).projectCommentsUpdated
            got.push(`${m.type}:${m.comment?.rawText ?? m.id}`)
          }
        })()
        return { got, stop: () => stream.return(undefined) }
      }
      const ownerSub = await open(owner.id)
      const memberSub = await open(member.id)
      const post = async (t: string) =>
        (
          await gqlOk(
            CREATE,
            { input: { projectId: project.id, resourceIdString: main.id, content: { doc: doc([text(t)]) } } },
            ownerToken,
          )
        ).commentMutations.create.id as string
      await post('before')
      const settle = () => new Promise((r) => setTimeout(r, 200))
      await settle()
      await h.ctx.projects.removeRole(project.id, member.id, owner.id)
      const after = await post('after')
      await gqlOk(ARCHIVE, { input: { projectId: project.id, commentId: after, archived: true } }, ownerToken)
      await settle()
      expect(ownerSub.got).toEqual(['CREATED:before', 'CREATED:after', `ARCHIVED:${after}`])
      expect(memberSub.got).toEqual(['CREATED:before'])
      // A stranger cannot subscribe at all.
      const principal = await h.ctx.tokens.verify(strangerToken)
      const refused = await subscribe({
        schema,
        document: parse(SUB),
        variableValues: { t: { projectId: project.id, resourceIdString: '' } },
        contextValue: createGraphqlContext(h.deps, principal, feed),
      })
      expect((refused as ExecutionResult).errors?.[0]?.message).toMatch(/access/)
      await ownerSub.stop()
      await memberSub.stop()
    })
  })
}

suite('pglite')
suite('postgres')
