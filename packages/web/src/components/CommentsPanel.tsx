/**
 * The viewer's comments: a panel listing the model's threads (newest first, unread and resolved marked),
 * one thread open at a time with its replies, and pins drawn over the canvas at each open thread's anchor.
 * A new thread keeps the current view (camera, selection, section box) as Speckle's viewerState; opening a
 * thread brings that view back. Threads arrive live over `projectCommentsUpdated`.
 */
import type { CameraController, SectionTool, SelectionExtension, Viewer } from '@speckle/viewer'
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent, type RefObject } from 'react'
import { createPortal } from 'react-dom'
import {
  archiveThread,
  boxCentre,
  createThread,
  deleteComment,
  editComment,
  isUnread,
  loadThreads,
  markViewed,
  projectToScreen,
  readViewerState,
  replyTo,
  serializeViewerState,
  versionResource,
  watchThreads,
  type CommentItem,
  type CommentThread,
  type Vec3,
} from '../lib/comments'
import { CommentText } from '../lib/rich-text'
import { useSession } from '../lib/session'
import { Ago, Avatar, Empty, ErrorBox, Loading } from './ui'

export interface ViewerHandles {
  viewer: Viewer
  camera: CameraController
  selection: SelectionExtension
  section: SectionTool
}

interface Props {
  projectId: string
  modelId: string
  versionId: string
  viewer: RefObject<ViewerHandles | null>
  /** True once the model is in (the viewer's extensions exist). */
  loaded: boolean
  /** Where the pins go: an element laid over the canvas. */
  pinLayer: HTMLElement | null
  /** Select an object the way the page does (so its properties show). */
  onSelect(id: string): void
}

const xyz = (v: { x: number; y: number; z: number }): Vec3 => [v.x, v.y, v.z]
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** The current view, as a new thread keeps it. */
function snapshot(h: ViewerHandles, projectId: string, resourceIdString: string) {
  const ids = h.selection
    .getSelectedObjects()
    .map((o) => o.id)
    .filter((id): id is string => typeof id === 'string')
  let anchor: Vec3 | null = null
  if (ids.length > 0) {
    const box = h.viewer.getRenderer().boxFromObjects(ids)
    anchor = boxCentre(xyz(box.min), xyz(box.max))
  }
  let sectionBox: { min: Vec3; max: Vec3 } | null = null
  if (h.section.enabled) {
    // An axis-aligned approximation of the section tool's box (its rotation is not kept).
    const obb = h.section.getBox() as {
      center: { x: number; y: number; z: number }
      halfSize: { x: number; y: number; z: number }
    }
    const [c, s] = [xyz(obb.center), xyz(obb.halfSize)]
    sectionBox = { min: [c[0] - s[0], c[1] - s[1], c[2] - s[2]], max: [c[0] + s[0], c[1] + s[1], c[2] + s[2]] }
  }
  const cam = h.viewer.getRenderer().renderingCamera as { isOrthographicCamera?: boolean } | null
  return serializeViewerState({
    projectId,
    resourceIdString,
    camera: {
      position: xyz(h.camera.getPosition()),
      target: xyz(h.camera.getTarget()),
      isOrthoProjection: cam?.isOrthographicCamera === true,
    },
    selectedObjectIds: ids,
    selection: anchor,
    sectionBox,
  })
}

/** Bring back the view a thread was posted from. */
function restore(h: ViewerHandles, state: unknown, onSelect: (id: string) => void) {
  const view = readViewerState(state)
  if (view.camera) {
    const [p, t] = [view.camera.position, view.camera.target]
    h.camera.setCameraView(
      { position: { x: p[0], y: p[1], z: p[2] }, target: { x: t[0], y: t[1], z: t[2] } } as never,
      true,
    )
  }
  if (view.selectedObjectIds[0]) onSelect(view.selectedObjectIds[0])
  if (view.sectionBox) {
    const [min, max] = [view.sectionBox.min, view.sectionBox.max]
    h.section.setBox({ min: { x: min[0], y: min[1], z: min[2] }, max: { x: max[0], y: max[1], z: max[2] } })
    h.section.enabled = true
  }
  h.viewer.requestRender()
}

