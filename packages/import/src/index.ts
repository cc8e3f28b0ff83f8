/**
 * @truss/import: converts IFC, OBJ, STL and glTF/GLB files into Speckle object trees, ready for
 * `serialize` / `send`. Layout: a root `Collection` (name = file name, collectionType 'File', units,
 * sourceFormat) whose `@elements` are Base elements with `@elements` children and `@displayValue`
 * meshes (`Objects.Geometry.Mesh`, inline `renderMaterial`). IFC elements follow the spatial tree and
 * carry ifcType, applicationId/globalId, name, type, properties (pset → {name: value}), storey elevation.
 * Every failure is an ImportError whose `code` a caller branches on and whose message a user reads.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs'
import { basename } from 'node:path'
import type { Base, Units } from '@truss/core'
import { detectFileType } from './detect.js'
import { ImportError, asImportError, throwIfAborted } from './errors.js'
import { gltfElements } from './gltf.js'
import { ifcModel, type IfcBytes } from './ifc.js'
import { mtlRenderMaterial, objElements, parseMtl, parseObj } from './obj.js'
import { openSource } from './source.js'
import { rootCollection, type RenderMaterial } from './speckle.js'
import { parseStl, stlElements } from './stl.js'
import type { FileType, ImportInput, ImportOptions, ImportResult, ImportStats } from './types.js'

export { SUPPORTED_FILE_TYPES } from './types.js'
export type {
  FileType,
  ImportInput,
  ImportOptions,
  ImportProgress,
  ImportResult,
  ImportStats,
  SidecarResolver,
} from './types.js'
export { detectFileType, parseFileType } from './detect.js'
export { ImportError } from './errors.js'
export type { ImportErrorCode } from './errors.js'
export { RenderMaterial, argb } from './speckle.js'

const KIND: Record<FileType, string> = { ifc: 'IFC', obj: 'OBJ', stl: 'STL', gltf: 'glTF', glb: 'GLB' }

/** Converts one file. Detects its type from content and name unless `input.fileType` says it. */
export async function importFile(input: ImportInput, options: ImportOptions = {}): Promise<ImportResult> {
  const started = performance.now()
  throwIfAborted(options.signal)
  if (input.bytes === undefined && input.path === undefined) {
    throw new ImportError('UNREADABLE_FILE', 'Nothing to import: give a path or the file bytes')
  }
  const warnings: string[] = []
  const fileName = input.fileName ?? (input.path ? basename(input.path) : 'model')
  // An IFC on disk is read by web-ifc in pieces: the file is never held in JS memory as a whole.
  const onDisk = input.bytes === undefined && input.path !== undefined ? peekFile(input.path, fileName) : undefined
  const size = onDisk?.size ?? input.bytes?.length ?? 0
  if (options.maxBytes !== undefined && size > options.maxBytes) {
    throw new ImportError(
      'TOO_LARGE',
      `${fileName} is ${mb(size)}, larger than the ${mb(options.maxBytes)} this server imports`,
    )
  }
  if (size === 0) throw new ImportError('EMPTY_FILE', `${fileName} is empty (0 bytes)`)
  const head = onDisk?.head ?? input.bytes!.subarray(0, 1024)
  const fileType = input.fileType ?? detectFileType(fileName, head)
  const units: Units = options.units ?? 'm'
  try {
    if (fileType === 'ifc') {
      const bytes: IfcBytes & { close?: () => void } = input.bytes ?? fileReader(input.path!, size)
      try {
        const m = await ifcModel(bytes, { fileName, options, warnings })
        const root = rootCollection(fileName, m.elements, { units: m.units, sourceFormat: 'ifc', ifcSchema: m.schema })
        return result(root, { fileType, ...m.stats }, warnings, started)
      } finally {
        if (!(bytes instanceof Uint8Array)) bytes.close?.()
      }
    }
    const source = await openSource(input)
    if (source.bytes.length === 0) throw new ImportError('EMPTY_FILE', `${fileName} is empty (0 bytes)`)
    let elements: Base[]
    let materials = 0
    let rootUnits = units
    if (fileType === 'obj') {
      const model = await parseObj(source.bytes, options, fileName)
      const byName = new Map<string, RenderMaterial>()
      for (const lib of model.mtllibs) {
        const mtl = await source.sidecar(lib)
        if (!mtl) {
          warnings.push(`the material file ${lib} named by ${fileName} was not found; its materials are grey`)
          continue
        }
        for (const [name, m] of parseMtl(mtl)) {
          byName.set(name, mtlRenderMaterial(m))
          if (m.textured) warnings.push(`textures of material ${name} are not imported; its colour is kept`)
        }
      }
      const missing = model.usedMaterials.filter((m) => !byName.has(m))
      if (missing.length > 0 && model.mtllibs.length > 0) warnings.push(`materials not defined: ${missing.join(', ')}`)
      if (model.skipped.lines + model.skipped.points > 0) {
        warnings.push(`${model.skipped.lines} line(s) and ${model.skipped.points} point(s) were skipped`)
      }
      elements = objElements(model, byName, units)
      materials = model.usedMaterials.filter((m) => byName.has(m)).length
    } else if (fileType === 'stl') {
      elements = stlElements(await parseStl(source.bytes, options, fileName), units)
    } else {
      rootUnits = 'm'
      const r = await gltfElements(source.bytes, fileType, {
        fileName,
        options,
        sidecar: source.sidecar,
        canResolveSidecars: source.canResolveSidecars,
        warnings,
      })
      elements = r.elements
      materials = r.materials
    }
    const counts = countGeometry(elements)
    if (counts.meshes === 0) {
      throw new ImportError('EMPTY_MODEL', `${fileName} holds no geometry to import`)
    }
    const root = rootCollection(fileName, elements, { units: rootUnits, sourceFormat: fileType })
    return result(root, { fileType, ...counts, materials }, warnings, started)
  } catch (err) {
    throw asImportError(err, fileName, `${KIND[fileType]}`)
  }
}

