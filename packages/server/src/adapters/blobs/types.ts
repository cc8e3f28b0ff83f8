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

/** Keys longer than S3's limit are refused by every store, so disk and S3 accept the same keys. */
export const MAX_BLOB_KEY_BYTES = 1024
/** The disk store writes partial uploads here; reserved on every store so both accept the same keys. */
export const BLOB_TEMP_FOLDER = '.truss-tmp'
/** Most filesystems (ext4, xfs, apfs) refuse longer file names. */
export const MAX_BLOB_KEY_SEGMENT_BYTES = 255

/** A key no store accepts: empty, absolute, with `.`/`..`/empty segments, control characters or too long. */
export class InvalidBlobKey extends Error {
  readonly code = 'BAD_USER_INPUT'
  constructor(reason: string) {
    super(`invalid blob key: ${reason}`)
    this.name = 'InvalidBlobKey'
  }
}

/** The blob store's configuration is unusable; `variable` names the setting to fix. */
export class BlobStoreConfigError extends Error {
  readonly code = 'CONFIG'
  constructor(
    readonly variable: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'BlobStoreConfigError'
  }
}

/**
 * Both stores validate keys the same way: disk must not let a key escape its folder, and a key that
 * works on one store must work on the other.
 */
export function assertValidBlobKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidBlobKey('empty')
  if (Buffer.byteLength(key) > MAX_BLOB_KEY_BYTES) throw new InvalidBlobKey(`longer than ${MAX_BLOB_KEY_BYTES} bytes`)
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(key)) throw new InvalidBlobKey('control character or backslash')
  const segments = key.split('/')
  for (const segment of segments) {
    if (segment === '') throw new InvalidBlobKey('absolute, or an empty segment')
    if (segment === '.' || segment === '..') throw new InvalidBlobKey('`.` or `..` segment')
    if (Buffer.byteLength(segment) > MAX_BLOB_KEY_SEGMENT_BYTES) {
      throw new InvalidBlobKey(`a segment is longer than ${MAX_BLOB_KEY_SEGMENT_BYTES} bytes`)
    }
  }
  if (segments[0] === BLOB_TEMP_FOLDER) throw new InvalidBlobKey(`\`${BLOB_TEMP_FOLDER}\` is reserved`)
}
