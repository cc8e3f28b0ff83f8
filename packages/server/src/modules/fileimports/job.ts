/**
 * The `fileimport.convert` job: read the uploaded file from the blob store, convert it with
 * `@truss/import`, store the objects, then create the version and mark the upload completed in one
 * transaction fenced by the job's lease. Nothing is written before the conversion has succeeded, so a
 * corrupt, empty or unsupported file leaves no objects and no version, only status 3 and the reason. A
 * worker killed mid-way leaves status 1; the lease runs out, another worker takes the job and starts over
 * (objects are content-addressed, so a second store of the same objects adds nothing).
 */
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { serializeStream } from '@truss/core'
import type { Sql } from '../../adapters/sql/types.js'
import { publishEvents, recordEvents, type EventLogger, type TrussEvent } from '../../events.js'
import { PermanentJobError, type JobContext, type JobHandler } from '../../jobs/runner.js'
import type { ModelsService } from '../models/service.js'
import type { ObjectsService } from '../objects/service.js'
import type { BlobsService } from '../blobs/service.js'
import { versionCreatedEvent, type VersionsService } from '../versions/service.js'
import { CONVERTED_STATUS, type FileImportsService, type FileUpload } from './service.js'

export interface ConvertInput {
  /** The upload, copied to a private temporary file (converters read it in pieces, never whole). */
  path: string
  fileName: string
  /** The type the upload route was given; undefined to detect it from the bytes. */
  fileType?: string
}

export interface ConvertResult {
  root: unknown
  stats: { elements: number; meshes: number; triangles: number; durationMs: number }
  warnings: string[]
}

/** The converter: `@truss/import`'s `importFile` in production. */
export type Convert = (input: ConvertInput, options: { signal: AbortSignal }) => Promise<ConvertResult>

export interface FileImportJobDeps {
  sql: Sql
  blobs: Pick<BlobsService, 'open'>
  fileImports: FileImportsService
  objects: Pick<ObjectsService, 'store'>
  models: Pick<ModelsService, 'ensureByName'>
  versions: Pick<VersionsService, 'create'>
  bus?: Parameters<typeof publishEvents>[0]
  convert: Convert
  /** Largest file converted, in bytes (TRUSS_FILE_IMPORT_LIMIT_MB). */
  limitBytes: number
  logger?: EventLogger
}

/** Objects per insert; bounded in bytes too, so a batch of large meshes stays small. */
const BATCH_OBJECTS = 1000
const BATCH_BYTES = 8 * 1024 * 1024

