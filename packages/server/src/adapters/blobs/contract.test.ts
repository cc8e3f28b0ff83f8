/**
 * One contract for every blob store, run against the disk store (a temp folder) and the S3 store (a
 * real s3rver on a random loopback port).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BLOB_TEMP_FOLDER, BlobStoreConfigError, createBlobStore, InvalidBlobKey, type BlobStore } from './index.js'

const MB = 1024 * 1024

export function blobStoreContract(name: string, makeStore: () => Promise<BlobStore>): void {
  describe(`blob store contract: ${name}`, () => {
    let store: BlobStore
    // Every test writes under its own prefix, so the tests share one store without seeing each other.
    const key = (suffix: string): string => `contract/${randomUUID()}/${suffix}`

    beforeAll(async () => {
      store = await makeStore()
    })
    afterAll(async () => {
      await store?.close()
    })

    it('reads back a buffered write byte-identical and reports its size', async () => {
      const k = key('buffer.bin')
      const bytes = randomBytes(100_000)
      expect(await store.put(k, bytes)).toEqual({ size: bytes.length })
      await expectStored(store, k, bytes)
    })

    it('accepts a Uint8Array body and an empty body', async () => {
      const k = key('u8.bin')
      const bytes = new Uint8Array(randomBytes(1000))
      await store.put(k, bytes)
      await expectStored(store, k, Buffer.from(bytes))
      const empty = key('empty.bin')
      expect(await store.put(empty, Buffer.alloc(0))).toEqual({ size: 0 })
      await expectStored(store, empty, Buffer.alloc(0))
    })

    it('reads back a streamed write of several MB byte-identical', async () => {
      const k = key('stream.bin')
      const bytes = randomBytes(3 * MB + 123)
      expect(await store.put(k, chunked(bytes, 64 * 1024))).toEqual({ size: bytes.length })
      await expectStored(store, k, bytes)
    })

    it('reads back a multipart-sized streamed write byte-identical', async () => {
      const k = key('large.bin')
      // Past S3's 5 MB part minimum and the store's 8 MiB part size: at least two parts.
      const bytes = randomBytes(17 * MB + 7)
      expect(await store.put(k, chunked(bytes, 1 * MB))).toEqual({ size: bytes.length })
      await expectStored(store, k, bytes)
    })

    it('answers null for get and head of an unknown key', async () => {
      expect(await store.get(key('missing'))).toBeNull()
      expect(await store.head(key('missing'))).toBeNull()
    })

    it('deletes a key, and deleting an unknown key is not an error', async () => {
      const k = key('doomed.txt')
      await store.put(k, Buffer.from('bye'))
      await store.delete(k)
      expect(await store.get(k)).toBeNull()
      expect(await store.head(k)).toBeNull()
      await expect(store.delete(k)).resolves.toBeUndefined()
      await expect(store.delete(key('never-was'))).resolves.toBeUndefined()
    })

    it('replaces the bytes and size on overwrite', async () => {
      const k = key('overwrite.bin')
      await store.put(k, randomBytes(5000))
      const second = randomBytes(42)
      await store.put(k, chunked(second, 10))
      await expectStored(store, k, second)
    })

    it('keeps keys with slashes apart from their siblings', async () => {
      const base = key('a/b')
      await store.put(`${base}/c/d.bin`, Buffer.from('deep'))
      await store.put(`${base}/x.bin`, Buffer.from('sibling'))
      expect((await readAll(store, `${base}/c/d.bin`)).toString()).toBe('deep')
      expect((await readAll(store, `${base}/x.bin`)).toString()).toBe('sibling')
      expect(await store.head(`${base}/c`)).toBeNull()
    })

    it('stores unicode keys', async () => {
      const k = key('projets/été/模型/🏗️ plan (1).ifc')
      const bytes = Buffer.from('ünïcødé body ✓')
      await store.put(k, bytes)
      await expectStored(store, k, bytes)
    })

    it('keeps the content type, when the store records one', async () => {
      const k = key('typed.json')
      await store.put(k, Buffer.from('{}'), { contentType: 'application/json' })
      const info = await store.head(k)
      expect([undefined, 'application/json']).toContain(info?.contentType)
    })

    it('leaves no readable half-object when a small stream fails midway', async () => {
      const k = key('failed-small.bin')
      await expect(store.put(k, failingStream(1 * MB))).rejects.toThrow('source failed')
      expect(await store.head(k)).toBeNull()
      expect(await store.get(k)).toBeNull()
    })

    it('leaves no readable half-object when a multipart-sized stream fails midway', async () => {
      const k = key('failed-large.bin')
      await expect(store.put(k, failingStream(10 * MB))).rejects.toThrow('source failed')
      expect(await store.head(k)).toBeNull()
      expect(await store.get(k)).toBeNull()
    })

    it('keeps the previous bytes when an overwrite fails midway', async () => {
      const k = key('kept.bin')
      const original = randomBytes(2000)
      await store.put(k, original)
      await expect(store.put(k, failingStream(2 * MB))).rejects.toThrow('source failed')
      await expectStored(store, k, original)
    })

    it.each(['', '/etc/passwd', '../escape', 'a/../../escape', 'a/./b', 'a//b', 'a/', 'a\\b', 'nul\0byte'])(
      'refuses the key %j with InvalidBlobKey on every operation',
      async (bad) => {
        await expect(store.put(bad, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidBlobKey)
        await expect(store.get(bad)).rejects.toBeInstanceOf(InvalidBlobKey)
        await expect(store.head(bad)).rejects.toBeInstanceOf(InvalidBlobKey)
        await expect(store.delete(bad)).rejects.toBeInstanceOf(InvalidBlobKey)
      },
    )

    it('refuses the reserved temp folder and over-long keys', async () => {
      await expect(store.put(`${BLOB_TEMP_FOLDER}/x`, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidBlobKey)
      await expect(store.put('k'.repeat(256), Buffer.from('x'))).rejects.toBeInstanceOf(InvalidBlobKey)
      await expect(store.put('k/'.repeat(600), Buffer.from('x'))).rejects.toBeInstanceOf(InvalidBlobKey)
    })

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined()
    })
  })
}

// ---- helpers ----

function chunked(bytes: Buffer, chunkSize: number): Readable {
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < bytes.length; offset += chunkSize) yield bytes.subarray(offset, offset + chunkSize)
    })(),
  )
}

/** Yields `bytesBeforeError` bytes, then fails like a dropped upload connection. */
function failingStream(bytesBeforeError: number): Readable {
  return Readable.from(
    (async function* () {
      const chunk = randomBytes(256 * 1024)
      for (let sent = 0; sent < bytesBeforeError; sent += chunk.length) yield chunk
      await new Promise((resolve) => setTimeout(resolve, 10))
      throw new Error('source failed')
    })(),
  )
}

