/**
 * The objects module: the content-addressed object store of each project (Speckle's REST object
 * API sits on top, in rest.ts). Objects are immutable, stored by (project, id), first write wins.
 */
import { BadUserInput } from '../../errors.js'
import type { Sql } from '../../adapters/sql/types.js'
import type { Metrics } from '../metrics/index.js'
import { createObjectsRepository, type ObjectRow } from './repository.js'
import { BatchScanError, scanBatch, type ScannedObject } from './split.js'

export type { ObjectRow } from './repository.js'

/** Ids as Speckle's SDKs write them: 32 hex characters (older JS senders wrote up to 64). */
const OBJECT_ID = /^[0-9a-fA-F]{32,64}$/

export interface ObjectsServiceOptions {
  sql: Sql
  metrics?: Metrics
  /** Largest single object, in bytes (Speckle's MAX_OBJECT_SIZE_MB). */
  maxObjectBytes: number
  /** Ids per database read while streaming (default 5,000). */
  readBatchSize?: number
}

/** A rejected upload batch; `message` is Speckle's wording where Speckle has one (WIRE.md). */
export class BadBatch extends BadUserInput {}

export function createObjectsService(options: ObjectsServiceOptions) {
  const repo = createObjectsRepository(options.sql)
  const readBatch = options.readBatchSize ?? 5000

  /** Validate the text of one upload batch and cut it into rows, each object's text kept as sent. */
  function parseBatch(text: string): ObjectRow[] {
    let scanned: ScannedObject[]
    try {
      scanned = scanBatch(text)
    } catch (err) {
      if (!(err instanceof BatchScanError)) throw err
      const f = err.failure
      if (f === 'not-json') throw new BadBatch('Failed to parse data. Batch is not in JSON format.')
      if (f === 'not-array') {
        throw new BadBatch('Failed to parse data. Batch is expected to be wrapped in a JSON array.')
      }
      throw new BadBatch(`Failed to parse data. Item ${f.notObject} of the batch is not an object.`)
    }
    const rows = new Array<ObjectRow>(scanned.length)
    for (let i = 0; i < scanned.length; i++) {
      const { json: sent, id } = scanned[i]!
      // Raw tabs and line breaks can only be whitespace in valid JSON, and they would break the
      // `id\tjson\n` lines of downloads: such objects (pretty-printed by some SDKs) are stored compacted.
      const json = sent.includes('\n') || sent.includes('\r') || sent.includes('\t') ? withoutWhitespace(sent) : sent
      if (id === undefined || !OBJECT_ID.test(id)) {
        throw new BadBatch(`Object ${i} of the batch has no valid id (32 hexadecimal characters expected).`)
      }
      if (json.length > options.maxObjectBytes) {
        throw new BadBatch(
          `Error inserting object in the database. Object ${id} is too large (${json.length} > ${options.maxObjectBytes} bytes).`,
        )
      }
      rows[i] = { id, json }
    }
    return rows
  }

  /** Store validated rows, all or nothing. Resolves to the number of objects that were new. */
  async function store(projectId: string, rows: readonly ObjectRow[]): Promise<number> {
    const added = await repo.insert(projectId, rows)
    options.metrics?.objectsStoredTotal.inc(rows.length)
    return added
  }

  /**
   * The root object's JSON then every descendant in its `__closure`, ordered by id, in batches.
   * Resolves to null when the root is unknown.
   */
  async function streamTree(
    projectId: string,
    rootId: string,
  ): Promise<{ root: string; children: AsyncIterable<[string, string][]>; childCount: number } | null> {
    const root = await repo.get(projectId, rootId)
    if (root === null) return null
    const ids = closureIds(root)
    return { root, children: streamIds(projectId, ids), childCount: ids.length }
  }

  /** Stream the stored objects among `ids` (unknown skipped), one database batch at a time. */
  async function* streamIds(projectId: string, ids: readonly string[]): AsyncIterable<[string, string][]> {
    const sorted = [...ids].sort()
    // Read one batch ahead so the database works while the previous batch is being sent.
    let next = sorted.length > 0 ? repo.getMany(projectId, sorted.slice(0, readBatch)) : undefined
    for (let i = 0; next; i += readBatch) {
      const current = next
      next =
        i + readBatch < sorted.length
          ? repo.getMany(projectId, sorted.slice(i + readBatch, i + 2 * readBatch))
          : undefined
      next?.catch(() => undefined) // surfaced when awaited
      yield await current
    }
  }

  /** For each id, whether the project holds it. */
  async function diff(projectId: string, ids: readonly string[]): Promise<Record<string, boolean>> {
    const out: Record<string, boolean> = {}
    for (let i = 0; i < ids.length; i += 10_000) {
      const slice = ids.slice(i, i + 10_000)
      const known = await repo.existing(projectId, slice)
      for (const id of slice) out[id] = known.has(id)
    }
    return out
  }

  /** Whether the object and every descendant in its closure are stored (a version needs that). */
  async function hasWholeTree(projectId: string, rootId: string): Promise<{ root: boolean; missing: number }> {
    const root = await repo.get(projectId, rootId)
    if (root === null) return { root: false, missing: 0 }
    const ids = closureIds(root)
    let present = 0
    for (let i = 0; i < ids.length; i += 10_000) present += await repo.countPresent(projectId, ids.slice(i, i + 10_000))
    return { root: true, missing: ids.length - present }
  }

  return {
    parseBatch,
    store,
    getObject: repo.get,
    streamTree,
    streamIds,
    diff,
    hasWholeTree,
    deleteProjectObjects: repo.deleteProject,
  }
}

export type ObjectsService = ReturnType<typeof createObjectsService>

/** Valid JSON text without the whitespace between its tokens; strings, numbers and key order kept as written. */
function withoutWhitespace(json: string): string {
  let out = ''
  let start = 0
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i)
    if (c === 34 /* " */) {
      for (i++; i < json.length && json.charCodeAt(i) !== 34; i++) if (json.charCodeAt(i) === 92 /* \\ */) i++
    } else if (c === 32 || c === 9 || c === 10 || c === 13) {
      out += json.slice(start, i)
      start = i + 1
    }
  }
  return out + json.slice(start)
}

/** Keys of the `__closure` of an object's JSON text (empty when it has none or it is malformed). */
export function closureIds(json: string): string[] {
  // Cheap pre-check: most objects have no closure and need no parse.
  if (!json.includes('"__closure"')) return []
  try {
    const closure = (JSON.parse(json) as { __closure?: unknown }).__closure
    return closure && typeof closure === 'object' ? Object.keys(closure) : []
  } catch {
    return []
  }
}
