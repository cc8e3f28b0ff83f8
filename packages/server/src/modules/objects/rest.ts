/**
 * Speckle's REST object API (WIRE.md, "REST object API"): upload, tree download, single object,
 * getobjects, diff and the newer object-stream route. Permission failures answer bare statuses as
 * speckle-server does (401, or 404 for an unknown project on reads), never 403; batch errors answer
 * 400 with Speckle's text message.
 */
import type { IncomingMessage } from 'node:http'
import { Readable, finished, pipeline } from 'node:stream'
import { createGunzip, createGzip, constants as zlibConstants } from 'node:zlib'
import busboy from 'busboy'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Metrics } from '../metrics/index.js'
import type { Bus } from '../../adapters/bus/types.js'
import { checkRateLimit } from '../accounts/rate-limit.js'
import { BadBatch, lineJsonBytes, type ObjectLine, type ObjectsService } from './service.js'
import {
  DEFAULT_OBJECTS_RATE_LIMITS,
  rateLimitSubject,
  type ObjectRouteAction,
  type ObjectsRateLimits,
} from './rate-limit.js'

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
  /** Counters for the rate limits (shared by every node through the bus). Without it nothing is limited. */
  bus?: Pick<Bus, 'hit'>
  /** Per-token rate limits; default `DEFAULT_OBJECTS_RATE_LIMITS`. */
  rateLimits?: ObjectsRateLimits
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

  const rateLimits = opts.rateLimits ?? DEFAULT_OBJECTS_RATE_LIMITS
  const bus = opts.bus
  /** Count the request against its token's limits; false (429 sent) when a window is full. */
  async function withinLimits(
    request: FastifyRequest,
    reply: FastifyReply,
    action: ObjectRouteAction,
  ): Promise<boolean> {
    const rules = rateLimits[action]
    if (bus === undefined || rules.length === 0) return true
    return checkRateLimit(bus, rules, `objects-${action}`, request, reply, rateLimitSubject(request))
  }

  /** Answer a permission failure as speckle-server does; true when the caller may go on. */
  async function allowed(
    request: FastifyRequest,
    reply: FastifyReply,
    projectId: string,
    mode: 'read' | 'write',
    action: ObjectRouteAction = mode === 'read' ? 'download' : 'upload',
  ): Promise<boolean> {
    if (!(await withinLimits(request, reply, action))) return false
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
    let stored: { objects: number; bytes: number }
    try {
      stored = await objects.storeStream(projectId, uploadParts(request.raw, opts.maxPartBytes, maxRequestBytes))
    } catch (err) {
      if (err instanceof UploadError || err instanceof BadBatch) {
        // The body may not have been read to its end: drain it, and do not reuse the connection.
        request.raw.resume()
        reply.header('connection', 'close')
        return reply
          .code(err instanceof UploadError ? err.status : 400)
          .type('text/plain; charset=utf-8')
          .send(err.message)
      }
      throw err
    }
    metrics?.uploadBytesTotal.inc(stored.bytes)
    request.log.info({ projectId, objects: stored.objects, bytes: stored.bytes }, 'objects stored')
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
          if (batch.length > 0) yield asText ? textLines(batch) : jsonItems(batch, false)
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
      const pieces = await objects.streamObject(projectId, objectId)
      if (pieces === null) return reply.code(404).type('text/plain; charset=utf-8').send('Failed to find object.')
      const it = pieces[Symbol.asyncIterator]()
      const first = await it.next()
      const second = first.done ? first : await it.next()
      reply.type('application/json; charset=utf-8')
      if (second.done) {
        // The usual case: one piece, sent with its length.
        const json = first.done ? '' : first.value
        metrics?.downloadBytesTotal.inc(Buffer.byteLength(json))
        return reply.send(json)
      }
      // A large object goes out piece by piece as it is read, never held whole.
      async function* body(): AsyncIterable<Buffer> {
        for (let next: IteratorResult<string> = first; !next.done; next = next === first ? second : await it.next()) {
          const bytes = Buffer.from(next.value)
          metrics?.downloadBytesTotal.inc(bytes.length)
          yield bytes
        }
      }
      return reply.send(Readable.from(body()))
    },
  )

  app.post<{ Params: { projectId: string }; Body: unknown }>('/api/getobjects/:projectId', async (request, reply) => {
    const { projectId } = request.params
    if (!(await allowed(request, reply, projectId, 'read'))) return reply
    const ids = idList(request.body, reply)
    if (!ids) return reply
    const asText = request.headers.accept === 'text/plain'
    async function* body(): AsyncIterable<string | Buffer> {
      let first = true
      if (!asText) yield '['
      for await (const batch of objects.streamIds(projectId, ids!)) {
        if (batch.length === 0) continue
        if (asText) yield textLines(batch)
        else {
          yield jsonItems(batch, first)
          first = false
        }
      }
      if (!asText) yield ']'
    }
    return sendGzip(request, reply, body(), asText)
  })

  app.post<{ Params: { projectId: string }; Body: unknown }>('/api/diff/:projectId', async (request, reply) => {
    const { projectId } = request.params
    if (!(await allowed(request, reply, projectId, 'write', 'diff'))) return reply
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
      async function* lines(): AsyncIterable<Buffer> {
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

/** The batch's `id \t json \n` lines, as stored bytes. */
function textLines(batch: ObjectLine[]): Buffer {
  return Buffer.concat(batch.map((line) => line[1]))
}

const COMMA = Buffer.from(',')

/** The batch's objects joined by commas, with a leading comma unless it is the first of the array. */
function jsonItems(batch: ObjectLine[], first: boolean): Buffer {
  const pieces: Buffer[] = []
  for (const line of batch) {
    if (!first || pieces.length > 0) pieces.push(COMMA)
    pieces.push(lineJsonBytes(line))
  }
  return Buffer.concat(pieces)
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
 * The file parts of a multipart upload, one after another, each as a stream of its (gunzipped) bytes,
 * within the limits: errors are UploadErrors carrying Speckle's status and message. A part must be read
 * to its end before the next is asked for. Stopping early drains the rest of the request.
 */
async function* uploadParts(
  req: IncomingMessage,
  maxPartBytes: number,
  maxRequestBytes: number,
): AsyncGenerator<AsyncIterable<Buffer>, void, undefined> {
  let bb: busboy.Busboy
  try {
    bb = busboy({ headers: req.headers, limits: { files: 1000, fields: 1000 } })
  } catch (err) {
    throw new UploadError(400, `Failed to parse the upload: ${(err as Error).message}`)
  }
  const files: { file: Readable; type: string }[] = []
  let closed = false
  let failure: UploadError | undefined
  let wake: (() => void) | undefined
  const poke = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  // Parts not yet read to their end: a request cut off mid-part must end them, or their reader waits forever.
  const open = new Set<Readable>()
  bb.on('file', (_name, file, info) => {
    // A part cut off ("Unexpected end of form") errors even when nobody reads it any more; whoever reads
    // it sees the error through its own listener.
    file.on('error', () => undefined)
    open.add(file)
    file.once('close', () => open.delete(file))
    file.once('end', () => open.delete(file))
    files.push({ file, type: (info.mimeType ?? '').toLowerCase() })
    poke()
  })
  bb.on('field', () => undefined)
  bb.on('error', (err: Error) => {
    failure ??= new UploadError(400, `Failed to parse the multipart upload: ${err.message}`)
    poke()
  })
  bb.on('close', () => {
    closed = true
    poke()
  })
  const onRequestError = (err: Error) => {
    failure ??= new UploadError(400, `The upload was interrupted: ${err.message}`)
    for (const file of open) file.destroy(failure)
    poke()
  }
  // The client went away before sending the whole body (or the idle timeout closed its connection).
  const onRequestClose = () => {
    if (!req.complete) onRequestError(new Error('the connection closed before the body ended'))
  }
  req.on('error', onRequestError)
  req.on('close', onRequestClose)
  req.pipe(bb)
  let total = 0
  let count = 0
  try {
    for (;;) {
      if (failure) throw failure
      const next = files.shift()
      if (!next) {
        if (closed) break
        await new Promise<void>((resolve) => (wake = resolve))
        continue
      }
      const { file, type } = next
      const gzipped = GZIP_TYPES.has(type)
      if (!gzipped && !PLAIN_TYPES.has(type)) {
        file.resume()
        throw new UploadError(
          400,
          `Invalid ContentType header: ${type || '(none)'}. Use application/gzip or application/json.`,
        )
      }
      count++
      yield (async function* part(): AsyncIterable<Buffer> {
        let size = 0
        let source: Readable = file
        if (gzipped) {
          const gunzip = createGunzip({ chunkSize: ZLIB_CHUNK_BYTES })
          // pipe() does not forward the part's own error ("Unexpected end of form"): pass it on, named.
          file.on('error', (err) =>
            gunzip.destroy(new UploadError(400, `Failed to parse data. The part was cut off: ${err.message}`)),
          )
          source = file.pipe(gunzip)
        }
        try {
          for await (const chunk of source as AsyncIterable<Buffer>) {
            size += chunk.length
            total += chunk.length
            if (size > maxPartBytes || total > maxRequestBytes) {
              const limit = size > maxPartBytes ? maxPartBytes : maxRequestBytes
              throw new UploadError(400, `File size too large (${size} > ${limit})`)
            }
            yield chunk
          }
        } catch (err) {
          if (err instanceof UploadError) throw err
          const what = gzipped ? 'could not be decompressed' : 'was cut off'
          throw new UploadError(400, `Failed to parse data. The part ${what}: ${(err as Error).message}`)
        } finally {
          if (gzipped) source.destroy()
          file.resume()
        }
      })()
    }
    if (failure) throw failure
    if (count === 0) throw new UploadError(400, 'The upload holds no file part with objects.')
  } finally {
    req.off('error', onRequestError)
    req.off('close', onRequestClose)
    if (!closed) {
      req.unpipe(bb)
      req.resume()
    }
  }
}
