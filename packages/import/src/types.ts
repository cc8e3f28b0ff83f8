import type { Base, Units } from '@truss/core'

export const SUPPORTED_FILE_TYPES = ['ifc', 'obj', 'stl', 'gltf', 'glb'] as const
export type FileType = (typeof SUPPORTED_FILE_TYPES)[number]

/** A sidecar a file names (an OBJ's .mtl, a glTF's .bin), given as a path relative to that file. */
export type SidecarResolver = (relativePath: string) => Promise<Uint8Array | undefined>

export interface ImportInput {
  /** The file on disk; its folder is where sidecars (`mtllib`, glTF buffers) are looked for. */
  path?: string
  /** The file's bytes, when there is no path (a single uploaded file). */
  bytes?: Uint8Array
  /** Skip detection and read the file as this type. */
  fileType?: FileType
  /** The name shown to users and given to the root collection; defaults to the path's base name. */
  fileName?: string
  /** Where to find sidecars when only bytes are given; a sidecar it cannot find becomes a warning. */
  resolveSidecar?: SidecarResolver
}

export interface ImportProgress {
  phase: 'read' | 'parse' | 'geometry' | 'properties' | 'build'
  done: number
  total?: number
}

export interface ImportOptions {
  onProgress?: (progress: ImportProgress) => void
  signal?: AbortSignal
  /** Units of formats that carry none (OBJ, STL); default 'm'. glTF is metres by its spec, IFC says its own. */
  units?: Units
  /** Refuse files larger than this with ImportError TOO_LARGE (default: no limit). */
  maxBytes?: number
}

export interface ImportStats {
  fileType: FileType
  /** Objects under the root that carry geometry or children (IFC products, OBJ groups, glTF nodes, ...). */
  elements: number
  meshes: number
  triangles: number
  vertices: number
  materials: number
  durationMs: number
}

export interface ImportResult {
  root: Base
  stats: ImportStats
  /** What was skipped or approximated, in words a user understands (missing sidecars, ignored textures, ...). */
  warnings: string[]
}
