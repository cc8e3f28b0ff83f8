/**
 * Server transport: Speckle's REST object API (WIRE.md), so it talks to Truss and to speckle-server.
 *
 * Upload: objects are gathered into batches by size, the server is asked which it already has
 * (`POST /api/diff/:projectId`), and the rest go as gzip parts of a multipart `POST /objects/:projectId`,
 * several requests in flight. Network errors, 5xx and 429 (honouring `Retry-After`) are retried
 * with exponential back-off. Download streams `GET /objects/:projectId/:id` (text lines
 * `id\tjson`) straight into the target transport.
 */
import { AbortError, TransportError, throwIfAborted } from '../errors.js'
import { gzip } from '../platform/gzip.js'
import type { CallOptions, Transport, TransportOptions } from './transport.js'

export interface ServerTransportOptions extends TransportOptions {
  /** Server origin, e.g. `https://app.speckle.systems` or `http://127.0.0.1:3000`. */
  serverUrl: string
  /** Project (stream) id. `streamId` is accepted as an alias. */
  projectId?: string
  streamId?: string
  /** Personal access token or app token; omitted for public projects. */
  token?: string
  /** Uncompressed bytes per upload batch (default 4 MB). */
  batchBytes?: number
  /** Upload requests in flight at once (default 4). */
  concurrency?: number
  /** Attempts per request on network errors, 5xx and 429 (default 5). */
  maxAttempts?: number
  /** First back-off delay in ms, doubled per attempt (default 250). */
  backoffMs?: number
  /** Ask the server which objects it has before uploading (default true). */
  diff?: boolean
  /** Cancels every request of this transport. */
  signal?: AbortSignal
  /** Replace `fetch` (tests, proxies). */
  fetch?: typeof fetch
}

type Batch = { ids: string[]; jsons: string[]; bytes: number }

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError())
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(new AbortError())
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })

const encoder = new TextEncoder()

export class ServerTransport implements Transport {
  readonly name: string
  readonly serverUrl: string
  readonly projectId: string
  private readonly token?: string
  private readonly batchBytes: number
  private readonly concurrency: number
  private readonly maxAttempts: number
  private readonly backoffMs: number
  private readonly useDiff: boolean
  private readonly signal?: AbortSignal
  private readonly fetchImpl: typeof fetch
  private readonly onProgress?: TransportOptions['onProgress']
  private batch: Batch = { ids: [], jsons: [], bytes: 0 }
  private readonly inFlight = new Set<Promise<void>>()
  private firstError: unknown
  private batchNumber = 0
  private uploaded = 0
  private uploadedBytes = 0

