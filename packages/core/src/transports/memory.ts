import { throwIfAborted } from '../errors.js'
import type { CallOptions, Transport, TransportOptions } from './transport.js'

/** Objects in a Map: for tests, serverless code and read-only file systems. Nothing touches disk. */
export class MemoryTransport implements Transport {
  readonly name: string
  readonly objects: Map<string, string>
  private readonly onProgress?: TransportOptions['onProgress']
  private saved = 0

  constructor(options: TransportOptions & { name?: string; objects?: Map<string, string> } = {}) {
    this.name = options.name ?? 'Memory'
    this.objects = options.objects ?? new Map()
    this.onProgress = options.onProgress
  }

  saveObject(id: string, json: string): Promise<void> {
    this.objects.set(id, json)
    this.saved++
    if (this.onProgress && this.saved % 1000 === 0) {
      this.onProgress({ transport: this.name, stage: 'write', done: this.saved })
    }
    return Promise.resolve()
  }

  flush(): Promise<void> {
    this.onProgress?.({ transport: this.name, stage: 'write', done: this.saved })
    return Promise.resolve()
  }

  async getObject(id: string, options?: CallOptions): Promise<string | null> {
    throwIfAborted(options?.signal)
    return this.objects.get(id) ?? null
  }

  async hasObjects(ids: readonly string[], options?: CallOptions): Promise<Record<string, boolean>> {
    throwIfAborted(options?.signal)
    const out: Record<string, boolean> = {}
    for (const id of ids) out[id] = this.objects.has(id)
    return out
  }

  async *getObjects(ids: readonly string[], options?: CallOptions): AsyncIterable<[string, string]> {
    for (const id of ids) {
      throwIfAborted(options?.signal)
      const json = this.objects.get(id)
      if (json !== undefined) yield [id, json]
    }
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}
