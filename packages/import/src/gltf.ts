/**
 * glTF 2.0, as .gltf (JSON with external or data: buffers) and .glb (JSON and BIN chunks).
 * The default scene's node tree becomes nested elements; each node's meshes are baked to world
 * coordinates (node matrices / TRS multiplied down the tree) and turned from glTF's Y-up to Speckle's
 * Z-up. Materials keep baseColorFactor, metallic, roughness and emissive factors; textures are not
 * imported. Units are metres, as the glTF spec says.
 */
import type { Base, Mesh } from '@truss/core'
import { ImportError, throwIfAborted } from './errors.js'
import { MeshBuilder, element, renderMaterial, yieldToLoop, type RenderMaterial } from './speckle.js'
import type { ImportOptions, SidecarResolver } from './types.js'

type Json = Record<string, unknown>
type Mat4 = Float64Array

const GLB_MAGIC = 0x46546c67 // "glTF"
const CHUNK_JSON = 0x4e4f534a
const CHUNK_BIN = 0x004e4942

/** Extensions that change how vertex data is stored: without a decoder the geometry cannot be read. */
const GEOMETRY_EXTENSIONS = ['KHR_draco_mesh_compression', 'EXT_meshopt_compression', 'KHR_meshopt_compression']
/** Required extensions that only affect looks; the geometry imports without them. */
const COSMETIC_PREFIXES = ['KHR_materials_', 'KHR_texture_', 'EXT_texture_', 'KHR_lights_', 'KHR_mesh_quantization']

const COMPONENTS: Record<string, number> = { SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4, MAT2: 4, MAT3: 9, MAT4: 16 }

interface GltfDoc {
  json: Json
  buffers: (Uint8Array | undefined)[]
}

export interface GltfContext {
  fileName: string
  options: ImportOptions
  sidecar: SidecarResolver
  canResolveSidecars: boolean
  warnings: string[]
}

function bad(ctx: GltfContext, why: string): never {
  throw new ImportError('UNREADABLE_FILE', `${ctx.fileName} is not a valid glTF file: ${why}`)
}

function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : []
}

function obj(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {}
}

function nums(value: unknown, length: number): number[] | undefined {
  if (!Array.isArray(value) || value.length !== length) return undefined
  return value.every((v) => typeof v === 'number' && Number.isFinite(v)) ? (value as number[]) : undefined
}

/** Splits a .glb into its JSON and its BIN chunk. */
export function splitGlb(bytes: Uint8Array, ctx: GltfContext): { json: Json; bin: Uint8Array | undefined } {
  if (bytes.length < 20) bad(ctx, 'the GLB header is truncated')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== GLB_MAGIC) bad(ctx, 'no GLB magic "glTF"')
  const version = view.getUint32(4, true)
  if (version !== 2) {
    throw new ImportError(
      'UNSUPPORTED_FEATURE',
      `${ctx.fileName} is GLB version ${version}; only glTF 2.0 is supported`,
    )
  }
  const total = view.getUint32(8, true)
  if (total > bytes.length) bad(ctx, `the GLB declares ${total} bytes but has ${bytes.length} (truncated?)`)
  let offset = 12
  let json: Json | undefined
  let bin: Uint8Array | undefined
  while (offset + 8 <= total) {
    const length = view.getUint32(offset, true)
    const type = view.getUint32(offset + 4, true)
    const start = offset + 8
    if (start + length > total) bad(ctx, 'a GLB chunk runs past the end of the file (truncated?)')
    const data = bytes.subarray(start, start + length)
    if (type === CHUNK_JSON && json === undefined) json = parseJson(data, ctx)
    else if (type === CHUNK_BIN && bin === undefined) bin = data
    offset = start + length + ((4 - (length % 4)) % 4)
  }
  if (!json) bad(ctx, 'the GLB has no JSON chunk')
  return { json, bin }
}

