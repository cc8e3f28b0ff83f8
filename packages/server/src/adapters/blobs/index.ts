/**
 * Blob store adapter: uploaded files, previews and imports as bytes under `/`-separated keys. Files
 * under `<dataDir>/blobs` on one machine; an S3-compatible bucket when S3 is configured.
 */
import { createDiskBlobStore } from './disk.js'
import { createS3BlobStore, type S3BlobStoreOptions } from './s3.js'
import { BlobStoreConfigError, type BlobStore } from './types.js'

export * from './types.js'
export { createDiskBlobStore, type DiskBlobStoreOptions } from './disk.js'
export { createS3BlobStore, type S3BlobStoreOptions } from './s3.js'

/** S3 when `s3` is given, otherwise files under `dataDir`. */
export async function createBlobStore(options: { dataDir?: string; s3?: S3BlobStoreOptions }): Promise<BlobStore> {
  if (options.s3) return createS3BlobStore(options.s3)
  if (options.dataDir) return createDiskBlobStore({ dataDir: options.dataDir })
  throw new BlobStoreConfigError('S3_BUCKET', 'blob storage needs a data directory, or S3_ENDPOINT and S3_BUCKET')
}
