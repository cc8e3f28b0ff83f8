/**
 * Project blobs (WIRE.md "Blobs"): files kept in the blob store under `blobs/<projectId>/<blobId>`, each with
 * a `blobs` row that the API lists. A file is streamed to the store as it arrives (never held whole), its
 * MD5 taken on the way; one past the size limit is removed again and its row says why (Speckle's
 * `uploadStatus` 2, "File size limit reached"). The row and the bytes only count once both are written.
 */
import { createHash } from 'node:crypto'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { BlobStore } from '../../adapters/blobs/types.js'
import type { Sql, SqlExecutor } from '../../adapters/sql/types.js'
import { BadUserInput, NotFound } from '../../errors.js'
import { newId } from '../../ids.js'

export const BLOB_STATUS = { pending: 0, done: 1, error: 2 } as const
export const SIZE_LIMIT_MESSAGE = 'File size limit reached'

export interface Blob {
  id: string
  projectId: string
  userId: string | null
  fileName: string
  fileType: string
  fileSize: number | null
  fileHash: string | null
  uploadStatus: number
  uploadError: string | null
  createdAt: Date
}

interface BlobRow {
  id: string
  project_id: string
  user_id: string | null
  object_key: string
  file_name: string
  file_type: string
  file_size: string | number | null
  file_hash: string | null
  upload_status: number
  upload_error: string | null
  created_at: Date
}

function toBlob(row: BlobRow): Blob {
  return {
    id: row.id,
    projectId: row.project_id,
    userId: row.user_id,
    fileName: row.file_name,
    fileType: row.file_type,
    fileSize: row.file_size === null ? null : Number(row.file_size),
    fileHash: row.file_hash,
    uploadStatus: row.upload_status,
    uploadError: row.upload_error,
    createdAt: row.created_at,
  }
}

/** Speckle's blob ids are 10 characters; clients choose their own (`hash:<id>` form keys), within reason. */
const BLOB_ID = /^[A-Za-z0-9_-]{1,64}$/
const MAX_FILE_NAME = 1024

export function blobKey(projectId: string, blobId: string): string {
  return `blobs/${projectId}/${blobId}`
}

/** The file type Speckle records: the name's extension, lower case, or an empty string. */
export function fileTypeOf(fileName: string): string {
  const dot = fileName.lastIndexOf('.')
  return dot > 0 && dot < fileName.length - 1 ? fileName.slice(dot + 1).toLowerCase() : ''
}

export interface StoreFileInput {
  projectId: string
  userId: string | null
  /** The client's id (`hash:<id>`); a random 10-character id when absent. */
  blobId?: string
  fileName: string
  body: Readable
  /** Largest size accepted, in bytes. */
  limitBytes: number
  /**
   * Runs in the transaction that marks the blob done, so that what the file causes (a file-upload record,
   * its conversion job) commits with it or not at all.
   */
  onStored?: (tx: SqlExecutor, blob: Blob) => Promise<void>
}

export interface BlobsService {
  /** Stream a file into the store. Resolves with the blob row, status done or error (over the limit). */
  storeFile(input: StoreFileInput): Promise<Blob>
  get(projectId: string, blobId: string): Promise<Blob | null>
  /** The stored bytes of a done blob; throws NotFound. */
  open(projectId: string, blobId: string): Promise<{ blob: Blob; body: Readable }>
  /** Ids of `ids` the project does not hold (done blobs count). */
  diff(projectId: string, ids: readonly string[]): Promise<string[]>
  /** Newest first; `cursor` is the previous page's last `createdAt` ISO string. */
  list(
    projectId: string,
    query?: { fileName?: string | null; limit?: number | null; cursor?: string | null },
  ): Promise<{ totalCount: number; totalSize: number; cursor: string | null; items: Blob[] }>
  delete(projectId: string, blobId: string): Promise<void>
}

class SizeLimit extends Error {}

