/**
 * IFC (STEP, IFC2X3 / IFC4 / IFC4X3) through web-ifc's Node build. The spatial tree (IfcRelAggregates,
 * IfcRelContainedInSpatialStructure) becomes nested elements project → site → building → storey →
 * element; each element carries its IFC class, GlobalId, name, type name and property sets, and its
 * meshes (one per colour) as `@displayValue`. Geometry stays in the file's length unit (web-ifc's
 * scaling is off) and is turned back from web-ifc's Y-up to IFC's and Speckle's Z-up.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Base, Mesh, type Units } from '@truss/core'
import type * as WebIfc from 'web-ifc'
import { ImportError, throwIfAborted } from './errors.js'
import { renderMaterial, yieldToLoop, type RenderMaterial } from './speckle.js'
import type { ImportOptions } from './types.js'

const require = createRequire(import.meta.url)

/** The IFC bytes: in memory, or read on demand (a file on disk need not be held in JS memory). */
export type IfcBytes = Uint8Array | { size: number; read: (offset: number, size: number) => Uint8Array }

export interface IfcContext {
  fileName: string
  options: ImportOptions
  warnings: string[]
}

export interface IfcModel {
  /** The IfcProject elements (usually one), then products outside the spatial tree. */
  elements: Base[]
  units: Units
  schema: string
  stats: { elements: number; meshes: number; triangles: number; vertices: number; materials: number }
}

interface Handle {
  value?: unknown
}
type Line = Record<string, unknown> & { expressID: number; type: number }

const val = (h: unknown): unknown => (h && typeof h === 'object' ? (h as Handle).value : undefined)
const str = (h: unknown): string | undefined => {
  const v = val(h)
  return typeof v === 'string' ? v : undefined
}
const ref = (h: unknown): number | undefined => {
  const v = val(h)
  return typeof v === 'number' ? v : undefined
}
const refs = (h: unknown): number[] => {
  if (!Array.isArray(h)) {
    const one = ref(h)
    return one === undefined ? [] : [one]
  }
  const out: number[] = []
  for (const x of h) {
    const r = ref(x)
    if (r !== undefined) out.push(r)
  }
  return out
}

/** Lines read in batches: one call into the WASM module per batch, not per line. */
function readLines(api: WebIfc.IfcAPI, model: number, ids: readonly number[]): Line[] {
  const out: Line[] = []
  for (let i = 0; i < ids.length; i += 4096) {
    const lines = api.GetLines(model, ids.slice(i, i + 4096)) as Line[]
    for (const l of lines) if (l) out.push(l)
  }
  return out
}

function idsOf(api: WebIfc.IfcAPI, model: number, type: number, inherited = false): number[] {
  const v = api.GetLineIDsWithType(model, type, inherited)
  const out = new Array<number>(v.size())
  for (let i = 0; i < out.length; i++) out[i] = v.get(i)
  return out
}

const SI_PREFIX: Record<string, Units> = { MILLI: 'mm', CENTI: 'cm', KILO: 'km' }
const CONVERSION_UNITS: Record<string, Units> = {
  foot: 'ft',
  feet: 'ft',
  ft: 'ft',
  inch: 'in',
  in: 'in',
  yard: 'yd',
  yd: 'yd',
  mile: 'mi',
  mi: 'mi',
}

/** The project's length unit from its IfcUnitAssignment; undefined when it has none Speckle can name. */
function lengthUnit(api: WebIfc.IfcAPI, W: typeof WebIfc, model: number): Units | undefined {
  for (const ua of readLines(api, model, idsOf(api, model, W.IFCUNITASSIGNMENT))) {
    for (const u of readLines(api, model, refs(ua.Units))) {
      if (val(u.UnitType) !== 'LENGTHUNIT') continue
      if (u.type === W.IFCSIUNIT) {
        if (val(u.Name) !== 'METRE') return undefined
        const prefix = val(u.Prefix)
        return typeof prefix === 'string' ? SI_PREFIX[prefix] : 'm'
      }
      const name = str(u.Name)?.toLowerCase()
      return name ? CONVERSION_UNITS[name] : undefined
    }
  }
  return 'm'
}

type PropValue = string | number | boolean | null | PropValue[] | { [k: string]: PropValue }

function simple(v: unknown): PropValue {
  const x = val(v)
  if (typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean') {
    return typeof x === 'number' && !Number.isFinite(x) ? null : x
  }
  // IfcBoolean / IfcLogical arrive as enum strings ".T." decoded to "T" / "F".
  return null
}

function fromEnum(x: PropValue): PropValue {
  if (x === 'T') return true
  if (x === 'F') return false
  return x
}

