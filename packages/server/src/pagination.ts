/**
 * Keyset pagination shared by the listings: opaque cursors carrying the last row's sort key, and the
 * `{ totalCount, cursor, items }` page Speckle's collections use (`cursor` null at the end).
 */
import { BadUserInput } from './errors.js'

export interface Page<T> {
  totalCount: number
  /** Pass back to get the next page; null when there is none. */
  cursor: string | null
  items: T[]
}

export const DEFAULT_PAGE_SIZE = 25
export const MAX_PAGE_SIZE = 1000

/** A cursor for the keyset `(sortKey, id)`; `sortKey` is the database's own text of the timestamp. */
export function encodeCursor(sortKey: string, id: string): string {
  return Buffer.from(JSON.stringify([sortKey, id])).toString('base64url')
}

/** The keyset a cursor stands for; null for no cursor. Throws `BadUserInput` for one this server did not make. */
export function decodeCursor(cursor: string | null | undefined): { sortKey: string; id: string } | null {
  if (cursor === null || cursor === undefined || cursor === '') return null
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(parsed) && parsed.length === 2 && parsed.every((p) => typeof p === 'string')) {
      return { sortKey: parsed[0] as string, id: parsed[1] as string }
    }
  } catch {
    // Falls through to the refusal below.
  }
  throw new BadUserInput('The cursor is not valid')
}

/** Clamp a requested page size into 0..MAX_PAGE_SIZE (Speckle allows 0 to ask only for the total). */
export function pageSize(limit: number | null | undefined): number {
  if (limit === null || limit === undefined) return DEFAULT_PAGE_SIZE
  if (!Number.isInteger(limit) || limit < 0) throw new BadUserInput('limit must be a non-negative integer')
  return Math.min(limit, MAX_PAGE_SIZE)
}

/**
 * Build a page from rows fetched with `LIMIT size + 1`: the extra row only says another page exists.
 * Each row carries `sort_key` (timestamp text) and `id`.
 */
export function toPage<R extends { sort_key: string; id: string }, T>(
  rows: readonly R[],
  size: number,
  totalCount: number,
  map: (row: R) => T,
): Page<T> {
  const items = rows.slice(0, size)
  const last = items[items.length - 1]
  const more = rows.length > size
  return {
    totalCount,
    cursor: more && last !== undefined ? encodeCursor(last.sort_key, last.id) : null,
    items: items.map(map),
  }
}
