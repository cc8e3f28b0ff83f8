// The public surface of @truss/core, shared by the Node and browser entry points.
export { Base, registerType, typeFor, registeredTypes, isBase } from './base.js'
export type { BaseClass, Units } from './base.js'
export * from './objects/index.js'
export { serialize, serializeStream, DATA_CHUNK_TYPE, REFERENCE_TYPE, DEFAULT_CHUNK_SIZE } from './serializer.js'
export type { SerializeOptions, SerializeResult, SerializedObject } from './serializer.js'
export { deserialize, parseStoredObject } from './deserializer.js'
export type { DeserializeOptions, ObjectSource } from './deserializer.js'
export {
  TrussError,
  SerializationError,
  MissingObjectError,
  CorruptObjectError,
  TransportError,
  AbortError,
} from './errors.js'
export type { Transport, TransportOptions, TransportProgress, CallOptions } from './transports/transport.js'
export { MemoryTransport } from './transports/memory.js'
export { sha256Hex, objectIdOf } from './platform/hash.js'
export { send, receive, copyTree, setDefaultCacheFactory } from './operations.js'
export type { SendOptions, ReceiveOptions, OperationProgress, DefaultCacheFactory } from './operations.js'
export { ServerTransport } from './transports/server.js'
export type { ServerTransportOptions } from './transports/server.js'
