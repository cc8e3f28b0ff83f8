/** SQL of the previews module: one render status per (project, object), one PNG per angle (0012_previews.sql). */
import type { SqlExecutor } from '../../adapters/sql/types.js'

export type PreviewStatus = 'pending' | 'done' | 'error'

export interface PreviewRenderRow {
  project_id: string
  object_id: string
  status: PreviewStatus
  angles: number
  error: string | null
  requested_at: Date
  rendered_at: Date | null
}

const COLUMNS = 'project_id, object_id, status, angles, error, requested_at, rendered_at'

export async function selectRender(
  db: SqlExecutor,
  projectId: string,
  objectId: string,
): Promise<PreviewRenderRow | null> {
  const { rows } = await db.query<PreviewRenderRow>(
    `SELECT ${COLUMNS} FROM preview_renders WHERE project_id = $1 AND object_id = $2`,
    [projectId, objectId],
  )
  return rows[0] ?? null
}

/**
 * Ask for a render: a new row, or an old one set back to pending when its last request is older than
 * `againAfterSeconds` and it is not done. True when the caller should enqueue a render job.
 */
export async function requestRenderRow(
  db: SqlExecutor,
  projectId: string,
  objectId: string,
  againAfterSeconds: number,
): Promise<boolean> {
  const { rows } = await db.query<{ project_id: string }>(
    `INSERT INTO preview_renders (project_id, object_id) VALUES ($1, $2)
     ON CONFLICT (project_id, object_id) DO UPDATE
       SET status = 'pending', requested_at = clock_timestamp()
       WHERE preview_renders.status <> 'done'
         AND preview_renders.requested_at < clock_timestamp() - $3 * interval '1 second'
     RETURNING project_id`,
    [projectId, objectId, againAfterSeconds],
  )
  return rows.length > 0
}

/** Replace the object's images with `pngs` (angle = index) and mark it done. */
export async function storeImages(
  db: SqlExecutor,
  projectId: string,
  objectId: string,
  pngs: readonly Uint8Array[],
): Promise<void> {
  await db.query(
    `INSERT INTO preview_renders (project_id, object_id, status, angles, rendered_at)
     VALUES ($1, $2, 'done', $3, clock_timestamp())
     ON CONFLICT (project_id, object_id) DO UPDATE
       SET status = 'done', angles = $3, error = NULL, rendered_at = clock_timestamp()`,
    [projectId, objectId, pngs.length],
  )
  await db.query('DELETE FROM preview_images WHERE project_id = $1 AND object_id = $2', [projectId, objectId])
  for (const [angle, png] of pngs.entries()) {
    await db.query('INSERT INTO preview_images (project_id, object_id, angle, png) VALUES ($1, $2, $3, $4)', [
      projectId,
      objectId,
      angle,
      png,
    ])
  }
}

/** Record a failed render (images of an earlier render, if any, stay). */
export async function markRenderFailed(
  db: SqlExecutor,
  projectId: string,
  objectId: string,
  error: string,
): Promise<void> {
  await db.query(
    `UPDATE preview_renders SET status = 'error', error = $3
      WHERE project_id = $1 AND object_id = $2 AND status <> 'done'`,
    [projectId, objectId, error.slice(0, 2000)],
  )
}

export async function selectImage(
  db: SqlExecutor,
  projectId: string,
  objectId: string,
  angle: number,
): Promise<Buffer | null> {
  const { rows } = await db.query<{ png: Uint8Array }>(
    'SELECT png FROM preview_images WHERE project_id = $1 AND object_id = $2 AND angle = $3',
    [projectId, objectId, angle],
  )
  const png = rows[0]?.png
  if (png === undefined) return null
  return Buffer.isBuffer(png) ? png : Buffer.from(png.buffer, png.byteOffset, png.byteLength)
}
