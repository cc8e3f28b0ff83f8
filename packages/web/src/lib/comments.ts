/**
 * Comment threads on a model, as the viewer page uses them: Speckle 2.24's `project.commentThreads`,
 * `commentMutations` and `projectCommentsUpdated`, plus the pure parts (the viewer state a thread keeps,
 * its anchor point, and projecting that point onto the canvas).
 */
import { gql } from './api.js'
import { subscribe } from './live.js'

export interface CommentAuthor {
  id: string
  name: string
  avatar: string | null
}
export interface CommentItem {
  id: string
  authorId: string
  author: CommentAuthor
  archived: boolean
  rawText: string | null
  text: { doc: unknown } | null
  createdAt: string
  updatedAt: string
}
export interface CommentThread extends CommentItem {
  viewedAt: string | null
  viewerState: Record<string, unknown> | null
  replies: { totalCount: number; items: CommentItem[] }
}

const ITEM = 'id authorId author { id name avatar } archived rawText text { doc } createdAt updatedAt'
// 25 threads × 25 replies stays under the server's query cost limit (100 × 100 is refused).
const THREAD = `${ITEM} viewedAt viewerState replies(limit: 25) { totalCount items { ${ITEM} } }`

/** The resource id string of one version of a model (Speckle's `modelId@versionId`). */
export const versionResource = (modelId: string, versionId: string) => `${modelId}@${versionId}`

/** The model's threads, archived ones included, newest first. */
export async function loadThreads(projectId: string, resourceIdString: string): Promise<CommentThread[]> {
  const data = await gql<{ project: { commentThreads: { items: CommentThread[] } } }>(
    `query CommentThreads($p: String!, $f: ProjectCommentsFilter) {
      project(id: $p) { commentThreads(limit: 25, filter: $f) { items { ${THREAD} } } } }`,
    { p: projectId, f: { resourceIdString, includeArchived: true } },
  )
  return [...data.project.commentThreads.items].sort((a, b) => b.createdAt.localeCompare(a.createdAt))
}

/** A thread is unread while it changed after you last viewed it (Speckle's rule). */
export const isUnread = (t: Pick<CommentThread, 'viewedAt' | 'updatedAt'>) =>
  t.viewedAt === null || new Date(t.viewedAt) < new Date(t.updatedAt)

/** Plain text as the editor's document: one paragraph per line. */
export function docFromText(text: string): Record<string, unknown> {
  return {
    type: 'doc',
    content: text
      .split('\n')
      .map((line) =>
        line === '' ? { type: 'paragraph' } : { type: 'paragraph', content: [{ type: 'text', text: line }] },
      ),
  }
}

export async function createThread(input: {
  projectId: string
  resourceIdString: string
  text: string
  viewerState: Record<string, unknown>
}): Promise<string> {
  const data = await gql<{ commentMutations: { create: { id: string } } }>(
    'mutation CreateThread($i: CreateCommentInput!) { commentMutations { create(input: $i) { id } } }',
    {
      i: {
        projectId: input.projectId,
        resourceIdString: input.resourceIdString,
        content: { doc: docFromText(input.text), blobIds: [] },
        viewerState: input.viewerState,
      },
    },
  )
  return data.commentMutations.create.id
}

export const replyTo = (projectId: string, threadId: string, text: string) =>
  gql('mutation Reply($i: CreateCommentReplyInput!) { commentMutations { reply(input: $i) { id } } }', {
    i: { projectId, threadId, content: { doc: docFromText(text), blobIds: [] } },
  })

export const editComment = (projectId: string, commentId: string, text: string) =>
  gql('mutation Edit($i: EditCommentInput!) { commentMutations { edit(input: $i) { id } } }', {
    i: { projectId, commentId, content: { doc: docFromText(text), blobIds: [] } },
  })

export const archiveThread = (projectId: string, commentId: string, archived: boolean) =>
  gql('mutation Archive($i: ArchiveCommentInput!) { commentMutations { archive(input: $i) } }', {
    i: { projectId, commentId, archived },
  })

export const deleteComment = (projectId: string, commentId: string) =>
  gql('mutation Delete($i: DeleteCommentInput!) { commentMutations { delete(input: $i) } }', {
    i: { projectId, commentId },
  })

export const markViewed = (projectId: string, commentId: string) =>
  gql('mutation MarkViewed($i: MarkCommentViewedInput!) { commentMutations { markViewed(input: $i) } }', {
    i: { projectId, commentId },
  })

/** Calls `onChange` whenever a thread of the resource is created, replied to, edited, archived or deleted. */
export function watchThreads(projectId: string, resourceIdString: string, onChange: () => void): () => void {
  return subscribe(
    `subscription CommentsUpdated($t: ViewerUpdateTrackingTarget!) {
      projectCommentsUpdated(target: $t) { type id } }`,
    { t: { projectId, resourceIdString } },
    onChange,
    onChange,
  )
}

