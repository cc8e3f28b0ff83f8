/**
 * The WebSocket transport: takes the HTTP `upgrade`s for `/graphql` off a Fastify server, picks the protocol
 * from `Sec-WebSocket-Protocol`, and hands each socket's frames to a connection (connection.ts). Schema
 * agnostic: the schema, the token check and the context are passed in.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { GraphQLSchema } from 'graphql'
import { pino, type Logger } from 'pino'
import { WebSocket, WebSocketServer } from 'ws'
import { createConnection, systemClock, type Clock, type Connection, type RealtimeSocket } from './connection.js'
import { CloseCode, pickProtocol } from './protocol.js'
import { canonicalKey, createSharedSubscriptions } from './shared.js'

export interface RealtimeGatewayOptions<P, C> {
  schema: GraphQLSchema
  /** The principal a token stands for; null refuses the connection (tokens service `verify`). */
  verifyToken(token: string): Promise<P | null>
  /** The context operations run with; resolvers reach the change feed through it (`context.subscribe`). */
  buildContext(principal: P, connection: { id: string }): C | Promise<C>
  /** Legacy protocol keep-alive (`ka`) period. Default 10 s. */
  keepAliveSeconds?: number
  /** A connection that sends no `connection_init` within this is closed (4408). Default 10 s. */
  initTimeoutSeconds?: number
  /** Operations one connection may run at once. Default 200. */
  maxSubscriptionsPerConnection?: number
  /** A client whose unsent bytes pass this is disconnected. Default 4 MiB. */
  maxBufferedBytes?: number
  /** Largest inbound frame. Default 1 MiB. */
  maxFrameBytes?: number
  /** Default `/graphql`. */
  path?: string
  /**
   * Run one execution per event for the node's identical subscriptions of equivalent principals, and send
   * every subscriber the same serialized result (shared.ts). Default true; needs a `buildContext` that depends
   * on the principal only.
   */
  shareSubscriptions?: boolean
  /**
   * Which principals may share results: equal keys share, null never does. Default: the principal's whole
   * structure (`canonicalKey`), the safe choice; see shared.ts for why not the project role.
   */
  principalKey?(principal: P): string | null
  clock?: Clock
  /**
   * The token an upgrade request carries itself (the built-in web app's session cookie, checked same-site),
   * used when `connection_init` carries none. Default: none.
   */
  sessionToken?(request: IncomingMessage): string | null
  /** Defaults to the app's logger. */
  logger?: Logger
  /** The context of an operation resuming from `since` (connection.ts); without it resuming is refused. */
  resumeContext?(context: C, since: number): C
  /** Whether a verified principal may hold a connection (archived users may not). Default: any. */
  mayConnect?(principal: P): boolean
}

export interface RealtimeGateway<P = unknown> {
  /**
   * `sharedExecutions`: graphql-js event streams run for shared subscriptions (one per group);
   * `sharedSubscribers`: the live operations they serve; `subscriptionsStarted`: subscriptions that went live
   * since the gateway started (a client that cannot tell when its subscription is live can watch it grow).
   */
  stats(): {
    connections: number
    subscriptions: number
    sharedExecutions: number
    sharedSubscribers: number
    subscriptionsStarted: number
    /** Clients closed (4008) because their send buffer passed `maxBufferedBytes`. */
    slowConsumersDropped: number
  }
  /**
   * Verify again the tokens of the connections `which` selects (their token was revoked, or their user's role
   * changed); those refused now are closed (4403). Resolves when every check is done.
   */
  recheck(which: (principal: P) => boolean): Promise<void>
  /** Close every connection (1001) and stop taking upgrades. Also runs on the app's `preClose`. */
  close(): Promise<void>
}

export const REALTIME_DEFAULTS = {
  keepAliveSeconds: 10,
  initTimeoutSeconds: 10,
  maxSubscriptionsPerConnection: 200,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxFrameBytes: 1024 * 1024,
  path: '/graphql',
  shareSubscriptions: true,
} as const

/**
 * Serve GraphQL subscriptions over WebSocket on `app`'s HTTP server. Call before `app.listen()` (it adds a
 * `preClose` hook so `app.close()` ends the sockets instead of waiting for them).
 */
