/**
 * Serializer: turns a Base tree into Speckle-layout JSON objects with content-hash ids.
 *
 * Detached children (properties named `@...`, typed detachable/chunkable properties) become
 * `{"referencedId", "speckle_type": "reference"}` stubs and are emitted as objects of their own,
 * children before parents, so a sender can stream them to transports with bounded memory.
 * Every object with detached descendants carries `totalChildrenCount` and `__closure`
 * (descendant id -> minimum depth). Inline Base objects carry their own `id` too, as Speckle's SDKs write.
 *
 * Id rule (WIRE.md): SHA-256 of the compact JSON without `id`, first 32 hex characters. The stored
 * JSON puts `id` first, so removing it gives back exactly the hashed text.
 */
import { Base, isSkippedKey, type BaseClass } from './base.js'
import { SerializationError } from './errors.js'
import { objectIdOf } from './platform/hash.js'

export const DATA_CHUNK_TYPE = 'Speckle.Core.Models.DataChunk'
export const REFERENCE_TYPE = 'reference'
export const DEFAULT_CHUNK_SIZE = 1000
const CHUNK_NAME = /^@\((\d*)\)/

export interface SerializeOptions {
  /** Deepest nesting of objects/arrays allowed before the tree is refused (default 1000). */
  maxDepth?: number
}

/** One serialized object: its id and the exact JSON text to store. */
export type SerializedObject = [id: string, json: string]

export interface SerializeResult {
  rootId: string
  /** Every object written, children before parents, the root last; each id once. */
  objects: SerializedObject[]
}

interface Detached {
  id: string
  closure: ReadonlyMap<string, number>
}

type Frame = {
  /** Closure of the detached object currently being built; created on its first detached child. */
  closure: Map<string, number> | undefined
}

const NO_CHILDREN: ReadonlyMap<string, number> = new Map()

type PlainObject = Record<string, unknown>

/**
 * Serialize a tree, yielding each detached object as soon as it is complete (children first).
 * The generator's return value is the root id.
 */
export function* serializeStream(
  root: unknown,
  options: SerializeOptions = {},
): Generator<SerializedObject, string, undefined> {
  if (!isBaseLike(root)) {
    throw new SerializationError('', 'the root must be a Base or an object with a speckle_type')
  }
  const state = new SerializerState(options.maxDepth ?? 1000)
  const result = yield* state.detachedObject(root, [], 0)
  return result.id
}

/** Serialize a whole tree in memory. Use `send` (which streams) for large models. */
export function serialize(root: unknown, options: SerializeOptions = {}): SerializeResult {
  const seen = new Set<string>()
  const objects: SerializedObject[] = []
  const it = serializeStream(root, options)
  for (;;) {
    const next = it.next()
    if (next.done) return { rootId: next.value, objects }
    const [id] = next.value
    if (!seen.has(id)) {
      seen.add(id)
      objects.push(next.value)
    }
  }
}

function isBaseLike(value: unknown): value is PlainObject {
  if (value instanceof Base) return true
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as PlainObject).speckle_type === 'string'
  )
}

function pathString(path: readonly (string | number)[]): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out ? `.${seg}` : seg
    else out += `[${JSON.stringify(seg)}]`
  }
  return out
}

function chunkSizeFor(key: string, cls: BaseClass | undefined): number | undefined {
  if (key.charCodeAt(0) === 64 /* @ */) {
    const m = CHUNK_NAME.exec(key)
    if (m) {
      const n = m[1] === '' ? DEFAULT_CHUNK_SIZE : Number(m[1])
      return n > 0 ? n : DEFAULT_CHUNK_SIZE
    }
    return undefined
  }
  return cls?.chunkable?.[key]
}

function isDetachedKey(key: string, cls: BaseClass | undefined): boolean {
  if (key.charCodeAt(0) === 64 /* @ */) return true
  if (!cls) return false
  return cls.detachable?.includes(key) === true || cls.chunkable?.[key] !== undefined
}

/** True when every element is a string, boolean, null or finite number (the common geometry case). */
function primitiveArrayOk(arr: readonly unknown[], path: (string | number)[]): boolean {
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i]
    const t = typeof v
    if (t === 'number') {
      if (!Number.isFinite(v)) {
        path.push(i)
        throw new SerializationError(pathString(path), `${String(v)} is not a finite number`)
      }
    } else if (t !== 'string' && t !== 'boolean' && v !== null) {
      return false
    }
  }
  return true
}

