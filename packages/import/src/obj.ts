/**
 * Wavefront OBJ with MTL materials. One element per group name (`g`, or `o` where there is no `g`),
 * one mesh per material used in that group. Positions only: texture coordinates and normals are read
 * past (textures are not imported; the viewer computes normals). `v x y z r g b` colours become mesh
 * `colors`. Indices may be negative (relative to the vertices read so far), as the format allows.
 */
import type { Base, Units } from '@truss/core'
import { ImportError, throwIfAborted } from './errors.js'
import { MeshBuilder, element, renderMaterial, yieldToLoop, argb, type RenderMaterial } from './speckle.js'
import { lines, looksBinary } from './text.js'
import type { ImportOptions } from './types.js'

export interface MtlMaterial {
  name: string
  kd: [number, number, number]
  opacity: number
  ke?: [number, number, number]
  /** A texture map statement (map_Kd, bump, ...) was present: it is not imported. */
  textured: boolean
}

/** Parses an MTL file into its materials by name (diffuse Kd, opacity d or 1 - Tr, emissive Ke). */
export function parseMtl(bytes: Uint8Array): Map<string, MtlMaterial> {
  const out = new Map<string, MtlMaterial>()
  let m: MtlMaterial | undefined
  const rgb = (parts: string[]): [number, number, number] | undefined => {
    const v = parts.slice(1, 4).map(Number)
    if (v.length === 0 || !v.every(Number.isFinite)) return undefined
    return [v[0]!, v[1] ?? v[0]!, v[2] ?? v[0]!]
  }
  for (const raw of lines(bytes)) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const parts = line.split(/\s+/)
    const key = parts[0]!.toLowerCase()
    if (key === 'newmtl') {
      m = { name: line.slice(6).trim(), kd: [0.8, 0.8, 0.8], opacity: 1, textured: false }
      out.set(m.name, m)
      continue
    }
    if (!m) continue
    if (key === 'kd') m.kd = rgb(parts) ?? m.kd
    else if (key === 'ke') m.ke = rgb(parts)
    else if (key === 'd' && Number.isFinite(Number(parts[1]))) m.opacity = Number(parts[1])
    else if (key === 'tr' && Number.isFinite(Number(parts[1]))) m.opacity = 1 - Number(parts[1])
    else if (key.startsWith('map_') || key === 'bump' || key === 'disp' || key === 'decal') m.textured = true
  }
  return out
}

/** A material's RenderMaterial (created once, shared by every mesh that uses it). */
export function mtlRenderMaterial(m: MtlMaterial): RenderMaterial {
  return renderMaterial({ name: m.name, color: m.kd, opacity: m.opacity, emissive: m.ke })
}

interface Part {
  material: string | undefined
  mesh: MeshBuilder
  /** Global vertex index -> this mesh's vertex index. */
  local: Map<number, number>
}

interface Group {
  name: string
  parts: Map<string, Part>
}

export interface ObjModel {
  mtllibs: string[]
  groups: Group[]
  /** Materials named by `usemtl`, in first-use order. */
  usedMaterials: string[]
  positions: number
  skipped: { lines: number; points: number }
}

const NO_MATERIAL = '\u0000none'

