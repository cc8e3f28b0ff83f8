/**
 * The realtime series on `/metrics`: open sockets, running operations, topics this node listens to, and a
 * counter of subscriptions that went live. All read from the gateway and hub when scraped.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { RealtimeGateway } from './gateway.js'
import type { RealtimeHub } from './hub.js'

export function registerRealtimeMetrics(registry: Registry, gateway: RealtimeGateway, hub: RealtimeHub): void {
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
  let reported = 0
  new Counter({
    name: 'truss_realtime_subscriptions_started_total',
    help: 'Subscriptions that went live on this node (authorized and listening; later events reach them)',
    registers: [registry],
    collect() {
      const started = gateway.stats().subscriptionsStarted
      this.inc(started - reported)
      reported = started
    },
  })
}
