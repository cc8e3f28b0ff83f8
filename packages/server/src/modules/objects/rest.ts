/**
 * Speckle's REST object API (WIRE.md, "REST object API"): upload, tree download, single object,
 * getobjects, diff and the newer object-stream route. Permission failures answer bare statuses as
 * speckle-server does (401, or 404 for an unknown project on reads), never 403; batch errors answer
 * 400 with Speckle's text message.
 */
import type { IncomingMessage } from 'node:http'
import { Readable, finished, pipeline } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import { createGunzip, createGzip, constants as zlibConstants } from 'node:zlib'
import busboy from 'busboy'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Metrics } from '../metrics/index.js'
import { BadBatch, type ObjectRow, type ObjectsService } from './service.js'

import type { AccessDecision } from '../policy/service.js'

export type { AccessDecision }

export interface ObjectsRoutesOptions {
  objects: ObjectsService
  /** The policy decision for this request's caller on the project. */
  authorize: (request: FastifyRequest, projectId: string, mode: 'read' | 'write') => Promise<AccessDecision>
  metrics?: Metrics
  /** Largest uncompressed upload part, in bytes (Speckle's MAX_OBJECT_UPLOAD_FILE_SIZE_MB). */
  maxPartBytes: number
  /** Largest uncompressed upload request (all parts), in bytes. Default 4 parts' worth. */
  maxRequestBytes?: number
  /**
   * gzip level of downloads (default `auto`): level 1 keeps a 2-core server ahead of the network; `auto`
   * uses level 0 (gzip framing around stored, uncompressed blocks) for clients on this machine that did
   * not come through a proxy, where compression saves no bandwidth and costs both ends most of their CPU.
   * Answers stay `Content-Encoding: gzip` either way, as Speckle's clients expect (WIRE.md).
   */
  gzipLevel?: number | 'auto'
}

const ZLIB_CHUNK_BYTES = 256 * 1024
const PLAIN_TYPES = new Set(['application/json', 'text/plain', 'application/octet-stream'])
const GZIP_TYPES = new Set(['application/gzip', 'application/x-gzip'])

class UploadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