export function parseJson(bytes: Uint8Array, ctx: GltfContext): Json {
  let text = new TextDecoder('utf-8').decode(bytes)
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    bad(ctx, `its JSON does not parse (${(err as Error).message})`)
  }
  const json = obj(parsed)
  const asset = obj(json.asset)
  if (typeof asset.version !== 'string') bad(ctx, 'it has no asset.version')
  if (!asset.version.startsWith('2')) {
    throw new ImportError(
      'UNSUPPORTED_FEATURE',
      `${ctx.fileName} is glTF ${asset.version}; only glTF 2.0 is supported (re-export it as glTF 2.0)`,
    )
  }
  return json
}

function decodeDataUri(uri: string, ctx: GltfContext): Uint8Array {
  const comma = uri.indexOf(',')
  if (comma < 0 || !uri.slice(0, comma).endsWith(';base64')) bad(ctx, 'a data: URI that is not base64')
  return Buffer.from(uri.slice(comma + 1), 'base64')
}

async function loadBuffers(json: Json, bin: Uint8Array | undefined, ctx: GltfContext): Promise<GltfDoc> {
  const buffers: (Uint8Array | undefined)[] = []
  const list = arr(json.buffers)
  for (let i = 0; i < list.length; i++) {
    const b = obj(list[i])
    const byteLength = typeof b.byteLength === 'number' ? b.byteLength : 0
    let data: Uint8Array | undefined
    if (typeof b.uri !== 'string') {
      if (i === 0 && bin) data = bin
      else ctx.warnings.push(`buffer ${i} has no data; the meshes that use it were skipped`)
    } else if (b.uri.startsWith('data:')) {
      data = decodeDataUri(b.uri, ctx)
    } else {
      const name = decodeURIComponent(b.uri)
      data = await ctx.sidecar(name)
      if (!data) {
        ctx.warnings.push(
          ctx.canResolveSidecars
            ? `the buffer file ${name} named by ${ctx.fileName} was not found next to it; the meshes that use it were skipped`
            : `the buffer file ${name} named by ${ctx.fileName} was not uploaded with it; the meshes that use it were skipped`,
        )
      }
    }
    if (data && data.length < byteLength) {
      ctx.warnings.push(
        `buffer ${i} has ${data.length} bytes, less than the ${byteLength} declared; meshes reading past its end were skipped`,
      )
    }
    buffers.push(data)
  }
  return { json, buffers }
}

class MissingData extends Error {}

