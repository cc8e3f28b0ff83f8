/**
 * What a commit stores: a file converted by `@truss/import` (the converters the server's import worker
 * runs), a Speckle JSON file (one root object, an array of serialized objects, or a map id → object), or an
 * object already in objects.db. Objects are written and flushed before the commit that names them.
 */
import { readFileSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { parseStoredObject, send, type Transport } from '@truss/core'
import { importFile, type FileType } from '@truss/import'
import { HistoryError } from './repo.js'

export interface Snapshot {
  objectId: string
  /** Objects written (the root and its descendants; some may already have been stored). */
  objects: number
  /** What produced the objects, recorded as the commit's source application. */
  sourceApp: string
  warnings: string[]
}

const CONVERTED: Record<string, FileType> = { ifc: 'ifc', obj: 'obj', stl: 'stl', gltf: 'gltf', glb: 'glb' }

/** Convert or read `path` and store its objects in `objects`. */
export async function snapshotFile(
  path: string,
  objects: Transport,
  onProgress?: (done: number) => void,
): Promise<Snapshot> {
  const ext = extname(path).slice(1).toLowerCase()
  if (ext === 'json') return snapshotSpeckleJson(path, objects)
  if (!(ext in CONVERTED)) {
    throw new HistoryError(`${basename(path)}: commit takes IFC, OBJ, STL, glTF/GLB or Speckle .json files`)
  }
  const result = await importFile({ path, fileType: CONVERTED[ext] })
  let count = 0
  const objectId = await send(result.root, {
    cache: objects,
    onProgress: (p) => {
      count = p.done
      onProgress?.(p.done)
    },
  })
  return { objectId, objects: count, sourceApp: `truss-import ${CONVERTED[ext]}`, warnings: result.warnings }
}

/** A Speckle JSON file: its objects are stored as they are when they carry ids, else serialized afresh. */
async function snapshotSpeckleJson(path: string, objects: Transport): Promise<Snapshot> {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8').replace(/^\uFEFF/, ''))
  } catch (err) {
    throw new HistoryError(`${basename(path)} is not JSON: ${(err as Error).message}`)
  }
  const list = Array.isArray(parsed)
    ? parsed
    : isObject(parsed) && !('speckle_type' in parsed) && Object.values(parsed).every(isObject)
      ? Object.values(parsed)
      : null
  if (list === null) {
    if (!isObject(parsed) || typeof parsed.speckle_type !== 'string') {
      throw new HistoryError(`${basename(path)} is not a Speckle object (no speckle_type)`)
    }
    const closure = isObject(parsed.__closure) ? Object.keys(parsed.__closure) : []
    if (typeof parsed.id === 'string' && closure.length > 0) {
      const has = await objects.hasObjects(closure)
      const missing = closure.filter((id) => !has[id])
      if (missing.length > 0) {
        throw new HistoryError(
          `${basename(path)} is a root whose ${missing.length} children are not in the file or objects.db`,
        )
      }
    }
    const objectId = await send(parsed, { cache: objects })
    return { objectId, objects: 1 + closure.length, sourceApp: 'speckle-json', warnings: [] }
  }
  const byId = new Map<string, Record<string, unknown>>()
  for (const o of list) {
    if (!isObject(o) || typeof o.id !== 'string') {
      throw new HistoryError(`${basename(path)}: every object of the list needs an id`)
    }
    byId.set(o.id, o)
  }
  // The root is the object no other object's closure names; with several, the one with the largest closure.
  const named = new Set<string>()
  for (const o of byId.values()) if (isObject(o.__closure)) for (const id of Object.keys(o.__closure)) named.add(id)
  const roots = [...byId.values()].filter((o) => !named.has(o.id as string))
  const size = (o: Record<string, unknown>) => (isObject(o.__closure) ? Object.keys(o.__closure).length : 0)
  const root = roots.sort((a, b) => size(b) - size(a))[0]
  if (root === undefined) throw new HistoryError(`${basename(path)} holds no root object`)
  for (const [id, o] of byId) await objects.saveObject(id, JSON.stringify(o))
  await objects.flush()
  const stored = parseStoredObject(JSON.stringify(root), root.id as string, objects.name)
  const closure = isObject(stored.__closure) ? Object.keys(stored.__closure) : []
  const has = closure.length > 0 ? await objects.hasObjects(closure) : {}
  const missing = closure.filter((id) => !has[id])
  if (missing.length > 0) {
    throw new HistoryError(`${basename(path)}: ${missing.length} objects its root names are missing (${missing[0]})`)
  }
  return { objectId: root.id as string, objects: byId.size, sourceApp: 'speckle-json', warnings: [] }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The ids of the tree rooted at `objectId` (root first), from its closure table. */
export async function treeIds(objects: Transport, objectId: string): Promise<string[]> {
  const json = await objects.getObject(objectId)
  if (json === null) throw new HistoryError(`object ${objectId} is not in objects.db`)
  const root = parseStoredObject(json, objectId, objects.name)
  return [objectId, ...(isObject(root.__closure) ? Object.keys(root.__closure) : [])]
}