  constructor(options: ServerTransportOptions) {
    const projectId = options.projectId ?? options.streamId
    if (!options.serverUrl) throw new TransportError('Server', 'serverUrl is required')
    if (!projectId) throw new TransportError('Server', 'projectId is required')
    this.serverUrl = options.serverUrl.replace(/\/+$/, '')
    this.projectId = projectId
    this.name = `Server(${this.serverUrl}, project ${projectId})`
    this.token = options.token
    this.batchBytes = options.batchBytes ?? 4_000_000
    this.concurrency = options.concurrency ?? 4
    this.maxAttempts = options.maxAttempts ?? 5
    this.backoffMs = options.backoffMs ?? 250
    this.useDiff = options.diff ?? true
    this.signal = options.signal
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis)
    this.onProgress = options.onProgress
  }

  // ---- upload ----------------------------------------------------------------------------------

  async saveObject(id: string, json: string): Promise<void> {
    if (this.firstError) throw this.firstError
    const b = this.batch
    b.ids.push(id)
    b.jsons.push(json)
    b.bytes += json.length + 1
    if (b.bytes >= this.batchBytes) await this.dispatch()
  }

  private async dispatch(): Promise<void> {
    const batch = this.batch
    if (batch.ids.length === 0) return
    this.batch = { ids: [], jsons: [], bytes: 0 }
    const p = this.uploadBatch(batch).then(
      () => {
        this.inFlight.delete(p)
      },
      (err: unknown) => {
        this.inFlight.delete(p)
        this.firstError ??= err
      },
    )
    this.inFlight.add(p)
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight)
    if (this.firstError) throw this.firstError
  }

  async flush(options?: CallOptions): Promise<void> {
    throwIfAborted(options?.signal)
    await this.dispatch().catch(() => undefined)
    while (this.inFlight.size > 0) await Promise.all(this.inFlight)
    if (this.firstError) {
      const err = this.firstError
      this.firstError = undefined
      throw err
    }
  }

  private async uploadBatch(batch: Batch): Promise<void> {
    let { ids, jsons } = batch
    if (this.useDiff) {
      const has = await this.hasObjects(ids)
      const keep = ids.map((id) => !has[id])
      ids = ids.filter((_, i) => keep[i])
      jsons = jsons.filter((_, i) => keep[i])
    }
    if (ids.length > 0) {
      const body = await gzip(encoder.encode(`[${jsons.join(',')}]`))
      const part = `batch-${++this.batchNumber}`
      await this.request('POST', `/objects/${this.projectId}`, {
        expect: [200, 201],
        body: () => {
          const form = new FormData()
          form.append(part, new Blob([body as BlobPart], { type: 'application/gzip' }), part)
          return form
        },
      })
      this.uploadedBytes += body.length
    }
    this.uploaded += batch.ids.length
    this.onProgress?.({ transport: this.name, stage: 'upload', done: this.uploaded, bytes: this.uploadedBytes })
  }

  // ---- reads -----------------------------------------------------------------------------------

  async getObject(id: string, options?: CallOptions): Promise<string | null> {
    const res = await this.request('GET', `/objects/${this.projectId}/${id}/single`, {
      expect: [200, 404],
      signal: options?.signal,
    })
    if (res.status === 404) {
      await res.body?.cancel()
      return null
    }
    return res.text()
  }

  async hasObjects(ids: readonly string[], options?: CallOptions): Promise<Record<string, boolean>> {
    const out: Record<string, boolean> = {}
    const step = 10_000
    for (let i = 0; i < ids.length; i += step) {
      const slice = ids.slice(i, i + step)
      const res = await this.request('POST', `/api/diff/${this.projectId}`, {
        expect: [200],
        json: { objects: JSON.stringify(slice) },
        signal: options?.signal,
      })
      const map = (await res.json()) as Record<string, boolean>
      for (const id of slice) out[id] = map[id] === true
    }
    return out
  }

  /**
   * Stream the requested objects. Uses the newer object-stream route and falls back to
   * `/api/getobjects` on servers without it (speckle-server 2.24 answers 404 there).
   */
  async *getObjects(ids: readonly string[], options?: CallOptions): AsyncIterable<[string, string]> {
    const step = 10_000
    let legacy = false
    for (let i = 0; i < ids.length; i += step) {
      const slice = ids.slice(i, i + step)
      let res: Response
      if (!legacy) {
        res = await this.request('POST', `/api/v2/projects/${this.projectId}/object-stream/`, {
          expect: [200, 404],
          json: { objectIds: slice },
          accept: 'text/plain',
          signal: options?.signal,
        })
        if (res.status === 404) {
          await res.body?.cancel()
          legacy = true
        }
      }
      if (legacy) {
        res = await this.request('POST', `/api/getobjects/${this.projectId}`, {
          expect: [200],
          json: { objects: JSON.stringify(slice) },
          accept: 'text/plain',
          signal: options?.signal,
        })
      }
      yield* readLines(res!, options?.signal ?? this.signal)
    }
  }

  /** Download the whole tree with one streaming request, writing each object into `target`. */
  async copyObjectAndChildren(id: string, target: Transport, options?: CallOptions): Promise<string> {
    const res = await this.request('GET', `/objects/${this.projectId}/${id}`, {
      expect: [200, 404],
      accept: 'text/plain',
      signal: options?.signal,
    })
    if (res.status === 404) {
      await res.body?.cancel()
      throw new TransportError(this.name, `object ${id} was not found on the server`, { status: 404 })
    }
    let rootJson: string | undefined
    let done = 0
    for await (const [objId, json] of readLines(res, options?.signal ?? this.signal)) {
      if (rootJson === undefined) {
        if (objId !== id) throw new TransportError(this.name, `the server answered object ${objId} first, not ${id}`)
        rootJson = json
      }
      await target.saveObject(objId, json)
      if ((++done & 1023) === 0) {
        options?.onProgress?.({ transport: this.name, stage: 'download', done })
        this.onProgress?.({ transport: this.name, stage: 'download', done })
      }
    }
    if (rootJson === undefined) throw new TransportError(this.name, `the server sent nothing for object ${id}`)
    options?.onProgress?.({ transport: this.name, stage: 'download', done, total: done })
    return rootJson
  }

  async close(): Promise<void> {
    await this.flush()
  }

  // ---- HTTP with retries -------------------------------------------------------------------------

  private async request(
    method: string,
    path: string,
    opts: {
      expect: number[]
      json?: unknown
      body?: () => BodyInit
      accept?: string
      signal?: AbortSignal
    },
  ): Promise<Response> {
    const signal = anySignal(opts.signal, this.signal)
    let lastError: unknown
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      throwIfAborted(signal)
      const headers: Record<string, string> = {}
      if (this.token) headers.Authorization = `Bearer ${this.token}`
      if (opts.accept) headers.Accept = opts.accept
      let body: BodyInit | undefined
      if (opts.json !== undefined) {
        headers['Content-Type'] = 'application/json'
        body = JSON.stringify(opts.json)
      } else if (opts.body) body = opts.body()
      let res: Response
      try {
        res = await this.fetchImpl(this.serverUrl + path, { method, headers, body, signal })
      } catch (err) {
        if (signal?.aborted) throw new AbortError()
        lastError = new TransportError(this.name, `${method} ${path} failed: ${(err as Error).message}`, {
          cause: err,
        })
        await sleep(this.delay(attempt), signal)
        continue
      }
      if (opts.expect.includes(res.status)) return res
      const text = await res.text().catch(() => '')
      const error = new TransportError(
        this.name,
        `${method} ${path} answered ${res.status}${describe(res.status, text)}`,
        {
          status: res.status,
        },
      )
      if (res.status === 429 || res.status >= 500) {
        lastError = error
        if (attempt < this.maxAttempts) await sleep(this.retryAfter(res) ?? this.delay(attempt), signal)
        continue
      }
      throw error
    }
    throw lastError
  }

  private delay(attempt: number): number {
    const base = this.backoffMs * 2 ** (attempt - 1)
    return Math.min(base + Math.random() * base * 0.2, 30_000)
  }

  private retryAfter(res: Response): number | undefined {
    const header = res.headers.get('retry-after')
    if (!header) return undefined
    const seconds = Number(header)
    if (Number.isFinite(seconds)) return Math.min(seconds * 1000, 60_000)
    const date = Date.parse(header)
    return Number.isFinite(date) ? Math.max(0, Math.min(date - Date.now(), 60_000)) : undefined
  }
}

