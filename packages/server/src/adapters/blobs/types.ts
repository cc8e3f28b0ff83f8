/**
 * Blob store interface: files under `<data-dir>/blobs` or an S3-compatible bucket. Keys are
 * `/`-separated paths chosen by the caller (e.g. `blobs/<projectId>/<blobId>`).
 */
import type { Readable } from 'node:stream'

export interface BlobInfo {
  size: number
  contentType?: string
}

export interface BlobStore {
  readonly kind: 'disk' | 's3'
  /** Store bytes (a buffer or a stream, read to its end). Replaces an existing key. */
  put(key: string, body: Buffer | Uint8Array | Readable, options?: { contentType?: string }): Promise<BlobInfo>
  /** A stream of the stored bytes, or null when the key is unknown. */
  get(key: string): Promise<Readable | null>
  head(key: string): Promise<BlobInfo | null>
  /** Remove the key; removing an unknown key is not an error. */
  delete(key: string): Promise<void>
  /** Throws when the store cannot be reached (readiness). */
  ping(): Promise<void>
  close(): Promise<void>
}
