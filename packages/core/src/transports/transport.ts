/**
 * The one interface every transport implements. A transport stores serialized objects by id:
 * the JSON text is opaque to it. Writes may be buffered; `flush()` makes them durable.
 */

export interface TransportProgress {
  /** Transport name, e.g. `SQLite`, `Server`. */
  transport: string
  stage: 'write' | 'read' | 'upload' | 'download'
  /** Objects handled so far in this stage. */
  done: number
  /** Objects expected, when known. */
  total?: number
  /** Bytes moved so far, when the transport counts them. */
  bytes?: number
}

export interface TransportOptions {
  /** Called as objects are written or read; cheap to call often. */
  onProgress?: (progress: TransportProgress) => void
}

export interface CallOptions {
  signal?: AbortSignal
  onProgress?: (progress: TransportProgress) => void
}

export interface Transport {
  /** Short name used in errors and progress, e.g. `Memory`, `SQLite(/path/Objects.db)`. */
  readonly name: string
  /**
   * Queue an object for writing. Resolves quickly while the transport's buffer has room and waits
   * (back-pressure) when it is full. The write is durable after `flush()`.
   */
  saveObject(id: string, json: string): Promise<void>
  /** Write everything buffered; rejects with the first write error. */
  flush(options?: CallOptions): Promise<void>
  /** The stored JSON string, or null when the id is unknown. */
  getObject(id: string, options?: CallOptions): Promise<string | null>
  /** For each id, whether the transport holds it. */
  hasObjects(ids: readonly string[], options?: CallOptions): Promise<Record<string, boolean>>
  /** Stream the stored objects among `ids` (unknown ids are skipped), in any order. */
  getObjects?(ids: readonly string[], options?: CallOptions): AsyncIterable<[id: string, json: string]>
  /**
   * Copy the object and every descendant in its `__closure` into `target`, returning the root's JSON.
   * Transports that can stream a whole tree (the server) implement this; others are copied generically.
   */
  copyObjectAndChildren?(id: string, target: Transport, options?: CallOptions): Promise<string>
  /** Release files, handles and sockets. The transport is unusable afterwards. */
  close?(): Promise<void>
}