/** Reads property sets and quantity sets into plain dictionaries, each set read once however often it is used. */
class PropertyReader {
  private readonly sets = new Map<number, { name: string; props: Record<string, PropValue> } | null>()
  constructor(
    private readonly api: WebIfc.IfcAPI,
    private readonly model: number,
    private readonly singleValue: number,
  ) {}

  /** Reads every set in `ids` not read yet (batched). */
  load(ids: Iterable<number>): void {
    const todo = [...new Set(ids)].filter((id) => !this.sets.has(id))
    const lines = readLines(this.api, this.model, todo)
    const propIds: number[] = []
    for (const l of lines) propIds.push(...refs(l.HasProperties), ...refs(l.Quantities))
    const props = this.readProperties(propIds)
    // Complex properties nest further properties: read those too.
    const nested = [...props.values()].flatMap((p) => refs(p.HasProperties)).filter((id) => !props.has(id))
    for (const p of readLines(this.api, this.model, nested)) props.set(p.expressID, p)
    for (const id of todo) this.sets.set(id, null)
    for (const l of lines) {
      const name = str(l.Name) ?? `Set ${l.expressID}`
      const members = [...refs(l.HasProperties), ...refs(l.Quantities)]
      if (members.length === 0 && l.HasProperties === undefined && l.Quantities === undefined) continue
      this.sets.set(l.expressID, { name, props: this.members(members, props, 0) })
    }
  }

  /**
   * Single values (most of a model's lines) are read raw, skipping web-ifc's per-line objects (about 3x
   * faster); other property kinds go through GetLines.
   */
  private readProperties(ids: number[]): Map<number, Line> {
    const out = new Map<number, Line>()
    const typed: number[] = []
    for (let i = 0; i < ids.length; i += 4096) {
      for (const raw of this.api.GetRawLinesData(this.model, ids.slice(i, i + 4096))) {
        if (!raw) continue
        const args = raw.arguments as unknown[]
        if (raw.type !== this.singleValue || args.length < 3) {
          typed.push(raw.ID)
          continue
        }
        out.set(raw.ID, { expressID: raw.ID, type: raw.type, Name: args[0], NominalValue: this.rawValue(args[2]) })
      }
    }
    for (const p of readLines(this.api, this.model, typed)) out.set(p.expressID, p)
    return out
  }

  private readonly kinds = new Map<number, 'number' | 'boolean' | 'string'>()

  /** A raw typed value `{type: 2, typecode, value}` as the typed path gives it: numbers parsed by their IFC type. */
  private rawValue(arg: unknown): { value: unknown } | null {
    if (!arg || typeof arg !== 'object') return null
    const { typecode, value } = arg as { typecode?: number; value?: unknown }
    if (typeof typecode !== 'number') return { value }
    let kind = this.kinds.get(typecode)
    if (kind === undefined) {
      const name = this.api.GetNameFromTypeCode(typecode).toUpperCase()
      kind =
        name === 'IFCBOOLEAN' || name === 'IFCLOGICAL'
          ? 'boolean'
          : (name.endsWith('MEASURE') && name !== 'IFCDESCRIPTIVEMEASURE') ||
              ['IFCREAL', 'IFCINTEGER', 'IFCTIMESTAMP', 'IFCNUMERICMEASURE'].includes(name)
            ? 'number'
            : 'string'
      this.kinds.set(typecode, kind)
    }
    if (kind === 'number' && typeof value === 'string') return { value: Number(value) }
    return { value }
  }

  get(id: number): { name: string; props: Record<string, PropValue> } | undefined {
    return this.sets.get(id) ?? undefined
  }

  private members(ids: number[], props: Map<number, Line>, depth: number): Record<string, PropValue> {
    const out: Record<string, PropValue> = {}
    for (const id of ids) {
      const p = props.get(id)
      if (!p) continue
      const name = str(p.Name) ?? `Property ${id}`
      out[name] = this.value(p, props, depth)
    }
    return out
  }

  private value(p: Line, props: Map<number, Line>, depth: number): PropValue {
    if ('NominalValue' in p) return fromEnum(simple(p.NominalValue))
    if ('EnumerationValues' in p) {
      const v = Array.isArray(p.EnumerationValues) ? p.EnumerationValues.map((x) => fromEnum(simple(x))) : []
      return v.length === 1 ? v[0]! : v
    }
    if ('ListValues' in p) return Array.isArray(p.ListValues) ? p.ListValues.map(simple) : []
    if ('UpperBoundValue' in p || 'LowerBoundValue' in p) {
      return { lower: simple(p.LowerBoundValue), upper: simple(p.UpperBoundValue) }
    }
    if ('HasProperties' in p) return depth < 8 ? this.members(refs(p.HasProperties), props, depth + 1) : null
    // Quantities: IfcQuantityLength.LengthValue, AreaValue, VolumeValue, CountValue, WeightValue, TimeValue.
    for (const key of Object.keys(p)) if (key.endsWith('Value') && key !== 'Formula') return simple(p[key])
    return null
  }
}

