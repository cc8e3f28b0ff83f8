/**
 * One GraphQL-over-WebSocket connection: its state machine (awaiting-init → authenticating → ready →
 * closed) and its running operations. It speaks to a minimal `RealtimeSocket`, not to `ws`, so tests drive
 * it with an in-memory socket and a fake clock. Every inbound frame is parsed (protocol.ts) before it
 * touches state; a malformed frame gets a protocol error, never an exception.
 */
import {
  createSourceEventStream,
  execute,
  getOperationAST,
  GraphQLError,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql'
import type { Logger } from 'pino'
import {
  CloseCode,
  encode,
  KEEP_ALIVE_FRAME,
  parseLegacyFrame,
  parseModernFrame,
  tokenFromInitPayload,
  type LegacyClientMessage,
  type LegacyServerMessage,
  type ModernClientMessage,
  type ModernServerMessage,
  type OperationPayload,
  type ProtocolKind,
  textFrame,
  trussExtensionOf,
} from './protocol.js'
import { seqOf } from '../../events.js'
// Parsed and validated documents, shared with the HTTP route (clients start the same few subscriptions).
import { documentCacheOf, type PreparedDocument } from '../graphql/document-cache.js'
import { canonicalKey, createEnvelope, type SharedSubscriptions } from './shared.js'

/**
 * What a connection needs of its socket: the gateway's wrapper of a `ws` WebSocket and its TCP socket, or the
 * tests' in-memory socket.
 */
export interface RealtimeSocket {
  /** Bytes queued to send and not yet handed to the kernel. */
  readonly bufferedAmount: number
  /** One complete WebSocket frame (protocol.ts `textFrame`), written as is; dropped once the socket closes. */
  sendFrame(frame: Buffer): void
  close(code: number, reason: string): void
  /** Drop the connection at once, discarding what is queued. */
  terminate(): void
}

/** Timers, injectable so keep-alive and init timeouts are tested without sleeping. Each returns its cancel. */
export interface Clock {
  setTimeout(callback: () => void, ms: number): () => void
  setInterval(callback: () => void, ms: number): () => void
}

export const systemClock: Clock = {
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms)
    timer.unref()
    return () => clearTimeout(timer)
  },
  setInterval(callback, ms) {
    const timer = setInterval(callback, ms)
    timer.unref()
    return () => clearInterval(timer)
  },
}

export interface ConnectionOptions<P, C> {
  schema: GraphQLSchema
  /** The principal a token stands for; null refuses the connection. */
  verifyToken(token: string): Promise<P | null>
  /** The GraphQL context every operation of the connection runs with. */
  buildContext(principal: P, connection: { id: string }): C | Promise<C>
  /** Legacy protocol: send `ka` this often. */
  keepAliveMs: number
  /** Close a connection that has not sent `connection_init` within this time. */
  initTimeoutMs: number
  /** Operations one connection may run at once. */
  maxSubscriptions: number
  /** A connection whose unsent bytes pass this is dropped. */
  maxBufferedBytes: number
  clock: Clock
  logger: Logger
  /**
   * Share one execution per event among the node's identical subscriptions (shared.ts). `principalKey` says
   * which principals are equivalent (null: this principal's operations are not shared). Only sound when
   * `buildContext` depends on nothing but the principal: a group's events run with its first member's context.
   */
  sharing?: { subscriptions: SharedSubscriptions; principalKey(principal: P): string | null }
  /** Called each time a subscription is live: authorized, listening to the change feed, events from now on arrive. */
  onSubscriptionLive?: () => void
  /** Called when a client is dropped for a full send buffer. */
  onSlowConsumer?: () => void
  /**
   * The context for an operation that resumes from `since` (`extensions.truss.since`): the change feed reads it
   * to replay what the client missed. Without it, resuming operations are refused.
   */
  resumeContext?(context: C, since: number): C
  /** Whether a verified principal may hold a connection (e.g. not an archived user). Default: any. */
  mayConnect?(principal: P): boolean
}