export default function CommentsPanel({ projectId, modelId, versionId, viewer, loaded, pinLayer, onSelect }: Props) {
  const { me } = useSession()
  const resource = versionResource(modelId, versionId)
  const [threads, setThreads] = useState<CommentThread[] | null>(null)
  const [loadError, setLoadError] = useState<string | null>(null)
  const [openId, setOpenId] = useState<string | null>(null)
  const [collapsed, setCollapsed] = useState(false)
  const [draft, setDraft] = useState('')
  const [busy, setBusy] = useState(false)
  const [actionError, setActionError] = useState<string | null>(null)

  const refresh = useCallback(async () => {
    try {
      setThreads(await loadThreads(projectId, resource))
      setLoadError(null)
    } catch (e) {
      setLoadError(errorText(e))
    }
  }, [projectId, resource])

  useEffect(() => {
    setThreads(null)
    void refresh()
    return watchThreads(projectId, resource, () => void refresh())
  }, [projectId, resource, refresh])

  const act = async (work: () => Promise<unknown>) => {
    setBusy(true)
    setActionError(null)
    try {
      await work()
      await refresh()
      return true
    } catch (e) {
      setActionError(errorText(e))
      return false
    } finally {
      setBusy(false)
    }
  }

  const open = (thread: CommentThread) => {
    setOpenId(thread.id)
    setCollapsed(false)
    const h = viewer.current
    if (h && loaded) restore(h, thread.viewerState, onSelect)
    if (me && isUnread(thread)) void markViewed(projectId, thread.id).then(refresh, () => undefined)
  }

  const post = async (e: FormEvent) => {
    e.preventDefault()
    const h = viewer.current
    const text = draft.trim()
    if (!text || !h) return
    const viewerState = snapshot(h, projectId, resource)
    if (await act(() => createThread({ projectId, resourceIdString: resource, text, viewerState }))) setDraft('')
  }

  const opened = threads?.find((t) => t.id === openId) ?? null
  const unread = me ? (threads ?? []).filter((t) => !t.archived && isUnread(t)).length : 0

  return (
    <aside className="panel comments-panel" aria-label="Comments" data-collapsed={collapsed || undefined}>
      <div className="comments-head">
        <h2 id="comments-title">
          Comments{threads ? ` (${threads.length})` : ''}
          {unread > 0 && <span className="badge"> {unread} unread</span>}
        </h2>
        <button
          type="button"
          className="icon"
          aria-expanded={!collapsed}
          aria-controls="comments-body"
          onClick={() => setCollapsed(!collapsed)}
          aria-label={collapsed ? 'Show comments' : 'Hide comments'}
        >
          {collapsed ? '◀' : '▶'}
        </button>
      </div>
      <div id="comments-body" hidden={collapsed}>
        {actionError && <ErrorBox title="That did not work" error={actionError} />}
        {loadError && <ErrorBox title="Could not load the comments" error={loadError} />}
        {opened ? (
          <OpenThread
            thread={opened}
            meId={me?.id ?? null}
            busy={busy}
            onBack={() => setOpenId(null)}
            onShow={() => viewer.current && restore(viewer.current, opened.viewerState, onSelect)}
            act={act}
            projectId={projectId}
          />
        ) : (
          <>
            {me ? (
              <form className="comment-form" onSubmit={(e) => void post(e)}>
                <label>
                  New comment
                  <textarea value={draft} onChange={(e) => setDraft(e.target.value)} rows={3} maxLength={10_000} />
                </label>
                <p className="muted">Posted with the current view and the selected object.</p>
                <button type="submit" disabled={busy || !loaded || draft.trim() === ''}>
                  Post comment
                </button>
              </form>
            ) : (
              <p className="muted">Sign in to comment.</p>
            )}
            {threads === null && !loadError ? (
              <Loading what="Loading comments" />
            ) : threads && threads.length === 0 ? (
              <Empty>No comments on this model yet.</Empty>
            ) : (
              <ul className="threads" aria-label="Comment threads">
                {(threads ?? []).map((t) => (
                  <li key={t.id} className={t.archived ? 'archived' : ''}>
                    <button
                      type="button"
                      className="thread-card"
                      onClick={() => open(t)}
                      aria-label={`Open thread by ${t.author.name}: ${t.rawText ?? ''}`}
                    >
                      <Byline item={t} />
                      <CommentText doc={t.text?.doc} fallback={t.rawText} />
                      <span className="meta">
                        {t.replies.totalCount} {t.replies.totalCount === 1 ? 'reply' : 'replies'}
                        {t.archived && <span className="badge resolved"> · Resolved</span>}
                        {me && !t.archived && isUnread(t) && <span className="badge unread"> · Unread</span>}
                      </span>
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </div>
      {pinLayer &&
        createPortal(
          <Pins threads={threads ?? []} viewer={viewer} loaded={loaded} openId={openId} onOpen={open} />,
          pinLayer,
        )}
    </aside>
  )
}

function Byline({ item }: { item: CommentItem }) {
  return (
    <span className="byline">
      <Avatar name={item.author.name} src={item.author.avatar} /> <strong>{item.author.name}</strong> ·{' '}
      <Ago date={item.createdAt} />
    </span>
  )
}

function OpenThread({
  thread,
  meId,
  busy,
  onBack,
  onShow,
  act,
  projectId,
}: {
  thread: CommentThread
  meId: string | null
  busy: boolean
  onBack(): void
  onShow(): void
  act(work: () => Promise<unknown>): Promise<boolean>
  projectId: string
}) {
  const [reply, setReply] = useState('')
  const back = useRef<HTMLButtonElement>(null)
  useEffect(() => back.current?.focus(), [thread.id])
  const send = async (e: FormEvent) => {
    e.preventDefault()
    const text = reply.trim()
    if (text && (await act(() => replyTo(projectId, thread.id, text)))) setReply('')
  }
  return (
    <section className="thread" aria-label="Open thread">
      <div className="toolbar">
        <button type="button" ref={back} onClick={onBack}>
          ← All threads
        </button>
        <button type="button" onClick={onShow}>
          Show in view
        </button>
        {meId && (
          <button
            type="button"
            disabled={busy}
            onClick={() => void act(() => archiveThread(projectId, thread.id, !thread.archived))}
          >
            {thread.archived ? 'Reopen' : 'Resolve'}
          </button>
        )}
      </div>
      {thread.archived && (
        <p className="badge resolved" role="status">
          Resolved
        </p>
      )}
      <ol className="replies" aria-label="Replies">
        {[thread, ...thread.replies.items].map((c) => (
          <CommentEntry
            key={c.id}
            comment={c}
            mine={c.authorId === meId}
            busy={busy}
            onEdit={(text) => act(() => editComment(projectId, c.id, text))}
            onDelete={() => act(() => deleteComment(projectId, c.id))}
            isThread={c.id === thread.id}
          />
        ))}
      </ol>
      {meId && !thread.archived && (
        <form className="comment-form" onSubmit={(e) => void send(e)}>
          <label>
            Reply
            <textarea value={reply} onChange={(e) => setReply(e.target.value)} rows={2} maxLength={10_000} />
          </label>
          <button type="submit" disabled={busy || reply.trim() === ''}>
            Send reply
          </button>
        </form>
      )}
    </section>
  )
}

function CommentEntry({
  comment,
  mine,
  busy,
  onEdit,
  onDelete,
  isThread,
}: {
  comment: CommentItem
  mine: boolean
  busy: boolean
  onEdit(text: string): Promise<boolean>
  onDelete(): Promise<boolean>
  isThread: boolean
}) {
  const [editing, setEditing] = useState<string | null>(null)
  const [confirming, setConfirming] = useState(false)
  return (
    <li className="comment">
      <Byline item={comment} />
      {editing === null ? (
        <CommentText doc={comment.text?.doc} fallback={comment.rawText} />
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault()
            if (editing.trim()) void onEdit(editing.trim()).then((ok) => ok && setEditing(null))
          }}
        >
          <label>
            Edit comment
            <textarea value={editing} onChange={(e) => setEditing(e.target.value)} rows={2} autoFocus />
          </label>
          <button type="submit" disabled={busy}>
            Save
          </button>{' '}
          <button type="button" onClick={() => setEditing(null)}>
            Cancel
          </button>
        </form>
      )}
      {mine && editing === null && (
        <span className="tools">
          <button type="button" className="link" onClick={() => setEditing(comment.rawText ?? '')}>
            Edit
          </button>{' '}
          {confirming ? (
            <>
              <button type="button" className="link danger" disabled={busy} onClick={() => void onDelete()}>
                {isThread ? 'Delete the thread and its replies' : 'Really delete'}
              </button>{' '}
              <button type="button" className="link" onClick={() => setConfirming(false)}>
                Keep
              </button>
            </>
          ) : (
            <button type="button" className="link" onClick={() => setConfirming(true)}>
              Delete
            </button>
          )}
        </span>
      )}
    </li>
  )
}

/** One button per open thread with an anchor, moved every frame to where its point is on the canvas. */
function Pins({
  threads,
  viewer,
  loaded,
  openId,
  onOpen,
}: {
  threads: CommentThread[]
  viewer: RefObject<ViewerHandles | null>
  loaded: boolean
  openId: string | null
  onOpen(t: CommentThread): void
}) {
  const pinned = useMemo(
    () =>
      threads.flatMap((t) => {
        const anchor = readViewerState(t.viewerState).anchor
        return !t.archived && anchor ? [{ thread: t, anchor }] : []
      }),
    [threads],
  )
  const elements = useRef(new Map<string, HTMLButtonElement>())
  useEffect(() => {
    if (!loaded || pinned.length === 0) return
    let frame = 0
    const place = () => {
      frame = requestAnimationFrame(place)
      const cam = viewer.current?.viewer.getRenderer().renderingCamera as {
        matrixWorldInverse: { elements: number[] }
        projectionMatrix: { elements: number[] }
      } | null
      for (const { thread, anchor } of pinned) {
        const el = elements.current.get(thread.id)
        const layer = el?.parentElement
        if (!el || !layer) continue
        const at = cam
          ? projectToScreen(
              anchor,
              cam.matrixWorldInverse.elements,
              cam.projectionMatrix.elements,
              layer.clientWidth,
              layer.clientHeight,
            )
          : null
        el.hidden = at === null
        if (at) el.style.transform = `translate(${at.x.toFixed(1)}px, ${at.y.toFixed(1)}px)`
      }
    }
    place()
    return () => cancelAnimationFrame(frame)
  }, [pinned, loaded, viewer])
  return (
    <>
      {pinned.map(({ thread }, i) => (
        <button
          key={thread.id}
          type="button"
          hidden
          className={thread.id === openId ? 'pin open' : 'pin'}
          data-testid="comment-pin"
          ref={(el) => {
            if (el) elements.current.set(thread.id, el)
            else elements.current.delete(thread.id)
          }}
          onClick={() => onOpen(thread)}
          aria-label={`Comment by ${thread.author.name}: ${thread.rawText ?? ''}`}
        >
          {pinned.length - i}
        </button>
      ))}
    </>
  )
}