export function attachRealtimeGateway<P, C>(
  app: FastifyInstance,
  options: RealtimeGatewayOptions<P, C>,
): RealtimeGateway<P> {
  const settings = { ...REALTIME_DEFAULTS, ...definedOnly(options) }
  const logger = (options.logger ?? (app.log as Logger) ?? pino()).child({ module: 'realtime' })
  const shared = createSharedSubscriptions(logger)
  let subscriptionsStarted = 0
  let slowConsumersDropped = 0
  const connectionOptions = {
    onSubscriptionLive: () => void (subscriptionsStarted += 1),
    onSlowConsumer: () => void (slowConsumersDropped += 1),
    ...(options.resumeContext ? { resumeContext: options.resumeContext } : {}),
    ...(options.mayConnect ? { mayConnect: options.mayConnect } : {}),
    schema: options.schema,
    verifyToken: options.verifyToken,
    buildContext: options.buildContext,
    keepAliveMs: settings.keepAliveSeconds * 1000,
    initTimeoutMs: settings.initTimeoutSeconds * 1000,
    maxSubscriptions: settings.maxSubscriptionsPerConnection,
    maxBufferedBytes: settings.maxBufferedBytes,
    clock: options.clock ?? systemClock,
    logger,
    ...(settings.shareSubscriptions
      ? {
          sharing: {
            subscriptions: shared,
            principalKey: options.principalKey ?? ((principal: P) => canonicalKey(principal)),
          },
        }
      : {}),
  }
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: settings.maxFrameBytes,
    // Frames are also written straight to the TCP socket (socketOf below). Without compression `ws` never
    // holds a frame back, so its own frames (pong, close) and ours go out in the order they are sent.
    perMessageDeflate: false,
    // Answer with the protocol we will speak; none we know → no header, and the socket is closed below.
    handleProtocols: (offered) => pickProtocol(offered)?.subprotocol ?? false,
  })
  const connections = new Map<WebSocket, Connection<P>>()
  let nextId = 0
  let closing = false

  function onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (pathOf(request.url) !== settings.path) {
      // Another upgrade listener may serve this path; answer 404 only when there is none.
      if (app.server.listenerCount('upgrade') === 1) refuseUpgrade(socket, '404 Not Found')
      return
    }
    if (closing) return refuseUpgrade(socket, '503 Service Unavailable')
    wss.handleUpgrade(request, socket, head, (ws) => accept(ws, socket, request))
  }

  function accept(ws: WebSocket, socket: Duplex, request: IncomingMessage): void {
    const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((name) => name.trim())
    const protocol = pickProtocol(offered)
    ws.on('error', (error) => logger.debug({ err: error }, 'websocket error'))
    if (!protocol) {
      // As subscriptions-transport-ws: no subprotocol we speak → close with 1002.
      ws.close(CloseCode.ProtocolError, 'Unsupported WebSocket subprotocol; use graphql-ws or graphql-transport-ws')
      return
    }
    nextId += 1
    const session = options.sessionToken?.(request) ?? null
    const connection = createConnection(`ws${nextId}`, socketOf(ws, socket), protocol.kind, connectionOptions, session)
    connections.set(ws, connection)
    ws.on('message', (data, isBinary) => {
      // Both protocols are text; a binary frame is read as UTF-8 JSON like any other.
      connection.receive(isBinary ? Buffer.from(data as Buffer).toString('utf8') : data.toString())
    })
    ws.on('close', () => {
      connections.delete(ws)
      connection.closed()
    })
  }

  app.server.on('upgrade', onUpgrade)

  async function close(): Promise<void> {
    if (closing) return
    closing = true
    app.server.off('upgrade', onUpgrade)
    const sockets = [...connections.keys()]
    const gone = sockets.map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())))
    for (const [, connection] of connections) connection.close(CloseCode.GoingAway, 'Server shutting down')
    // A client that does not answer the close handshake is dropped after a second.
    const force = setTimeout(() => sockets.forEach((ws) => ws.terminate()), 1000)
    await Promise.all(gone)
    clearTimeout(force)
    await new Promise<void>((resolve) => wss.close(() => resolve()))
  }

  app.addHook('preClose', close)

  return {
    stats() {
      let subscriptions = 0
      for (const connection of connections.values()) subscriptions += connection.operationCount()
      const { groups, members } = shared.stats()
      return {
        connections: connections.size,
        subscriptions,
        sharedExecutions: groups,
        sharedSubscribers: members,
        subscriptionsStarted,
        slowConsumersDropped,
      }
    },
    async recheck(which) {
      const selected = [...connections.values()].filter((connection) => {
        const principal = connection.principal()
        return principal !== null && which(principal)
      })
      await Promise.all(selected.map((connection) => connection.recheck()))
    },
    close,
  }
}

/**
 * The connection's view of an accepted socket. Frames are written to the TCP socket `ws` took over, not through
 * `ws.send`: they come framed (shared results once per event for all subscribers), and one `write` of one
 * buffer costs less than `ws`'s framing and its two-buffer `writev`, which is most of a fan-out's CPU.
 */
function socketOf(ws: WebSocket, socket: Duplex): RealtimeSocket {
  return {
    get bufferedAmount() {
      return socket.writableLength
    },
    sendFrame(frame) {
      // Nothing after a close frame (RFC 6455 §5.5.1): `ws` leaves OPEN when either side starts closing.
      if (ws.readyState === WebSocket.OPEN) socket.write(frame)
    },
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
  }
}

function pathOf(url: string | undefined): string {
  const path = (url ?? '/').split('?', 1)[0]!
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
}

function refuseUpgrade(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
