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

/** One object of the server's `version.diff`. */
export interface DiffItem {
  kind: 'added' | 'removed' | 'changed'
  id: string
  applicationId: string | null
}

/**
 * The server's diff of two trees counted as elements of this view: added and changed are the elements shown
 * (`shown`, the view's atomic objects) that the diff names; removed are the objects it names as gone that
 * carry an applicationId (elements; their data chunks and the root carry none); unchanged are the shown
 * elements it does not name.
 */
export function elementDiff(items: readonly DiffItem[], shown: readonly Keyed[]): VersionDiff {
  const shownIds = new Set(shown.map((o) => o.id))
  const diff: VersionDiff = { added: [], changed: [], removed: [], unchanged: 0 }
  for (const item of items) {
    if (item.kind === 'removed') {
      if (item.applicationId !== null) diff.removed.push(item.id)
    } else if (shownIds.has(item.id)) diff[item.kind].push(item.id)
  }
  diff.unchanged = shownIds.size - diff.added.length - diff.changed.length
  return diff
}