function colorKey(c: WebIfc.Color): string {
  return `${c.x.toFixed(4)},${c.y.toFixed(4)},${c.z.toFixed(4)},${c.w.toFixed(4)}`
}

const r6 = (v: number): number => {
  const r = Math.round(v * 1e6) / 1e6
  return r === 0 ? 0 : r
}

interface MeshParts {
  pieces: { v: Float32Array; ix: Uint32Array; m: number[] }[]
  vertexCount: number
  faceCount: number
  material: RenderMaterial
}

function webIfc(): typeof WebIfc {
  // The Node (CommonJS) build; ESM resolution could pick the browser build.
  return require('web-ifc') as typeof WebIfc
}

async function openApi(W: typeof WebIfc): Promise<WebIfc.IfcAPI> {
  const a = new W.IfcAPI()
  const folder = dirname(require.resolve('web-ifc'))
  await a.Init((path) => join(folder, path), true)
  return a
}

/** Converts one IFC file. A fresh WASM instance per import, disposed at the end, so memory goes back. */
export async function ifcModel(bytes: IfcBytes, ctx: IfcContext): Promise<IfcModel> {
  const W = webIfc()
  const a = await openApi(W)
  let model = -1
  try {
    const settings = { COORDINATE_TO_ORIGIN: false }
    model =
      bytes instanceof Uint8Array
        ? a.OpenModel(bytes, settings)
        : a.OpenModelFromCallback((offset, size) => bytes.read(offset, Math.min(size, bytes.size - offset)), settings)
    if (model < 0) {
      throw new ImportError(
        'UNREADABLE_FILE',
        `${ctx.fileName} could not be read as IFC: its header names no schema web-ifc supports (IFC2X3, IFC4, IFC4X3)`,
      )
    }
    return await convert(a, W, model, ctx)
  } finally {
    if (model >= 0) a.CloseModel(model)
    a.Dispose()
  }
}

