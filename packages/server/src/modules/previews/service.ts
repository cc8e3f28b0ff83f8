/**
 * The previews service: asks for renders (a `preview.render` job, enqueued in the transaction that
 * creates a version, or when a route finds no image) and reads stored images. Rendering itself is the
 * job's (job.ts), in whichever process runs the `previews` worker group.
 */
import type { Sql, SqlExecutor } from '../../adapters/sql/types.js'
import type { JobQueue } from '../../jobs/queue.js'
import type { ActivityEntry } from '../activity/service.js'
import { requestRenderRow, selectImage, selectRender, type PreviewStatus } from './repository.js'

/** Speckle's turntable has 24 steps; the frontend asks for angles in those steps. */
export const SPECKLE_PREVIEW_ANGLES = 24

export type PreviewImage =
  | { status: 'done'; png: Buffer }
  /** `none`: no render was ever asked for. */
  | { status: Exclude<PreviewStatus, 'done'> | 'none' }

export interface PreviewsService {
  /** Ask for a render of the object unless one is done or was asked for recently. Commits, then wakes workers. */
  requestRender(projectId: string, objectId: string): Promise<void>
  /** As `requestRender`, inside the caller's transaction (no wake-up: the caller's commit hint does that). */
  requestRenderIn(db: SqlExecutor, projectId: string, objectId: string): Promise<void>
  /** The image of a Speckle angle (0–23, mapped onto the angles stored), or the render's status. */
  getImage(projectId: string, objectId: string, angle: number): Promise<PreviewImage>
  /** Activity sink: a new version's root object gets a render job in the version's transaction. */
  recordActivity(db: SqlExecutor, entry: ActivityEntry): Promise<void>
}

export interface PreviewsServiceDeps {
  sql: Sql
  jobs: Pick<JobQueue, 'enqueue' | 'wake'>
  /** Seconds before a pending or failed render may be asked for again (default 300). */
  retryAfterSeconds?: number
}

/** The stored angle closest to Speckle's `angle` (of 24 steps) when `stored` images go round the turn. */
export function storedAngle(angle: number, stored: number): number {
  if (stored <= 0) return 0
  const step = ((Math.trunc(angle) % SPECKLE_PREVIEW_ANGLES) + SPECKLE_PREVIEW_ANGLES) % SPECKLE_PREVIEW_ANGLES
  return Math.round((step * stored) / SPECKLE_PREVIEW_ANGLES) % stored
}

export function createPreviewsService(deps: PreviewsServiceDeps): PreviewsService {
  const { sql, jobs } = deps
  const againAfter = deps.retryAfterSeconds ?? 300

  async function requestRenderIn(db: SqlExecutor, projectId: string, objectId: string): Promise<void> {
    if (!(await requestRenderRow(db, projectId, objectId, againAfter))) return
    // While a job for this object is queued or running, another one is not added.
    await jobs.enqueue(db, 'preview.render', { projectId, objectId }, { dedupeKey: `${projectId}:${objectId}` })
  }

  return {
    requestRenderIn,
    async requestRender(projectId, objectId) {
      await sql.transaction((tx) => requestRenderIn(tx, projectId, objectId))
      await jobs.wake(['preview.render'])
    },
    async getImage(projectId, objectId, angle) {
      const render = await selectRender(sql, projectId, objectId)
      if (render === null) return { status: 'none' }
      if (render.status !== 'done') return { status: render.status }
      const png = await selectImage(sql, projectId, objectId, storedAngle(angle, render.angles))
      return png === null ? { status: 'pending' } : { status: 'done', png }
    },
    async recordActivity(db, entry) {
      if (entry.actionType !== 'commit_create' || entry.projectId === null) return
      const commit = (entry.info as { commit?: { objectId?: unknown } } | undefined)?.commit
      if (typeof commit?.objectId !== 'string') return
      await requestRenderIn(db, entry.projectId, commit.objectId)
    },
  }
}