async function readAll(store: BlobStore, key: string): Promise<Buffer> {
  const stream = await store.get(key)
  if (!stream) throw new Error(`expected ${key} to be stored`)
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Compares digests, not buffers: a failed toEqual on 17 MB would print megabytes. */
async function expectStored(store: BlobStore, key: string, expected: Buffer): Promise<void> {
  const actual = await readAll(store, key)
  expect(actual.length).toBe(expected.length)
  expect(sha256(actual)).toBe(sha256(expected))
  expect((await store.head(key))?.size).toBe(expected.length)
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

// ---- the disk store ----

let diskDataDir = ''
blobStoreContract('disk', async () => {
  diskDataDir = await mkdtemp(path.join(tmpdir(), 'truss-blobs-'))
  return createBlobStore({ dataDir: diskDataDir })
})

describe('disk blob store', () => {
  afterAll(async () => {
    if (diskDataDir) await rm(diskDataDir, { recursive: true, force: true })
  })

  it('writes files under <dataDir>/blobs and leaves no temp files after a failed stream', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'truss-blobs-'))
    const store = await createBlobStore({ dataDir })
    await store.put('p/one.bin', Buffer.from('one'))
    await expect(store.put('p/two.bin', failingStream(MB))).rejects.toThrow('source failed')
    expect(await readdir(path.join(dataDir, 'blobs', 'p'))).toEqual(['one.bin'])
    expect(await readdir(path.join(dataDir, 'blobs', BLOB_TEMP_FOLDER))).toEqual([])
    await store.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it('refuses a key whose prefix is already a blob, since a file cannot also be a folder', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'truss-blobs-'))
    const store = await createBlobStore({ dataDir })
    await store.put('a', Buffer.from('file'))
    await expect(store.put('a/b', Buffer.from('x'))).rejects.toBeInstanceOf(InvalidBlobKey)
    expect(await store.head('a/b')).toBeNull()
    await store.put('c/d', Buffer.from('x'))
    await expect(store.put('c', Buffer.from('x'))).rejects.toBeInstanceOf(InvalidBlobKey)
    expect(await store.head('c')).toBeNull()
    await store.close()
    await rm(dataDir, { recursive: true, force: true })
  })
})