/** Whether a converter error says the file itself is at fault (retrying cannot help). */
function isFileError(err: unknown): err is Error & { code?: string } {
  return err instanceof Error && err.name === 'ImportError' && (err as { code?: string }).code !== 'ABORTED'
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`
}

export function createFileImportJobHandler(deps: FileImportJobDeps): JobHandler<'fileimport.convert'> {
  const { sql, fileImports } = deps
  const announce = (upload: FileUpload | null) =>
    upload === null ? Promise.resolve() : fileImports.announce(upload, false)

  async function fail(upload: FileUpload, message: string): Promise<never> {
    await announce(await fileImports.setStatus(sql, upload.id, CONVERTED_STATUS.error, { message }))
    throw new PermanentJobError(message)
  }

  /** Copy the upload to `path`, convert it, store its objects, then create the version (fenced). */
  async function convertAndStore(upload: FileUpload, path: string, ctx: JobContext) {
    try {
      await pipeline((await deps.blobs.open(upload.projectId, upload.id)).body, createWriteStream(path))
    } catch (err) {
      if ((err as { code?: string }).code === 'NOT_FOUND') return fail(upload, 'The uploaded file is no longer stored')
      throw err
    }

    let converted: ConvertResult
    try {
      converted = await deps.convert(
        {
          path,
          fileName: upload.fileName,
          fileType: upload.fileType === 'autodetect' ? undefined : upload.fileType,
        },
        { signal: ctx.signal },
      )
    } catch (err) {
      if (isFileError(err)) return fail(upload, err.message)
      throw err
    }

    // Store the objects in bounded batches, children first, as the serializer yields them.
    const it = serializeStream(converted.root)
    let batch: { id: string; json: string }[] = []
    let batchBytes = 0
    let stored = 0
    let rootJson = ''
    let rootId: string
    for (;;) {
      const next = it.next()
      if (next.done) {
        rootId = next.value
        break
      }
      const [id, json] = next.value
      batch.push({ id, json })
      batchBytes += json.length
      rootJson = json
      if (batch.length >= BATCH_OBJECTS || batchBytes >= BATCH_BYTES) {
        ctx.signal.throwIfAborted()
        stored += batch.length
        await deps.objects.store(upload.projectId, batch)
        batch = []
        batchBytes = 0
      }
    }
    if (batch.length > 0) {
      stored += batch.length
      await deps.objects.store(upload.projectId, batch)
    }
    const closure = (JSON.parse(rootJson) as { __closure?: Record<string, number> }).__closure ?? {}
    const { stats, warnings } = converted
    const summary = `${plural(stats.elements, 'element')}, ${plural(stats.meshes, 'mesh')}, ${plural(stats.triangles, 'triangle')}`
    const message = warnings.length > 0 ? `${summary}; ${warnings.slice(0, 5).join('; ')}` : summary

    const events: TrussEvent[] = []
    const done = await ctx.complete(async (tx) => {
      const { model, created } = await deps.models.ensureByName(tx, {
        projectId: upload.projectId,
        name: upload.modelName,
        actorId: upload.userId,
      })
      if (created) events.push({ type: 'ModelCreated', projectId: upload.projectId, modelId: model.id })
      const version = await deps.versions.create(
        {
          projectId: upload.projectId,
          modelId: model.id,
          objectId: rootId,
          message: `Imported file: ${upload.fileName}`,
          sourceApplication: upload.fileType.toUpperCase(),
          totalChildrenCount: Object.keys(closure).length,
          actorId: upload.userId,
        },
        { tx, model },
      )
      events.push(versionCreatedEvent(version))
      const done = await fileImports.setStatus(tx, upload.id, CONVERTED_STATUS.completed, {
        message,
        versionId: version.id,
      })
      await recordEvents(tx, events)
      return done
    })
    await publishEvents(deps.bus, events, deps.logger)
    await announce(done)
    return { versionId: done?.convertedVersionId, objects: stored, ms: Math.round(stats.durationMs) }
  }

  return {
    kind: 'fileimport.convert',
    async run(job, ctx) {
      const upload = await fileImports.get(job.payload.fileUploadId)
      // Deleted with its project, or already converted by an earlier attempt that committed: nothing to do.
      if (upload === null) return { skipped: 'the upload no longer exists' }
      if (upload.convertedStatus === CONVERTED_STATUS.completed) return { versionId: upload.convertedVersionId }
      await announce(await fileImports.setStatus(sql, upload.id, CONVERTED_STATUS.converting))

      if (upload.fileSize > deps.limitBytes) {
        return fail(
          upload,
          `The file is ${upload.fileSize} bytes; this server imports files up to ${deps.limitBytes} bytes`,
        )
      }
      if (upload.fileSize === 0) return fail(upload, `${upload.fileName} is empty`)
      const folder = await mkdtemp(join(tmpdir(), 'truss-import-'))
      // The name keeps the upload's extension: converters detect a type from it when the content does not say.
      const ext = /\.[A-Za-z0-9]{1,8}$/.exec(upload.fileName)?.[0] ?? ''
      const path = join(folder, `upload${ext.toLowerCase()}`)
      try {
        return await convertAndStore(upload, path, ctx)
      } finally {
        await rm(folder, { recursive: true, force: true })
      }
    },
    async onDead(job, error, tx) {
      // A file at fault was marked failed with its reason already; anything else fails here.
      const upload = await fileImports.get(job.payload.fileUploadId, tx)
      if (upload === null || upload.convertedStatus === CONVERTED_STATUS.error) return
      await fileImports.setStatus(tx, job.payload.fileUploadId, CONVERTED_STATUS.error, {
        message: `The import failed: ${error.message}`,
      })
    },
  }
}
