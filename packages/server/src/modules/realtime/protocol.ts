/**
 * The two GraphQL-over-WebSocket wire protocols, as typed unions parsed with zod. Nothing here holds
 * state or touches a socket: `parseClientFrame` turns an inbound frame into a message (or a reason it is
 * not one), `encode` turns an outbound message into a frame.
 *
 * - legacy: subscriptions-transport-ws, subprotocol `graphql-ws`. The only one Speckle 2.24 speaks and the
 *   one all of Speckle's clients use (WIRE.md "WebSocket protocol").
 *   https://github.com/apollographql/subscriptions-transport-ws/blob/master/PROTOCOL.md
 * - modern: graphql-ws, subprotocol `graphql-transport-ws` (a Truss extension).
 *   https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
 */
import type { ExecutionResult, GraphQLFormattedError } from 'graphql'
import { z } from 'zod'

/** Bumped when the set of messages or their meaning changes. */
export const REALTIME_PROTOCOL_VERSION = 1

export const LEGACY_SUBPROTOCOL = 'graphql-ws'
export const MODERN_SUBPROTOCOL = 'graphql-transport-ws'
// subscriptions-transport-ws also accepted this older name for the same protocol.
const LEGACY_ALIAS = 'graphql-subscriptions'

export type ProtocolKind = 'legacy' | 'modern'

/**
 * The protocol for the subprotocols a client offered (`Sec-WebSocket-Protocol`, in its order of
 * preference), or null when it offered none we speak.
 */
export function pickProtocol(offered: Iterable<string>): { kind: ProtocolKind; subprotocol: string } | null {
  for (const name of offered) {
    if (name === MODERN_SUBPROTOCOL) return { kind: 'modern', subprotocol: name }
    if (name === LEGACY_SUBPROTOCOL || name === LEGACY_ALIAS) return { kind: 'legacy', subprotocol: name }
  }
  return null
}

/** Close codes (graphql-ws PROTOCOL.md; the legacy protocol closes with 1011 after `connection_error`). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  InternalError: 1011,
  TryAgainLater: 1013,
  BadRequest: 4400,
  Unauthorized: 4401,
  Forbidden: 4403,
  ConnectionInitTimeout: 4408,
  SubscriberAlreadyExists: 4409,
  TooManyInitialisationRequests: 4429,
  /** Truss: the client did not read its messages and its send buffer passed the bound; reconnect and resume. */
  SlowConsumer: 4008,
} as const

/**
 * The Truss extension of an operation's `extensions`: `truss: { since }` resumes from the last seq the client
 * saw; any `truss` object asks for each result's seq in `extensions.truss.seq`. Speckle's clients send neither.
 */
const trussExtension = z.object({ since: z.number().int().nonnegative().optional() })

export function trussExtensionOf(extensions: Record<string, unknown> | null | undefined): { since?: number } | null {
  if (!extensions || !('truss' in extensions)) return null
  const parsed = trussExtension.safeParse(extensions.truss ?? {})
  return parsed.success ? parsed.data : null
}

// ---- inbound (client → server) ----

const jsonObject = z.record(z.string(), z.unknown())
const operationId = z.string().min(1).max(256)

/** `{ query, variables?, operationName?, extensions? }`, the same in both protocols. */
const operationPayload = z.object({
  query: z.string().max(100_000),
  variables: jsonObject.nullish(),
  operationName: z.string().nullish(),
  extensions: jsonObject.nullish(),
})
export type OperationPayload = z.infer<typeof operationPayload>

const legacyClientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('connection_init'), payload: jsonObject.nullish() }),
  z.object({ type: z.literal('start'), id: operationId, payload: operationPayload }),
  z.object({ type: z.literal('stop'), id: operationId }),
  z.object({ type: z.literal('connection_terminate') }),
])
export type LegacyClientMessage = z.infer<typeof legacyClientMessage>

const modernClientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('connection_init'), payload: jsonObject.nullish() }),
  z.object({ type: z.literal('ping'), payload: jsonObject.nullish() }),
  z.object({ type: z.literal('pong'), payload: jsonObject.nullish() }),
  z.object({ type: z.literal('subscribe'), id: operationId, payload: operationPayload }),
  z.object({ type: z.literal('complete'), id: operationId }),
])
export type ModernClientMessage = z.infer<typeof modernClientMessage>