// ---- the S3 store, against a real s3rver ----

interface S3rverServer {
  run(): Promise<AddressInfo>
  close(): Promise<void>
}
type S3rverConstructor = new (options: {
  address: string
  port: number
  silent: boolean
  directory: string
}) => S3rverServer

// s3rver ships CommonJS without type declarations.
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor

let s3rver: S3rverServer | undefined
let s3rverDir = ''
let s3Endpoint = ''
// s3rver checks signatures against its fixed development credentials.
const s3Credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }

async function startS3rver(): Promise<string> {
  if (s3Endpoint) return s3Endpoint
  s3rverDir = await mkdtemp(path.join(tmpdir(), 'truss-s3rver-'))
  s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3rverDir })
  const { port } = await s3rver.run()
  s3Endpoint = `http://127.0.0.1:${port}`
  return s3Endpoint
}

blobStoreContract('s3 (s3rver)', async () =>
  // The bucket does not exist yet: the store creates it at start.
  createBlobStore({ s3: { endpoint: await startS3rver(), bucket: 'truss-contract', ...s3Credentials } }),
)

describe('s3 blob store', () => {
  afterAll(async () => {
    await s3rver?.close()
    if (s3rverDir) await rm(s3rverDir, { recursive: true, force: true })
  })

  it('starts against an existing bucket (a second node)', async () => {
    const endpoint = await startS3rver()
    const first = await createBlobStore({ s3: { endpoint, bucket: 'truss-shared', ...s3Credentials } })
    const second = await createBlobStore({ s3: { endpoint, bucket: 'truss-shared', ...s3Credentials } })
    await first.put('k', Buffer.from('from first'))
    expect((await readAll(second, 'k')).toString()).toBe('from first')
    await Promise.all([first.close(), second.close()])
  })

  it('names S3_ENDPOINT for a malformed endpoint without echoing the secret', async () => {
    const error = await createBlobStore({
      s3: { endpoint: 'not a url', bucket: 'b', accessKeyId: 'id', secretAccessKey: 'sekret-value' },
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BlobStoreConfigError)
    expect((error as BlobStoreConfigError).variable).toBe('S3_ENDPOINT')
    expect((error as Error).message).toContain('S3_ENDPOINT')
    expect((error as Error).message).not.toContain('sekret-value')
  })

  it('names S3_ENDPOINT when nothing answers there, without echoing credentials', async () => {
    const error = await createBlobStore({
      s3: { endpoint: 'http://user:sekret-value@127.0.0.1:9', bucket: 'b', ...s3Credentials },
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BlobStoreConfigError)
    expect((error as BlobStoreConfigError).variable).toBe('S3_ENDPOINT')
    expect((error as Error).message).toContain('http://127.0.0.1:9')
    expect((error as Error).message).not.toContain('sekret-value')
  })

  it('names S3_SECRET_KEY when only the access key is set', async () => {
    const error = await createBlobStore({ s3: { bucket: 'b', accessKeyId: 'id' } }).catch((e: unknown) => e)
    expect((error as BlobStoreConfigError).variable).toBe('S3_SECRET_KEY')
  })
})
