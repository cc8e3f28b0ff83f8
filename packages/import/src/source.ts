import { readFile, stat } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path'
import { ImportError } from './errors.js'
import type { ImportInput, SidecarResolver } from './types.js'

export interface Source {
  fileName: string
  bytes: Uint8Array
  /** Finds a sidecar named by the file; undefined when it does not exist or cannot be looked for. */
  sidecar: SidecarResolver
  /** Whether sidecars can be looked for at all (a path or a resolver was given). */
  canResolveSidecars: boolean
}

/** Reads the input's bytes once and builds the sidecar lookup relative to the file's folder. */
export async function openSource(input: ImportInput): Promise<Source> {
  if (input.bytes) {
    const fileName = input.fileName ?? (input.path ? basename(input.path) : 'model')
    const folder = input.path ? dirname(input.path) : undefined
    return {
      fileName,
      bytes: input.bytes,
      sidecar: input.resolveSidecar ?? (folder ? folderResolver(folder) : async () => undefined),
      canResolveSidecars: input.resolveSidecar !== undefined || folder !== undefined,
    }
  }
  if (!input.path) throw new ImportError('UNREADABLE_FILE', 'Nothing to import: give a path or the file bytes')
  const fileName = input.fileName ?? basename(input.path)
  let bytes: Uint8Array
  try {
    const info = await stat(input.path)
    if (!info.isFile()) throw new ImportError('UNREADABLE_FILE', `${fileName} is not a file`)
    bytes = await readFile(input.path)
  } catch (err) {
    if (err instanceof ImportError) throw err
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'permission denied' : String(err)
    throw new ImportError('UNREADABLE_FILE', `${fileName} could not be read: ${why}`, { cause: err })
  }
  return {
    fileName,
    bytes,
    sidecar: input.resolveSidecar ?? folderResolver(dirname(input.path)),
    canResolveSidecars: true,
  }
}

/** Sidecar names are relative to the file's folder; Windows separators (`.\tex.jpg`) are normalized. */
export function normalizeSidecarName(relativePath: string): string {
  return normalize(relativePath.trim().replace(/\\/g, '/'))
}

function folderResolver(folder: string): SidecarResolver {
  return async (relativePath) => {
    const rel = normalizeSidecarName(relativePath)
    // A sidecar outside the file's folder tree (absolute, or `../`) is not followed: a server import must
    // not read arbitrary files because an uploaded file names them.
    if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`) || rel.startsWith('../')) return undefined
    try {
      return await readFile(join(folder, rel))
    } catch {
      return undefined
    }
  }
}