export interface Connection<P = unknown> {
  readonly id: string
  /** One inbound text frame. */
  receive(raw: string): void
  /** The socket closed (either side); ends every operation. */
  closed(): void
  /** Running operations. */
  operationCount(): number
  /** Close from the server side (shutdown). */
  close(code: number, reason: string): void
  /** Verify the connection's token again (revoked, or its user's role changed); close it when refused. */
  recheck(): Promise<void>
  /** The principal once authenticated. */
  principal(): P | null
}

type State<P, C> =
  | { state: 'awaiting-init'; cancelInitTimeout: () => void }
  | { state: 'authenticating' }
  | { state: 'ready'; principal: P; context: C; token: string; stopKeepAlive: () => void }
  | { state: 'closed' }

interface Operation {
  /** Set once graphql-js returned an event stream; `return()` ends it. */
  stream?: AsyncIterator<ExecutionResult>
  /** Set instead of `stream` when the operation joined a shared execution; leaves it. */
  leave?: () => void
}

function halt(operation: Operation): void {
  if (operation.leave) return operation.leave()
  void operation.stream?.return?.()
}

/** Operations run for equivalent principals with this key share their executions; null: not shared. */
function sharingKey(payload: OperationPayload, principalKey: string | null): string | null {
  if (principalKey === null) return null
  const variables = canonicalKey(payload.variables ?? {})
  const extensions = canonicalKey(payload.extensions ?? null)
  if (variables === null || extensions === null) return null
  return JSON.stringify([payload.query, payload.operationName ?? null, variables, extensions, principalKey])
}

/** The error an event stream threw, as the protocol reports it. */
function streamError(error: unknown): GraphQLFormattedError {
  const code = (error as { code?: unknown } | null)?.code
  const message = error instanceof Error ? error.message : 'The event stream failed'
  return { message, ...(typeof code === 'string' ? { extensions: { code } } : {}) }
}

// A close reason is at most 123 bytes (RFC 6455 §5.5).
const MAX_CLOSE_REASON = 120

