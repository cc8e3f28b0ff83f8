/**
 * Disk transport: one file per object, `<basePath>/<first 2 id chars>/<id>.json`. Each file is
 * written to a temporary name and renamed, so a crash never leaves a truncated object behind.
 * Writes are buffered and done in batches.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CorruptObjectError, TransportError, throwIfAborted } from '../errors.js'
import type { CallOptions, Transport, TransportOptions } from './transport.js'

export interface DiskTransportOptions extends TransportOptions {
  /** Folder that holds the objects; created when missing. */
  basePath: string
  /** Objects written per batch (default 256). */
  concurrency?: number
}

const ID = /^[A-Za-z0-9_-]{1,128}$/

export class DiskTransport implements Transport {
  readonly name: string
  readonly basePath: string
  private readonly batchSize: number
  private readonly onProgress?: TransportOptions['onProgress']
  private readonly madeDirs = new Set<string>()
  private buffer: [string, string][] = []
  private written = 0

  constructor(options: DiskTransportOptions) {
    if (!options?.basePath) throw new TransportError('Disk', 'basePath is required: new DiskTransport({ basePath })')
    this.basePath = options.basePath
    this.name = `Disk(${this.basePath})`
    this.batchSize = options.concurrency ?? 256
    this.onProgress = options.onProgress
    mkdirSync(this.basePath, { recursive: true })
  }

  private fileFor(id: string): { dir: string; file: string } {
    if (!ID.test(id)) throw new TransportError(this.name, `invalid object id ${JSON.stringify(id)}`)
    const dir = join(this.basePath, id.slice(0, 2))
    return { dir, file: join(dir, `${id}.json`) }
  }

  async saveObject(id: string, json: string): Promise<void> {
    this.fileFor(id)
    this.buffer.push([id, json])
    if (this.buffer.length >= this.batchSize) this.writeBuffered()
  }

  /**
   * Write the buffered objects. Synchronous on purpose: for thousands of small files, a direct
   * system call beats a round trip through libuv's thread pool several times over, and the batch
   * bounds how long the event loop waits.
   */
  private writeBuffered(): void {
    const rows = this.buffer
    if (rows.length === 0) return
    this.buffer = []
    const suffix = `.${randomBytes(6).toString('hex')}.tmp`
    for (const [id, json] of rows) {
      const { dir, file } = this.fileFor(id)
      if (!this.madeDirs.has(dir)) {
        mkdirSync(dir, { recursive: true })
        this.madeDirs.add(dir)
      }
      const tmp = file + suffix
      try {
        writeFileSync(tmp, json, 'utf8')
        renameSync(tmp, file)
      } catch (err) {
        try {
          unlinkSync(tmp)
        } catch {
          // the temporary file was never created
        }
        throw new TransportError(this.name, `write of ${id} failed: ${(err as Error).message}`, { cause: err })
      }
    }
    this.written += rows.length
    this.onProgress?.({ transport: this.name, stage: 'write', done: this.written })
  }

  async flush(): Promise<void> {
    this.writeBuffered()
    this.onProgress?.({ transport: this.name, stage: 'write', done: this.written })
  }

  private read(id: string): string | null {
    const { file } = this.fileFor(id)
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw new TransportError(this.name, `read of ${id} failed: ${(err as Error).message}`, { cause: err })
    }
    if (text.charCodeAt(0) !== 123 || text.charCodeAt(text.length - 1) !== 125) {
      throw new CorruptObjectError(id, this.name, 'the file is not a JSON object')
    }
    return text
  }

  async getObject(id: string, options?: CallOptions): Promise<string | null> {
    throwIfAborted(options?.signal)
    this.writeBuffered()
    return this.read(id)
  }

  async hasObjects(ids: readonly string[], options?: CallOptions): Promise<Record<string, boolean>> {
    this.writeBuffered()
    const out: Record<string, boolean> = {}
    for (let i = 0; i < ids.length; i++) {
      if ((i & 255) === 0) throwIfAborted(options?.signal)
      out[ids[i]!] = existsSync(this.fileFor(ids[i]!).file)
    }
    return out
  }

  async *getObjects(ids: readonly string[], options?: CallOptions): AsyncIterable<[string, string]> {
    this.writeBuffered()
    for (let i = 0; i < ids.length; i++) {
      if ((i & 255) === 0) throwIfAborted(options?.signal)
      const text = this.read(ids[i]!)
      if (text !== null) yield [ids[i]!, text]
    }
  }

  async close(): Promise<void> {
    await this.flush()
  }
}
