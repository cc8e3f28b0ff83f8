/**
 * One webhook delivery attempt: check the target (address-guard), POST the signed body to the checked
 * address only, and report what happened. Network failures, refusals and timeouts are results, never
 * exceptions; only wrong arguments throw. Redirects are not followed: a 3xx is a failed attempt.
 */
import { request as httpRequest, STATUS_CODES, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { createRequire } from 'node:module'
import type { LookupFunction } from 'node:net'
import {
  checkWebhookTarget,
  WebhookAddressError,
  type CheckedWebhookTarget,
  type ResolvedAddress,
  type WebhookAddressErrorCode,
  type WebhookLookup,
} from './address-guard.js'
import { signWebhookBody, WEBHOOK_SIGNATURE_HEADER } from './signature.js'

const VERSION = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version
export const WEBHOOK_USER_AGENT = `Truss-Webhooks/${VERSION}`

/** Speckle's webhook service counts these, and only these, as delivered. */
export const WEBHOOK_SUCCESS_STATUSES: ReadonlySet<number> = new Set([200, 201, 202, 204])
/** Bytes of the response kept as text for the delivery log. */
export const RESPONSE_EXCERPT_BYTES = 2048

export interface DeliverWebhookOptions {
  url: string | URL
  /** The exact bytes to send (a string is sent as UTF-8); the signature covers these bytes. */
  body: Buffer | string
  /** The webhook's secret; none signs with the empty string, as Speckle does. */
  secret?: string | null
  /** Deliver to loopback, private and other non-public addresses too. */
  allowPrivate: boolean
  /** Covers DNS, connecting, sending and the response headers. */
  timeoutMs?: number
  /** Response bytes read at most; past them reading stops (not an error). */
  maxResponseBytes?: number
  /** DNS at the boundary; the default asks the system resolver (`dns.lookup`, all addresses). */
  lookup?: WebhookLookup
}

/**
 * Why an attempt failed. `WEBHOOK_URL_INVALID` and `WEBHOOK_URL_FORBIDDEN` will fail again unchanged;
 * the others may succeed on a retry.
 */
export type WebhookDeliveryErrorCode =
  WebhookAddressErrorCode | 'TIMEOUT' | 'CONNECTION_FAILED' | 'REDIRECT' | 'HTTP_STATUS'

export interface WebhookDeliveryResult {
  /** The receiver answered 200, 201, 202 or 204. */
  ok: boolean
  statusCode?: number
  /** From the start of the attempt (DNS included) to its end. */
  latencyMs: number
  /** The first `RESPONSE_EXCERPT_BYTES` of the response body as text; set when a response arrived. */
  responseExcerpt?: string
  /** Response body bytes read (at most `maxResponseBytes`). */
  responseBytes: number
  /** Reading stopped before the body ended (the size cap, the deadline, or the connection broke). */
  responseTruncated: boolean
  /** The address the request was sent to. */
  remoteAddress?: string
  error?: string
  errorCode?: WebhookDeliveryErrorCode
}

class DeadlinePassed extends Error {}

export async function deliverWebhook(options: DeliverWebhookOptions): Promise<WebhookDeliveryResult> {
  const { url, body, secret, allowPrivate, lookup } = options
  const timeoutMs = options.timeoutMs ?? 10_000
  const maxResponseBytes = options.maxResponseBytes ?? 500_000
  if (typeof url !== 'string' && !(url instanceof URL)) throw new TypeError('deliverWebhook: url must be a string')
  if (typeof body !== 'string' && !Buffer.isBuffer(body))
    throw new TypeError('deliverWebhook: body must be a string or Buffer')
  if (secret !== undefined && secret !== null && typeof secret !== 'string') {
    throw new TypeError('deliverWebhook: secret must be a string')
  }
  if (typeof allowPrivate !== 'boolean') throw new TypeError('deliverWebhook: allowPrivate must be true or false')
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError('deliverWebhook: timeoutMs must be positive')
  if (!Number.isInteger(maxResponseBytes) || maxResponseBytes < 0) {
    throw new RangeError('deliverWebhook: maxResponseBytes must be a whole number of bytes')
  }
  if (lookup !== undefined && typeof lookup !== 'function')
    throw new TypeError('deliverWebhook: lookup must be a function')

  const started = performance.now()
  const elapsed = () => performance.now() - started
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
  const failure = (errorCode: WebhookDeliveryErrorCode, error: string): WebhookDeliveryResult => ({
    ok: false,
    latencyMs: elapsed(),
    responseBytes: 0,
    responseTruncated: false,
    error,
    errorCode,
  })

  let target: CheckedWebhookTarget
  try {
    target = await beforeDeadline(checkWebhookTarget(url, { allowPrivate, lookup }), timeoutMs)
  } catch (err) {
    if (err instanceof WebhookAddressError) return failure(err.code, err.message)
    if (err instanceof DeadlinePassed) return failure('TIMEOUT', `Timed out after ${timeoutMs} ms resolving the host`)
    throw err
  }

  const headers = {
    Host: target.url.host,
    'Content-Type': 'application/json',
    'Content-Length': String(bytes.length),
    'User-Agent': WEBHOOK_USER_AGENT,
    [WEBHOOK_SIGNATURE_HEADER]: signWebhookBody(bytes, secret),
    Connection: 'close',
  }
  const exchange = await post(target, headers, bytes, {
    remainingMs: Math.max(1, timeoutMs - elapsed()),
    timeoutMs,
    maxResponseBytes,
  })
  const latencyMs = elapsed()
  if (exchange.kind === 'failed') {
    return { ...failure(exchange.errorCode, exchange.error), latencyMs, remoteAddress: exchange.remoteAddress }
  }

  const { statusCode } = exchange
  const result: WebhookDeliveryResult = {
    ok: WEBHOOK_SUCCESS_STATUSES.has(statusCode),
    statusCode,
    latencyMs,
    responseExcerpt: exchange.excerpt,
    responseBytes: exchange.bytesRead,
    responseTruncated: exchange.truncated,
    remoteAddress: exchange.remoteAddress,
  }
  if (result.ok) return result
  const status = `HTTP ${statusCode}${STATUS_CODES[statusCode] ? ` ${STATUS_CODES[statusCode]}` : ''}`
  if (statusCode >= 300 && statusCode < 400) {
    const location = exchange.location === undefined ? '' : ` (Location: ${exchange.location.slice(0, 200)})`
    return { ...result, errorCode: 'REDIRECT', error: `${status}: redirects are not followed${location}` }
  }
  return { ...result, errorCode: 'HTTP_STATUS', error: `${status}: the receiver did not accept the webhook` }
}

function beforeDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlinePassed()), ms)
  })
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer))
}

