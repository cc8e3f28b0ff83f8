// Browser entry point of @truss/core, picked by bundlers through the `browser` export condition.
// It registers the synchronous pure-JS SHA-256 (WebCrypto's digest is async) and adds IndexedDB as the
// local cache; the Node-only transports (SQLite, Disk) are not part of it.
import './platform/browser.js'
import { setDefaultCacheFactory } from './operations.js'
import { IndexedDBTransport } from './transports/indexeddb.js'

setDefaultCacheFactory(() => new IndexedDBTransport())

export * from './api.js'
export { IndexedDBTransport } from './transports/indexeddb.js'
export type { IndexedDBTransportOptions } from './transports/indexeddb.js'
