/**
 * The realtime series on `/metrics`: open sockets, running operations, topics this node listens to, and a
 * counter of subscriptions that went live. All read from the gateway and hub when scraped.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { RealtimeGateway } from './gateway.js'
import type { RealtimeHub } from './hub.js'
import type { OutboxTailer } from './tailer.js'

/** A counter that follows a total read at scrape time. */
function totalCounter(registry: Registry, name: string, help: string, read: () => number): void {
  let reported = 0
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const total = read()
      this.inc(total - reported)
      reported = total
    },
  })
}

export function registerRealtimeMetrics(
  registry: Registry,
  gateway: Pick<RealtimeGateway, 'stats'>,
  hub: RealtimeHub,
  tailer?: OutboxTailer,
): void {
  new Gauge({
    name: 'truss_realtime_connections',
    help: 'Open GraphQL WebSocket connections on this node',
    registers: [registry],
    collect() {
      this.set(gateway.stats().connections)
    },
  })
  new Gauge({
    name: 'truss_realtime_operations',
    help: 'Operations (subscriptions being set up or live) running on this node',
    registers: [registry],
    collect() {
      this.set(gateway.stats().subscriptions)
    },
  })
  new Gauge({
    name: 'truss_realtime_topics',
    help: 'Change-feed topics this node listens to on the bus',
    registers: [registry],
    collect() {
      this.set(hub.stats().topics)
    },
  })
  totalCounter(
    registry,
    'truss_realtime_subscriptions_started_total',
    'Subscriptions that went live on this node (authorized and listening; later events reach them)',
    () => gateway.stats().subscriptionsStarted,
  )
  totalCounter(
    registry,
    'truss_realtime_slow_consumers_dropped_total',
    'Clients closed (4008) because their unsent messages passed the send-buffer bound',
    () => gateway.stats().slowConsumersDropped,
  )
  if (tailer === undefined) return
  new Gauge({
    name: 'truss_change_feed_position',
    help: 'The highest outbox seq this node delivered in order',
    registers: [registry],
    collect() {
      this.set(tailer.stats().position)
    },
  })
  totalCounter(
    registry,
    'truss_change_feed_events_total',
    'Outbox rows this node read and delivered in order',
    () => tailer.stats().delivered,
  )
  totalCounter(
    registry,
    'truss_change_feed_late_events_total',
    'Outbox rows that committed after the tailer had moved past their hole (delivered late)',
    () => tailer.stats().lateDelivered,
  )
}
