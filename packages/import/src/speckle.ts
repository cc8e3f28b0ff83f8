/**
 * The Speckle shapes every converter writes, laid out as Speckle's own importers do so `@speckle/viewer`
 * renders them: a root `Collection` named after the file with `@elements`, elements (`Base`) carrying
 * `@displayValue` meshes and `@elements` children, meshes carrying an inline `renderMaterial`.
 */
import { Base, Collection, Mesh, registerType, type Units } from '@truss/core'

export class RenderMaterial extends Base {
  static override readonly speckleType = 'Objects.Other.RenderMaterial'
  declare name: string
  /** ARGB as a signed 32-bit integer, as .NET's Color.ToArgb() writes it. */
  declare diffuse: number
  declare opacity: number
  declare emissive: number
  declare metalness: number
  declare roughness: number
}
registerType(RenderMaterial)

const clamp01 = (v: number): number => (v > 1 ? 1 : v < 0 || Number.isNaN(v) ? 0 : v)
const byte = (v: number): number => Math.round(clamp01(v) * 255)

/** Colour channels in 0..1 to a signed ARGB integer (Speckle's `diffuse`, `emissive`, mesh `colors`). */
export function argb(r: number, g: number, b: number, a = 1): number {
  return (byte(a) << 24) | (byte(r) << 16) | (byte(g) << 8) | byte(b) | 0
}

export interface MaterialInput {
  name: string
  /** Diffuse r, g, b in 0..1. */
  color: readonly [number, number, number]
  opacity?: number
  emissive?: readonly [number, number, number]
  metalness?: number
  roughness?: number
}

export function renderMaterial(m: MaterialInput): RenderMaterial {
  return new RenderMaterial({
    name: m.name,
    diffuse: argb(m.color[0], m.color[1], m.color[2], 1),
    opacity: round(clamp01(m.opacity ?? 1), 1e4),
    emissive: m.emissive ? argb(m.emissive[0], m.emissive[1], m.emissive[2], 1) : argb(0, 0, 0, 1),
    metalness: round(clamp01(m.metalness ?? 0), 1e4),
    roughness: round(clamp01(m.roughness ?? 1), 1e4),
  })
}

/** Rounds to 1/scale; values from float32 sources carry noise past the sixth decimal. */
export function round(v: number, scale = 1e6): number {
  const r = Math.round(v * scale) / scale
  return r === 0 ? 0 : r
}

/** Accumulates one mesh: flat vertices and Speckle faces (`n, i0 .. in-1`), with optional ARGB colours. */
export class MeshBuilder {
  readonly vertices: number[] = []
  readonly faces: number[] = []
  colors: number[] | undefined
  triangles = 0

  get vertexCount(): number {
    return this.vertices.length / 3
  }

  addVertex(x: number, y: number, z: number): number {
    this.vertices.push(round(x), round(y), round(z))
    return this.vertices.length / 3 - 1
  }

  addTriangle(a: number, b: number, c: number): void {
    this.faces.push(3, a, b, c)
    this.triangles++
  }

  /** A polygon of n >= 3 local vertex indices, kept as one n-gon face (the viewer triangulates it). */
  addPolygon(indices: readonly number[]): void {
    if (indices.length < 3) return
    this.faces.push(indices.length, ...indices)
    this.triangles += indices.length - 2
  }

  toMesh(units: Units, material?: RenderMaterial, applicationId?: string): Mesh {
    const mesh = new Mesh({ units, vertices: this.vertices, faces: this.faces })
    if (this.colors && this.colors.length === this.vertices.length / 3) mesh.colors = this.colors
    if (material) mesh.renderMaterial = material
    if (applicationId) mesh.applicationId = applicationId
    return mesh
  }
}

/** The root every import returns: a Collection named after the file. */
export function rootCollection(name: string, elements: Base[], extra: Record<string, unknown> = {}): Collection {
  const root = new Collection({ name, collectionType: 'File', ...extra })
  root['@elements'] = elements
  return root
}

/** A plain element with a name, display meshes and children, leaving out what it does not have. */
export function element(props: Record<string, unknown>, displayValue: Mesh[], children: Base[] = []): Base {
  const el = new Base(props)
  if (displayValue.length > 0) el['@displayValue'] = displayValue
  if (children.length > 0) el['@elements'] = children
  return el
}

/** Yields to the event loop so a long parse lets other work (and an abort) through. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
