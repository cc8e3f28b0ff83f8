/**
 * Split the text of a JSON array of objects into the texts of its elements, without re-encoding
 * them, so uploaded objects are stored byte for byte. The text must already be valid JSON
 * (the caller parses it first): this only tracks string and nesting boundaries.
 */
export function splitJsonArray(text: string): string[] {
  const out: string[] = []
  const n = text.length
  let i = text.indexOf('[')
  if (i < 0) return out
  i++
  let depth = 0
  let start = -1
  for (; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c === 34 /* " */) {
      i = endOfString(text, i + 1)
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (depth === 0) start = i
      depth++
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      if (depth === 0) break // the array's own closing bracket
      depth--
      if (depth === 0) out.push(text.slice(start, i + 1))
    }
  }
  return out
}

/** Index of the closing quote of the string whose content starts at `from`. */
function endOfString(text: string, from: number): number {
  let i = from
  for (;;) {
    const q = text.indexOf('"', i)
    if (q < 0) return text.length
    let backslashes = 0
    for (let b = q - 1; text.charCodeAt(b) === 92 /* \ */; b--) backslashes++
    if ((backslashes & 1) === 0) return q
    i = q + 1
  }
}
