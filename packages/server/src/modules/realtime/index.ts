/**
 * Realtime: GraphQL subscriptions over WebSocket. `protocol.ts` the two wire protocols (legacy
 * subscriptions-transport-ws, which Speckle's clients speak, and graphql-transport-ws); `connection.ts` one
 * connection's state and operations; `gateway.ts` the `ws` transport on Fastify's HTTP server; `hub.ts` the
 * per-node fan-out of topics to local subscribers (DESIGN.md decision 9); `tailer.ts` the node's tail of the
 * outbox (`outbox.ts`) that feeds the hub the change feed's events, with seqs for resume.
 */
export { attachRealtimeGateway, REALTIME_DEFAULTS } from './gateway.js'
export type { RealtimeGateway, RealtimeGatewayOptions } from './gateway.js'
export { createRealtimeHub, SubscriberLagged, TopicUnavailable, DEFAULT_MAX_QUEUED_EVENTS } from './hub.js'
export type { RealtimeHub, RealtimeHubOptions, TopicSubscription } from './hub.js'
export { createConnection, systemClock } from './connection.js'
export { createOutboxTailer, ResumeReset, TAILER_DEFAULTS } from './tailer.js'
export type { OutboxTailer, OutboxTailerOptions, Replay } from './tailer.js'
export { createOutboxReader, pruneOutbox, startOutboxPruning } from './outbox.js'
export type { OutboxReader, OutboxRow } from './outbox.js'
export { canonicalKey, createSharedSubscriptions } from './shared.js'
export type { SharedMember, SharedSubscriptions } from './shared.js'
export type { Clock, Connection, ConnectionOptions, RealtimeSocket } from './connection.js'
export {
  CloseCode,
  LEGACY_SUBPROTOCOL,
  MODERN_SUBPROTOCOL,
  REALTIME_PROTOCOL_VERSION,
  pickProtocol,
  tokenFromInitPayload,
} from './protocol.js'
export type { ProtocolKind } from './protocol.js'