/** A non-object value: validated and returned as JSON will write it. */
function primitive(value: unknown, path: (string | number)[]): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (!Number.isFinite(value)) {
        throw new SerializationError(pathString(path), `${String(value)} is not a finite number`)
      }
      return value
    case 'bigint':
      throw new SerializationError(pathString(path), 'BigInt values cannot be serialized; convert to number or string')
    case 'function':
      throw new SerializationError(pathString(path), 'functions cannot be serialized')
    case 'symbol':
      throw new SerializationError(pathString(path), 'symbols cannot be serialized')
    default:
      return null
  }
}

class SerializerState {
  /** Objects on the current path: a repeat is a cycle. */
  private readonly ancestors = new Set<object>()
  /**
   * Detached instances already written in this run (shared instances are written once). Objects
   * without detached children keep just their id: a million leaves, a million small savings.
   */
  private readonly done = new WeakMap<object, Detached | string>()

  constructor(private readonly maxDepth: number) {}

  /** Serialize a Base that becomes its own stored object; yields it (after its children). */
  *detachedObject(obj: PlainObject, path: (string | number)[], depth: number): Generator<SerializedObject, Detached> {
    const cached = this.done.get(obj)
    if (cached !== undefined) return typeof cached === 'string' ? { id: cached, closure: NO_CHILDREN } : cached
    const frame: Frame = { closure: undefined }
    // Leaf objects of plain data (most of a model) are stringified as they are: no copy.
    let text = this.plainBase(obj, path, depth)
      ? JSON.stringify(obj)
      : JSON.stringify(yield* this.baseBody(obj, path, depth, frame))
    const closure = frame.closure
    if (closure !== undefined && closure.size > 0) {
      // `totalChildrenCount` and `__closure` go last; written as text because a closure can hold
      // millions of entries (ids are hex, depths integers: nothing to escape).
      // Joined in chunks of 4,096 entries: a million small strings alive at once would cost more
      // memory than the finished text.
      const chunks: string[] = []
      let part: string[] = []
      for (const [childId, d] of closure) {
        part.push(`"${childId}":${d}`)
        if (part.length === 4096) {
          chunks.push(part.join(','))
          part = []
        }
      }
      if (part.length > 0) chunks.push(part.join(','))
      const head = text.length === 2 ? '{' : `${text.slice(0, -1)},`
      text = `${head}"totalChildrenCount":${closure.size},"__closure":{${chunks.join(',')}}}`
    }
    const id = objectIdOf(text)
    const json = text.length === 2 ? `{"id":"${id}"}` : `{"id":"${id}",${text.slice(1)}`
    yield [id, json]
    const result: Detached = { id, closure: closure ?? NO_CHILDREN }
    this.done.set(obj, closure === undefined || closure.size === 0 ? id : result)
    return result
  }

