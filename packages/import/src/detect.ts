import { ImportError } from './errors.js'
import { SUPPORTED_FILE_TYPES, type FileType } from './types.js'

const decoder = new TextDecoder('latin1')

function isFileType(value: string): value is FileType {
  return (SUPPORTED_FILE_TYPES as readonly string[]).includes(value)
}

/**
 * The file's type from its first bytes, falling back to its name's extension. Content wins where it is
 * unambiguous (a GLB header, an ISO-10303-21 header, a JSON glTF), so a misnamed file still imports.
 * Throws ImportError UNSUPPORTED_TYPE when neither says a supported type.
 */
export function detectFileType(name: string, firstBytes: Uint8Array): FileType {
  const head = decoder.decode(firstBytes.subarray(0, 1024))
  if (head.startsWith('glTF')) return 'glb'
  if (/^\s*ISO-10303-21;/.test(head)) return 'ifc'
  const ext = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase()
  if (/^\s*\{/.test(head) && /"asset"|"scenes?"|"nodes"|"meshes"|"accessors"|"buffers"/.test(head)) return 'gltf'
  if (ext === 'stl' || ext === 'obj' || ext === 'gltf' || ext === 'glb' || ext === 'ifc') return ext
  if (/^\s*solid[\s\S]*facet\s+normal/.test(head)) return 'stl'
  if (/^\s*(#.*\n\s*)*(mtllib|v|o|g)\s/m.test(head) && /^\s*v\s+-?[\d.]/m.test(head)) return 'obj'
  throw new ImportError(
    'UNSUPPORTED_TYPE',
    `${name || 'The file'} is not a supported file type (supported: ${SUPPORTED_FILE_TYPES.join(', ')})`,
  )
}

export function parseFileType(value: string): FileType {
  const v = value.toLowerCase().replace(/^\./, '')
  if (!isFileType(v)) {
    throw new ImportError(
      'UNSUPPORTED_TYPE',
      `"${value}" is not a supported file type (supported: ${SUPPORTED_FILE_TYPES.join(', ')})`,
    )
  }
  return v
}
