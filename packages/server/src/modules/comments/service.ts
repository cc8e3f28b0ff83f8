/**
 * Comment threads on a project's versions and objects (Speckle's comments): a thread carries rich text
 * (rich-text.ts), the viewer state to restore and its anchors; replies, edits by their author, archiving
 * (resolving) by the author or a project owner, per-user read state and mention notifications (a row and an
 * e-mail, to project members only). Callers authorize reading the project; this module applies the rules
 * about who may change which comment. Changes commit first, then their events go out on the project topic.
 */
import type { Bus } from '../../adapters/bus/types.js'
import type { Mailer } from '../../adapters/mail/types.js'
import type { Sql, SqlExecutor } from '../../adapters/sql/types.js'
import { BadUserInput, Forbidden, NotFound } from '../../errors.js'
import { publishEvents, recordEvents, type EventLogger, type TrussEvent } from '../../events.js'
import { newId } from '../../ids.js'
import { decodeCursor, pageSize, toPage, type Page } from '../../pagination.js'
import type { BlobsService } from '../blobs/service.js'
import type { ModelsService } from '../models/service.js'
import type { ObjectsService } from '../objects/service.js'
import type { ProjectRole, ProjectsService } from '../projects/service.js'
import type { UsersService } from '../users/service.js'
import type { VersionsService } from '../versions/service.js'
import * as repo from './repository.js'
import { parseResourceIdString, type ViewerResource, type ViewerResourceItem } from './resources.js'
import {
  buildCommentText,
  mentionedUserIds,
  toPlainText,
  toSafeHtml,
  escapeHtml,
  type CommentText,
} from './rich-text.js'

export interface Comment {
  id: string
  projectId: string
  authorId: string
  /** The thread a reply belongs to; null for a thread. */
  parentId: string | null
  text: CommentText
  rawText: string
  screenshot: string | null
  viewerState: Record<string, unknown> | null
  archived: boolean
  createdAt: Date
  updatedAt: Date
}

export interface CommentLink {
  resourceType: repo.LinkType
  resourceId: string
}

export interface CommentNotification {
  id: string
  userId: string
  projectId: string
  commentId: string
  kind: 'mention'
  actorId: string | null
  createdAt: Date
  readAt: Date | null
}

/** Who acts, with their role on the comment's project (owners may archive anyone's thread). */
export interface CommentActor {
  userId: string
  role: ProjectRole | null
}

export interface ThreadQuery {
  /** Only threads about these resources (a viewer resource id string); null or empty: all. */
  resourceIdString?: string | null
  loadedVersionsOnly?: boolean
  includeArchived?: boolean
  modelId?: string
  versionId?: string
  limit?: number | null
  cursor?: string | null
}

export interface CommentsService {
  createThread(
    actor: CommentActor,
    input: {
      projectId: string
      resourceIdString: string
      content: unknown
      viewerState?: unknown
      screenshot?: string | null
    },
  ): Promise<Comment>
  reply(actor: CommentActor, input: { projectId: string; threadId: string; content: unknown }): Promise<Comment>
  /** Only the author edits; throws `Forbidden` for anyone else. */
  edit(actor: CommentActor, input: { projectId: string; commentId: string; content: unknown }): Promise<Comment>
  /** Archive (resolve) or reopen; the author or a project owner. */
  archive(actor: CommentActor, input: { projectId: string; commentId: string; archived: boolean }): Promise<Comment>
  /** Delete one's own comment (a thread goes with its replies). */
  delete(actor: CommentActor, input: { projectId: string; commentId: string }): Promise<void>
  markViewed(userId: string, input: { projectId: string; commentId: string }): Promise<void>
  /** The comment if it is in the project. */
  get(projectId: string, id: string): Promise<Comment | null>
  getMany(ids: readonly string[]): Promise<Comment[]>
  threads(projectId: string, query?: ThreadQuery): Promise<Page<Comment> & { totalArchivedCount: number }>
  replies(threadId: string, query?: { limit?: number | null; cursor?: string | null }): Promise<Page<Comment>>
  replyStats(threadIds: readonly string[]): Promise<Map<string, { count: number; authorIds: string[] }>>
  links(commentIds: readonly string[]): Promise<Map<string, CommentLink[]>>
  /** What a thread (or a reply's thread) points at, as the viewer names it. */
  viewerResources(comment: Comment): Promise<ViewerResourceItem[]>
  viewedAt(userId: string, ids: readonly string[]): Promise<Map<string, Date>>
  unreadThreadCount(projectId: string, userId: string): Promise<number>
  notifications(
    userId: string,
    query?: { unreadOnly?: boolean; limit?: number | null; cursor?: string | null },
  ): Promise<Page<CommentNotification>>
}

