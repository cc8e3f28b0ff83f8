/**
 * send / receive: move a Base tree through transports.
 *
 * `send` serializes as a stream (children first) and hands each object to every transport as it is
 * produced, awaiting their back-pressure, so a model is never held as JSON in full. `receive` reads
 * the local transport first and fetches only what is missing from the remote, copying it into local.
 */
import type { Base } from './base.js'
import { deserialize, parseStoredObject } from './deserializer.js'
import { MissingObjectError, TrussError, throwIfAborted } from './errors.js'
import { serializeStream, type SerializeOptions } from './serializer.js'
import type { CallOptions, Transport, TransportProgress } from './transports/transport.js'

export type DefaultCacheFactory = () => Transport

let defaultCacheFactory: DefaultCacheFactory | undefined

/** Set by the platform entry point: the SQLite cache on Node, IndexedDB in browsers. */
export function setDefaultCacheFactory(factory: DefaultCacheFactory | undefined): void {
  defaultCacheFactory = factory
}

function defaultCache(): Transport {
  if (!defaultCacheFactory) {
    throw new TrussError('NO_DEFAULT_CACHE', 'No default cache on this platform: pass useDefaultCache: false')
  }
  return defaultCacheFactory()
}

export interface OperationProgress {
  stage: 'serialize' | 'write' | 'read' | 'download' | 'upload' | 'deserialize'
  done: number
  total?: number
  transport?: string
}

export interface SendOptions extends SerializeOptions {
  /** Where to send (server, disk, memory, ...). */
  transports?: Transport[]
  /** Also write to the default local cache (SQLite on Node). Default true. */
  useDefaultCache?: boolean
  /** Replace the default cache, e.g. with a MemoryTransport where no disk may be written. */
  cache?: Transport
  signal?: AbortSignal
  onProgress?: (progress: OperationProgress) => void
}

/** Serialize `base` and write it to the transports. Resolves to the root object id. */
export async function send(base: Base | Record<string, unknown>, options: SendOptions = {}): Promise<string> {
  const { signal, onProgress } = options
  const targets = [...(options.transports ?? [])]
  let ownedCache: Transport | undefined
  if (options.cache) targets.push(options.cache)
  else if (options.useDefaultCache ?? true) {
    ownedCache = defaultCache()
    targets.push(ownedCache)
  }
  if (targets.length === 0) {
    throw new TrussError('NO_TRANSPORT', 'send needs at least one transport (or useDefaultCache: true)')
  }
  try {
    throwIfAborted(signal)
    const it = serializeStream(base, options)
    let count = 0
    for (;;) {
      const next = it.next()
      if (next.done) {
        for (const t of targets) await t.flush({ signal })
        onProgress?.({ stage: 'serialize', done: count, total: count })
        return next.value
      }
      const [id, json] = next.value
      for (const t of targets) await t.saveObject(id, json)
      count++
      if ((count & 1023) === 0) {
        throwIfAborted(signal)
        onProgress?.({ stage: 'serialize', done: count })
      }
    }
  } finally {
    await ownedCache?.close?.()
  }
}

export interface ReceiveOptions {
  /** Where to fetch objects the local transport lacks (usually a ServerTransport). */
  remote?: Transport
  /** Read first and copy into (default: the local cache, SQLite on Node). */
  local?: Transport
  signal?: AbortSignal
  onProgress?: (progress: OperationProgress) => void
}

/** Read the tree rooted at `id`, from `local` when complete there, else from `remote` via `local`. */
export async function receive(id: string, options: ReceiveOptions = {}): Promise<Base> {
  const { remote, signal, onProgress } = options
  const ownedLocal = options.local ? undefined : defaultCache()
  const local = options.local ?? ownedLocal!
  try {
    throwIfAborted(signal)
    let rootJson = await local.getObject(id, { signal })
    if (rootJson === null || !(await hasWholeTree(local, id, rootJson, signal))) {
      if (!remote) {
        if (rootJson === null) throw new MissingObjectError(id, local.name)
        // The root is here but children are missing and there is nowhere to fetch them from:
        // deserialize will name the first missing id.
      } else {
        rootJson = await copyTree(remote, local, id, rootJson, { signal, onProgress: adapt(onProgress) })
        await local.flush({ signal })
      }
    }
    onProgress?.({ stage: 'deserialize', done: 0 })
    return await deserialize(rootJson!, local, { signal })
  } finally {
    await ownedLocal?.close?.()
  }
}

function adapt(onProgress: ReceiveOptions['onProgress']): CallOptions['onProgress'] {
  if (!onProgress) return undefined
  return (p: TransportProgress) =>
    onProgress({
      stage: p.stage === 'upload' ? 'upload' : p.stage,
      done: p.done,
      total: p.total,
      transport: p.transport,
    })
}

function closureIds(rootJson: string, id: string, transport: string): string[] {
  const root = parseStoredObject(rootJson, id, transport)
  const closure = root.__closure
  return closure && typeof closure === 'object' ? Object.keys(closure) : []
}

async function hasWholeTree(t: Transport, id: string, rootJson: string, signal?: AbortSignal): Promise<boolean> {
  const ids = closureIds(rootJson, id, t.name)
  if (ids.length === 0) return true
  const has = await t.hasObjects(ids, { signal })
  return ids.every((i) => has[i])
}

/**
 * Copy the tree rooted at `id` from `source` into `target`; returns the root JSON. Uses the source's
 * own streaming copy when it has one, else reads the missing closure ids in batches.
 */
export async function copyTree(
  source: Transport,
  target: Transport,
  id: string,
  knownRootJson: string | null = null,
  options: CallOptions = {},
): Promise<string> {
  if (knownRootJson === null && source.copyObjectAndChildren) {
    return source.copyObjectAndChildren(id, target, options)
  }
  const rootJson = knownRootJson ?? (await source.getObject(id, options))
  if (rootJson === null) throw new MissingObjectError(id, source.name)
  const ids = closureIds(rootJson, id, source.name)
  const present = ids.length > 0 ? await target.hasObjects(ids, options) : {}
  const missing = ids.filter((i) => !present[i])
  let done = 0
  if (missing.length > 0) {
    if (!source.getObjects) {
      for (const childId of missing) {
        const json = await source.getObject(childId, options)
        if (json === null) throw new MissingObjectError(childId, source.name, id)
        await target.saveObject(childId, json)
        done++
      }
    } else {
      const seen = new Set<string>()
      for await (const [childId, json] of source.getObjects(missing, options)) {
        await target.saveObject(childId, json)
        seen.add(childId)
        if ((++done & 1023) === 0) {
          options.onProgress?.({ transport: source.name, stage: 'download', done, total: missing.length })
        }
      }
      if (seen.size < missing.length) {
        const lost = missing.find((i) => !seen.has(i))!
        throw new MissingObjectError(lost, source.name, id)
      }
    }
  }
  if (knownRootJson === null) await target.saveObject(id, rootJson)
  else if (!(await target.hasObjects([id]))[id]) await target.saveObject(id, rootJson)
  options.onProgress?.({ transport: source.name, stage: 'download', done, total: missing.length })
  return rootJson
}