/** An accessor's values as floats (normalized integers scaled to 0..1 / -1..1), tightly packed. */
function readAccessor(doc: GltfDoc, index: unknown, ctx: GltfContext): { values: Float64Array; components: number } {
  const accessors = arr(doc.json.accessors)
  if (typeof index !== 'number' || !accessors[index]) bad(ctx, `accessor ${String(index)} does not exist`)
  const a = obj(accessors[index])
  const components = COMPONENTS[String(a.type)]
  const count = a.count
  if (!components || typeof count !== 'number' || count < 0 || !Number.isInteger(count)) {
    bad(ctx, `accessor ${index} has a bad type or count`)
  }
  const values = new Float64Array(count * components)
  const componentType = Number(a.componentType)
  const size = { 5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4 }[componentType]
  if (!size) bad(ctx, `accessor ${index} has an unknown componentType ${componentType}`)
  const normalized = a.normalized === true
  const readInto = (
    target: Float64Array,
    viewIndex: unknown,
    byteOffset: number,
    n: number,
    comps: number,
    type: number,
    norm: boolean,
  ): void => {
    const views = arr(doc.json.bufferViews)
    if (typeof viewIndex !== 'number' || !views[viewIndex]) bad(ctx, `bufferView ${String(viewIndex)} does not exist`)
    const bv = obj(views[viewIndex])
    const buffer = doc.buffers[Number(bv.buffer)]
    if (!buffer) throw new MissingData()
    const elemSize = { 5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4 }[type]!
    const stride = typeof bv.byteStride === 'number' && bv.byteStride > 0 ? bv.byteStride : elemSize * comps
    const base = (typeof bv.byteOffset === 'number' ? bv.byteOffset : 0) + byteOffset
    const last = n === 0 ? base : base + (n - 1) * stride + elemSize * comps
    const viewEnd = (typeof bv.byteOffset === 'number' ? bv.byteOffset : 0) + Number(bv.byteLength ?? 0)
    if (last > buffer.length || last > viewEnd) throw new MissingData()
    const dv = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < comps; c++) {
        const o = base + i * stride + c * elemSize
        let v: number
        switch (type) {
          case 5126:
            v = dv.getFloat32(o, true)
            break
          case 5125:
            v = dv.getUint32(o, true)
            break
          case 5123:
            v = dv.getUint16(o, true)
            if (norm) v /= 65535
            break
          case 5122:
            v = dv.getInt16(o, true)
            if (norm) v = Math.max(v / 32767, -1)
            break
          case 5121:
            v = dv.getUint8(o)
            if (norm) v /= 255
            break
          default:
            v = dv.getInt8(o)
            if (norm) v = Math.max(v / 127, -1)
        }
        target[i * comps + c] = v
      }
    }
  }
  if (a.bufferView !== undefined) {
    readInto(values, a.bufferView, Number(a.byteOffset ?? 0), count, components, componentType, normalized)
  }
  const sparse = obj(a.sparse)
  if (typeof sparse.count === 'number' && sparse.count > 0) {
    const n = sparse.count
    const si = obj(sparse.indices)
    const sv = obj(sparse.values)
    const idx = new Float64Array(n)
    readInto(idx, si.bufferView, Number(si.byteOffset ?? 0), n, 1, Number(si.componentType), false)
    const vals = new Float64Array(n * components)
    readInto(vals, sv.bufferView, Number(sv.byteOffset ?? 0), n, components, componentType, normalized)
    for (let i = 0; i < n; i++) {
      const at = idx[i]!
      if (at >= count) bad(ctx, `accessor ${index} has a sparse index past its count`)
      values.set(vals.subarray(i * components, (i + 1) * components), at * components)
    }
  }
  return { values, components }
}

/** Column-major a × b. */
function multiply(a: Mat4, b: Mat4): Mat4 {
  const out = new Float64Array(16)
  for (let col = 0; col < 4; col++) {
    for (let row = 0; row < 4; row++) {
      let s = 0
      for (let k = 0; k < 4; k++) s += a[k * 4 + row]! * b[col * 4 + k]!
      out[col * 4 + row] = s
    }
  }
  return out
}

/** A node's local matrix: `matrix`, else translation × rotation × scale. */
export function localMatrix(node: Json): Mat4 {
  const matrix = nums(node.matrix, 16)
  if (matrix) return Float64Array.from(matrix)
  const [tx, ty, tz] = nums(node.translation, 3) ?? [0, 0, 0]
  const [qx, qy, qz, qw] = nums(node.rotation, 4) ?? [0, 0, 0, 1]
  const [sx, sy, sz] = nums(node.scale, 3) ?? [1, 1, 1]
  const m = new Float64Array(16)
  m[0] = (1 - 2 * (qy * qy + qz * qz)) * sx
  m[1] = 2 * (qx * qy + qz * qw) * sx
  m[2] = 2 * (qx * qz - qy * qw) * sx
  m[4] = 2 * (qx * qy - qz * qw) * sy
  m[5] = (1 - 2 * (qx * qx + qz * qz)) * sy
  m[6] = 2 * (qy * qz + qx * qw) * sy
  m[8] = 2 * (qx * qz + qy * qw) * sz
  m[9] = 2 * (qy * qz - qx * qw) * sz
  m[10] = (1 - 2 * (qx * qx + qy * qy)) * sz
  m[12] = tx!
  m[13] = ty!
  m[14] = tz!
  m[15] = 1
  return m
}