export interface CommentsServiceDeps {
  sql: Sql
  bus?: Pick<Bus, 'publish'>
  mailer?: Mailer
  projects: Pick<ProjectsService, 'getById' | 'team'>
  models: Pick<ModelsService, 'getById' | 'list'>
  versions: Pick<VersionsService, 'getById' | 'listForModel'>
  objects: Pick<ObjectsService, 'diff'>
  users: Pick<UsersService, 'getById' | 'getMany'>
  blobs?: Pick<BlobsService, 'get'>
  /** For links in e-mails. */
  publicUrl: string
  logger?: EventLogger & { error?(obj: object, msg?: string): void }
}

const VIEWER_STATE_MAX_BYTES = 256 * 1024
const SCREENSHOT_MAX_CHARS = 8 * 1024 * 1024
const SCREENSHOT = /^data:image\/(png|jpeg|webp);base64,[A-Za-z0-9+/=\s]*$/

function toComment(row: repo.CommentRow): Comment {
  return {
    id: row.id,
    projectId: row.project_id,
    authorId: row.author_id,
    parentId: row.parent_id,
    text: row.text,
    rawText: row.raw_text,
    screenshot: row.screenshot,
    viewerState: row.viewer_state,
    archived: row.archived,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

function toNotification(row: repo.NotificationRow): CommentNotification {
  return {
    id: row.id,
    userId: row.user_id,
    projectId: row.project_id,
    commentId: row.comment_id,
    kind: row.kind,
    actorId: row.actor_id,
    createdAt: row.created_at,
    readAt: row.read_at,
  }
}

/** A JSON object of bounded size whose strings PostgreSQL's jsonb can hold (no U+0000). */
export function parseViewerState(value: unknown): Record<string, unknown> | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'object' || Array.isArray(value)) throw new BadUserInput('viewerState must be a JSON object')
  const json = JSON.stringify(value)
  if (Buffer.byteLength(json) > VIEWER_STATE_MAX_BYTES)
    throw new BadUserInput(`viewerState is larger than ${VIEWER_STATE_MAX_BYTES} bytes`)
  if (json.includes('\\u0000')) throw new BadUserInput('viewerState must not contain NUL characters')
  return JSON.parse(json) as Record<string, unknown>
}

function parseScreenshot(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null
  if (typeof value !== 'string' || value.length > SCREENSHOT_MAX_CHARS || !SCREENSHOT.test(value))
    throw new BadUserInput('screenshot must be a PNG, JPEG or WebP data URL')
  return value
}