async function convert(a: WebIfc.IfcAPI, W: typeof WebIfc, model: number, ctx: IfcContext): Promise<IfcModel> {
  const { options, warnings } = ctx
  const schema = a.GetModelSchema(model)
  const fileUnits = lengthUnit(a, W, model)
  const scaled = fileUnits === undefined
  if (scaled) warnings.push('the file uses a length unit Speckle cannot name; geometry was converted to metres')
  const units: Units = fileUnits ?? 'm'
  options.onProgress?.({ phase: 'parse', done: 0 })

  // The spatial tree and aggregation: parent -> children, in file order.
  const children = new Map<number, number[]>()
  const hasParent = new Set<number>()
  const link = (parent: number | undefined, kids: number[]): void => {
    if (parent === undefined) return
    let list = children.get(parent)
    if (!list) children.set(parent, (list = []))
    for (const k of kids) {
      if (hasParent.has(k) || k === parent) continue
      hasParent.add(k)
      list.push(k)
    }
  }
  // Aggregation first, so a storey's parts come before what it merely contains.
  for (const r of readLines(a, model, idsOf(a, model, W.IFCRELAGGREGATES)))
    link(ref(r.RelatingObject), refs(r.RelatedObjects))
  for (const r of readLines(a, model, idsOf(a, model, W.IFCRELCONTAINEDINSPATIALSTRUCTURE))) {
    link(ref(r.RelatingStructure), refs(r.RelatedElements))
  }

  const typeOf = new Map<number, number>()
  for (const r of readLines(a, model, idsOf(a, model, W.IFCRELDEFINESBYTYPE))) {
    const t = ref(r.RelatingType)
    if (t !== undefined) for (const o of refs(r.RelatedObjects)) typeOf.set(o, t)
  }
  const psetsOf = new Map<number, number[]>()
  for (const r of readLines(a, model, idsOf(a, model, W.IFCRELDEFINESBYPROPERTIES))) {
    const sets = refs(r.RelatingPropertyDefinition)
    for (const o of refs(r.RelatedObjects)) {
      const list = psetsOf.get(o)
      if (list) list.push(...sets)
      else psetsOf.set(o, [...sets])
    }
  }
  await yieldToLoop()
  throwIfAborted(options.signal)

  // Geometry: the element types web-ifc's StreamAllMeshes covers, streamed in batches so an abort
  // and the event loop get through, and each WASM geometry freed as soon as it is copied.
  const skip = new Set([W.IFCOPENINGELEMENT, W.IFCSPACE, W.IFCOPENINGSTANDARDCASE])
  const elementIds: number[] = []
  for (const t of a.GetIfcEntityList(model)) {
    if (!skip.has(t) && a.IsIfcElement(t)) elementIds.push(...idsOf(a, model, t))
  }
  const meshesOf = new Map<number, Mesh[]>()
  const materials = new Map<string, RenderMaterial>()
  let triangles = 0
  let vertices = 0
  let meshCount = 0
  let done = 0
  for (let i = 0; i < elementIds.length; i += 256) {
    const batch = elementIds.slice(i, i + 256)
    a.StreamMeshes(
      model,
      batch,
      (flat) => {
        // Two passes: copy every placed geometry out of WASM (and free it), then fill arrays of the exact
        // size per colour, so no array grows by doubling and none is copied again.
        const parts = new Map<string, MeshParts>()
        const geoms = flat.geometries
        for (let g = 0; g < geoms.size(); g++) {
          const placed = geoms.get(g)
          const key = colorKey(placed.color)
          let part = parts.get(key)
          if (!part) {
            let material = materials.get(key)
            if (!material) {
              const c = placed.color
              material = renderMaterial({ name: `IFC colour ${key}`, color: [c.x, c.y, c.z], opacity: c.w })
              materials.set(key, material)
            }
            parts.set(key, (part = { pieces: [], vertexCount: 0, faceCount: 0, material }))
          }
          const geom = a.GetGeometry(model, placed.geometryExpressID)
          try {
            const v = a.GetVertexArray(geom.GetVertexData(), geom.GetVertexDataSize())
            const ix = a.GetIndexArray(geom.GetIndexData(), geom.GetIndexDataSize())
            part.pieces.push({ v, ix, m: placed.flatTransformation })
            part.vertexCount += Math.floor(v.length / 6)
            part.faceCount += Math.floor(ix.length / 3)
          } finally {
            geom.delete()
          }
        }
        const meshes: Mesh[] = []
        for (const part of parts.values()) {
          const out = new Array<number>(part.vertexCount * 3)
          const f = new Array<number>(part.faceCount * 4)
          let o = 0
          let fo = 0
          for (const { v, ix, m } of part.pieces) {
            const base = o / 3
            // Vertices are 6 floats (position, normal); the viewer computes its own normals.
            for (let k = 0; k + 5 < v.length; k += 6) {
              const x = v[k]!
              const y = v[k + 1]!
              const z = v[k + 2]!
              // web-ifc writes Y-up (x, z, -y); Speckle and IFC are Z-up: x = x', y = -z', z = y'.
              out[o++] = r6(m[0]! * x + m[4]! * y + m[8]! * z + m[12]!)
              out[o++] = r6(-(m[2]! * x + m[6]! * y + m[10]! * z + m[14]!))
              out[o++] = r6(m[1]! * x + m[5]! * y + m[9]! * z + m[13]!)
            }
            const n = Math.floor(v.length / 6)
            for (let k = 0; k + 2 < ix.length; k += 3) {
              const p = ix[k]!
              const q = ix[k + 1]!
              const r = ix[k + 2]!
              if (p >= n || q >= n || r >= n) continue
              f[fo++] = 3
              f[fo++] = base + p
              f[fo++] = base + q
              f[fo++] = base + r
            }
          }
          f.length = fo
          if (fo === 0) continue
          vertices += o / 3
          triangles += fo / 4
          meshes.push(new Mesh({ units, vertices: out, faces: f, renderMaterial: part.material }))
        }
        if (meshes.length > 0) {
          meshesOf.set(flat.expressID, meshes)
          meshCount += meshes.length
        }
      },
      scaled,
    )
    done += batch.length
    options.onProgress?.({ phase: 'geometry', done, total: elementIds.length })
    await yieldToLoop()
    throwIfAborted(options.signal)
  }

  // Which products end up in the tree: everything reachable from the project(s), then orphans with geometry.
  const projects = idsOf(a, model, W.IFCPROJECT)
  const inTree: number[] = []
  const seen = new Set<number>()
  const walk = (id: number): void => {
    if (seen.has(id)) return
    seen.add(id)
    inTree.push(id)
    for (const c of children.get(id) ?? []) walk(c)
  }
  for (const p of projects) walk(p)
  const orphans = [...meshesOf.keys()].filter((id) => !seen.has(id))
  for (const o of orphans) walk(o)
  if (orphans.length > 0) {
    warnings.push(
      `${orphans.length} element(s) with geometry are outside the spatial structure; they sit at the top level`,
    )
  }

  const props = new PropertyReader(a, model, W.IFCPROPERTYSINGLEVALUE)
  const typeLines = new Map<number, Line>()
  for (const t of readLines(a, model, [
    ...new Set(inTree.map((id) => typeOf.get(id)).filter((t) => t !== undefined)),
  ])) {
    typeLines.set(t.expressID, t)
  }
  props.load(inTree.flatMap((id) => psetsOf.get(id) ?? []))
  props.load([...typeLines.values()].flatMap((t) => refs(t.HasPropertySets)))
  options.onProgress?.({ phase: 'properties', done: inTree.length, total: inTree.length })
  await yieldToLoop()
  throwIfAborted(options.signal)

  const lines = new Map<number, Line>()
  for (const l of readLines(a, model, inTree)) lines.set(l.expressID, l)
  const typeNames = new Map<number, string>()
  const ifcTypeName = (code: number): string => {
    let n = typeNames.get(code)
    if (n === undefined) typeNames.set(code, (n = a.GetNameFromTypeCode(code).toUpperCase()))
    return n
  }
  const elevationScale = scaled ? linearScale(a, W, model) : 1
  let elements = 0
  const build = (id: number, onPath: Set<number>): Base | undefined => {
    const line = lines.get(id)
    if (!line || onPath.has(id)) return undefined
    onPath.add(id)
    const el = new Base()
    const globalId = str(line.GlobalId)
    el.name = str(line.Name) ?? null
    el.ifcType = ifcTypeName(line.type)
    if (globalId) {
      el.applicationId = globalId
      el.globalId = globalId
    }
    el.expressId = id
    const description = str(line.Description)
    if (description) el.description = description
    const objectType = str(line.ObjectType)
    if (objectType) el.objectType = objectType
    const longName = str(line.LongName)
    if (longName) el.longName = longName
    if (line.type === W.IFCBUILDINGSTOREY) {
      const e = val(line.Elevation)
      el.elevation = typeof e === 'number' ? e * elevationScale : null
    }
    const t = typeLines.get(typeOf.get(id) ?? -1)
    if (t) el.type = str(t.Name) ?? null
    const properties: Record<string, Record<string, PropValue>> = {}
    for (const s of psetsOf.get(id) ?? []) {
      const set = props.get(s)
      if (set) properties[set.name] = set.props
    }
    // Type property sets apply to every occurrence; the occurrence's own set of that name wins.
    for (const s of t ? refs(t.HasPropertySets) : []) {
      const set = props.get(s)
      if (set && !(set.name in properties)) properties[set.name] = set.props
    }
    if (Object.keys(properties).length > 0) el.properties = properties
    el.units = units
    const display = meshesOf.get(id)
    if (display) el['@displayValue'] = display
    const kids: Base[] = []
    for (const c of children.get(id) ?? []) {
      const k = build(c, onPath)
      if (k) kids.push(k)
    }
    if (kids.length > 0) el['@elements'] = kids
    onPath.delete(id)
    elements++
    return el
  }
  const roots: Base[] = []
  for (const id of [...projects, ...orphans]) {
    const el = build(id, new Set())
    if (el) roots.push(el)
  }
  options.onProgress?.({ phase: 'build', done: elements, total: elements })
  if (roots.length === 0 || (meshCount === 0 && elements <= projects.length)) {
    throw new ImportError('EMPTY_MODEL', `${ctx.fileName} holds no IFC project or elements to import`)
  }
  return {
    elements: roots,
    units,
    schema,
    stats: { elements, meshes: meshCount, triangles, vertices, materials: materials.size },
  }
}

/** Metres per project length unit, for elevations when geometry is scaled to metres. */
function linearScale(a: WebIfc.IfcAPI, W: typeof WebIfc, model: number): number {
  for (const ua of readLines(a, model, idsOf(a, model, W.IFCUNITASSIGNMENT))) {
    for (const u of readLines(a, model, refs(ua.Units))) {
      if (val(u.UnitType) !== 'LENGTHUNIT') continue
      const factor = ref(u.ConversionFactor)
      if (factor === undefined) return 1
      const m = readLines(a, model, [factor])[0]
      const v = m ? val(m.ValueComponent) : undefined
      return typeof v === 'number' ? v : 1
    }
  }
  return 1
}
