/**
 * Where tests find the sample models (`shared/data`, next to the workspace's checkout): `TRUSS_SHARED_DATA`
 * when set, else `../shared/data` beside the repository, else the workspace's `/work/shared/data`, so a
 * clone made elsewhere (CI's clean clone) still finds them. Tests read the files in place.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../../../', import.meta.url))

const candidates = [process.env.TRUSS_SHARED_DATA, resolve(REPO, '../shared/data'), '/work/shared/data'].filter(
  (dir): dir is string => typeof dir === 'string' && dir !== '',
)

/** The sample-data folder (the first candidate that exists; the sibling folder when none does). */
export const SHARED_DATA: string = candidates.find((dir) => existsSync(join(dir, 'SOURCES.md'))) ?? candidates[0]!

/** The absolute path of a file or folder under `shared/data`, e.g. `sharedData('ifc/duplex.ifc')`. */
export function sharedData(relative: string): string {
  return join(SHARED_DATA, relative)
}
