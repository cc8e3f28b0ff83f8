/** What the viewer page shows of an object, and the view it keeps in the URL hash. */
/** Properties worth showing: the object's own fields, without geometry buffers and closures. */
const HIDDEN_KEYS = new Set([
  '__closure',
  'vertices',
  'faces',
  'colors',
  'textureCoordinates',
  'displayValue',
  '@displayValue',
  '__parents',
  'elements',
  '@elements',
  'totalChildrenCount',
])
export function propertiesOf(raw: Record<string, unknown>): [string, string][] {
  const rows: [string, string][] = []
  const walk = (value: unknown, path: string, depth: number) => {
    if (rows.length > 400) return
    if (value === null || typeof value !== 'object') {
      rows.push([path, value === null ? '—' : String(value)])
    } else if (Array.isArray(value)) {
      rows.push([path, `${value.length} item${value.length === 1 ? '' : 's'}`])
    } else if ((value as { referencedId?: string }).referencedId) {
      rows.push([path, `→ ${(value as { referencedId: string }).referencedId}`])
    } else if (depth < 3) {
      for (const [k, v] of Object.entries(value)) if (!HIDDEN_KEYS.has(k)) walk(v, path ? `${path}.${k}` : k, depth + 1)
    }
  }
  walk(raw, '', 0)
  return rows
}

/** `#camera=px,py,pz,tx,ty,tz&selected=id`. */
export function parseViewHash(hash: string): { camera: number[] | null; selected: string | null } {
  const params = new URLSearchParams(hash.replace(/^#/, ''))
  const camera = params.get('camera')?.split(',').map(Number) ?? null
  return {
    camera: camera && camera.length === 6 && camera.every(Number.isFinite) ? camera : null,
    selected: params.get('selected'),
  }
}
export function viewHash(camera: number[], selected: string | null): string {
  const params = new URLSearchParams()
  params.set('camera', camera.map((n) => n.toFixed(3)).join(','))
  if (selected) params.set('selected', selected)
  return `#${params}`
}

export const readHash = () => parseViewHash(location.hash)
export const writeHash = (camera: number[], selected: string | null) =>
  history.replaceState(null, '', `${location.pathname}${location.search}${viewHash(camera, selected)}`)

export interface Keyed {
  id: string
  applicationId?: string | null
}
export interface VersionDiff {
  added: string[]
  changed: string[]
  removed: string[]
  unchanged: number
}

/**
 * What changed from `before` to `after` (Speckle's rule): the same id is unchanged; the same applicationId
 * with another id is changed; an applicationId (or, without one, an id) on one side only is added or removed.
 * Ids in the answer are `after`'s for added and changed, `before`'s for removed.
 */
export function diffVersions(before: Keyed[], after: Keyed[]): VersionDiff {
  const beforeIds = new Set(before.map((o) => o.id))
  const afterIds = new Set(after.map((o) => o.id))
  const beforeApps = new Set(before.flatMap((o) => (o.applicationId ? [o.applicationId] : [])))
  const afterApps = new Set(after.flatMap((o) => (o.applicationId ? [o.applicationId] : [])))
  const diff: VersionDiff = { added: [], changed: [], removed: [], unchanged: 0 }
  for (const o of after) {
    if (beforeIds.has(o.id)) diff.unchanged++
    else if (o.applicationId && beforeApps.has(o.applicationId)) diff.changed.push(o.id)
    else diff.added.push(o.id)
  }
  for (const o of before) {
    if (afterIds.has(o.id)) continue
    if (o.applicationId ? !afterApps.has(o.applicationId) : true) diff.removed.push(o.id)
  }
  return diff
}