export async function parseObj(bytes: Uint8Array, options: ImportOptions, fileName: string): Promise<ObjModel> {
  if (looksBinary(bytes)) throw new ImportError('UNREADABLE_FILE', `${fileName} is not a text OBJ file`)
  const pos: number[] = []
  const col: number[] = []
  let hasColors = false
  const groups = new Map<string, Group>()
  const used = new Set<string>()
  const mtllibs: string[] = []
  const skipped = { lines: 0, points: 0 }
  let groupName = ''
  let sawG = false
  let material: string | undefined
  let lineNo = 0
  let group: Group | undefined
  const fail = (why: string): never => {
    throw new ImportError('UNREADABLE_FILE', `${fileName} is not a valid OBJ (line ${lineNo}): ${why}`)
  }
  const currentPart = (): Part => {
    group ??= groups.get(groupName)
    if (!group) {
      group = { name: groupName, parts: new Map() }
      groups.set(groupName, group)
    }
    const key = material ?? NO_MATERIAL
    let part = group.parts.get(key)
    if (!part) {
      part = { material, mesh: new MeshBuilder(), local: new Map() }
      group.parts.set(key, part)
    }
    return part
  }
  let part: Part | undefined
  const corner: number[] = []
  for (const raw of lines(bytes)) {
    lineNo++
    const line = raw.trim()
    if (line === '' || line.charCodeAt(0) === 35 /* # */) continue
    const space = line.search(/\s/)
    const word = space < 0 ? line : line.slice(0, space)
    const rest = space < 0 ? '' : line.slice(space + 1).trim()
    switch (word) {
      case 'v': {
        const p = rest.split(/\s+/)
        const x = Number(p[0])
        const y = Number(p[1])
        const z = Number(p[2])
        if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(z)) fail(`bad vertex "${line.slice(0, 60)}"`)
        pos.push(x, y, z)
        if (p.length >= 6) {
          hasColors = true
          col.push(argb(Number(p[3]), Number(p[4]), Number(p[5])))
        } else col.push(argb(1, 1, 1))
        break
      }
      case 'f': {
        const p = rest.split(/\s+/)
        if (p.length < 3) fail('a face with fewer than 3 vertices')
        part ??= currentPart()
        const count = pos.length / 3
        corner.length = 0
        for (const ref of p) {
          const slash = ref.indexOf('/')
          let i = Number(slash < 0 ? ref : ref.slice(0, slash))
          if (!Number.isInteger(i) || i === 0) fail(`bad face index "${ref}"`)
          i = i < 0 ? count + i : i - 1
          if (i < 0 || i >= count) fail(`face index ${ref} refers to a vertex not defined yet (${count} so far)`)
          let local = part.local.get(i)
          if (local === undefined) {
            local = part.mesh.addVertex(pos[i * 3]!, pos[i * 3 + 1]!, pos[i * 3 + 2]!)
            part.local.set(i, local)
            if (hasColors) (part.mesh.colors ??= []).push(col[i]!)
          }
          corner.push(local)
        }
        part.mesh.addPolygon(corner)
        break
      }
      case 'g':
        sawG = true
        groupName = rest
        group = undefined
        part = undefined
        break
      case 'o':
        if (!sawG) {
          groupName = rest
          group = undefined
          part = undefined
        }
        break
      case 'usemtl':
        material = rest || undefined
        if (material) used.add(material)
        part = undefined
        break
      case 'mtllib':
        if (rest) mtllibs.push(rest)
        break
      case 'l':
        skipped.lines++
        break
      case 'p':
        skipped.points++
        break
      case 'vt':
      case 'vn':
      case 'vp':
      case 's':
        break
      default:
        // Free-form curves, surfaces and vendor statements are not geometry we import.
        break
    }
    if ((lineNo & 0x3ffff) === 0) {
      options.onProgress?.({ phase: 'parse', done: lineNo })
      await yieldToLoop()
      throwIfAborted(options.signal)
    }
  }
  // Colours must cover every vertex of a mesh: a mesh begun before the first coloured vertex has none.
  for (const g of groups.values()) {
    for (const p of g.parts.values())
      if (p.mesh.colors && p.mesh.colors.length !== p.mesh.vertexCount) p.mesh.colors = undefined
  }
  return { mtllibs, groups: [...groups.values()], usedMaterials: [...used], positions: pos.length / 3, skipped }
}

export function objElements(model: ObjModel, materials: ReadonlyMap<string, RenderMaterial>, units: Units): Base[] {
  const out: Base[] = []
  for (const g of model.groups) {
    const meshes = [...g.parts.values()]
      .filter((p) => p.mesh.triangles > 0)
      .map((p) => p.mesh.toMesh(units, p.material ? materials.get(p.material) : undefined))
    if (meshes.length > 0) out.push(element({ name: g.name || 'default' }, meshes))
  }
  return out
}