  /** The properties of a Base as a plain object, `id` first (undefined until hashed). */
  private *baseBody(
    obj: PlainObject,
    path: (string | number)[],
    depth: number,
    frame: Frame,
  ): Generator<SerializedObject, PlainObject> {
    if (depth > this.maxDepth) {
      throw new SerializationError(pathString(path), `the tree is nested deeper than ${this.maxDepth} levels`)
    }
    if (this.ancestors.has(obj)) throw new SerializationError(pathString(path), 'circular reference')
    this.ancestors.add(obj)
    const cls = obj instanceof Base ? (obj.constructor as BaseClass) : undefined
    const out: PlainObject = { id: undefined }
    if (Object.getOwnPropertySymbols(obj).length > 0) {
      throw new SerializationError(pathString(path), 'symbol-keyed properties cannot be serialized')
    }
    const keys = Object.keys(obj)
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!
      if (isSkippedKey(key) || key === '__closure') continue
      const value = obj[key]
      if (value === undefined) continue
      path.push(key)
      if (typeof value !== 'object' || value === null) {
        out[key] = primitive(value, path)
        path.pop()
        continue
      }
      const detach = isDetachedKey(key, cls)
      if (!detach && this.plain(value, path, depth + 1)) {
        // Pure JSON data (the common case): validated in place and written as it is, no copy.
        out[key] = value
        path.pop()
        continue
      }
      const chunk = chunkSizeFor(key, cls)
      if (chunk !== undefined && Array.isArray(value)) {
        out[key] = yield* this.chunks(value, chunk, path, depth + 1, frame)
      } else if (chunk !== undefined && ArrayBuffer.isView(value) && !(value instanceof DataView)) {
        out[key] = yield* this.chunks(Array.from(value as unknown as ArrayLike<number>), chunk, path, depth + 1, frame)
      } else {
        out[key] = yield* this.value(value, path, depth + 1, frame, detach)
      }
      path.pop()
    }
    this.ancestors.delete(obj)
    return out
  }

  /** Split an array into detached DataChunks and return the reference list. */
  private *chunks(
    arr: readonly unknown[],
    size: number,
    path: (string | number)[],
    depth: number,
    frame: Frame,
  ): Generator<SerializedObject, PlainObject[]> {
    const refs: PlainObject[] = []
    for (let i = 0; i < arr.length; i += size) {
      const chunk = { speckle_type: DATA_CHUNK_TYPE, data: arr.slice(i, i + size) }
      path.push(i)
      const child = yield* this.detachedObject(chunk, path, depth)
      path.pop()
      this.addChild(frame, child)
      refs.push({ referencedId: child.id, speckle_type: REFERENCE_TYPE })
    }
    return refs
  }

  private addChild(frame: Frame, child: Detached): void {
    const closure = (frame.closure ??= new Map())
    const prev = closure.get(child.id)
    if (prev === undefined || prev > 1) closure.set(child.id, 1)
    if (child.closure.size === 0) return
    for (const [id, d] of child.closure) {
      const p = closure.get(id)
      if (p === undefined || p > d + 1) closure.set(id, d + 1)
    }
  }

  /**
   * True when a Base serializes exactly as JSON.stringify writes it: no skipped, detached or chunked
   * property, and only plain data inside (checked for values JSON cannot hold).
   */
  private plainBase(obj: PlainObject, path: (string | number)[], depth: number): boolean {
    if (depth > this.maxDepth) {
      throw new SerializationError(pathString(path), `the tree is nested deeper than ${this.maxDepth} levels`)
    }
    const cls = obj instanceof Base ? (obj.constructor as BaseClass) : undefined
    if (
      cls
        ? cls.detachable !== undefined || cls.chunkable !== undefined
        : Object.getPrototypeOf(obj) !== Object.prototype
    ) {
      return false
    }
    if (this.ancestors.has(obj)) throw new SerializationError(pathString(path), 'circular reference')
    if (Object.getOwnPropertySymbols(obj).length > 0) return false
    this.ancestors.add(obj)
    let ok = true
    const keys = Object.keys(obj)
    for (let k = 0; k < keys.length && ok; k++) {
      const key = keys[k]!
      if (isSkippedKey(key) || key === '__closure' || key.charCodeAt(0) === 64 /* @ */) {
        ok = false
        break
      }
      const v = obj[key]
      if (typeof v === 'object' && v !== null) {
        path.push(key)
        ok = this.plain(v, path, depth + 1)
        path.pop()
      } else if (typeof v !== 'string' && typeof v !== 'boolean' && v !== undefined) {
        path.push(key)
        primitive(v, path)
        path.pop()
      }
    }
    this.ancestors.delete(obj)
    return ok
  }

  /**
   * True when `value` is plain JSON data (arrays, plain objects, primitives; no Base, Map, typed array
   * or Date inside), after checking it for values JSON cannot hold. Such data is written as it is.
   */
  private plain(value: object, path: (string | number)[], depth: number): boolean {
    if (depth > this.maxDepth) {
      throw new SerializationError(pathString(path), `the tree is nested deeper than ${this.maxDepth} levels`)
    }
    if (Array.isArray(value)) {
      // Only arrays holding objects can be part of a cycle: primitive arrays skip the bookkeeping.
      let tracked = false
      let ok = true
      for (let i = 0; i < value.length && ok; i++) {
        const v: unknown = value[i]
        if (typeof v === 'object' && v !== null) {
          if (!tracked) {
            if (this.ancestors.has(value)) throw new SerializationError(pathString(path), 'circular reference')
            this.ancestors.add(value)
            tracked = true
          }
          path.push(i)
          ok = this.plain(v, path, depth + 1)
          path.pop()
        } else if (typeof v === 'number') {
          if (v - v !== 0) {
            path.push(i)
            primitive(v, path)
          }
        } else if (typeof v !== 'string' && typeof v !== 'boolean') {
          path.push(i)
          primitive(v, path)
          path.pop()
        }
      }
      if (tracked) this.ancestors.delete(value)
      return ok
    }
    const proto: unknown = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) return false
    const dict = value as PlainObject
    if (typeof dict.speckle_type === 'string') return false
    if (this.ancestors.has(dict)) throw new SerializationError(pathString(path), 'circular reference')
    if (Object.getOwnPropertySymbols(dict).length > 0) {
      throw new SerializationError(pathString(path), 'symbol-keyed properties cannot be serialized')
    }
    this.ancestors.add(dict)
    let ok = true
    for (const key in dict) {
      const v = dict[key]
      if (typeof v === 'object' && v !== null) {
        path.push(key)
        ok = this.plain(v, path, depth + 1)
        path.pop()
        if (!ok) break
      } else if (typeof v !== 'string' && typeof v !== 'boolean' && v !== undefined) {
        path.push(key)
        primitive(v, path)
        path.pop()
      }
    }
    this.ancestors.delete(dict)
    return ok
  }

  /** Transform any property value. `detach` marks values under a detached property. */
  private *value(
    value: unknown,
    path: (string | number)[],
    depth: number,
    frame: Frame,
    detach: boolean,
  ): Generator<SerializedObject, unknown> {
    if (typeof value !== 'object' || value === null) return primitive(value, path)
    const obj = value as object
    if (depth > this.maxDepth) {
      throw new SerializationError(pathString(path), `the tree is nested deeper than ${this.maxDepth} levels`)
    }
    if (Array.isArray(obj)) {
      if (primitiveArrayOk(obj, path)) return obj
      return yield* this.array(obj, path, depth, frame, detach)
    }
    if (ArrayBuffer.isView(obj)) {
      if (obj instanceof DataView) throw new SerializationError(pathString(path), 'DataView cannot be serialized')
      const arr = Array.from(obj as unknown as ArrayLike<number | bigint>)
      if (typeof arr[0] === 'bigint')
        throw new SerializationError(pathString(path), 'BigInt arrays cannot be serialized')
      primitiveArrayOk(arr, path)
      return arr
    }
    if (obj instanceof Date) return obj.toISOString()
    if (obj instanceof Map) return yield* this.map(obj, path, depth, frame, detach)
    if (isBaseLike(obj)) {
      if (obj.speckle_type === REFERENCE_TYPE && typeof obj.referencedId === 'string') {
        // An already-detached reference passed through as is (e.g. a tree read without resolving).
        const closure = (frame.closure ??= new Map())
        if (!closure.has(obj.referencedId)) closure.set(obj.referencedId, 1)
        return { referencedId: obj.referencedId, speckle_type: REFERENCE_TYPE }
      }
      if (detach) {
        const child = yield* this.detachedObject(obj, path, depth)
        this.addChild(frame, child)
        return { referencedId: child.id, speckle_type: REFERENCE_TYPE }
      }
      // Inline Base: its own id, its detached children count toward the enclosing object's closure.
      const out = yield* this.baseBody(obj, path, depth, frame)
      out.id = objectIdOf(JSON.stringify(out))
      return out
    }
    return yield* this.dictionary(obj as PlainObject, path, depth, frame, detach)
  }

  private *array(
    arr: readonly unknown[],
    path: (string | number)[],
    depth: number,
    frame: Frame,
    detach: boolean,
  ): Generator<SerializedObject, unknown[]> {
    if (this.ancestors.has(arr)) throw new SerializationError(pathString(path), 'circular reference')
    this.ancestors.add(arr)
    const out = new Array<unknown>(arr.length)
    for (let i = 0; i < arr.length; i++) {
      path.push(i)
      const v = arr[i]
      if (typeof v !== 'object' || v === null) out[i] = primitive(v, path)
      else if (detach && v instanceof Base) {
        const child = yield* this.detachedObject(v, path, depth + 1)
        this.addChild(frame, child)
        out[i] = { referencedId: child.id, speckle_type: REFERENCE_TYPE }
      } else out[i] = yield* this.value(v, path, depth + 1, frame, detach)
      path.pop()
    }
    this.ancestors.delete(arr)
    return out
  }

  private *dictionary(
    obj: PlainObject,
    path: (string | number)[],
    depth: number,
    frame: Frame,
    detach: boolean,
  ): Generator<SerializedObject, PlainObject> {
    if (this.ancestors.has(obj)) throw new SerializationError(pathString(path), 'circular reference')
    if (Object.getOwnPropertySymbols(obj).length > 0) {
      throw new SerializationError(pathString(path), 'symbol-keyed properties cannot be serialized')
    }
    this.ancestors.add(obj)
    const out: PlainObject = {}
    for (const key in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, key)) continue
      const v = obj[key]
      if (v === undefined) continue
      path.push(key)
      out[key] = yield* this.value(v, path, depth + 1, frame, detach)
      path.pop()
    }
    this.ancestors.delete(obj)
    return out
  }

  private *map(
    map: Map<unknown, unknown>,
    path: (string | number)[],
    depth: number,
    frame: Frame,
    detach: boolean,
  ): Generator<SerializedObject, PlainObject> {
    if (this.ancestors.has(map)) throw new SerializationError(pathString(path), 'circular reference')
    this.ancestors.add(map)
    const out: PlainObject = {}
    for (const [key, v] of map) {
      if (typeof key !== 'string') {
        throw new SerializationError(
          pathString(path),
          `Map key ${String(key)} is a ${typeof key}; only string keys serialize`,
        )
      }
      if (v === undefined) continue
      path.push(key)
      out[key] = yield* this.value(v, path, depth + 1, frame, detach)
      path.pop()
    }
    this.ancestors.delete(map)
    return out
  }
}