/** Answers every lookup the socket makes with the checked addresses, so the connection cannot go elsewhere. */
function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0)
    const candidates = family === 0 ? addresses : addresses.filter((a) => a.family === family)
    if (candidates.length === 0) {
      const err: NodeJS.ErrnoException = new Error(`no checked IPv${family} address`)
      err.code = 'ENOTFOUND'
      callback(err, '')
    } else if (options.all) {
      callback(
        null,
        candidates.map((a) => ({ address: a.address, family: a.family })),
      )
    } else {
      callback(null, candidates[0].address, candidates[0].family)
    }
  }
}

type Exchange =
  | { kind: 'failed'; errorCode: 'TIMEOUT' | 'CONNECTION_FAILED'; error: string; remoteAddress?: string }
  | {
      kind: 'answered'
      statusCode: number
      location?: string
      excerpt: string
      bytesRead: number
      truncated: boolean
      remoteAddress?: string
    }

function post(
  target: CheckedWebhookTarget,
  headers: Record<string, string>,
  bytes: Buffer,
  limits: { remainingMs: number; timeoutMs: number; maxResponseBytes: number },
): Promise<Exchange> {
  const { remainingMs, timeoutMs, maxResponseBytes } = limits
  return new Promise((resolve) => {
    let settled = false
    let response: IncomingMessage | undefined
    let remoteAddress: string | undefined
    const excerptChunks: Buffer[] = []
    let excerptBytes = 0
    let bytesRead = 0

    const answered = (truncated: boolean): Exchange => {
      const excerpt = new TextDecoder().decode(Buffer.concat(excerptChunks).subarray(0, RESPONSE_EXCERPT_BYTES), {
        stream: true, // a character cut at the end is dropped, not shown as U+FFFD
      })
      const location = response?.headers.location
      return {
        kind: 'answered',
        statusCode: response?.statusCode ?? 0,
        location: typeof location === 'string' ? location : undefined,
        excerpt,
        bytesRead,
        truncated,
        remoteAddress,
      }
    }
    const settle = (exchange: Exchange) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      resolve(exchange)
    }

    const send = target.protocol === 'https:' ? httpsRequest : httpRequest
    const req = send({
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      path: `${target.url.pathname}${target.url.search}`,
      method: 'POST',
      headers,
      agent: false, // no pooled socket: each attempt connects to the address checked for it
      lookup: pinnedLookup(target.addresses),
      // servername (TLS SNI) follows `hostname`, so certificates are checked against the URL's host.
    })

    // One deadline for connect, send and headers; once the status is known, it only ends the reading.
    const timer = setTimeout(() => {
      if (response !== undefined) settle(answered(true))
      else settle({ kind: 'failed', errorCode: 'TIMEOUT', error: `Timed out after ${timeoutMs} ms`, remoteAddress })
    }, remainingMs)

    req.on('socket', (socket) => {
      socket.on('connect', () => {
        remoteAddress = socket.remoteAddress
      })
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (response !== undefined) return settle(answered(true))
      settle({ kind: 'failed', errorCode: 'CONNECTION_FAILED', error: `Request failed: ${err.message}`, remoteAddress })
    })
    req.on('response', (res) => {
      response = res
      remoteAddress ??= res.socket?.remoteAddress
      res.on('data', (chunk: Buffer) => {
        const room = maxResponseBytes - bytesRead
        if (chunk.length > room) {
          keep(chunk.subarray(0, Math.max(0, room)))
          bytesRead = maxResponseBytes
          return settle(answered(true))
        }
        keep(chunk)
        bytesRead += chunk.length
      })
      res.on('end', () => settle(answered(false)))
      res.on('error', () => settle(answered(true)))
      res.on('close', () => settle(answered(!res.complete)))
    })
    req.end(bytes)

    function keep(chunk: Buffer): void {
      if (excerptBytes >= RESPONSE_EXCERPT_BYTES || chunk.length === 0) return
      const piece = chunk.subarray(0, RESPONSE_EXCERPT_BYTES - excerptBytes)
      excerptChunks.push(piece)
      excerptBytes += piece.length
    }
  })
}
