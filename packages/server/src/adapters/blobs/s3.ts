/**
 * Blob store in an S3-compatible bucket (AWS S3, MinIO, Ceph, s3rver). Streams go through
 * `@aws-sdk/lib-storage`'s `Upload`, which sends one PUT for small bodies and a multipart upload for
 * large ones, and aborts the multipart upload when the source fails, so no half-object appears.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type BucketLocationConstraint,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { pipeline, Readable, Transform } from 'node:stream'
import { assertValidBlobKey, BlobStoreConfigError, type BlobInfo, type BlobStore } from './types.js'

/** Parts are buffered in memory: at most PART_SIZE × PART_QUEUE bytes per upload in flight. */
const PART_SIZE = 8 * 1024 * 1024
const PART_QUEUE = 2

export interface S3BlobStoreOptions {
  /** e.g. `http://127.0.0.1:9000`; omit for AWS S3 itself. */
  endpoint?: string
  bucket: string
  region?: string
  accessKeyId?: string
  secretAccessKey?: string
  /** Defaults to true when an endpoint is given: most S3-compatible stores lack virtual-host DNS. */
  forcePathStyle?: boolean
}

export async function createS3BlobStore(options: S3BlobStoreOptions): Promise<BlobStore> {
  const client = new S3Client(clientConfig(options))
  const Bucket = options.bucket
  try {
    await ensureBucket(client, options)
  } catch (error) {
    client.destroy()
    throw error
  }

  return {
    kind: 's3',

    async put(key, body, putOptions) {
      assertValidBlobKey(key)
      const ContentType = putOptions?.contentType
      if (!(body instanceof Readable)) {
        await client.send(
          new PutObjectCommand({ Bucket, Key: key, Body: body, ContentLength: body.byteLength, ContentType }),
        )
        return { size: body.byteLength }
      }
      const counted = countBytes(body)
      const upload = new Upload({
        client,
        params: { Bucket, Key: key, Body: counted.stream, ContentType },
        partSize: PART_SIZE,
        queueSize: PART_QUEUE,
        leavePartsOnError: false,
      })
      try {
        await upload.done()
      } catch (error) {
        // Stop reading the caller's stream (e.g. a request body) as the disk store's pipeline does.
        counted.stream.destroy()
        throw preferSourceError(counted.sourceError(), error)
      }
      return { size: counted.bytes() }
    },

    async get(key) {
      assertValidBlobKey(key)
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket, Key: key }))
        if (!(answer.Body instanceof Readable)) throw new Error('S3 GetObject answered without a Node stream body')
        return answer.Body
      } catch (error) {
        if (isMissingObject(error)) return null
        throw error
      }
    },

    async head(key): Promise<BlobInfo | null> {
      assertValidBlobKey(key)
      try {
        const answer = await client.send(new HeadObjectCommand({ Bucket, Key: key }))
        return { size: answer.ContentLength ?? 0, ...(answer.ContentType ? { contentType: answer.ContentType } : {}) }
      } catch (error) {
        if (isMissingObject(error)) return null
        throw error
      }
    },

    async delete(key) {
      assertValidBlobKey(key)
      // S3 answers 204 for an unknown key too, so there is nothing to special-case.
      await client.send(new DeleteObjectCommand({ Bucket, Key: key }))
    },

    async ping() {
      await client.send(new HeadBucketCommand({ Bucket }))
    },

    async close() {
      client.destroy()
    },
  }
}