export async function objectsRoutes(app: FastifyInstance, opts: ObjectsRoutesOptions): Promise<void> {
  const { objects, authorize, metrics } = opts
  const gzipLevel = opts.gzipLevel ?? 'auto'
  /** The gzip level for this request. */
  const levelFor = (request: FastifyRequest): number =>
    gzipLevel !== 'auto'
      ? gzipLevel
      : isLocalPeer(request)
        ? zlibConstants.Z_NO_COMPRESSION
        : zlibConstants.Z_BEST_SPEED
  const maxRequestBytes = opts.maxRequestBytes ?? opts.maxPartBytes * 4

  // The upload body is read as a stream by busboy, not by Fastify.
  app.addContentTypeParser('multipart/form-data', (_request, _payload, done) => done(null, undefined))
  // Any other (or no) content type reaches the routes, which answer 400 as speckle-server does, not Fastify's 415.
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined))

  /** Answer a permission failure as speckle-server does; true when the caller may go on. */
  async function allowed(
    request: FastifyRequest,
    reply: FastifyReply,
    projectId: string,
    mode: 'read' | 'write',
  ): Promise<boolean> {
    const decision = await authorize(request, projectId, mode)
    if (decision === 'allow') return true
    await reply.code(decision === 'not_found' && mode === 'read' ? 404 : 401).send()
    return false
  }

  app.post<{ Params: { projectId: string } }>('/objects/:projectId', async (request, reply) => {
    const { projectId } = request.params
    if (!(await allowed(request, reply, projectId, 'write'))) {
      request.raw.resume()
      return reply
    }
    let parts: string[]
    try {
      parts = await readParts(request.raw, opts.maxPartBytes, maxRequestBytes)
    } catch (err) {
      request.raw.resume()
      if (err instanceof UploadError) {
        reply.header('connection', 'close')
        return reply.code(err.status).type('text/plain; charset=utf-8').send(err.message)
      }
      throw err
    }
    let rows: ObjectRow[] = []
    let bytes = 0
    try {
      for (const text of parts) {
        bytes += text.length
        const batch = objects.parseBatch(text)
        rows = rows.length === 0 ? batch : rows.concat(batch)
      }
    } catch (err) {
      if (err instanceof BadBatch) return reply.code(400).type('text/plain; charset=utf-8').send(err.message)
      throw err
    }
    await objects.store(projectId, rows)
    metrics?.uploadBytesTotal.inc(bytes)
    request.log.info({ projectId, objects: rows.length, bytes }, 'objects stored')
    return reply.code(201).send()
  })

  app.get<{ Params: { projectId: string; objectId: string } }>(
    '/objects/:projectId/:objectId',
    async (request, reply) => {
      const { projectId, objectId } = request.params
      if (!(await allowed(request, reply, projectId, 'read'))) return reply
      const tree = await objects.streamTree(projectId, objectId)
      if (!tree) return reply.code(404).type('text/plain; charset=utf-8').send('Failed to find object.')
      const asText = request.headers.accept === 'text/plain'
      async function* body(): AsyncIterable<string | Buffer> {
        yield asText ? `${objectId}\t` : '['
        for await (const piece of tree!.root) yield piece
        if (asText) yield '\n'
        for await (const batch of tree!.children) {
          if (batch.length > 0) yield asText ? textLines(batch) : jsonItems(batch)
        }
        if (!asText) yield ']'
      }
      return sendGzip(request, reply, body(), asText)
    },
  )

  app.get<{ Params: { projectId: string; objectId: string } }>(
    '/objects/:projectId/:objectId/single',
    async (request, reply) => {
      const { projectId, objectId } = request.params
      if (!(await allowed(request, reply, projectId, 'read'))) return reply
      const json = await objects.getObject(projectId, objectId)
      if (json === null) return reply.code(404).type('text/plain; charset=utf-8').send('Failed to find object.')
      metrics?.downloadBytesTotal.inc(json.length)
      return reply.type('application/json; charset=utf-8').send(json)
    },
  )

  app.post<{ Params: { projectId: string }; Body: unknown }>('/api/getobjects/:projectId', async (request, reply) => {
    const { projectId } = request.params
    if (!(await allowed(request, reply, projectId, 'read'))) return reply
    const ids = idList(request.body, reply)
    if (!ids) return reply
    const asText = request.headers.accept === 'text/plain'
    async function* body(): AsyncIterable<string> {
      let first = true
      if (!asText) yield '['
      for await (const batch of objects.streamIds(projectId, ids!)) {
        if (batch.length === 0) continue
        if (asText) yield textLines(batch)
        else {
          yield (first ? '' : ',') + batch.map((r) => r[1]).join(',')
          first = false
        }
      }
      if (!asText) yield ']'
    }
    return sendGzip(request, reply, body(), asText)
  })

  app.post<{ Params: { projectId: string }; Body: unknown }>('/api/diff/:projectId', async (request, reply) => {
    const { projectId } = request.params
    if (!(await allowed(request, reply, projectId, 'write'))) return reply
    const ids = idList(request.body, reply)
    if (!ids) return reply
    const map = await objects.diff(projectId, ids)
    return sendGzip(request, reply, [JSON.stringify(map)], false)
  })

  app.post<{ Params: { projectId: string }; Body: unknown }>(
    '/api/v2/projects/:projectId/object-stream',
    async (request, reply) => {
      const { projectId } = request.params
      if (!(await allowed(request, reply, projectId, 'read'))) return reply
      const body = request.body as { objectIds?: unknown } | undefined
      const ids = body?.objectIds
      if (!Array.isArray(ids) || !ids.every((i) => typeof i === 'string')) {
        return reply
          .code(400)
          .send({ error: { message: 'objectIds must be an array of object id strings', code: 'USER_INPUT_ERROR' } })
      }
      // attributeMask (which properties to include) is accepted and ignored: whole objects are sent.
      async function* lines(): AsyncIterable<string> {
        for await (const batch of objects.streamIds(projectId, ids as string[]))
          if (batch.length > 0) yield textLines(batch)
      }
      return sendGzip(request, reply, lines(), true, acceptsGzip(request))
    },
  )

  /**
   * Send a streamed answer, gzip'd at the configured level unless `gzip` is false. Speckle gzips
   * downloads, getobjects and diff whatever the request says (WIRE.md); object-stream follows
   * Accept-Encoding.
   */
  function sendGzip(
    request: FastifyRequest,
    reply: FastifyReply,
    chunks: AsyncIterable<string | Buffer> | Iterable<string | Buffer>,
    asText: boolean,
    gzip = true,
  ): FastifyReply {
    reply.type(asText ? 'text/plain; charset=UTF-8' : 'application/json; charset=utf-8')
    let bytes = 0
    const done = (err: NodeJS.ErrnoException | null | undefined) => {
      if (err && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') request.log.error({ err }, 'object stream failed')
      metrics?.downloadBytesTotal.inc(bytes)
    }
    if (!gzip) {
      async function* counted(): AsyncIterable<string | Buffer> {
        for await (const chunk of chunks) {
          bytes += Buffer.byteLength(chunk)
          yield chunk
        }
      }
      const plain = Readable.from(counted(), { objectMode: false })
      finished(plain, done)
      return reply.send(plain)
    }
    const source = Readable.from(chunks, { objectMode: false })
    // Large output chunks: each chunk is a round trip to the zlib thread, 16 KB ones cost ~10% of a download.
    const gz = createGzip({ level: levelFor(request), chunkSize: ZLIB_CHUNK_BYTES })
    gz.on('data', (b: Buffer) => {
      bytes += b.length
    })
    pipeline(source, gz, done)
    reply.header('content-encoding', 'gzip')
    return reply.send(gz)
  }
}

