/**
 * Speckle's file-upload route (WIRE.md "File imports"): `POST /api/file/:fileType/:streamId/:branchName?`
 * takes the blob route's multipart body and answers as it does; each stored file also becomes a file
 * upload queued for conversion, in the transaction that completes its blob.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AccessDecision } from '../policy/service.js'
import { allowedOrAnswered, answerUpload, storeMultipart } from '../blobs/rest.js'
import { fileTypeOf, type BlobsService } from '../blobs/service.js'
import { IMPORT_FILE_TYPES, type FileImportsService, type FileUpload } from './service.js'

export interface FileImportRoutesOptions {
  blobs: BlobsService
  fileImports: FileImportsService
  authorize: (request: FastifyRequest, projectId: string, mode: 'read' | 'write') => Promise<AccessDecision>
  /** Largest file accepted for import, in bytes (TRUSS_FILE_IMPORT_LIMIT_MB; Speckle's is 100 MB). */
  limitBytes: number
}

const TYPES = new Set<string>([...IMPORT_FILE_TYPES, 'autodetect'])

export async function fileImportRoutes(app: FastifyInstance, opts: FileImportRoutesOptions): Promise<void> {
  const { blobs, fileImports, authorize, limitBytes } = opts
  app.addContentTypeParser('multipart/form-data', (_request, _payload, done) => done(null, undefined))

  app.post<{ Params: { fileType: string; streamId: string; '*'?: string; branchName?: string } }>(
    '/api/file/:fileType/:streamId/:branchName?',
    async (request, reply) => {
      const { streamId } = request.params
      const fileType = request.params.fileType.toLowerCase()
      // Fastify has decoded the segment: a nested model name arrives as `a%2Fb`.
      const modelName = request.params.branchName ?? 'main'
      if (!(await allowedOrAnswered(authorize, request, reply, streamId, 'write'))) return reply
      if (!TYPES.has(fileType)) {
        request.raw.resume()
        return reply.code(400).send({
          error: `File type "${request.params.fileType}" cannot be imported (supported: ${IMPORT_FILE_TYPES.join(', ')}, or autodetect)`,
        })
      }
      if (!request.headers['content-type']?.startsWith('multipart/form-data')) {
        request.raw.resume()
        return reply.code(400).send({ error: 'Expected a multipart/form-data upload' })
      }
      const recorded: FileUpload[] = []
      const answered = await answerUpload(reply, () =>
        storeMultipart(request.raw, blobs, {
          projectId: streamId,
          userId: request.principal?.userId ?? null,
          limitBytes,
          async onStored(tx, blob) {
            const fromName = fileTypeOf(blob.fileName)
            const type =
              fileType !== 'autodetect'
                ? fileType
                : (IMPORT_FILE_TYPES as readonly string[]).includes(fromName)
                  ? fromName
                  : 'autodetect'
            recorded.push(
              await fileImports.record(tx, {
                id: blob.id,
                projectId: streamId,
                modelName,
                userId: blob.userId,
                fileName: blob.fileName,
                fileType: type,
                fileSize: blob.fileSize ?? 0,
              }),
            )
          },
        }),
      )
      for (const upload of recorded) await fileImports.announce(upload, true)
      return answered
    },
  )
}
