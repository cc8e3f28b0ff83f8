/**
 * Disk transport: one file per object, `<basePath>/<first 2 id chars>/<id>.json`. Each file is
 * written to a temporary name and renamed, so a crash never leaves a truncated object behind.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { access, mkdir, readFile, rename, writeFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { CorruptObjectError, TransportError, throwIfAborted } from '../errors.js'
import type { CallOptions, Transport, TransportOptions } from './transport.js'

export interface DiskTransportOptions extends TransportOptions {
  /** Folder that holds the objects; created when missing. */
  basePath: string
  /** Files written in parallel (default 32). */
  concurrency?: number
}

const ID = /^[A-Za-z0-9_-]{1,128}$/

export class DiskTransport implements Transport {
  readonly name: string
  readonly basePath: string
  private readonly concurrency: number
  private readonly onProgress?: TransportOptions['onProgress']
  private readonly inFlight = new Set<Promise<void>>()
  private readonly madeDirs = new Set<string>()
  private firstError: unknown
  private written = 0

  constructor(options: DiskTransportOptions) {
    if (!options?.basePath) throw new TransportError('Disk', 'basePath is required: new DiskTransport({ basePath })')
    this.basePath = options.basePath
    this.name = `Disk(${this.basePath})`
    this.concurrency = options.concurrency ?? 32
    this.onProgress = options.onProgress
    mkdirSync(this.basePath, { recursive: true })
  }

  private fileFor(id: string): { dir: string; file: string } {
    if (!ID.test(id)) throw new TransportError(this.name, `invalid object id ${JSON.stringify(id)}`)
    const dir = join(this.basePath, id.slice(0, 2))
    return { dir, file: join(dir, `${id}.json`) }
  }

  async saveObject(id: string, json: string): Promise<void> {
    if (this.firstError) throw this.firstError
    const { dir, file } = this.fileFor(id)
    const p = this.write(dir, file, json).then(
      () => {
        this.inFlight.delete(p)
        this.written++
        if (this.onProgress && this.written % 1000 === 0) {
          this.onProgress({ transport: this.name, stage: 'write', done: this.written })
        }
      },
      (err: unknown) => {
        this.inFlight.delete(p)
        this.firstError ??= new TransportError(this.name, `write of ${id} failed: ${(err as Error).message}`, {
          cause: err,
        })
      },
    )
    this.inFlight.add(p)
    if (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight)
  }

  private async write(dir: string, file: string, json: string): Promise<void> {
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true })
      this.madeDirs.add(dir)
    }
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`
    try {
      await writeFile(tmp, json, 'utf8')
      await rename(tmp, file)
    } catch (err) {
      await unlink(tmp).catch(() => undefined)
      throw err
    }
  }

  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight)
    this.onProgress?.({ transport: this.name, stage: 'write', done: this.written })
    if (this.firstError) {
      const err = this.firstError
      this.firstError = undefined
      throw err
    }
  }

  async getObject(id: string, options?: CallOptions): Promise<string | null> {
    throwIfAborted(options?.signal)
    const { file } = this.fileFor(id)
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw new TransportError(this.name, `read of ${id} failed: ${(err as Error).message}`, { cause: err })
    }
    if (text.charCodeAt(0) !== 123 || text.charCodeAt(text.length - 1) !== 125) {
      throw new CorruptObjectError(id, this.name, 'the file is not a JSON object')
    }
    return text
  }

  async hasObjects(ids: readonly string[], options?: CallOptions): Promise<Record<string, boolean>> {
    const out: Record<string, boolean> = {}
    const batch = 64
    for (let i = 0; i < ids.length; i += batch) {
      throwIfAborted(options?.signal)
      await Promise.all(
        ids.slice(i, i + batch).map(async (id) => {
          try {
            await access(this.fileFor(id).file)
            out[id] = true
          } catch {
            out[id] = false
          }
        }),
      )
    }
    return out
  }

  async *getObjects(ids: readonly string[], options?: CallOptions): AsyncIterable<[string, string]> {
    const batch = 64
    for (let i = 0; i < ids.length; i += batch) {
      throwIfAborted(options?.signal)
      const slice = ids.slice(i, i + batch)
      const texts = await Promise.all(slice.map((id) => this.getObject(id)))
      for (let j = 0; j < slice.length; j++) {
        const t = texts[j]
        if (t !== null && t !== undefined) yield [slice[j]!, t]
      }
    }
  }

  async close(): Promise<void> {
    await this.flush()
  }
}