function describe(status: number, text: string): string {
  const hint =
    status === 401
      ? ' (no token, or the token lacks the scope or project role)'
      : status === 403
        ? ' (the token is not valid)'
        : status === 404
          ? ' (unknown project or object)'
          : ''
  const body = text.trim().slice(0, 200)
  return hint + (body ? `: ${body}` : '')
}

function anySignal(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (!a) return b
  if (!b) return a
  return AbortSignal.any([a, b])
}

/** Parse a `text/plain` object stream: lines `id\tjson`. */
async function* readLines(res: Response, signal?: AbortSignal): AsyncIterable<[string, string]> {
  if (!res.body) return
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let rest = ''
  try {
    for (;;) {
      throwIfAborted(signal)
      const { value, done } = await reader.read()
      if (done) break
      rest += value
      let start = 0
      for (let nl = rest.indexOf('\n', start); nl !== -1; nl = rest.indexOf('\n', start)) {
        const line = rest.slice(start, nl)
        start = nl + 1
        const tab = line.indexOf('\t')
        if (tab > 0) yield [line.slice(0, tab), line.slice(tab + 1)]
      }
      rest = rest.slice(start)
    }
    const tab = rest.indexOf('\t')
    if (tab > 0) yield [rest.slice(0, tab), rest.slice(tab + 1).replace(/\n$/, '')]
  } finally {
    reader.releaseLock()
    await res.body.cancel().catch(() => undefined)
  }
}
