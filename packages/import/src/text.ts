/** Line reading for the text formats (OBJ, MTL, ASCII STL) straight from bytes, without one big string. */

const utf8 = new TextDecoder('utf-8', { fatal: true })
const latin1 = new TextDecoder('latin1')

/** A line's text: UTF-8 when it is valid UTF-8, else Latin-1 (old exporters write Latin-1 names). */
export function decodeLine(bytes: Uint8Array, start: number, end: number): string {
  let ascii = true
  for (let i = start; i < end; i++) {
    if (bytes[i]! >= 0x80) {
      ascii = false
      break
    }
  }
  const view = bytes.subarray(start, end)
  if (ascii) return latin1.decode(view)
  try {
    return utf8.decode(view)
  } catch {
    return latin1.decode(view)
  }
}

/** Every line (without its `\r\n` / `\n`), joining lines that end in a backslash continuation. */
export function* lines(bytes: Uint8Array): Generator<string> {
  let start = 0
  let pending = ''
  const n = bytes.length
  while (start < n) {
    let end = bytes.indexOf(10, start)
    if (end < 0) end = n
    let stop = end
    if (stop > start && bytes[stop - 1] === 13) stop--
    let line = decodeLine(bytes, start, stop)
    start = end + 1
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' '
      continue
    }
    if (pending) {
      line = pending + line
      pending = ''
    }
    yield line
  }
  if (pending) yield pending
}

/** True when the bytes hold NUL or many control characters: not a text file. */
export function looksBinary(bytes: Uint8Array, sample = 4096): boolean {
  const n = Math.min(bytes.length, sample)
  let control = 0
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!
    if (b === 0) return true
    if (b < 9 || (b > 13 && b < 32)) control++
  }
  return n > 0 && control / n > 0.05
}