export type Vec3 = [number, number, number]

/** What a new thread remembers of the view: Speckle's SerializedViewerState, the parts this viewer has. */
export interface ViewSnapshot {
  projectId: string
  resourceIdString: string
  camera: { position: Vec3; target: Vec3; isOrthoProjection: boolean }
  selectedObjectIds: string[]
  /** The anchor: the selected objects' bounding-box centre. */
  selection: Vec3 | null
  sectionBox: { min: Vec3; max: Vec3 } | null
}

export function serializeViewerState(s: ViewSnapshot): Record<string, unknown> {
  return {
    projectId: s.projectId,
    sessionId: `truss-${Math.random().toString(36).slice(2, 10)}`,
    viewer: { metadata: { filteringState: null } },
    resources: { request: { resourceIdString: s.resourceIdString, threadFilters: {} } },
    ui: {
      threads: { openThread: { threadId: null, isTyping: false, newThreadEditor: true } },
      spotlightUserSessionId: null,
      filters: {
        isolatedObjectIds: [],
        hiddenObjectIds: [],
        selectedObjectIds: s.selectedObjectIds,
        propertyFilter: { key: null, isApplied: false },
      },
      camera: { ...s.camera, zoom: 1 },
      sectionBox: s.sectionBox,
      explodeFactor: 0,
      selection: s.selection,
      measurement: { enabled: false, options: null },
    },
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
function vec3(v: unknown): Vec3 | null {
  if (Array.isArray(v) && v.length === 3 && v.every((n) => typeof n === 'number' && Number.isFinite(n)))
    return v as Vec3
  if (isObject(v) && [v.x, v.y, v.z].every((n) => typeof n === 'number' && Number.isFinite(n)))
    return [v.x as number, v.y as number, v.z as number]
  return null
}

/** The view a thread was posted from, read defensively (any client may have written it). */
export function readViewerState(state: unknown): {
  camera: { position: Vec3; target: Vec3 } | null
  selectedObjectIds: string[]
  anchor: Vec3 | null
  sectionBox: { min: Vec3; max: Vec3 } | null
} {
  const ui = isObject(state) && isObject(state.ui) ? state.ui : {}
  const camera = isObject(ui.camera) ? ui.camera : {}
  const position = vec3(camera.position)
  const target = vec3(camera.target)
  const filters = isObject(ui.filters) ? ui.filters : {}
  const ids = Array.isArray(filters.selectedObjectIds)
    ? filters.selectedObjectIds.filter((id): id is string => typeof id === 'string')
    : []
  const box = isObject(ui.sectionBox) ? ui.sectionBox : null
  const min = box && vec3(box.min)
  const max = box && vec3(box.max)
  return {
    camera: position && target ? { position, target } : null,
    selectedObjectIds: ids,
    anchor: vec3(ui.selection),
    sectionBox: min && max ? { min, max } : null,
  }
}

/** The centre of a box, or null for an empty one (min above max, or not finite). */
export function boxCentre(min: Vec3, max: Vec3): Vec3 | null {
  if (![...min, ...max].every(Number.isFinite) || min.some((m, i) => m > max[i]!)) return null
  return [(min[0] + max[0]) / 2, (min[1] + max[1]) / 2, (min[2] + max[2]) / 2]
}

/**
 * A world point on the canvas: clip = projection × view × point (column-major 4×4 matrices, as three.js
 * keeps `projectionMatrix.elements` and `matrixWorldInverse.elements`), then pixels from the top left.
 * Null when the point is behind the camera or outside the view.
 */
export function projectToScreen(
  point: Vec3,
  view: ArrayLike<number>,
  projection: ArrayLike<number>,
  width: number,
  height: number,
): { x: number; y: number } | null {
  const mul = (m: ArrayLike<number>, v: [number, number, number, number]) =>
    [0, 1, 2, 3].map((r) => m[r]! * v[0] + m[4 + r]! * v[1] + m[8 + r]! * v[2] + m[12 + r]! * v[3]) as [
      number,
      number,
      number,
      number,
    ]
  const clip = mul(projection, mul(view, [point[0], point[1], point[2], 1]))
  const w = clip[3]
  if (!(w > 0)) return null
  const [x, y, z] = [clip[0] / w, clip[1] / w, clip[2] / w]
  if (Math.abs(x) > 1 || Math.abs(y) > 1 || z < -1 || z > 1) return null
  return { x: ((x + 1) / 2) * width, y: ((1 - y) / 2) * height }
}
