/**
 * Reading a file of already-serialized Speckle objects, in the three shapes Speckle's tools write: a JSON
 * array of objects, one root object, or a map id → object; any of them may start with a UTF-8 BOM.
 * The objects keep their ids (they are content hashes computed by the writer), so they are uploaded as-is.
 */

export interface SpeckleObjectFile {
  rootId: string
  /** Every object of the file as [id, json], the root first. */
  objects: [string, string][]
  /** Ids the root's closure (or a `referencedId`) names that the file does not hold. */
  missing: string[]
  totalChildrenCount: number
}

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Whether `text` looks like Speckle JSON rather than another format (a glTF is JSON too, with `asset`). */
export function looksLikeSpeckleJson(text: string): boolean {
  const t = text.replace(/^\uFEFF/, '').trimStart()
  if (t.startsWith('[')) return true
  return (
    t.startsWith('{') &&
    /"(speckle_type|__closure|id)"\s*:/.test(t.slice(0, 100_000)) &&
    !/"asset"\s*:/.test(t.slice(0, 2000))
  )
}

/** Parse the file; throws an Error in words on anything that is not Speckle objects. */
export function parseSpeckleJson(text: string, name: string): SpeckleObjectFile {
  let parsed: unknown
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''))
  } catch (err) {
    throw new Error(`${name} is not valid JSON: ${(err as Error).message}`)
  }
  let list: Json[]
  if (Array.isArray(parsed)) {
    list = parsed.filter(isObject)
    if (list.length !== parsed.length) throw new Error(`${name}: every item of the array must be an object`)
  } else if (isObject(parsed) && typeof parsed.speckle_type === 'string') {
    list = [parsed]
  } else if (isObject(parsed) && Object.values(parsed).length > 0 && Object.values(parsed).every(isObject)) {
    // id → object; an object without its own id takes the key.
    list = Object.entries(parsed).map(([key, value]) => {
      const obj = value as Json
      return typeof obj.id === 'string' ? obj : { ...obj, id: key }
    })
  } else {
    throw new Error(`${name} holds no Speckle objects (an array of objects, one object, or a map id → object)`)
  }
  if (list.length === 0) throw new Error(`${name} holds no objects`)
  const byId = new Map<string, Json>()
  for (const [i, obj] of list.entries()) {
    if (typeof obj.id !== 'string' || obj.id === '') throw new Error(`${name}: object ${i + 1} has no id`)
    if (typeof obj.speckle_type !== 'string') throw new Error(`${name}: object ${obj.id} has no speckle_type`)
    byId.set(obj.id, obj)
  }
  // The root is the object nothing else refers to (the one with the largest closure when several are).
  const referenced = new Set<string>()
  for (const obj of byId.values()) collectReferences(obj, referenced)
  const roots = [...byId.values()].filter((o) => !referenced.has(o.id as string))
  const closureSize = (o: Json) => (isObject(o.__closure) ? Object.keys(o.__closure).length : 0)
  const root = roots.sort((a, b) => closureSize(b) - closureSize(a))[0] ?? list[0]!
  const rootId = root.id as string
  const needed = new Set<string>(isObject(root.__closure) ? Object.keys(root.__closure) : [])
  for (const id of referenced) needed.add(id)
  const missing = [...needed].filter((id) => !byId.has(id))
  const objects: [string, string][] = [[rootId, JSON.stringify(root)]]
  for (const [id, obj] of byId) if (id !== rootId) objects.push([id, JSON.stringify(obj)])
  const count = typeof root.totalChildrenCount === 'number' ? root.totalChildrenCount : needed.size
  return { rootId, objects, missing, totalChildrenCount: count }
}

function collectReferences(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) collectReferences(v, into)
    return
  }
  if (!isObject(value)) return
  if (typeof value.referencedId === 'string') into.add(value.referencedId)
  if (isObject(value.__closure)) for (const id of Object.keys(value.__closure)) into.add(id)
  for (const [k, v] of Object.entries(value)) if (k !== '__closure' && typeof v === 'object') collectReferences(v, into)
}