function materialsOf(doc: GltfDoc, ctx: GltfContext): RenderMaterial[] {
  let textured = 0
  const out = arr(doc.json.materials).map((raw, i) => {
    const m = obj(raw)
    const pbr = obj(m.pbrMetallicRoughness)
    const [r, g, b, a] = nums(pbr.baseColorFactor, 4) ?? [1, 1, 1, 1]
    if (pbr.baseColorTexture || pbr.metallicRoughnessTexture || m.normalTexture || m.emissiveTexture) textured++
    const emissive = nums(m.emissiveFactor, 3) as [number, number, number] | undefined
    return renderMaterial({
      name: typeof m.name === 'string' ? m.name : `Material ${i}`,
      color: [r!, g!, b!],
      opacity: m.alphaMode === 'BLEND' ? a : 1,
      emissive,
      metalness: typeof pbr.metallicFactor === 'number' ? pbr.metallicFactor : 1,
      roughness: typeof pbr.roughnessFactor === 'number' ? pbr.roughnessFactor : 1,
    })
  })
  if (textured > 0) {
    ctx.warnings.push(`textures are not imported: ${textured} material(s) use them; their colour factors are kept`)
  }
  return out
}

/** Triangle corner indices of a primitive, from its indices (or 0..n-1) and its mode. */
function triangleIndices(mode: number, idx: ArrayLike<number>): number[] {
  const out: number[] = []
  if (mode === 4) for (let i = 0; i + 2 < idx.length; i += 3) out.push(idx[i]!, idx[i + 1]!, idx[i + 2]!)
  else if (mode === 5) {
    for (let i = 0; i + 2 < idx.length; i++) {
      if (i % 2 === 0) out.push(idx[i]!, idx[i + 1]!, idx[i + 2]!)
      else out.push(idx[i + 1]!, idx[i]!, idx[i + 2]!)
    }
  } else if (mode === 6) for (let i = 1; i + 1 < idx.length; i++) out.push(idx[0]!, idx[i]!, idx[i + 1]!)
  return out
}

