/**
 * The viewer's object source: a version's whole tree in one streaming request (`GET /objects/:p/:root`,
 * text lines, root first), parsed chunk by chunk as it arrives.
 *
 * It stands in for @speckle/objectloader2 behind the viewer's SpeckleLoader, which needs only
 * `getTotalObjectCount`, `getObjectIterator`, `getObject` and `disposeAsync`. The stock loader paces itself
 * for shared servers: it asks for children in batches of 15,000 ids, waits up to a second to fill each
 * batch, and sleeps 100 ms after every 1,000 objects it parses. For 100,000 objects that is over 10 s of
 * waiting alone. Here the objects come as fast as the server sends them and the page can parse them.
 *
 * The tree is read once per load: no IndexedDB cache, since a cold load from this server on the same network
 * is faster than the cache's writes.
 */

export type SpeckleObject = Record<string, unknown> & { id: string }

export interface TreeLoaderOptions {
  serverUrl: string
  projectId: string
  objectId: string
  /** A bearer token; without one the browser sends the session cookie (same origin). */
  token?: string
  fetch?: typeof fetch
}

interface Waiter {
  resolve: (object: SpeckleObject) => void
  reject: (err: Error) => void
}

const NEWLINE = 10
const TAB = '\t'

export class TreeLoadError extends Error {
  override name = 'TreeLoadError'
}

export class TreeLoader {
  readonly #options: TreeLoaderOptions
  readonly #fetch: typeof fetch
  readonly #objects = new Map<string, SpeckleObject>()
  readonly #waiting = new Map<string, Waiter[]>()
  readonly #abort = new AbortController()
  /** Objects parsed but not yet taken by the iterator. */
  #queue: SpeckleObject[] = []
  #queueAt = 0
  #wakeIterator: (() => void) | undefined
  #done = false
  #failure: Error | undefined
  #root: SpeckleObject | undefined
  #rootReady: Promise<SpeckleObject> | undefined
  #started = false
  #decoder = new TextDecoder('utf-8', { fatal: true })

  constructor(options: TreeLoaderOptions) {
    this.#options = options
    this.#fetch = options.fetch ?? ((...args) => globalThis.fetch(...args))
  }

  /** The root object (read from the tree's first line). */
  async getRootObject(): Promise<{ baseId: string; base: SpeckleObject }> {
    const base = await this.#start()
    return { baseId: base.id, base }
  }

  /** The root and its children (the keys of its `__closure`). */
  async getTotalObjectCount(): Promise<number> {
    const root = await this.#start()
    const closure = root.__closure
    return 1 + (closure && typeof closure === 'object' ? Object.keys(closure).length : 0)
  }