export type ClientFrame<K extends ProtocolKind> = K extends 'legacy' ? LegacyClientMessage : ModernClientMessage

export type ParsedFrame<M> =
  | { ok: true; message: M }
  /** `id` is the operation id when the frame carried one, so the legacy protocol can answer `error` for it. */
  | { ok: false; reason: string; id?: string }

const idOnly = z.object({ id: operationId })

function parseWith<M>(schema: z.ZodType<M>, raw: string): ParsedFrame<M> {
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    return { ok: false, reason: 'Message is not valid JSON' }
  }
  const result = schema.safeParse(json)
  if (result.success) return { ok: true, message: result.data }
  const id = idOnly.safeParse(json)
  const issue = result.error.issues[0]
  const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : ''
  return {
    ok: false,
    reason: `Invalid message${where}: ${issue?.message ?? 'unknown shape'}`,
    ...(id.success ? { id: id.data.id } : {}),
  }
}

export function parseLegacyFrame(raw: string): ParsedFrame<LegacyClientMessage> {
  return parseWith(legacyClientMessage, raw)
}

export function parseModernFrame(raw: string): ParsedFrame<ModernClientMessage> {
  return parseWith(modernClientMessage, raw)
}

// ---- outbound (server → client) ----

export type LegacyServerMessage =
  | { type: 'connection_ack' }
  | { type: 'connection_error'; payload: { message: string } }
  | { type: 'ka' }
  | { type: 'data'; id: string; payload: ExecutionResult }
  | { type: 'error'; id?: string; payload: { message: string } }
  | { type: 'complete'; id: string }

export type ModernServerMessage =
  | { type: 'connection_ack'; payload?: Record<string, unknown> }
  | { type: 'ping'; payload?: Record<string, unknown> }
  | { type: 'pong'; payload?: Record<string, unknown> }
  | { type: 'next'; id: string; payload: ExecutionResult }
  | { type: 'error'; id: string; payload: readonly GraphQLFormattedError[] }
  | { type: 'complete'; id: string }

export function encode(message: LegacyServerMessage | ModernServerMessage): string {
  return JSON.stringify(message)
}

// ---- WebSocket framing (RFC 6455 §5.2) ----

/**
 * `text` as one complete WebSocket text frame as a server sends it (FIN, opcode 1, unmasked), ready to be
 * written to the socket as is. Built once and written to every subscriber it is for: this skips `ws`'s
 * per-send framing and its two-buffer `writev`.
 */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text)
  const header = length < 126 ? 2 : length < 0x10000 ? 4 : 10
  const frame = Buffer.allocUnsafe(header + length)
  frame[0] = 0x81
  if (header === 2) {
    frame[1] = length
  } else if (header === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeBigUInt64BE(BigInt(length), 2)
  }
  frame.write(text, header)
  return frame
}

/** The legacy protocol's keep-alive, framed once for every connection. */
export const KEEP_ALIVE_FRAME = textFrame(encode({ type: 'ka' }))

// ---- connection_init payload ----

const initAuth = z.object({
  Authorization: z.string().optional(),
  authorization: z.string().optional(),
  headers: z
    .object({ Authorization: z.string().optional(), authorization: z.string().optional() })
    .partial()
    .nullish()
    .catch(undefined),
})

/**
 * The token in a `connection_init` payload: `Authorization`, `authorization`, `headers.Authorization` or
 * `headers.authorization` (WIRE-GRAPHQL.md "Subscriptions"), as `Bearer <token>` or bare. Null when absent.
 */
export function tokenFromInitPayload(payload: unknown): string | null {
  const parsed = initAuth.safeParse(payload ?? {})
  if (!parsed.success) return null
  const { Authorization, authorization, headers } = parsed.data
  const value = Authorization ?? authorization ?? headers?.Authorization ?? headers?.authorization
  if (value === undefined) return null
  const token = value.replace(/^\s*bearer\s+/i, '').trim()
  return token === '' ? null : token
}