export async function gltfElements(
  bytes: Uint8Array,
  kind: 'gltf' | 'glb',
  ctx: GltfContext,
): Promise<{ elements: Base[]; materials: number }> {
  const { json, bin } = kind === 'glb' ? splitGlb(bytes, ctx) : { json: parseJson(bytes, ctx), bin: undefined }
  const required = arr(json.extensionsRequired).map(String)
  const blocking = required.filter((e) => GEOMETRY_EXTENSIONS.includes(e))
  if (blocking.length > 0) {
    throw new ImportError(
      'UNSUPPORTED_FEATURE',
      `${ctx.fileName} uses compressed geometry (${blocking.join(', ')}), which Truss cannot decode; export it without mesh compression`,
    )
  }
  const unknown = required.filter((e) => !COSMETIC_PREFIXES.some((p) => e.startsWith(p)))
  if (unknown.length > 0) ctx.warnings.push(`required extensions ignored: ${unknown.join(', ')}`)
  const doc = await loadBuffers(json, bin, ctx)
  const materials = materialsOf(doc, ctx)
  const nodes = arr(json.nodes).map(obj)
  const meshes = arr(json.meshes).map(obj)
  const scenes = arr(json.scenes).map(obj)
  let roots: number[]
  if (scenes.length > 0) {
    const sceneIndex = typeof json.scene === 'number' && scenes[json.scene] ? json.scene : 0
    if (scenes.length > 1) ctx.warnings.push(`only scene ${sceneIndex} of ${scenes.length} was imported`)
    roots = arr(scenes[sceneIndex]!.nodes).filter((n): n is number => typeof n === 'number')
  } else {
    const children = new Set(nodes.flatMap((n) => arr(n.children)))
    roots = nodes.map((_, i) => i).filter((i) => !children.has(i))
  }
  const skippedModes = new Set<number>()
  let missing = 0
  let done = 0
  const onPath = new Set<number>()
  // Y-up (glTF) to Z-up (Speckle): x stays, y becomes -z, z becomes y.
  const toZUp = new Float64Array([1, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 0, 0, 1])

  const primitiveMeshes = (meshIndex: number, world: Mat4): Mesh[] => {
    const out: Mesh[] = []
    const mesh = meshes[meshIndex]
    if (!mesh) bad(ctx, `mesh ${meshIndex} does not exist`)
    for (const rawPrim of arr(mesh.primitives)) {
      const prim = obj(rawPrim)
      const mode = typeof prim.mode === 'number' ? prim.mode : 4
      if (mode !== 4 && mode !== 5 && mode !== 6) {
        skippedModes.add(mode)
        continue
      }
      const attrs = obj(prim.attributes)
      if (attrs.POSITION === undefined) continue
      let positions: Float64Array
      let idx: ArrayLike<number>
      try {
        const p = readAccessor(doc, attrs.POSITION, ctx)
        if (p.components !== 3) bad(ctx, 'POSITION is not VEC3')
        positions = p.values
        const vertexCount = positions.length / 3
        if (prim.indices !== undefined) {
          idx = readAccessor(doc, prim.indices, ctx).values
          for (let i = 0; i < idx.length; i++) {
            if (idx[i]! >= vertexCount) bad(ctx, `mesh ${meshIndex} has an index past its ${vertexCount} vertices`)
          }
        } else idx = Array.from({ length: vertexCount }, (_, i) => i)
      } catch (err) {
        if (err instanceof MissingData) {
          missing++
          continue
        }
        throw err
      }
      const builder = new MeshBuilder()
      const m = world
      for (let i = 0; i < positions.length; i += 3) {
        const x = positions[i]!
        const y = positions[i + 1]!
        const z = positions[i + 2]!
        builder.addVertex(
          m[0]! * x + m[4]! * y + m[8]! * z + m[12]!,
          m[1]! * x + m[5]! * y + m[9]! * z + m[13]!,
          m[2]! * x + m[6]! * y + m[10]! * z + m[14]!,
        )
      }
      // A mirroring transform (negative determinant) flips winding; swap two corners to keep faces outward.
      const det =
        m[0]! * (m[5]! * m[10]! - m[6]! * m[9]!) -
        m[4]! * (m[1]! * m[10]! - m[2]! * m[9]!) +
        m[8]! * (m[1]! * m[6]! - m[2]! * m[5]!)
      const tris = triangleIndices(mode, idx)
      for (let i = 0; i < tris.length; i += 3) {
        if (det < 0) builder.addTriangle(tris[i]!, tris[i + 2]!, tris[i + 1]!)
        else builder.addTriangle(tris[i]!, tris[i + 1]!, tris[i + 2]!)
      }
      const material = typeof prim.material === 'number' ? materials[prim.material] : undefined
      if (builder.triangles > 0) out.push(builder.toMesh('m', material))
    }
    return out
  }

  const visit = async (index: number, parent: Mat4): Promise<Base | undefined> => {
    const node = nodes[index]
    if (!node) bad(ctx, `node ${index} does not exist`)
    if (onPath.has(index)) bad(ctx, `node ${index} is its own ancestor`)
    onPath.add(index)
    const world = multiply(parent, localMatrix(node))
    const display = typeof node.mesh === 'number' ? primitiveMeshes(node.mesh, world) : []
    if (++done % 256 === 0) {
      ctx.options.onProgress?.({ phase: 'geometry', done, total: nodes.length })
      await yieldToLoop()
      throwIfAborted(ctx.options.signal)
    }
    const children: Base[] = []
    for (const c of arr(node.children)) {
      if (typeof c !== 'number') continue
      const child = await visit(c, world)
      if (child) children.push(child)
    }
    onPath.delete(index)
    if (display.length === 0 && children.length === 0) return undefined
    const name = typeof node.name === 'string' && node.name ? node.name : `Node ${index}`
    return element({ name, gltfNode: index }, display, children)
  }

  const elements: Base[] = []
  for (const r of roots) {
    const el = await visit(r, toZUp)
    if (el) elements.push(el)
  }
  if (skippedModes.size > 0) {
    ctx.warnings.push(`primitives drawn as points or lines (modes ${[...skippedModes].join(', ')}) were skipped`)
  }
  if (missing > 0) ctx.warnings.push(`${missing} primitive(s) were skipped because their buffer data is missing`)
  return { elements, materials: materials.length }
}
