/**
 * Speckle's blob routes (WIRE.md "Blobs"): multipart upload, diff, download, delete and list, under
 * `/api/stream/:streamId/...`. Truss keeps blobs on disk by default, so the routes are always on (Speckle
 * turns them on only with S3). Failures answer JSON `{ "error": … }`.
 */
import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import busboy from 'busboy'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { SqlExecutor } from '../../adapters/sql/types.js'
import type { AccessDecision } from '../policy/service.js'
import { BLOB_STATUS, type Blob, type BlobsService } from './service.js'

export interface BlobRoutesOptions {
  blobs: BlobsService
  authorize: (request: FastifyRequest, projectId: string, mode: 'read' | 'write') => Promise<AccessDecision>
  /** Largest blob, in bytes (Speckle's FILE_SIZE_LIMIT_MB). */
  limitBytes: number
}

export interface UploadResult {
  blobId: string
  fileName: string
  fileSize?: number
  uploadStatus: number
  uploadError?: string
  formKey: string
}

const DECISION_STATUS: Record<Exclude<AccessDecision, 'allow'>, number> = {
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
}
const DECISION_MESSAGE: Record<Exclude<AccessDecision, 'allow'>, string> = {
  unauthenticated: 'You must be logged in to access this resource',
  forbidden: 'You do not have the required role on this project',
  not_found: 'Project not found',
}

/** Answer a refused access with Speckle's status and a JSON reason; true when the caller may go on. */
export async function allowedOrAnswered(
  authorize: BlobRoutesOptions['authorize'],
  request: FastifyRequest,
  reply: FastifyReply,
  projectId: string,
  mode: 'read' | 'write',
): Promise<boolean> {
  const decision = await authorize(request, projectId, mode)
  if (decision === 'allow') return true
  request.raw.resume()
  await reply.code(DECISION_STATUS[decision]).send({ error: DECISION_MESSAGE[decision] })
  return false
}

class MultipartError extends Error {}

/**
 * Store every file part of a multipart request, one after another, as it streams in. A part whose field
 * name is `hash:<id>` is stored under `<id>`. `onStored` runs in each blob's completing transaction.
 */