export function createCommentsService(deps: CommentsServiceDeps): CommentsService {
  const { sql } = deps

  const load = async (projectId: string, id: string, forUpdate = false, db: SqlExecutor = sql) => {
    const [row] = await repo.selectComments(db, [id], forUpdate)
    if (row === undefined || row.project_id !== projectId) throw new NotFound('comment', id)
    return row
  }

  /** Blob attachments must be uploaded to the same project. */
  async function checkAttachments(projectId: string, text: CommentText): Promise<void> {
    if (text.blobIds.length === 0) return
    if (deps.blobs === undefined) throw new BadUserInput('Attachments are not available on this server')
    for (const id of text.blobIds) {
      const blob = await deps.blobs.get(projectId, id)
      if (blob === null || blob.uploadStatus !== 1)
        throw new BadUserInput(`Attachment ${id.slice(0, 64)} is not an uploaded blob of this project`)
    }
  }

  /** The anchors of a new thread: the versions and objects the resource id string names, checked. */
  async function resolveAnchors(projectId: string, resources: ViewerResource[]): Promise<repo.LinkRow[]> {
    const links: Omit<repo.LinkRow, 'comment_id'>[] = []
    const latestOf = async (modelId: string) => (await deps.versions.listForModel(modelId, { limit: 1 })).items[0]
    const objectIds: string[] = []
    for (const r of resources) {
      if (r.kind === 'object') objectIds.push(r.objectId)
      else if (r.kind === 'model') {
        const model = await deps.models.getById(projectId, r.modelId)
        if (model === null) throw new BadUserInput(`Model ${r.modelId.slice(0, 64)} is not in this project`)
        const version =
          r.versionId === null ? await latestOf(model.id) : await deps.versions.getById(projectId, r.versionId)
        if (version === undefined) continue
        if (version === null || version.modelId !== model.id)
          throw new BadUserInput(`Version ${r.versionId?.slice(0, 64)} is not a version of model ${model.id}`)
        links.push({ resource_type: 'commit', resource_id: version.id })
      } else {
        const models = (await deps.models.list(projectId, { limit: 1000 })).items.filter(
          (m) => r.kind === 'all' || m.name.toLowerCase() === r.name || m.name.toLowerCase().startsWith(`${r.name}/`),
        )
        for (const m of models) {
          const version = await latestOf(m.id)
          if (version) links.push({ resource_type: 'commit', resource_id: version.id })
        }
      }
    }
    if (objectIds.length > 0) {
      const known = await deps.objects.diff(projectId, objectIds)
      for (const id of objectIds) {
        if (!known[id]) throw new BadUserInput(`Object ${id} is not in this project`)
        links.push({ resource_type: 'object', resource_id: id })
      }
    }
    if (links.length === 0)
      throw new BadUserInput("Resource ID string doesn't resolve to any valid resources for the specified project")
    return links.map((l) => ({ ...l, comment_id: '' }))
  }

  /** Thread filters from a resource id string, resolved to versions, objects and models. */
  async function scopeOf(projectId: string, query: ThreadQuery): Promise<repo.ThreadScope | null> {
    if (query.versionId) return { versionIds: [query.versionId] }
    if (query.modelId) return { modelIds: [query.modelId] }
    const resources = parseResourceIdString(query.resourceIdString ?? '')
    if (resources.length === 0) return null
    const scope = { versionIds: [] as string[], objectIds: [] as string[], modelIds: [] as string[], anyVersion: false }
    for (const r of resources) {
      if (r.kind === 'object') scope.objectIds.push(r.objectId)
      else if (r.kind === 'all') scope.anyVersion = true
      else if (r.kind === 'model') {
        if (query.loadedVersionsOnly && r.versionId !== null) scope.versionIds.push(r.versionId)
        else scope.modelIds.push(r.modelId)
      } else {
        const models = (await deps.models.list(projectId, { limit: 1000 })).items
        for (const m of models) {
          const name = m.name.toLowerCase()
          if (name === r.name || name.startsWith(`${r.name}/`)) scope.modelIds.push(m.id)
        }
      }
    }
    return scope
  }

  /** Mentioned users who are members of the project (and not archived, and not the author). */
  async function mentionTargets(projectId: string, authorId: string, text: CommentText): Promise<string[]> {
    const mentioned = mentionedUserIds(text.doc).filter((id) => id !== authorId)
    if (mentioned.length === 0) return []
    const members = new Set((await deps.projects.team(projectId)).map((m) => m.userId))
    const users = await deps.users.getMany(mentioned.filter((id) => members.has(id)))
    return users.filter((u) => u.serverRole !== 'server:archived-user').map((u) => u.id)
  }

  /** After commit: one e-mail per new mention. A failed send is logged; the notification row stays. */
  async function mailMentions(comment: Comment, inserted: repo.NotificationRow[]): Promise<void> {
    if (deps.mailer === undefined || inserted.length === 0) return
    const [author, project] = await Promise.all([
      deps.users.getById(comment.authorId),
      deps.projects.getById(comment.projectId),
    ])
    const recipients = await deps.users.getMany(inserted.map((n) => n.user_id))
    const threadId = comment.parentId ?? comment.id
    const link = new URL(`projects/${comment.projectId}#threadId=${threadId}`, `${deps.publicUrl.replace(/\/+$/, '')}/`)
      .href
    const authorName = author?.name ?? 'Someone'
    const projectName = project?.name ?? comment.projectId
    for (const user of recipients) {
      try {
        await deps.mailer.send({
          to: user.email,
          // Header values must not carry line breaks (the mailer refuses them).
          subject: `${authorName} mentioned you in ${projectName}`.replace(/[\r\n]+/g, ' '),
          text: `${authorName} mentioned you in a comment on "${projectName}":\n\n${comment.rawText}\n\nOpen the thread: ${link}\n`,
          html:
            `<p>${escapeHtml(authorName)} mentioned you in a comment on “${escapeHtml(projectName)}”:</p>` +
            `<blockquote>${toSafeHtml(comment.text.doc)}</blockquote>` +
            `<p><a href="${escapeHtml(link)}">Open the thread</a></p>`,
        })
      } catch (err) {
        deps.logger?.warn({ err, commentId: comment.id, userId: user.id }, 'could not send a mention e-mail')
      }
    }
  }

  /** `targets` are read before the transaction: an embedded database has one connection, held by it. */
  async function notifyMentions(
    db: SqlExecutor,
    comment: repo.CommentRow,
    targets: readonly string[],
  ): Promise<repo.NotificationRow[]> {
    return repo.insertNotifications(
      db,
      targets.map((userId) => ({
        id: newId(),
        user_id: userId,
        project_id: comment.project_id,
        comment_id: comment.id,
        actor_id: comment.author_id,
      })),
    )
  }

  const publish = (events: TrussEvent[]) => publishEvents(deps.bus, events, deps.logger)

  function mayModerate(actor: CommentActor, authorId: string): boolean {
    return actor.userId === authorId || actor.role === 'stream:owner'
  }

  return {
    async createThread(actor, input) {
      const text = buildCommentText(input.content)
      const viewerState = parseViewerState(input.viewerState)
      const screenshot = parseScreenshot(input.screenshot)
      const resources = parseResourceIdString(input.resourceIdString)
      const [anchors] = await Promise.all([
        resolveAnchors(input.projectId, resources),
        checkAttachments(input.projectId, text),
      ])
      const id = newId()
      const targets = await mentionTargets(input.projectId, actor.userId, text)
      const { row, mentions } = await sql.transaction(async (tx) => {
        const row = await repo.insertComment(tx, {
          id,
          project_id: input.projectId,
          author_id: actor.userId,
          parent_id: null,
          text,
          raw_text: toPlainText(text.doc),
          screenshot,
          viewer_state: viewerState,
        })
        await repo.insertLinks(
          tx,
          anchors.map((a) => ({ ...a, comment_id: id })),
        )
        await repo.upsertView(tx, id, actor.userId)
        const mentions = await notifyMentions(tx, row, targets)
        await recordEvents(tx, [{ type: 'CommentCreated', projectId: row.project_id, commentId: id, threadId: null }])
        return { row, mentions }
      })
      const comment = toComment(row)
      await publish([{ type: 'CommentCreated', projectId: comment.projectId, commentId: id, threadId: null }])
      await mailMentions(comment, mentions)
      return comment
    },

    async reply(actor, input) {
      const text = buildCommentText(input.content)
      const thread = await load(input.projectId, input.threadId)
      if (thread.parent_id !== null) throw new BadUserInput('Replies go to a thread, not to another reply')
      await checkAttachments(input.projectId, text)
      const id = newId()
      const targets = await mentionTargets(input.projectId, actor.userId, text)
      const { row, mentions } = await sql.transaction(async (tx) => {
        const row = await repo.insertComment(tx, {
          id,
          project_id: input.projectId,
          author_id: actor.userId,
          parent_id: thread.id,
          text,
          raw_text: toPlainText(text.doc),
          screenshot: null,
          viewer_state: null,
        })
        await repo.touchComment(tx, thread.id)
        // The replier has seen the thread as it now is.
        await repo.upsertView(tx, thread.id, actor.userId)
        const mentions = await notifyMentions(tx, row, targets)
        await recordEvents(tx, [
          { type: 'CommentCreated', projectId: row.project_id, commentId: id, threadId: thread.id },
        ])
        return { row, mentions }
      })
      const comment = toComment(row)
      await publish([{ type: 'CommentCreated', projectId: comment.projectId, commentId: id, threadId: thread.id }])
      await mailMentions(comment, mentions)
      return comment
    },

    async edit(actor, input) {
      const text = buildCommentText(input.content)
      const existing = await load(input.projectId, input.commentId)
      if (existing.author_id !== actor.userId) throw new Forbidden("You cannot edit someone else's comments")
      await checkAttachments(input.projectId, text)
      const targets = await mentionTargets(input.projectId, actor.userId, text)
      const { row, mentions } = await sql.transaction(async (tx) => {
        await load(input.projectId, input.commentId, true, tx)
        const row = await repo.updateText(tx, existing.id, text, toPlainText(text.doc))
        if (row.parent_id !== null) await repo.touchComment(tx, row.parent_id)
        const mentions = await notifyMentions(tx, row, targets)
        await recordEvents(tx, [
          { type: 'CommentUpdated', projectId: row.project_id, commentId: row.id, threadId: row.parent_id },
        ])
        return { row, mentions }
      })
      const comment = toComment(row)
      await publish([
        { type: 'CommentUpdated', projectId: comment.projectId, commentId: comment.id, threadId: comment.parentId },
      ])
      await mailMentions(comment, mentions)
      return comment
    },

    async archive(actor, input) {
      const existing = await load(input.projectId, input.commentId)
      if (!mayModerate(actor, existing.author_id))
        throw new Forbidden('Only the author or a project owner can archive or reopen this comment')
      const changed: TrussEvent[] = []
      const row = await sql.transaction(async (tx) => {
        const row = await repo.updateArchived(tx, existing.id, input.archived)
        changed.push({
          type: 'CommentArchived',
          projectId: row.project_id,
          commentId: row.id,
          threadId: row.parent_id,
          archived: input.archived,
        })
        await recordEvents(tx, changed)
        return row
      })
      const comment = toComment(row)
      await publish(changed)
      return comment
    },

    async delete(actor, input) {
      const existing = await load(input.projectId, input.commentId)
      if (existing.author_id !== actor.userId) throw new Forbidden("You cannot delete someone else's comments")
      const events: TrussEvent[] = [
        {
          type: 'CommentArchived',
          projectId: existing.project_id,
          commentId: existing.id,
          threadId: existing.parent_id,
          archived: true,
        },
      ]
      await sql.transaction(async (tx) => {
        await repo.deleteComment(tx, existing.id)
        await recordEvents(tx, events)
      })
      await publish(events)
    },

    async markViewed(userId, input) {
      const row = await load(input.projectId, input.commentId)
      const threadId = row.parent_id ?? row.id
      await sql.transaction(async (tx) => {
        await repo.upsertView(tx, threadId, userId)
        await repo.markNotificationsRead(tx, userId, threadId)
      })
    },

    async get(projectId, id) {
      const [row] = await repo.selectComments(sql, [id])
      return row !== undefined && row.project_id === projectId ? toComment(row) : null
    },

    async getMany(ids) {
      return (await repo.selectComments(sql, ids)).map(toComment)
    },

    async threads(projectId, query = {}) {
      const size = pageSize(query.limit)
      const scope = await scopeOf(projectId, query)
      const { rows, totalCount, totalArchivedCount } = await repo.selectThreads(sql, {
        projectId,
        scope,
        includeArchived: query.includeArchived ?? false,
        limit: size,
        after: decodeCursor(query.cursor),
      })
      return { ...toPage(rows, size, totalCount, toComment), totalArchivedCount }
    },

    async replies(threadId, query = {}) {
      const size = pageSize(query.limit)
      const { rows, totalCount } = await repo.selectReplies(sql, threadId, size, decodeCursor(query.cursor))
      return toPage(rows, size, totalCount, toComment)
    },

    replyStats: (threadIds) => repo.selectReplyStats(sql, threadIds),

    async links(commentIds) {
      const out = new Map<string, CommentLink[]>(commentIds.map((id) => [id, []]))
      for (const l of await repo.selectLinks(sql, commentIds))
        out.get(l.comment_id)?.push({ resourceType: l.resource_type, resourceId: l.resource_id })
      return out
    },

    async viewerResources(comment) {
      const threadId = comment.parentId ?? comment.id
      const links = (await repo.selectLinks(sql, [threadId])) ?? []
      const items: ViewerResourceItem[] = []
      for (const l of links) {
        if (l.resource_type === 'object') items.push({ modelId: null, versionId: null, objectId: l.resource_id })
        if (l.resource_type === 'commit') {
          const v = await deps.versions.getById(comment.projectId, l.resource_id)
          if (v) items.push({ modelId: v.modelId, versionId: v.id, objectId: v.objectId })
        }
      }
      return items
    },

    viewedAt: (userId, ids) => repo.selectViews(sql, userId, ids),
    unreadThreadCount: (projectId, userId) => repo.countUnreadThreads(sql, projectId, userId),

    async notifications(userId, query = {}) {
      const size = pageSize(query.limit)
      const { rows, totalCount } = await repo.selectNotifications(sql, userId, {
        unreadOnly: query.unreadOnly ?? false,
        limit: size,
        after: decodeCursor(query.cursor),
      })
      return toPage(rows, size, totalCount, toNotification)
    },
  }
}