export function createBlobsService({ sql, blobs }: { sql: Sql; blobs: BlobStore }): BlobsService {
  const get = async (projectId: string, blobId: string): Promise<Blob | null> => {
    const { rows } = await sql.query<BlobRow>('SELECT * FROM blobs WHERE project_id = $1 AND id = $2', [
      projectId,
      blobId,
    ])
    return rows[0] ? toBlob(rows[0]) : null
  }

  return {
    async storeFile(input) {
      const blobId = input.blobId ?? newId()
      if (!BLOB_ID.test(blobId)) throw new BadUserInput(`Invalid blob id: ${blobId.slice(0, 80)}`)
      const fileName = (input.fileName || 'file').slice(0, MAX_FILE_NAME)
      const key = blobKey(input.projectId, blobId)
      const { rows } = await sql.query<BlobRow>(
        `INSERT INTO blobs (id, project_id, user_id, object_key, file_name, file_type)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (project_id, id) DO UPDATE SET user_id = EXCLUDED.user_id, file_name = EXCLUDED.file_name,
           file_type = EXCLUDED.file_type, upload_status = 0, upload_error = NULL, created_at = clock_timestamp()
         RETURNING *`,
        [blobId, input.projectId, input.userId, key, fileName, fileTypeOf(fileName)],
      )
      const pending = toBlob(rows[0]!)
      const md5 = createHash('md5')
      let size = 0
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.length
          if (size > input.limitBytes) return done(new SizeLimit(SIZE_LIMIT_MESSAGE))
          md5.update(chunk)
          done(null, chunk)
        },
      })
      try {
        // pipeline owns both streams' errors; the store reports the failure through its read of the meter.
        const piped = pipeline(input.body, meter).catch(() => undefined)
        await blobs.put(key, meter)
        await piped
        // `put` reads to the end; a limit error may surface only through the meter.
        if (meter.errored) throw meter.errored
      } catch (err) {
        input.body.resume()
        await blobs.delete(key).catch(() => undefined)
        const limit = err instanceof SizeLimit || (err as { cause?: unknown })?.cause instanceof SizeLimit
        const message = limit ? SIZE_LIMIT_MESSAGE : `Upload failed: ${(err as Error).message}`
        const failed = await sql.query<BlobRow>(
          `UPDATE blobs SET upload_status = 2, upload_error = $3, file_size = $4
           WHERE project_id = $1 AND id = $2 RETURNING *`,
          [input.projectId, blobId, message, size],
        )
        if (!limit && failed.rows.length === 0) throw err
        return failed.rows[0] ? toBlob(failed.rows[0]) : { ...pending, uploadStatus: 2, uploadError: message }
      }
      const hash = md5.digest('hex')
      try {
        return await sql.transaction(async (tx) => {
          const done = await tx.query<BlobRow>(
            `UPDATE blobs SET upload_status = 1, upload_error = NULL, file_size = $3, file_hash = $4
             WHERE project_id = $1 AND id = $2 RETURNING *`,
            [input.projectId, blobId, size, hash],
          )
          const blob = toBlob(done.rows[0]!)
          await input.onStored?.(tx, blob)
          return blob
        })
      } catch (err) {
        // What the file was for failed: keep neither the row nor the bytes.
        await sql.query('DELETE FROM blobs WHERE project_id = $1 AND id = $2', [input.projectId, blobId])
        await blobs.delete(key).catch(() => undefined)
        throw err
      }
    },

    get,

    async open(projectId, blobId) {
      const blob = await get(projectId, blobId)
      if (blob === null || blob.uploadStatus !== BLOB_STATUS.done) throw new NotFound('blob', blobId)
      const body = await blobs.get(blobKey(projectId, blobId))
      if (body === null) throw new NotFound('blob', blobId)
      return { blob, body }
    },

    async diff(projectId, ids) {
      const wanted = [...new Set(ids.filter((id) => typeof id === 'string'))]
      if (wanted.length === 0) return []
      const { rows } = await sql.query<{ id: string }>(
        'SELECT id FROM blobs WHERE project_id = $1 AND id = ANY($2::text[]) AND upload_status = 1',
        [projectId, wanted],
      )
      const have = new Set(rows.map((r) => r.id))
      return wanted.filter((id) => !have.has(id))
    },

    async list(projectId, query = {}) {
      const limit = Math.min(Math.max(1, Math.trunc(query.limit ?? 25)), 100)
      const name = query.fileName ? `%${query.fileName.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null
      let before: Date | null = null
      if (query.cursor) {
        before = new Date(query.cursor)
        if (Number.isNaN(before.getTime())) throw new BadUserInput('Invalid cursor')
      }
      const totals = await sql.query<{ n: number; bytes: string | null }>(
        `SELECT count(*)::int AS n, sum(file_size)::text AS bytes FROM blobs
         WHERE project_id = $1 AND ($2::text IS NULL OR file_name ILIKE $2)`,
        [projectId, name],
      )
      const { rows } = await sql.query<BlobRow>(
        `SELECT * FROM blobs WHERE project_id = $1 AND ($2::text IS NULL OR file_name ILIKE $2)
           AND ($3::timestamptz IS NULL OR created_at < $3)
         ORDER BY created_at DESC, id DESC LIMIT $4`,
        [projectId, name, before, limit],
      )
      const items = rows.map(toBlob)
      const last = items.at(-1)
      return {
        totalCount: totals.rows[0]!.n,
        totalSize: Number(totals.rows[0]!.bytes ?? 0),
        cursor: items.length === limit && last ? last.createdAt.toISOString() : null,
        items,
      }
    },

    async delete(projectId, blobId) {
      const { rows } = await sql.query<BlobRow>('DELETE FROM blobs WHERE project_id = $1 AND id = $2 RETURNING *', [
        projectId,
        blobId,
      ])
      if (rows.length === 0) throw new NotFound('blob', blobId)
      await blobs.delete(blobKey(projectId, blobId))
    },
  }
}

/** Read a stream to its end into one buffer (callers bound the size first). */
export async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