/** A client on this machine that reached us directly: loopback address, no proxy headers. */
function isLocalPeer(request: FastifyRequest): boolean {
  const ip = request.socket.remoteAddress ?? ''
  const loopback = ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.')
  const h = request.headers
  return loopback && h['x-forwarded-for'] === undefined && h.forwarded === undefined && h['x-real-ip'] === undefined
}

/** Whether the request's Accept-Encoding allows gzip (absent or `q=0` means no). */
function acceptsGzip(request: FastifyRequest): boolean {
  const header = String(request.headers['accept-encoding'] ?? '')
  for (const part of header.split(',')) {
    const [coding, ...params] = part.trim().toLowerCase().split(';')
    if (coding !== 'gzip' && coding !== 'x-gzip' && coding !== '*') continue
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='))
    return q === undefined || Number(q.slice(2)) > 0
  }
  return false
}

function textLines(batch: [string, string][]): string {
  let s = ''
  for (const [id, json] of batch) s += `${id}\t${json}\n`
  return s
}

function jsonItems(batch: [string, string][]): string {
  let s = ''
  for (const [, json] of batch) s += `,${json}`
  return s
}

/** Parse `{"objects": "<JSON string of an id array>"}`, answering 400 as Speckle does when it is not. */
function idList(body: unknown, reply: FastifyReply): string[] | undefined {
  const raw = (body as { objects?: unknown } | undefined)?.objects
  let ids: unknown
  try {
    ids = typeof raw === 'string' ? JSON.parse(raw) : raw
  } catch {
    ids = undefined
  }
  if (!Array.isArray(ids) || !ids.every((i) => typeof i === 'string')) {
    void reply.code(400).send({
      error: {
        message: 'Invalid "objects": expected a JSON string of an array of object ids',
        code: 'USER_INPUT_ERROR',
      },
    })
    return undefined
  }
  return ids as string[]
}

/**
 * Read every file part of a multipart upload into text, gunzipping gzip parts, within the limits.
 * Rejects with an UploadError carrying Speckle's status and message.
 */
function readParts(req: IncomingMessage, maxPartBytes: number, maxRequestBytes: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1000, fields: 1000 } })
    } catch (err) {
      reject(new UploadError(400, `Failed to parse the upload: ${(err as Error).message}`))
      return
    }
    const parts: string[] = []
    const pending: Promise<void>[] = []
    let total = 0
    let failed = false
    const fail = (err: UploadError) => {
      if (failed) return
      failed = true
      req.unpipe(bb)
      req.resume()
      reject(err)
    }
    bb.on('file', (_name, file, info) => {
      const type = (info.mimeType ?? '').toLowerCase()
      const gzipped = GZIP_TYPES.has(type)
      if (!gzipped && !PLAIN_TYPES.has(type)) {
        file.resume()
        fail(
          new UploadError(
            400,
            `Invalid ContentType header: ${type || '(none)'}. Use application/gzip or application/json.`,
          ),
        )
        return
      }
      const index = parts.length
      parts.push('')
      pending.push(
        new Promise<void>((done) => {
          // Decoded as it arrives, so the raw bytes are not held next to the text (a part can be 100+ MB).
          const decoder = new StringDecoder('utf8')
          const pieces: string[] = []
          let size = 0
          const source = gzipped ? file.pipe(createGunzip({ chunkSize: ZLIB_CHUNK_BYTES })) : file
          source.on('data', (chunk: Buffer) => {
            size += chunk.length
            total += chunk.length
            if (size > maxPartBytes || total > maxRequestBytes) {
              const limit = size > maxPartBytes ? maxPartBytes : maxRequestBytes
              file.resume()
              source.removeAllListeners('data')
              if (gzipped) (source as ReturnType<typeof createGunzip>).destroy()
              fail(new UploadError(400, `File size too large (${size} > ${limit})`))
              done()
              return
            }
            pieces.push(decoder.write(chunk))
          })
          // The part itself errors when the form ends inside it ("Unexpected end of form"); unhandled, that
          // error would crash the process, and pipe() does not forward it to the gunzip stream.
          const failPart = (what: string) => (err: Error) => {
            if (gzipped) source.destroy()
            fail(new UploadError(400, `Failed to parse data. The part ${what}: ${err.message}`))
            done()
          }
          file.on('error', failPart('was cut off'))
          if (gzipped) source.on('error', failPart('could not be decompressed'))
          source.on('end', () => {
            pieces.push(decoder.end())
            let text = pieces.join('')
            pieces.length = 0
            if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
            parts[index] = text
            done()
          })
        }),
      )
    })
    bb.on('field', () => undefined)
    bb.on('error', (err: Error) => fail(new UploadError(400, `Failed to parse the multipart upload: ${err.message}`)))
    bb.on('close', () => {
      void Promise.all(pending).then(() => {
        if (failed) return
        if (parts.length === 0) reject(new UploadError(400, 'The upload holds no file part with objects.'))
        else resolve(parts)
      })
    })
    req.on('error', (err) => fail(new UploadError(400, `The upload was interrupted: ${err.message}`)))
    req.pipe(bb)
  })
}