function result(root: Base, stats: Omit<ImportStats, 'durationMs'>, warnings: string[], started: number): ImportResult {
  return { root, stats: { ...stats, durationMs: Math.round(performance.now() - started) }, warnings }
}

function countGeometry(elements: readonly Base[]): Omit<ImportStats, 'fileType' | 'materials' | 'durationMs'> {
  const out = { elements: 0, meshes: 0, triangles: 0, vertices: 0 }
  const visit = (el: Base): void => {
    out.elements++
    for (const m of (el['@displayValue'] as Base[] | undefined) ?? []) {
      out.meshes++
      out.vertices += (m.vertices as number[]).length / 3
      const faces = m.faces as number[]
      for (let i = 0; i < faces.length; i += faces[i]! + 1) out.triangles += Math.max(faces[i]! - 2, 0)
    }
    for (const c of (el['@elements'] as Base[] | undefined) ?? []) visit(c)
  }
  elements.forEach(visit)
  return out
}

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`

function peekFile(path: string, fileName: string): { size: number; head: Uint8Array } {
  let fd: number | undefined
  try {
    const info = statSync(path)
    if (!info.isFile()) throw new ImportError('UNREADABLE_FILE', `${fileName} is not a file`)
    fd = openSync(path, 'r')
    const head = new Uint8Array(Math.min(info.size, 1024))
    readSync(fd, head, 0, head.length, 0)
    return { size: info.size, head }
  } catch (err) {
    if (err instanceof ImportError) throw err
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'permission denied' : String(err)
    throw new ImportError('UNREADABLE_FILE', `${fileName} could not be read: ${why}`, { cause: err })
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

function fileReader(path: string, size: number): IfcBytes & { close: () => void } {
  const fd = openSync(path, 'r')
  return {
    size,
    read: (offset, length) => {
      const buf = new Uint8Array(Math.max(0, length))
      const n = readSync(fd, buf, 0, buf.length, offset)
      return buf.subarray(0, n)
    },
    close: () => closeSync(fd),
  }
}
