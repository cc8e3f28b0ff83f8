/**
 * Speckle's viewer resource id strings (`@speckle/shared` `parseUrlParameters`): comma-separated parts, each
 * `all` (every model), `$folder` (the models under a folder), `modelId` or `modelId@versionId`, or a
 * 32-character object id. Threads are anchored to versions and objects; viewers ask for them by this string.
 */
import { BadUserInput } from '../../errors.js'

export type ViewerResource =
  | { kind: 'all' }
  | { kind: 'folder'; name: string }
  | { kind: 'model'; modelId: string; versionId: string | null }
  | { kind: 'object'; objectId: string }

/** What a thread points at, as the viewer names it (Speckle's `ViewerResourceItem`). */
export interface ViewerResourceItem {
  modelId: string | null
  versionId: string | null
  objectId: string
}

const MAX_PARTS = 100
const MAX_PART_CHARS = 512

/** Parse a resource id string; an empty one is no resource. Lower-cases as Speckle does, except ids' case. */
export function parseResourceIdString(value: string): ViewerResource[] {
  const parts = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
  if (parts.length > MAX_PARTS) throw new BadUserInput(`A resource id string lists at most ${MAX_PARTS} resources`)
  const seen = new Set<string>()
  const out: ViewerResource[] = []
  for (const part of parts) {
    if (part.length > MAX_PART_CHARS) throw new BadUserInput('A resource id is too long')
    if (seen.has(part.toLowerCase())) continue
    seen.add(part.toLowerCase())
    if (part.toLowerCase() === 'all') out.push({ kind: 'all' })
    else if (part.startsWith('$')) out.push({ kind: 'folder', name: part.slice(1).toLowerCase() })
    else if (part.includes('@')) {
      const [modelId, versionId] = part.split('@') as [string, string]
      if (modelId === '' || versionId === '') throw new BadUserInput(`Invalid resource id ${part.slice(0, 80)}`)
      out.push({ kind: 'model', modelId, versionId })
    } else if (part.length === 32) out.push({ kind: 'object', objectId: part.toLowerCase() })
    else out.push({ kind: 'model', modelId: part, versionId: null })
  }
  return out
}

/**
 * Whether a thread anchored to `items` concerns a viewer showing `resources`. A model part matches every
 * version of the model unless `loadedVersionsOnly` (then only the version it names, if it names one).
 * `modelName` answers a model's name (for folders).
 */
export async function matchesResources(
  items: readonly ViewerResourceItem[],
  resources: readonly ViewerResource[],
  loadedVersionsOnly: boolean,
  modelName: (modelId: string) => Promise<string | null>,
): Promise<boolean> {
  if (resources.length === 0) return true
  for (const r of resources) {
    for (const item of items) {
      if (r.kind === 'object' && item.objectId.toLowerCase() === r.objectId) return true
      if (item.modelId === null) continue
      if (r.kind === 'all') return true
      if (r.kind === 'model' && item.modelId === r.modelId) {
        if (!loadedVersionsOnly || r.versionId === null || r.versionId === item.versionId) return true
      }
      if (r.kind === 'folder') {
        const name = (await modelName(item.modelId))?.toLowerCase()
        if (name !== undefined && (name === r.name || name.startsWith(`${r.name}/`))) return true
      }
    }
  }
  return false
}
