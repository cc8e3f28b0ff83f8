/**
 * Deserializer: rebuilds a Base tree from stored objects. References are resolved through an
 * object source (a transport or a map of id -> JSON), DataChunk lists are joined back into one
 * array, and registered speckle_types become their typed classes; unknown types stay `Base` with
 * their type string kept. Plain objects without a speckle_type stay dictionaries.
 */
import { Base, typeFor } from './base.js'
import { CorruptObjectError, MissingObjectError, throwIfAborted } from './errors.js'
import { DATA_CHUNK_TYPE, REFERENCE_TYPE } from './serializer.js'
import type { Transport } from './transports/transport.js'

export type ObjectSource =
  Pick<Transport, 'name' | 'getObject'> | ReadonlyMap<string, string> | Readonly<Record<string, string>>

export interface DeserializeOptions {
  signal?: AbortSignal
  /** Rebuild registered typed classes (default true); false gives plain `Base` objects everywhere. */
  typed?: boolean
}

type PlainObject = Record<string, unknown>

/**
 * Deserialize a root object (its JSON text or parsed form), resolving references from `source`.
 * Without a source, references stay as `{referencedId, speckle_type: "reference"}` stubs.
 */
export async function deserialize(
  root: string | PlainObject,
  source?: ObjectSource,
  options: DeserializeOptions = {},
): Promise<Base> {
  const reader = new Reader(source, options)
  const parsed = typeof root === 'string' ? reader.parse(root, '(root)') : root
  const closure = parsed.__closure
  if (closure && typeof closure === 'object' && source && typeof (source as Transport).getObjects === 'function') {
    await reader.prefetch(source as Transport, Object.keys(closure))
  }
  const value = await reader.object(parsed, undefined)
  if (!(value instanceof Base)) {
    throw new CorruptObjectError(String(parsed.id ?? '(root)'), reader.sourceName, 'the root has no speckle_type')
  }
  return value
}

/** Parse one stored object, reporting corrupt text with its id and transport. */
export function parseStoredObject(json: string, id: string, transport: string): PlainObject {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch (err) {
    throw new CorruptObjectError(id, transport, `invalid JSON (${(err as Error).message})`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CorruptObjectError(id, transport, 'not a JSON object')
  }
  const storedId = (parsed as PlainObject).id
  if (storedId !== undefined && storedId !== id && id !== '(root)') {
    throw new CorruptObjectError(id, transport, `it holds object ${String(storedId)}`)
  }
  return parsed as PlainObject
}

class Reader {
  readonly sourceName: string
  private readonly resolved = new Map<string, Promise<unknown>>()
  private readonly typed: boolean
  private readonly signal?: AbortSignal
  private get?: (id: string) => Promise<string | null | undefined> | string | null | undefined

  constructor(source: ObjectSource | undefined, options: DeserializeOptions) {
    this.typed = options.typed ?? true
    this.signal = options.signal
    if (!source) {
      this.sourceName = 'none'
    } else if (source instanceof Map) {
      this.sourceName = 'Map'
      this.get = (id) => source.get(id)
    } else if (typeof (source as Transport).getObject === 'function') {
      const t = source as Transport
      this.sourceName = t.name
      this.get = (id) => t.getObject(id, { signal: this.signal })
    } else {
      const rec = source as Readonly<Record<string, string>>
      this.sourceName = 'object map'
      this.get = (id) => (Object.prototype.hasOwnProperty.call(rec, id) ? rec[id] : undefined)
    }
  }

  /**
   * Read the whole closure with the transport's bulk read (one request or transaction per batch instead
   * of one per reference). Each text is dropped once parsed, so memory shrinks as the tree grows.
   */
  async prefetch(source: Transport, ids: string[]): Promise<void> {
    const texts = new Map<string, string>()
    for await (const [id, json] of source.getObjects!(ids, { signal: this.signal })) texts.set(id, json)
    const fallback = this.get!
    this.get = (id) => {
      const text = texts.get(id)
      if (text === undefined) return fallback(id)
      texts.delete(id)
      return text
    }
  }

  parse(json: string, id: string): PlainObject {
    return parseStoredObject(json, id, this.sourceName)
  }

  /** Resolve a reference to its (deserialized) object; each id is read and built once. */
  private reference(id: string, parentId: string | undefined): Promise<unknown> {
    let p = this.resolved.get(id)
    if (!p) {
      p = (async () => {
        throwIfAborted(this.signal)
        const json = await this.get!(id)
        if (json === null || json === undefined) throw new MissingObjectError(id, this.sourceName, parentId)
        return this.object(this.parse(json, id), id)
      })()
      this.resolved.set(id, p)
    }
    return p
  }

  /** Build a Base (typed when registered) or a dictionary from a parsed object. */
  async object(obj: PlainObject, ownerId: string | undefined): Promise<unknown> {
    const type = obj.speckle_type
    if (typeof type !== 'string') return this.dictionary(obj, ownerId)
    if (type === REFERENCE_TYPE && typeof obj.referencedId === 'string') {
      if (!this.get) return { referencedId: obj.referencedId, speckle_type: REFERENCE_TYPE }
      return this.reference(obj.referencedId, ownerId)
    }
    const selfId = typeof obj.id === 'string' ? obj.id : ownerId
    const cls = this.typed ? typeFor(type) : undefined
    const base = cls ? new cls() : new Base()
    for (const key of Object.keys(obj)) {
      if (key === '__closure') continue
      const value = obj[key]
      base[key] = await this.value(value, selfId)
    }
    if (typeof type === 'string') base.speckle_type = type
    return base
  }

  private async dictionary(obj: PlainObject, ownerId: string | undefined): Promise<PlainObject> {
    const out: PlainObject = {}
    for (const key of Object.keys(obj)) out[key] = await this.value(obj[key], ownerId)
    return out
  }

  private async value(value: unknown, ownerId: string | undefined): Promise<unknown> {
    if (typeof value !== 'object' || value === null) return value
    if (Array.isArray(value)) return this.array(value, ownerId)
    return this.object(value as PlainObject, ownerId)
  }

  private async array(arr: unknown[], ownerId: string | undefined): Promise<unknown[]> {
    let hasObjects = false
    for (const v of arr) {
      if (typeof v === 'object' && v !== null) {
        hasObjects = true
        break
      }
    }
    if (!hasObjects) return arr
    // Sequential on purpose: a list of a million references must not open a million reads at once.
    const out = new Array<unknown>(arr.length)
    for (let i = 0; i < arr.length; i++) out[i] = await this.value(arr[i], ownerId)
    // A list made only of DataChunks is a chunked array: join the chunks back (as Speckle's SDKs do).
    if (out.length > 0 && out.every((v) => v instanceof Base && v.speckle_type === DATA_CHUNK_TYPE)) {
      const joined: unknown[] = []
      for (const chunk of out as Base[]) {
        const data = chunk.data
        if (Array.isArray(data)) for (const d of data) joined.push(d)
      }
      return joined
    }
    return out
  }
}
