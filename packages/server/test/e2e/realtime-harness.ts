/**
 * Realtime e2e helpers: a Fastify app on 127.0.0.1:0 serving the test schema through the gateway, and a raw
 * `ws` client speaking frames as Speckle's .NET/Python/frontend clients do.
 */
import Fastify, { type FastifyBaseLogger } from 'fastify'
import { pino } from 'pino'
import WebSocket from 'ws'
import type { Bus } from '../../src/adapters/bus/types.js'
import {
  attachRealtimeGateway,
  type RealtimeGateway,
  type RealtimeGatewayOptions,
} from '../../src/modules/realtime/gateway.js'
import { createRealtimeHub, type RealtimeHub } from '../../src/modules/realtime/hub.js'
import {
  testSchema,
  verifyTestToken,
  type TestContext,
  type TestPrincipal,
} from '../../src/modules/realtime/test-utils/schema.js'

export const silent = pino({ level: 'silent' })

export interface Node {
  url: string
  wsUrl: string
  hub: RealtimeHub
  gateway: RealtimeGateway
  close(): Promise<void>
}

export async function startNode(
  bus: Bus,
  options: Partial<RealtimeGatewayOptions<TestPrincipal, TestContext>> = {},
): Promise<Node> {
  const app = Fastify({ loggerInstance: silent as FastifyBaseLogger })
  const hub = createRealtimeHub({ bus, logger: silent })
  const gateway = attachRealtimeGateway<TestPrincipal, TestContext>(app, {
    schema: testSchema,
    verifyToken: verifyTestToken,
    buildContext: (principal) => ({ principal, subscribe: hub.subscribe }),
    ...options,
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/graphql`,
    hub,
    gateway,
    async close() {
      await app.close()
      await hub.close()
    },
  }
}

export interface Frame {
  type: string
  id?: string
  payload?: unknown
}

/** A raw WebSocket client: `next()` resolves with the next frame, skipping `ka` unless asked. */
export class RawClient {
  readonly ws: WebSocket
  readonly opened: Promise<void>
  readonly closed: Promise<{ code: number; reason: string }>
  private frames: Frame[] = []
  private waiting: ((frame: Frame) => void) | null = null
  kaCount = 0

  constructor(url: string, protocols: string | string[] = 'graphql-ws') {
    this.ws = new WebSocket(url, protocols)
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    // A test that expects the handshake to fail awaits `closed` instead.
    this.opened.catch(() => undefined)
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    )
    this.ws.on('error', () => undefined)
    this.ws.on('message', (data, isBinary) => {
      // Both protocols are text: a binary frame shows up as a frame no test expects.
      const frame = isBinary ? { type: 'binary frame' } : (JSON.parse(data.toString()) as Frame)
      if (frame.type === 'ka') {
        this.kaCount += 1
        return
      }
      if (this.waiting) {
        const resolve = this.waiting
        this.waiting = null
        resolve(frame)
      } else this.frames.push(frame)
    })
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  next(timeoutMs = 5000): Promise<Frame> {
    const queued = this.frames.shift()
    if (queued) return Promise.resolve(queued)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no frame within the timeout')), timeoutMs)
      this.waiting = (frame) => {
        clearTimeout(timer)
        resolve(frame)
      }
    })
  }

  /** Connect, send connection_init with `payload`, return the first answer. */
  async init(payload: unknown): Promise<Frame> {
    await this.opened
    this.send({ type: 'connection_init', payload })
    return this.next()
  }

  close(): void {
    this.ws.close()
  }
}

export const VERSIONS = 'subscription ($id: String!) { projectVersionsUpdated(id: $id) { id type seq } }'
