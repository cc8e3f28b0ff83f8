/**
 * STL, ASCII and binary, told apart by content: a binary file is exactly 84 + 50 × n bytes for the n its
 * header declares (many binary files begin with "solid" too, so the word alone decides nothing).
 * Vertices shared by facets are merged (exact coordinates), so a mesh holds each corner once.
 */
import type { Base, Units } from '@truss/core'
import { ImportError, throwIfAborted } from './errors.js'
import { MeshBuilder, element, yieldToLoop } from './speckle.js'
import { decodeLine, lines, looksBinary } from './text.js'
import type { ImportOptions } from './types.js'

export interface StlSolid {
  name: string
  mesh: MeshBuilder
}

export function isBinaryStl(bytes: Uint8Array): boolean {
  if (bytes.length < 84) return false
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(80, true)
  return bytes.length === 84 + 50 * count
}

class VertexMerger {
  private readonly index = new Map<string, number>()
  constructor(readonly mesh: MeshBuilder) {}
  vertex(x: number, y: number, z: number): number {
    const key = `${x},${y},${z}`
    let i = this.index.get(key)
    if (i === undefined) {
      i = this.mesh.addVertex(x, y, z)
      this.index.set(key, i)
    }
    return i
  }
}

async function parseBinary(bytes: Uint8Array, options: ImportOptions, fileName: string): Promise<StlSolid[]> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const count = view.getUint32(80, true)
  let name = decodeLine(bytes, 0, 80)
    .replace(/\0[\s\S]*$/, '')
    .trim()
  if (name.toLowerCase().startsWith('solid')) name = name.slice(5).trim()
  const mesh = new MeshBuilder()
  const merger = new VertexMerger(mesh)
  for (let t = 0; t < count; t++) {
    const o = 84 + t * 50 + 12
    const idx = [0, 1, 2].map((k) =>
      merger.vertex(
        view.getFloat32(o + k * 12, true),
        view.getFloat32(o + k * 12 + 4, true),
        view.getFloat32(o + k * 12 + 8, true),
      ),
    )
    mesh.addTriangle(idx[0]!, idx[1]!, idx[2]!)
    if ((t & 0xffff) === 0xffff) {
      options.onProgress?.({ phase: 'parse', done: t + 1, total: count })
      await yieldToLoop()
      throwIfAborted(options.signal)
    }
  }
  return [{ name: name || fileName.replace(/\.stl$/i, ''), mesh }]
}

async function parseAscii(bytes: Uint8Array, options: ImportOptions, fileName: string): Promise<StlSolid[]> {
  const solids: StlSolid[] = []
  let current: { name: string; mesh: MeshBuilder; merger: VertexMerger } | undefined
  let corners: number[] = []
  let lineNo = 0
  const fail = (why: string): never => {
    throw new ImportError('UNREADABLE_FILE', `${fileName} is not a valid ASCII STL (line ${lineNo}): ${why}`)
  }
  for (const raw of lines(bytes)) {
    lineNo++
    const line = raw.trim()
    if (line === '') continue
    const space = line.search(/\s/)
    const word = (space < 0 ? line : line.slice(0, space)).toLowerCase()
    switch (word) {
      case 'solid': {
        if (current) fail('a solid starts before the previous one ended')
        const mesh = new MeshBuilder()
        current = { name: space < 0 ? '' : line.slice(space).trim(), mesh, merger: new VertexMerger(mesh) }
        break
      }
      case 'vertex': {
        if (!current) fail('a vertex outside a solid')
        const p = line.slice(6).trim().split(/\s+/).map(Number)
        if (p.length !== 3 || !p.every(Number.isFinite)) fail(`bad vertex "${line}"`)
        corners.push(current!.merger.vertex(p[0]!, p[1]!, p[2]!))
        break
      }
      case 'endloop':
        if (corners.length < 3) fail('a facet with fewer than 3 vertices')
        current!.mesh.addPolygon(corners)
        corners = []
        break
      case 'endsolid':
        if (!current) fail('endsolid without solid')
        solids.push({ name: current!.name, mesh: current!.mesh })
        current = undefined
        break
      case 'facet':
      case 'outer':
      case 'endfacet':
        break
      default:
        fail(`unexpected "${line.slice(0, 40)}"`)
    }
    if ((lineNo & 0x3ffff) === 0) {
      options.onProgress?.({ phase: 'parse', done: lineNo })
      await yieldToLoop()
      throwIfAborted(options.signal)
    }
  }
  if (current) fail('the file ends inside a solid (truncated?)')
  return solids
}

export async function parseStl(bytes: Uint8Array, options: ImportOptions, fileName: string): Promise<StlSolid[]> {
  if (isBinaryStl(bytes)) return parseBinary(bytes, options, fileName)
  const head = decodeLine(bytes, 0, Math.min(bytes.length, 256)).trimStart().toLowerCase()
  if (head.startsWith('solid') && !looksBinary(bytes)) return parseAscii(bytes, options, fileName)
  if (bytes.length >= 84) {
    const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(80, true)
    throw new ImportError(
      'UNREADABLE_FILE',
      `${fileName} is not a valid STL: as binary STL it declares ${count} triangles (${84 + 50 * count} bytes) but has ${bytes.length} bytes (truncated?)`,
    )
  }
  throw new ImportError('UNREADABLE_FILE', `${fileName} is not a valid STL: too short (${bytes.length} bytes)`)
}

export function stlElements(solids: readonly StlSolid[], units: Units): Base[] {
  return solids
    .filter((s) => s.mesh.triangles > 0)
    .map((s, i) => element({ name: s.name || `Solid ${i + 1}` }, [s.mesh.toMesh(units)]))
}
