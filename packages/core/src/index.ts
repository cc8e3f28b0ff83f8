// Node entry point of @truss/core: everything in api.ts plus the Node-only transports.
import './platform/node.js'
import { setDefaultCacheFactory } from './operations.js'
import { SQLiteTransport } from './transports/sqlite.js'

setDefaultCacheFactory(() => new SQLiteTransport())

export * from './api.js'
export { SQLiteTransport, defaultDataPath } from './transports/sqlite.js'
export type { SQLiteTransportOptions } from './transports/sqlite.js'
export { DiskTransport } from './transports/disk.js'
export type { DiskTransportOptions } from './transports/disk.js'
// Works under Node too when given an IndexedDB implementation (`indexedDB` option or a global one).
export { IndexedDBTransport } from './transports/indexeddb.js'
export type { IndexedDBTransportOptions } from './transports/indexeddb.js'
