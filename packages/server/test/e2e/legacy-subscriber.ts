/**
 * A legacy subscriptions-transport-ws (`graphql-ws` subprotocol) subscriber for tests against a running
 * `truss serve`, speaking raw frames as Speckle's clients do.
 */
import { expect, vi } from 'vitest'
import WebSocket from 'ws'

/** The node's count of subscriptions that went live (authorized and listening to the change feed). */
export async function subscriptionsStarted(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = /^truss_realtime_subscriptions_started_total (\d+)/m.exec(text)
  if (!line) throw new Error('no truss_realtime_subscriptions_started_total on /metrics')
  return Number(line[1])
}

/**
 * A legacy subscriptions-transport-ws client, speaking raw frames as Speckle's clients do. The protocol
 * never says when a subscription is live, so this waits until the node's started-subscriptions counter
 * has grown past what it was before `start` (tests run one at a time, so the growth is this one).
 */
export async function legacySubscribe(url: string, token: string, query: string, variables: Record<string, unknown>) {
  const before = await subscriptionsStarted(url)
  const ws = new WebSocket(`${url.replace('http', 'ws')}/graphql`, 'graphql-ws')
  const events: unknown[] = []
  let onEvent: (() => void) | undefined
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject)
    ws.on('message', (raw: Buffer) => {
      const msg = JSON.parse(raw.toString()) as { type: string; payload?: unknown }
      if (msg.type === 'connection_ack') {
        ws.send(JSON.stringify({ id: '1', type: 'start', payload: { query, variables } }))
        vi.waitFor(async () => expect(await subscriptionsStarted(url)).toBeGreaterThan(before), {
          timeout: 15_000,
          interval: 25,
        }).then(() => resolve(), reject)
      } else if (msg.type === 'data') {
        events.push(msg.payload)
        onEvent?.()
      }
    })
    ws.once('open', () =>
      ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } })),
    )
  })
  return {
    events,
    next(timeoutMs = 10_000): Promise<unknown> {
      const seen = events.length
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no event within the timeout')), timeoutMs)
        onEvent = () => {
          if (events.length > seen) {
            clearTimeout(timer)
            resolve(events[seen])
          }
        }
      })
    },
    close: () => ws.close(),
  }
}
