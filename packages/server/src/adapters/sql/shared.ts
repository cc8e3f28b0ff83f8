/**
 * Helpers both adapters share: identifier quoting, the COPY text format encoder
 * (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2) and cursor batch sizes.
 */

export const DEFAULT_CURSOR_BATCH = 1000

export function checkBatchSize(batchSize = DEFAULT_CURSOR_BATCH): number {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new TypeError(`cursor batchSize must be a positive integer, got ${batchSize}`)
  }
  return batchSize
}

/** Quote one identifier, or a `schema.table` pair, so reserved words (`user`, `order`) work as column names. */
export function quoteIdentifier(name: string): string {
  if (name.length === 0) throw new TypeError('an SQL identifier must not be empty')
  return name
    .split('.')
    .map((part) => {
      if (part.length === 0 || part.includes('\0')) throw new TypeError(`not a valid SQL identifier: ${name}`)
      return `"${part.replaceAll('"', '""')}"`
    })
    .join('.')
}

/** `COPY "t" ("a", "b") FROM <source>`: `STDIN` for PostgreSQL, `'/dev/blob'` for PGlite. */
export function copyStatement(table: string, columns: readonly string[], source: string): string {
  if (columns.length === 0) throw new TypeError('copyFrom needs at least one column')
  return `COPY ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')}) FROM ${source}`
}

// Backslash first, so the escapes added after it are not escaped again.
const SPECIAL = /[\\\t\n\r]/g
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' }

function encodeValue(value: string | null): string {
  if (value === null) return '\\N'
  if (typeof value !== 'string') throw new TypeError(`copyFrom values must be strings or null, got ${typeof value}`)
  return value.replace(SPECIAL, (c) => ESCAPES[c])
}

/** One row as a line of COPY text format; an empty string stays empty, null becomes `\N`. */
export function encodeCopyRow(row: readonly (string | null)[], width: number): string {
  if (row.length !== width) throw new TypeError(`copyFrom row has ${row.length} values, expected ${width}`)
  let line = encodeValue(row[0])
  for (let i = 1; i < width; i++) line += '\t' + encodeValue(row[i])
  return line + '\n'
}

/**
 * Encode rows into chunks of about `chunkChars` characters, so memory stays bounded by the chunk
 * size however many rows there are. Yields nothing for no rows.
 */
export function* encodeCopyChunks(
  rows: Iterable<readonly (string | null)[]>,
  width: number,
  chunkChars: number,
): Generator<{ text: string; rows: number }> {
  let text = ''
  let count = 0
  for (const row of rows) {
    text += encodeCopyRow(row, width)
    count++
    if (text.length >= chunkChars) {
      yield { text, rows: count }
      text = ''
      count = 0
    }
  }
  if (count > 0) yield { text, rows: count }
}

/** A string as an SQL literal (standard-conforming strings: only quotes are doubled). */
export function sqlLiteral(value: string): string {
  if (value.includes('\0')) throw new TypeError('an SQL literal cannot hold a NUL character')
  return `'${value.replaceAll("'", "''")}'`
}
