/**
 * Blob store on the local filesystem: one file per key under `<dataDir>/blobs`. Writes go to a temp
 * file in the same folder tree and are renamed into place, so a reader sees the old bytes or the new
 * ones, never a partial file.
 */
import { randomUUID } from 'node:crypto'
import { constants, createWriteStream } from 'node:fs'
import { access, mkdir, open, readdir, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { assertValidBlobKey, BLOB_TEMP_FOLDER, InvalidBlobKey, type BlobInfo, type BlobStore } from './types.js'

const STALE_TEMP_MS = 24 * 60 * 60 * 1000

export interface DiskBlobStoreOptions {
  /** The Truss data directory; blobs live in its `blobs` folder. */
  dataDir: string
}

export async function createDiskBlobStore(options: DiskBlobStoreOptions): Promise<BlobStore> {
  const root = path.resolve(options.dataDir, 'blobs')
  const tempDir = path.join(root, BLOB_TEMP_FOLDER)
  await mkdir(tempDir, { recursive: true })
  await removeStaleTempFiles(tempDir)

  const fileOf = (key: string): string => resolveKeyPath(root, key)

  return {
    kind: 'disk',

    async put(key, body) {
      const target = fileOf(key)
      await ensureParentFolder(root, target)
      const temp = path.join(tempDir, randomUUID())
      try {
        const size = await writeDurably(temp, body)
        await rename(temp, target).catch((error: unknown) => {
          throw isCode(error, 'EISDIR', 'ENOTEMPTY', 'EEXIST') ? keyIsFolder(key) : error
        })
        return { size }
      } catch (error) {
        await rm(temp, { force: true })
        throw error
      }
    },

    async get(key) {
      const handle = await openExisting(fileOf(key))
      return handle ? handle.createReadStream() : null
    },

    async head(key): Promise<BlobInfo | null> {
      try {
        const info = await stat(fileOf(key))
        return info.isFile() ? { size: info.size } : null
      } catch (error) {
        if (isMissing(error)) return null
        throw error
      }
    },

    async delete(key) {
      try {
        await unlink(fileOf(key))
      } catch (error) {
        // A folder is not a blob either: both mean "no such key".
        if (!isMissing(error) && !isCode(error, 'EISDIR', 'EPERM')) throw error
      }
    },

    async ping() {
      await access(root, constants.R_OK | constants.W_OK)
    },

    async close() {},
  }
}

/** The file for `key`, checked twice: by the key rules and by where the path actually lands. */
function resolveKeyPath(root: string, key: string): string {
  assertValidBlobKey(key)
  const file = path.resolve(root, ...key.split('/'))
  if (!file.startsWith(root + path.sep)) throw new InvalidBlobKey('resolves outside the blob folder')
  return file
}

async function ensureParentFolder(root: string, file: string): Promise<void> {
  try {
    await mkdir(path.dirname(file), { recursive: true })
  } catch (error) {
    // `a/b` cannot be stored while `a` is a blob: on disk `a` would have to be a file and a folder.
    if (isCode(error, 'ENOTDIR', 'EEXIST')) {
      throw new InvalidBlobKey(`a prefix of the key is itself a blob: ${path.relative(root, file)}`)
    }
    throw error
  }
}

function keyIsFolder(key: string): InvalidBlobKey {
  return new InvalidBlobKey(`other keys are stored under ${key}/, so it cannot be a blob on disk`)
}

/** Writes `body` to a new file, fsynced (`flush`) before the caller renames it into place. */
async function writeDurably(file: string, body: Buffer | Uint8Array | Readable): Promise<number> {
  if (!(body instanceof Readable)) {
    await writeFile(file, body, { flag: 'wx', flush: true })
    return body.byteLength
  }
  const sink = createWriteStream(file, { flags: 'wx', flush: true })
  await pipeline(body, sink)
  return sink.bytesWritten
}

async function openExisting(file: string): Promise<FileHandle | null> {
  try {
    const handle = await open(file, 'r')
    if ((await handle.stat()).isFile()) return handle
    await handle.close()
    return null
  } catch (error) {
    if (isMissing(error) || isCode(error, 'EISDIR')) return null
    throw error
  }
}

/**
 * Temp files left by a crash mid-write are garbage. Only old ones go: worker processes may share
 * this data directory and be writing right now.
 */
async function removeStaleTempFiles(folder: string): Promise<void> {
  const cutoff = Date.now() - STALE_TEMP_MS
  for (const name of await readdir(folder)) {
    const file = path.join(folder, name)
    const info = await stat(file).catch(() => null)
    if (info && info.mtimeMs < cutoff) await rm(file, { force: true })
  }
}

/** ENOTDIR: a prefix of the key is a file, so the key itself cannot exist. */
function isMissing(error: unknown): boolean {
  return isCode(error, 'ENOENT', 'ENOTDIR')
}

function isCode(error: unknown, ...codes: string[]): boolean {
  return error instanceof Error && codes.includes((error as NodeJS.ErrnoException).code ?? '')
}