  /** Every object of the tree, root first, as they arrive. */
  async *getObjectIterator(): AsyncGenerator<SpeckleObject> {
    await this.#start()
    for (;;) {
      while (this.#queueAt < this.#queue.length) {
        const object = this.#queue[this.#queueAt]!
        this.#queueAt++
        yield object
      }
      this.#queue = []
      this.#queueAt = 0
      if (this.#failure) throw this.#failure
      if (this.#done) return
      await new Promise<void>((resolve) => (this.#wakeIterator = resolve))
    }
  }

  /** One object of the tree: at once when it has arrived, else when it does; an error if the tree lacks it. */
  getObject({ id }: { id: string }): Promise<SpeckleObject> {
    const known = this.#objects.get(id)
    if (known) return Promise.resolve(known)
    if (this.#failure) return Promise.reject(this.#failure)
    if (this.#done) return Promise.reject(new TreeLoadError(`object ${id} is not in this model's tree`))
    return new Promise((resolve, reject) => {
      const list = this.#waiting.get(id)
      if (list) list.push({ resolve, reject })
      else this.#waiting.set(id, [{ resolve, reject }])
    })
  }

  async disposeAsync(): Promise<void> {
    this.#abort.abort()
    this.#objects.clear()
    this.#queue = []
  }

  #start(): Promise<SpeckleObject> {
    if (!this.#started) {
      this.#started = true
      this.#rootReady = new Promise((resolve, reject) => {
        this.#read(resolve).then(
          () => this.#finish(),
          (err: unknown) => {
            const failure =
              err instanceof TreeLoadError ? err : new TreeLoadError(err instanceof Error ? err.message : String(err))
            this.#finish(failure)
            reject(failure)
          },
        )
      })
    }
    return this.#rootReady!
  }

  async #read(onRoot: (root: SpeckleObject) => void): Promise<void> {
    const { serverUrl, projectId, objectId, token } = this.#options
    const headers: Record<string, string> = { Accept: 'text/plain' }
    if (token) headers.Authorization = `Bearer ${token}`
    const url = `${serverUrl}/objects/${encodeURIComponent(projectId)}/${encodeURIComponent(objectId)}`
    performance.mark('truss:tree:request')
    const response = await this.#fetch(url, { headers, signal: this.#abort.signal, credentials: 'same-origin' })
    performance.mark('truss:tree:response')
    if (response.status === 401 || response.status === 403)
      throw new TreeLoadError('You do not have access to this model.')
    if (response.status === 404) throw new TreeLoadError('This version’s objects are not on the server.')
    if (!response.ok || !response.body)
      throw new TreeLoadError(`The server answered ${response.status} for the model’s objects.`)
    const reader = response.body.getReader()
    let carry: Uint8Array | undefined
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      // Parse every whole line of what has come; keep the last partial line for the next chunk.
      let bytes = value
      if (carry) {
        bytes = new Uint8Array(carry.length + value.length)
        bytes.set(carry, 0)
        bytes.set(value, carry.length)
        carry = undefined
      }
      const last = bytes.lastIndexOf(NEWLINE)
      if (last < 0) {
        carry = bytes
        continue
      }
      if (last + 1 < bytes.length) carry = bytes.slice(last + 1)
      this.#lines(this.#decoder.decode(bytes.subarray(0, last)), onRoot)
    }
    if (carry && carry.length > 0) this.#lines(this.#decoder.decode(carry), onRoot)
    performance.mark('truss:tree:downloaded')
    if (!this.#root) throw new TreeLoadError('The server sent no objects for this version.')
  }

  /** Parse `id \t json` lines (no trailing newline), queue the objects and settle who waits for them. */
  #lines(text: string, onRoot: (root: SpeckleObject) => void): void {
    let at = 0
    while (at < text.length) {
      let end = text.indexOf('\n', at)
      if (end < 0) end = text.length
      const tab = text.indexOf(TAB, at)
      if (tab < 0 || tab > end) throw new TreeLoadError('The server sent a malformed object line.')
      const id = text.slice(at, tab)
      let object: SpeckleObject
      try {
        object = JSON.parse(text.slice(tab + 1, end)) as SpeckleObject
      } catch {
        throw new TreeLoadError(`The object ${id} is not valid JSON.`)
      }
      if (typeof object !== 'object' || object === null) throw new TreeLoadError(`The object ${id} is not an object.`)
      if (typeof object.id !== 'string') object.id = id
      at = end + 1
      this.#objects.set(id, object)
      this.#queue.push(object)
      if (!this.#root) {
        this.#root = object
        onRoot(object)
      }
      const waiters = this.#waiting.get(id)
      if (waiters) {
        this.#waiting.delete(id)
        for (const w of waiters) w.resolve(object)
      }
    }
    this.#wake()
  }

  #finish(failure?: Error): void {
    this.#done = true
    this.#failure = failure
    for (const [id, waiters] of this.#waiting)
      for (const w of waiters) w.reject(failure ?? new TreeLoadError(`object ${id} is not in this model's tree`))
    this.#waiting.clear()
    this.#wake()
  }

  #wake(): void {
    const wake = this.#wakeIterator
    this.#wakeIterator = undefined
    wake?.()
  }
}