export function createConnection<P, C>(
  id: string,
  socket: RealtimeSocket,
  kind: ProtocolKind,
  options: ConnectionOptions<P, C>,
  /** The token to use when `connection_init` carries none (the web app's session cookie, checked same-site). */
  sessionToken: string | null = null,
): Connection<P> {
  const { schema, clock } = options
  let log = options.logger.child({ connection: id, protocol: kind })
  const operations = new Map<string, Operation>()
  let state: State<P, C> = {
    state: 'awaiting-init',
    cancelInitTimeout: clock.setTimeout(
      () => closeSocket(CloseCode.ConnectionInitTimeout, 'Connection initialisation timeout'),
      options.initTimeoutMs,
    ),
  }

  // ---- sending ----

  function send(message: LegacyServerMessage | ModernServerMessage): void {
    sendFrame(textFrame(encode(message)))
  }

  /** A complete frame (shared results and `ka` come framed once for every connection they go to). */
  function sendFrame(frame: Buffer): void {
    if (state.state === 'closed') return
    // Checked before each send, so a connection holds at most the bound plus one message.
    if (socket.bufferedAmount > options.maxBufferedBytes) {
      log.warn({ bufferedBytes: socket.bufferedAmount }, 'dropping a client that does not read its messages')
      options.onSlowConsumer?.()
      end()
      // The close frame waits behind the unsent bytes; a client that still reads nothing is cut after a second.
      socket.close(CloseCode.SlowConsumer, 'Send buffer full: read faster, or reconnect and resume')
      clock.setTimeout(() => socket.terminate(), 1000)
      return
    }
    socket.sendFrame(frame)
  }

  function closeSocket(code: number, reason: string): void {
    if (state.state === 'closed') return
    end()
    socket.close(code, reason.slice(0, MAX_CLOSE_REASON))
  }

  /** Leave every state for `closed`: timers off, every operation's stream ended. */
  function end(): void {
    if (state.state === 'awaiting-init') state.cancelInitTimeout()
    if (state.state === 'ready') state.stopKeepAlive()
    state = { state: 'closed' }
    const running = [...operations.values()]
    operations.clear()
    for (const operation of running) halt(operation)
  }

  function sendResult(opId: string, result: ExecutionResult): void {
    send(kind === 'legacy' ? { type: 'data', id: opId, payload: result } : { type: 'next', id: opId, payload: result })
  }

  /** The operation failed before or while streaming (not a GraphQL result with errors). */
  function sendOperationError(opId: string, errors: readonly GraphQLFormattedError[]): void {
    if (kind === 'modern') return send({ type: 'error', id: opId, payload: errors })
    send({ type: 'error', id: opId, payload: { message: errors.map((error) => error.message).join('; ') } })
  }

  // ---- authentication ----

  async function authenticate(payload: unknown): Promise<void> {
    if (state.state === 'awaiting-init') state.cancelInitTimeout()
    state = { state: 'authenticating' }
    const token = tokenFromInitPayload(payload) ?? sessionToken
    let principal: P | null = null
    let context: C | undefined
    try {
      if (token !== null) principal = await options.verifyToken(token)
      if (principal !== null && options.mayConnect && !options.mayConnect(principal)) principal = null
      if (principal !== null) context = await options.buildContext(principal, { id })
    } catch (error) {
      log.error({ err: error }, 'authenticating a realtime connection failed')
      principal = null
    }
    if (state.state !== 'authenticating') return
    if (principal === null || context === undefined) return refuse(token === null)
    const ready = { principal, context, token: token! }
    log = log.child({ userId: (principal as { userId?: unknown }).userId })
    if (kind === 'legacy') {
      state = {
        state: 'ready',
        ...ready,
        stopKeepAlive: clock.setInterval(() => sendFrame(KEEP_ALIVE_FRAME), options.keepAliveMs),
      }
      send({ type: 'connection_ack' })
      // subscriptions-transport-ws sends the first `ka` right after the ack.
      sendFrame(KEEP_ALIVE_FRAME)
    } else {
      state = { state: 'ready', ...ready, stopKeepAlive: () => undefined }
      send({ type: 'connection_ack' })
    }
  }

  function refuse(noToken: boolean): void {
    log.info({ noToken }, 'refused a realtime connection')
    if (kind === 'modern') return closeSocket(CloseCode.Forbidden, 'Forbidden')
    // As subscriptions-transport-ws: `connection_error`, then close with 1011.
    send({
      type: 'connection_error',
      payload: { message: noToken ? 'You need a token to subscribe' : 'Your token is not valid.' },
    })
    closeSocket(CloseCode.InternalError, 'Connection refused')
  }

  // ---- operations ----

  function start(opId: string, payload: OperationPayload): void {
    if (state.state !== 'ready') return
    if (operations.size >= options.maxSubscriptions) {
      return sendOperationError(opId, [
        { message: `Too many subscriptions on this connection (at most ${options.maxSubscriptions})` },
      ])
    }
    const operation: Operation = {}
    operations.set(opId, operation)
    const sharing = options.sharing
    const key = sharing ? sharingKey(payload, sharing.principalKey(state.principal)) : null
    run(opId, operation, payload, state.context, key).catch((error: unknown) => {
      log.error({ err: error, operation: opId }, 'realtime operation failed')
      if (operations.get(opId) !== operation) return
      operations.delete(opId)
      sendOperationError(opId, [{ message: error instanceof Error ? error.message : 'Internal error' }])
    })
  }

  function stop(opId: string): boolean {
    const operation = operations.get(opId)
    if (!operation) return false
    operations.delete(opId)
    halt(operation)
    return true
  }

  const current = (opId: string, operation: Operation): boolean => operations.get(opId) === operation

  async function run(
    opId: string,
    operation: Operation,
    payload: OperationPayload,
    context: C,
    key: string | null,
  ): Promise<void> {
    let prepared: PreparedDocument
    try {
      prepared = documentCacheOf(schema).prepare(payload.query)
    } catch (error) {
      operations.delete(opId)
      const message = error instanceof GraphQLError ? error.message : 'Cannot parse the query'
      return sendOperationError(opId, [{ message }])
    }
    const { document } = prepared
    const validationErrors = [...prepared.errors]
    const operationName = payload.operationName ?? undefined
    if (validationErrors.length === 0 && !getOperationAST(document, operationName)) {
      validationErrors.push(new GraphQLError('Must provide a known operation'))
    }
    if (validationErrors.length > 0) return finishWith(opId, { errors: validationErrors }, true)

    const truss = trussExtensionOf(payload.extensions)
    if (truss?.since !== undefined) {
      if (!options.resumeContext) {
        operations.delete(opId)
        return sendOperationError(opId, [{ message: 'This server cannot resume subscriptions' }])
      }
      context = options.resumeContext(context, truss.since)
    }
    const args = {
      schema,
      document,
      operationName,
      variableValues: payload.variables ?? undefined,
      contextValue: context,
    }
    const isSubscription = getOperationAST(document, operationName)?.operation === 'subscription'
    const result = isSubscription ? await subscribeWithSeq(args, truss !== null) : await execute(args)
    if (!(Symbol.asyncIterator in result)) {
      if (current(opId, operation)) finishWith(opId, result, isSubscription)
      return
    }
    const stream = result[Symbol.asyncIterator]()
    operation.stream = stream
    // Stopped while graphql-js was setting up: end the stream it just made.
    if (!current(opId, operation)) return void stream.return?.()
    if (isSubscription) options.onSubscriptionLive?.()
    if (isSubscription && key !== null && options.sharing) return share(opId, operation, stream, key)
    try {
      while (true) {
        const next = await stream.next()
        if (next.done || !current(opId, operation)) break
        sendResult(opId, next.value)
      }
    } catch (error) {
      if (!current(opId, operation)) return
      operations.delete(opId)
      return sendOperationError(opId, [streamError(error)])
    }
    if (!current(opId, operation)) return
    operations.delete(opId)
    send({ type: 'complete', id: opId })
  }

  /**
   * Hand this operation's authorized stream to the node's shared executions: results arrive as one JSON
   * string per group and event, framed once per event for every operation with this envelope.
   */
  function share(opId: string, operation: Operation, stream: AsyncIterator<ExecutionResult>, key: string): void {
    const envelope = createEnvelope(
      `{"type":${kind === 'legacy' ? '"data"' : '"next"'},"id":${JSON.stringify(opId)},"payload":`,
      '}',
    )
    operation.stream = undefined
    operation.leave = options.sharing!.subscriptions.attach(key, stream, {
      result(result) {
        if (current(opId, operation)) sendFrame(result.frame(envelope))
      },
      failed(error) {
        if (!current(opId, operation)) return
        operations.delete(opId)
        sendOperationError(opId, [streamError(error)])
      },
      completed() {
        if (!current(opId, operation)) return
        operations.delete(opId)
        send({ type: 'complete', id: opId })
      },
    })
  }

  /**
   * A single result (a query, or a subscription that failed to start). The modern protocol reports a failed
   * start as `error`; the legacy one, as subscriptions-transport-ws, as `data` with the errors.
   */
  function finishWith(opId: string, result: ExecutionResult, setupFailed: boolean): void {
    operations.delete(opId)
    const failed = setupFailed && result.errors !== undefined && result.errors.length > 0 && !result.data
    if (failed && kind === 'modern')
      return sendOperationError(
        opId,
        result.errors!.map((error) => error.toJSON()),
      )
    sendResult(opId, result)
    send({ type: 'complete', id: opId })
  }

  // ---- inbound ----

  function receiveLegacy(message: LegacyClientMessage): void {
    switch (message.type) {
      case 'connection_init':
        if (state.state === 'awaiting-init') void authenticate(message.payload)
        else if (state.state === 'ready') send({ type: 'connection_ack' })
        return
      case 'start':
        if (state.state !== 'ready') {
          return send({
            type: 'error',
            id: message.id,
            payload: { message: 'Send connection_init and wait for connection_ack first' },
          })
        }
        // As subscriptions-transport-ws: a start with a running id replaces that operation.
        stop(message.id)
        return start(message.id, message.payload)
      case 'stop':
        if (stop(message.id)) send({ type: 'complete', id: message.id })
        return
      case 'connection_terminate':
        return closeSocket(CloseCode.Normal, 'Terminated')
    }
  }

  function receiveModern(message: ModernClientMessage): void {
    switch (message.type) {
      case 'connection_init':
        if (state.state !== 'awaiting-init') {
          return closeSocket(CloseCode.TooManyInitialisationRequests, 'Too many initialisation requests')
        }
        return void authenticate(message.payload)
      case 'ping':
        return send({ type: 'pong' })
      case 'pong':
        return
      case 'subscribe':
        if (state.state !== 'ready') return closeSocket(CloseCode.Unauthorized, 'Unauthorized')
        if (operations.has(message.id)) {
          return closeSocket(CloseCode.SubscriberAlreadyExists, `Subscriber for ${message.id} already exists`)
        }
        return start(message.id, message.payload)
      case 'complete':
        // The client ended it; the server sends no `complete` back.
        stop(message.id)
        return
    }
  }

  return {
    id,

    receive(raw) {
      if (state.state === 'closed') return
      if (kind === 'legacy') {
        const parsed = parseLegacyFrame(raw)
        if (parsed.ok) return receiveLegacy(parsed.message)
        // As subscriptions-transport-ws: an answer, the connection stays open.
        if (parsed.id !== undefined) return send({ type: 'error', id: parsed.id, payload: { message: parsed.reason } })
        return send({ type: 'connection_error', payload: { message: parsed.reason } })
      }
      const parsed = parseModernFrame(raw)
      if (parsed.ok) return receiveModern(parsed.message)
      closeSocket(CloseCode.BadRequest, parsed.reason)
    },

    closed() {
      if (state.state !== 'closed') end()
    },

    operationCount() {
      return operations.size
    },

    close(code, reason) {
      closeSocket(code, reason)
    },

    async recheck() {
      if (state.state !== 'ready') return
      const { token } = state
      let principal: P | null = null
      try {
        principal = await options.verifyToken(token)
      } catch (error) {
        // Keep the connection: the next change or reconnection checks again.
        log.warn({ err: error }, 'checking a realtime connection again failed')
        return
      }
      if (principal !== null && (!options.mayConnect || options.mayConnect(principal))) return
      log.info('closing a realtime connection whose token no longer grants access')
      closeSocket(CloseCode.Forbidden, 'Forbidden')
    },

    principal() {
      return state.state === 'ready' ? state.principal : null
    },
  }
}

/**
 * graphql-js `subscribe`, but each result of a source event that carries an outbox seq (events.ts `seqOf`)
 * reports it in `extensions.truss.seq` when `withSeq` (the client sent a `truss` extension).
 */
async function subscribeWithSeq(
  args: Parameters<typeof execute>[0],
  withSeq: boolean,
): Promise<ExecutionResult | AsyncIterableIterator<ExecutionResult>> {
  const source = await createSourceEventStream(args)
  if (!(Symbol.asyncIterator in source)) return source
  const events = source[Symbol.asyncIterator]()
  const map = async (event: unknown): Promise<ExecutionResult> => {
    const result = await execute({ ...args, rootValue: event })
    const seq = withSeq ? seqOf(event) : undefined
    return seq === undefined ? result : { ...result, extensions: { ...result.extensions, truss: { seq } } }
  }
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    async next() {
      const next = await events.next()
      if (next.done) return { value: undefined, done: true }
      return { value: await map(next.value), done: false }
    },
    async return() {
      await events.return?.()
      return { value: undefined, done: true }
    },
    async throw(error: unknown) {
      await events.return?.()
      throw error
    },
    [Symbol.asyncIterator]() {
      return iterator
    },
  }
  return iterator
}
