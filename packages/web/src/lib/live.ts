/**
 * Live updates: one shared WebSocket speaking graphql-transport-ws to `/graphql`, authenticated by the
 * session cookie (sent with the upgrade). Subscriptions survive a dropped socket: it reconnects with backoff
 * and starts them again, and `onReconnect` lets a page read what it may have missed.
 */

type Handler = (data: Record<string, unknown>) => void
interface Sub {
  query: string
  variables: Record<string, unknown>
  onData: Handler
  onReconnect?: () => void
}

let socket: WebSocket | null = null
let ready = false
let nextId = 1
let retry = 0
let everConnected = false
const subs = new Map<string, Sub>()

function send(message: unknown): void {
  if (socket && ready) socket.send(JSON.stringify(message))
}

function start(id: string, sub: Sub): void {
  send({ id, type: 'subscribe', payload: { query: sub.query, variables: sub.variables } })
}

function connect(): void {
  if (socket) return
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`
  const ws = new WebSocket(url, 'graphql-transport-ws')
  socket = ws
  ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: {} }))
  ws.onmessage = (event) => {
    let msg: { type: string; id?: string; payload?: unknown }
    try {
      msg = JSON.parse(String(event.data)) as typeof msg
    } catch {
      return
    }
    if (msg.type === 'connection_ack') {
      ready = true
      retry = 0
      const again = everConnected
      everConnected = true
      for (const [id, sub] of subs) {
        start(id, sub)
        if (again) sub.onReconnect?.()
      }
    } else if (msg.type === 'ping') {
      ws.send(JSON.stringify({ type: 'pong' }))
    } else if (msg.type === 'next' && msg.id) {
      const data = (msg.payload as { data?: Record<string, unknown> } | undefined)?.data
      if (data) subs.get(msg.id)?.onData(data)
    }
  }
  ws.onclose = () => {
    socket = null
    ready = false
    if (subs.size === 0) return
    // Signed out or refused (4403) ends here; anything else is retried, at most every 15 s.
    const delay = Math.min(15_000, 500 * 2 ** retry++)
    setTimeout(() => subs.size > 0 && connect(), delay)
  }
}

/** Subscribe; the returned function stops. Nothing is sent until the socket is acknowledged. */
export function subscribe(
  query: string,
  variables: Record<string, unknown>,
  onData: Handler,
  onReconnect?: () => void,
): () => void {
  const id = String(nextId++)
  const sub: Sub = { query, variables, onData, ...(onReconnect ? { onReconnect } : {}) }
  subs.set(id, sub)
  if (ready) start(id, sub)
  else connect()
  return () => {
    if (!subs.delete(id)) return
    send({ id, type: 'complete' })
    if (subs.size === 0 && socket) {
      socket.close(1000, 'done')
      socket = null
      ready = false
    }
  }
}