export async function storeMultipart(
  req: IncomingMessage,
  blobs: BlobsService,
  input: {
    projectId: string
    userId: string | null
    limitBytes: number
    onStored?: (tx: SqlExecutor, blob: Blob, formKey: string) => Promise<void>
  },
): Promise<UploadResult[]> {
  let bb: busboy.Busboy
  try {
    bb = busboy({ headers: req.headers, defParamCharset: 'utf8', limits: { files: 100, fields: 100 } })
  } catch (err) {
    throw new MultipartError(`Failed to parse the multipart upload: ${(err as Error).message}`)
  }
  const results: UploadResult[] = []
  let chain: Promise<void> = Promise.resolve()
  let failure: Error | null = null
  bb.on('file', (formKey: string, stream: Readable, info: { filename?: string }) => {
    chain = chain.then(async () => {
      if (failure !== null) {
        stream.resume()
        return
      }
      const blobId = formKey.startsWith('hash:') ? formKey.slice(5) : undefined
      const fileName = info.filename ?? formKey
      try {
        const blob = await blobs.storeFile({
          projectId: input.projectId,
          userId: input.userId,
          blobId,
          fileName,
          body: stream,
          limitBytes: input.limitBytes,
          onStored: input.onStored ? (tx, b) => input.onStored!(tx, b, formKey) : undefined,
        })
        results.push({
          blobId: blob.id,
          fileName: blob.fileName,
          ...(blob.fileSize !== null && blob.uploadStatus === BLOB_STATUS.done ? { fileSize: blob.fileSize } : {}),
          uploadStatus: blob.uploadStatus,
          ...(blob.uploadError ? { uploadError: blob.uploadError } : {}),
          formKey,
        })
      } catch (err) {
        failure ??= err as Error
        stream.resume()
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    bb.once('close', resolve)
    bb.once('error', (err: Error) => reject(new MultipartError(`Failed to parse the multipart upload: ${err.message}`)))
    req.once('aborted', () => reject(new MultipartError('The upload was aborted')))
    req.pipe(bb)
  })
  await chain
  if (failure !== null) throw failure
  return results
}

function blobJson(blob: Blob) {
  return {
    id: blob.id,
    streamId: blob.projectId,
    userId: blob.userId,
    fileName: blob.fileName,
    fileType: blob.fileType,
    fileSize: blob.fileSize,
    fileHash: blob.fileHash,
    uploadStatus: blob.uploadStatus,
    uploadError: blob.uploadError,
    createdAt: blob.createdAt.toISOString(),
  }
}

/** Answer a multipart upload: 201 with the results, 400 with a reason for a request that is not multipart. */
export async function answerUpload(reply: FastifyReply, run: () => Promise<UploadResult[]>): Promise<FastifyReply> {
  try {
    const uploadResults = await run()
    return reply.code(201).send({ uploadResults })
  } catch (err) {
    if (err instanceof MultipartError) {
      reply.header('connection', 'close')
      return reply.code(400).send({ error: err.message })
    }
    throw err
  }
}

export async function blobRoutes(app: FastifyInstance, opts: BlobRoutesOptions): Promise<void> {
  const { blobs, authorize, limitBytes } = opts
  // Multipart bodies are read by busboy as they stream, not by Fastify.
  app.addContentTypeParser('multipart/form-data', (_request, _payload, done) => done(null, undefined))
  type P = { Params: { streamId: string; blobId: string } }

  app.post<P>('/api/stream/:streamId/blob', async (request, reply) => {
    const { streamId } = request.params
    if (!(await allowedOrAnswered(authorize, request, reply, streamId, 'write'))) return reply
    if (!request.headers['content-type']?.startsWith('multipart/form-data')) {
      request.raw.resume()
      return reply.code(400).send({ error: 'Expected a multipart/form-data upload' })
    }
    return answerUpload(reply, () =>
      storeMultipart(request.raw, blobs, {
        projectId: streamId,
        userId: request.principal?.userId ?? null,
        limitBytes,
      }),
    )
  })

  app.post<P>('/api/stream/:streamId/blob/diff', async (request, reply) => {
    const { streamId } = request.params
    if (!(await allowedOrAnswered(authorize, request, reply, streamId, 'read'))) return reply
    const body = request.body
    if (!Array.isArray(body) || body.some((id) => typeof id !== 'string')) {
      return reply.code(400).send({ error: 'Expected a JSON array of blob ids' })
    }
    return reply.send(await blobs.diff(streamId, body as string[]))
  })

  app.get<P>('/api/stream/:streamId/blob/:blobId', async (request, reply) => {
    const { streamId, blobId } = request.params
    if (!(await allowedOrAnswered(authorize, request, reply, streamId, 'read'))) return reply
    const blob = await blobs.get(streamId, blobId)
    if (blob === null || blob.uploadStatus !== BLOB_STATUS.done) {
      return reply.code(404).send({ error: `Blob ${blobId} not found` })
    }
    const { body } = await blobs.open(streamId, blobId)
    const ascii = blob.fileName.replace(/[^\x20-\x7e]|["\\]/g, '_')
    return reply
      .type('application/octet-stream')
      .header(
        'content-disposition',
        `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(blob.fileName)}`,
      )
      .header('content-length', String(blob.fileSize ?? ''))
      .send(body)
  })

  app.delete<P>('/api/stream/:streamId/blob/:blobId', async (request, reply) => {
    const { streamId, blobId } = request.params
    if (!(await allowedOrAnswered(authorize, request, reply, streamId, 'write'))) return reply
    if ((await blobs.get(streamId, blobId)) === null) return reply.code(404).send({ error: `Blob ${blobId} not found` })
    await blobs.delete(streamId, blobId)
    return reply.code(204).send()
  })

  app.get<{ Params: { streamId: string }; Querystring: { fileName?: string; limit?: string; cursor?: string } }>(
    '/api/stream/:streamId/blobs',
    async (request, reply) => {
      const { streamId } = request.params
      if (!(await allowedOrAnswered(authorize, request, reply, streamId, 'read'))) return reply
      const limit = request.query.limit === undefined ? undefined : Number(request.query.limit)
      if (limit !== undefined && !Number.isFinite(limit))
        return reply.code(400).send({ error: 'limit must be a number' })
      const page = await blobs.list(streamId, {
        fileName: request.query.fileName ?? null,
        limit,
        cursor: request.query.cursor ?? null,
      })
      return reply.send({ ...page, items: page.items.map(blobJson) })
    },
  )
}
