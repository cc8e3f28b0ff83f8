/**
 * File imports (WIRE.md "File imports"): an uploaded file becomes a `file_uploads` row and a
 * `fileimport.convert` job in the transaction that stores its blob; the job (job.ts) converts it into
 * objects and a version. Statuses are Speckle's: 0 queued, 1 converting, 2 completed, 3 error.
 */
import type { Bus } from '../../adapters/bus/types.js'
import type { Sql, SqlExecutor } from '../../adapters/sql/types.js'
import { BadUserInput } from '../../errors.js'
import { publishEvents, recordEvents, type EventLogger, type TrussEvent } from '../../events.js'
import type { JobQueue } from '../../jobs/index.js'

export const CONVERTED_STATUS = { queued: 0, converting: 1, completed: 2, error: 3 } as const
export type ConvertedStatus = (typeof CONVERTED_STATUS)[keyof typeof CONVERTED_STATUS]

/** The types Truss converts (`@truss/import`); `autodetect` reads the type from the file itself. */
export const IMPORT_FILE_TYPES = ['ifc', 'obj', 'stl', 'gltf', 'glb'] as const

export interface FileUpload {
  id: string
  projectId: string
  modelName: string
  userId: string | null
  fileName: string
  fileType: string
  fileSize: number
  uploadComplete: boolean
  uploadDate: Date
  convertedStatus: ConvertedStatus
  convertedMessage: string | null
  convertedVersionId: string | null
  convertedLastUpdate: Date
}

interface FileUploadRow {
  id: string
  project_id: string
  model_name: string
  user_id: string | null
  file_name: string
  file_type: string
  file_size: string | number
  upload_complete: boolean
  upload_date: Date
  converted_status: number
  converted_message: string | null
  converted_version_id: string | null
  converted_last_update: Date
}

function toUpload(row: FileUploadRow): FileUpload {
  return {
    id: row.id,
    projectId: row.project_id,
    modelName: row.model_name,
    userId: row.user_id,
    fileName: row.file_name,
    fileType: row.file_type,
    fileSize: Number(row.file_size),
    uploadComplete: row.upload_complete,
    uploadDate: row.upload_date,
    convertedStatus: row.converted_status as ConvertedStatus,
    convertedMessage: row.converted_message,
    convertedVersionId: row.converted_version_id,
    convertedLastUpdate: row.converted_last_update,
  }
}

export interface FileImportsService {
  /** In the blob's transaction: record the upload and queue its conversion. */
  record(
    tx: SqlExecutor,
    input: {
      id: string
      projectId: string
      modelName: string
      userId: string | null
      fileName: string
      fileType: string
      fileSize: number
    },
  ): Promise<FileUpload>
  /** After the recording transaction committed: tell subscribers and wake the import workers. */
  announce(upload: Pick<FileUpload, 'id' | 'projectId'>, created: boolean): Promise<void>
  get(id: string, db?: SqlExecutor): Promise<FileUpload | null>
  listForProject(projectId: string, limit?: number): Promise<FileUpload[]>
  /**
   * Uploads whose conversion has not succeeded (queued, converting or failed), newest first: for a project,
   * those whose model does not exist yet (`pendingImportedModels`), or those into one model.
   */
  pending(
    projectId: string,
    options: { modelName?: string; newModelsOnly?: boolean; limit?: number },
  ): Promise<FileUpload[]>
  setStatus(
    db: SqlExecutor,
    id: string,
    status: ConvertedStatus,
    fields?: { message?: string | null; versionId?: string | null },
  ): Promise<FileUpload | null>
}

export function createFileImportsService(deps: {
  sql: Sql
  jobs: JobQueue
  bus?: Pick<Bus, 'publish'>
  logger?: EventLogger
}): FileImportsService {
  const { sql, jobs } = deps
  return {
    async record(tx, input) {
      const modelName = input.modelName.trim()
      if (modelName === '') throw new BadUserInput('The model name must not be empty')
      const { rows } = await tx.query<FileUploadRow>(
        `INSERT INTO file_uploads (id, project_id, model_name, user_id, file_name, file_type, file_size)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET project_id = EXCLUDED.project_id, model_name = EXCLUDED.model_name,
           user_id = EXCLUDED.user_id, file_name = EXCLUDED.file_name, file_type = EXCLUDED.file_type,
           file_size = EXCLUDED.file_size, upload_date = clock_timestamp(), converted_status = 0,
           converted_message = NULL, converted_version_id = NULL, converted_last_update = clock_timestamp()
         RETURNING *`,
        [input.id, input.projectId, modelName, input.userId, input.fileName, input.fileType, input.fileSize],
      )
      await jobs.enqueue(tx, 'fileimport.convert', { fileUploadId: input.id }, { dedupeKey: `upload:${input.id}` })
      const upload = toUpload(rows[0]!)
      // In the change feed with the upload itself: nothing is lost between the commit and the publish.
      await recordEvents(tx, [uploadEvent(upload, true)])
      return upload
    },

    async announce(upload, created) {
      // The outbox row was written with the change (`record`, `setStatus`); this only nudges the nodes.
      await publishEvents(deps.bus, [uploadEvent(upload, created)], deps.logger)
    },

    async get(id, db = sql) {
      const { rows } = await db.query<FileUploadRow>('SELECT * FROM file_uploads WHERE id = $1', [id])
      return rows[0] ? toUpload(rows[0]) : null
    },

    async listForProject(projectId, limit = 100) {
      const { rows } = await sql.query<FileUploadRow>(
        'SELECT * FROM file_uploads WHERE project_id = $1 ORDER BY upload_date DESC, id DESC LIMIT $2',
        [projectId, Math.min(Math.max(1, limit), 1000)],
      )
      return rows.map(toUpload)
    },

    async pending(projectId, options) {
      const limit = Math.min(Math.max(1, Math.trunc(options.limit ?? 25)), 100)
      const { rows } = await sql.query<FileUploadRow>(
        `SELECT f.* FROM file_uploads f
         WHERE f.project_id = $1 AND f.converted_status <> 2
           AND ($2::text IS NULL OR lower(f.model_name) = lower($2))
           AND (NOT $3 OR NOT EXISTS (
             SELECT 1 FROM models m WHERE m.project_id = f.project_id AND lower(m.name) = lower(f.model_name)))
         ORDER BY f.upload_date DESC, f.id DESC LIMIT $4`,
        [projectId, options.modelName ?? null, options.newModelsOnly ?? false, limit],
      )
      return rows.map(toUpload)
    },

    async setStatus(db, id, status, fields = {}) {
      // The status and its change-feed row commit together (in the caller's transaction, or in one here).
      const update = async (tx: SqlExecutor) => {
        const { rows } = await tx.query<FileUploadRow>(
          `UPDATE file_uploads SET converted_status = $2, converted_message = $3,
             converted_version_id = COALESCE($4, converted_version_id), converted_last_update = clock_timestamp()
           WHERE id = $1 RETURNING *`,
          [id, status, fields.message ?? null, fields.versionId ?? null],
        )
        const upload = rows[0] ? toUpload(rows[0]) : null
        if (upload !== null) await recordEvents(tx, [uploadEvent(upload, false)])
        return upload
      }
      return 'transaction' in db ? (db as Sql).transaction(update) : update(db)
    },
  }
}

function uploadEvent(upload: Pick<FileUpload, 'id' | 'projectId'>, created: boolean): TrussEvent {
  return { type: 'FileUploadUpdated', projectId: upload.projectId, fileUploadId: upload.id, created }
}