function clientConfig(options: S3BlobStoreOptions): S3ClientConfig {
  if (!options.bucket) throw new BlobStoreConfigError('S3_BUCKET', 'S3_BUCKET is required when S3 blob storage is used')
  if (options.endpoint !== undefined) parseEndpoint(options.endpoint)
  if (Boolean(options.accessKeyId) !== Boolean(options.secretAccessKey)) {
    throw new BlobStoreConfigError('S3_SECRET_KEY', 'set both S3_ACCESS_KEY and S3_SECRET_KEY, or neither')
  }
  return {
    endpoint: options.endpoint,
    region: options.region ?? 'us-east-1',
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    ...(options.accessKeyId && options.secretAccessKey
      ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
      : {}),
    // The SDK's default checksums frame streamed PUTs as `aws-chunked`; several S3-compatible
    // stores (s3rver among them) then store the framing with the bytes. See DEPS.md.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  }
}

function parseEndpoint(endpoint: string): URL {
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    throw new BlobStoreConfigError('S3_ENDPOINT', 'S3_ENDPOINT is not a valid URL (expected e.g. http://host:9000)')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BlobStoreConfigError('S3_ENDPOINT', 'S3_ENDPOINT must be an http:// or https:// URL')
  }
  return url
}

/** Creates the bucket on first start; an error says which setting to check, never echoing secrets. */
async function ensureBucket(client: S3Client, options: S3BlobStoreOptions): Promise<void> {
  const Bucket = options.bucket
  try {
    await client.send(new HeadBucketCommand({ Bucket }))
    return
  } catch (error) {
    if (statusOf(error) !== 404) throw startError(error, options)
  }
  try {
    const region = options.region ?? 'us-east-1'
    // us-east-1 is the one region that refuses an explicit LocationConstraint.
    const CreateBucketConfiguration =
      region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint }
    await client.send(new CreateBucketCommand({ Bucket, CreateBucketConfiguration }))
  } catch (error) {
    const name = error instanceof Error ? error.name : ''
    // Another node may have created it between our HEAD and CREATE.
    if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') return
    throw startError(error, options)
  }
}

function startError(error: unknown, options: S3BlobStoreOptions): BlobStoreConfigError {
  const where = options.endpoint ? parseEndpoint(options.endpoint).origin : 'AWS S3'
  const status = statusOf(error)
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  if (status === 401 || status === 403) {
    return new BlobStoreConfigError(
      'S3_ACCESS_KEY',
      `S3 at ${where} refused access to bucket "${options.bucket}"; check S3_ACCESS_KEY and S3_SECRET_KEY (${detail})`,
      { cause: error },
    )
  }
  if (status === undefined) {
    return new BlobStoreConfigError('S3_ENDPOINT', `cannot reach S3 at ${where}; check S3_ENDPOINT (${detail})`, {
      cause: error,
    })
  }
  return new BlobStoreConfigError(
    'S3_BUCKET',
    `S3 at ${where} cannot use bucket "${options.bucket}"; check S3_BUCKET and S3_REGION (${detail})`,
    { cause: error },
  )
}

/** A 404 for the key, but not a 404 for the bucket: a missing bucket must not look like a missing blob. */
function isMissingObject(error: unknown): boolean {
  if (!(error instanceof Error) || error.name === 'NoSuchBucket') return false
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || statusOf(error) === 404
}

function statusOf(error: unknown): number | undefined {
  const metadata = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata
  return metadata?.httpStatusCode
}

/** Passes `source` through, counting bytes; a source error fails the counter, and so the upload. */
function countBytes(source: Readable): { stream: Transform; bytes: () => number; sourceError: () => unknown } {
  let bytes = 0
  let sourceError: unknown
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.byteLength
      done(null, chunk)
    },
  })
  source.once('error', (error) => (sourceError = error))
  // The error is not lost: pipeline destroys `stream` with it, and `upload.done()` rejects.
  pipeline(source, stream, () => {})
  return { stream, bytes: () => bytes, sourceError: () => sourceError }
}

/**
 * When the caller's stream failed (client gone, a size limit's typed error), that is the error to
 * report. If aborting the multipart upload then failed too (s3rver has no AbortMultipartUpload), the
 * SDK's error would hide it; keep it as the cause, as the SDK itself does for a failed complete.
 */
function preferSourceError(sourceError: unknown, uploadError: unknown): unknown {
  if (sourceError === undefined || sourceError === uploadError) return uploadError
  if (sourceError instanceof Error && sourceError.cause === undefined) sourceError.cause = uploadError
  return sourceError
}
