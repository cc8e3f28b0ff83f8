/**
 * Upload batches: validate the text of a JSON array of objects and cut it into the texts of its
 * elements in one pass, without building the values, so objects are stored byte for byte and the
 * server spends a few microseconds per object instead of a full JSON.parse (floats are costly to
 * convert and the values are never needed). Each object's top-level `id` (or `hash`) is picked up
 * on the way.
 */

export interface ScannedObject {
  /** The element's exact text. */
  json: string
  /** Its top-level `hash` or `id` string (raw text between the quotes), when it has one. */
  id: string | undefined
}

export type ScanFailure = 'not-json' | 'not-array' | { notObject: number }

export class BatchScanError extends Error {
  constructor(readonly failure: ScanFailure) {
    super(typeof failure === 'string' ? failure : `item ${failure.notObject} is not an object`)
  }
}

const MAX_DEPTH = 1000

class Invalid extends Error {}
const INVALID = new Invalid()

/** Scan a batch; throws BatchScanError saying whether it is not JSON, not an array, or holds a non-object. */
export function scanBatch(text: string): ScannedObject[] {
  try {
    return new Scanner(text).batch()
  } catch (err) {
    if (!(err instanceof Invalid) && !(err instanceof RangeError)) throw err
    // Tell the two Speckle messages apart on this (rare) path with the real parser.
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new BatchScanError('not-json')
    }
    if (!Array.isArray(parsed)) throw new BatchScanError('not-array')
    const bad = parsed.findIndex((o) => typeof o !== 'object' || o === null || Array.isArray(o))
    if (bad >= 0) throw new BatchScanError({ notObject: bad })
    throw new BatchScanError('not-json')
  }
}

/** Element texts of a JSON array of objects (convenience for callers that do not need ids). */
export function splitJsonArray(text: string): string[] {
  return scanBatch(text).map((o) => o.json)
}

class Scanner {
  private i = 0
  private readonly n: number

  constructor(private readonly s: string) {
    this.n = s.length
  }

  batch(): ScannedObject[] {
    const s = this.s
    const out: ScannedObject[] = []
    this.ws()
    if (s.charCodeAt(this.i) !== 91 /* [ */) throw INVALID
    this.i++
    this.ws()
    if (s.charCodeAt(this.i) === 93 /* ] */) {
      this.i++
    } else {
      for (;;) {
        if (s.charCodeAt(this.i) !== 123 /* { */) throw INVALID
        const start = this.i
        const id = this.object(1)
        out.push({ json: s.slice(start, this.i), id })
        this.ws()
        const c = s.charCodeAt(this.i)
        this.i++
        if (c === 44 /* , */) {
          this.ws()
          continue
        }
        if (c === 93 /* ] */) break
        throw INVALID
      }
    }
    this.ws()
    if (this.i !== this.n) throw INVALID
    return out
  }

  private ws(): void {
    const s = this.s
    let i = this.i
    for (;;) {
      const c = s.charCodeAt(i)
      if (c === 32 || c === 10 || c === 13 || c === 9) i++
      else break
    }
    this.i = i
  }

  /** An object starting at `{`; at depth 1 returns its top-level `hash` or `id` string. */
  private object(depth: number): string | undefined {
    if (depth > MAX_DEPTH) throw INVALID
    const s = this.s
    this.i++
    this.ws()
    let id: string | undefined
    let hash: string | undefined
    if (s.charCodeAt(this.i) === 125 /* } */) {
      this.i++
      return undefined
    }
    for (;;) {
      if (s.charCodeAt(this.i) !== 34 /* " */) throw INVALID
      const keyStart = this.i
      this.string()
      const keyLength = this.i - keyStart
      this.ws()
      if (s.charCodeAt(this.i) !== 58 /* : */) throw INVALID
      this.i++
      this.ws()
      const valueStart = this.i
      this.value(depth)
      if (depth === 1 && s.charCodeAt(valueStart) === 34) {
        // keyLength counts the quotes: `"id"` is 4, `"hash"` is 6.
        if (keyLength === 4 && s.startsWith('"id"', keyStart)) id = s.slice(valueStart + 1, this.i - 1)
        else if (keyLength === 6 && s.startsWith('"hash"', keyStart)) hash = s.slice(valueStart + 1, this.i - 1)
      }
      this.ws()
      const c = s.charCodeAt(this.i)
      this.i++
      if (c === 44 /* , */) {
        this.ws()
        continue
      }
      if (c === 125 /* } */) return hash ?? id
      throw INVALID
    }
  }

  private array(depth: number): void {
    if (depth > MAX_DEPTH) throw INVALID
    const s = this.s
    this.i++
    this.ws()
    if (s.charCodeAt(this.i) === 93 /* ] */) {
      this.i++
      return
    }
    for (;;) {
      this.value(depth)
      this.ws()
      const c = s.charCodeAt(this.i)
      this.i++
      if (c === 44 /* , */) {
        this.ws()
        continue
      }
      if (c === 93 /* ] */) return
      throw INVALID
    }
  }

  private value(depth: number): void {
    const c = this.s.charCodeAt(this.i)
    if (c === 34 /* " */) this.string()
    else if (c === 45 /* - */ || (c >= 48 && c <= 57)) this.number()
    else if (c === 123 /* { */) this.object(depth + 1)
    else if (c === 91 /* [ */) this.array(depth + 1)
    else if (c === 116 /* t */) this.literal('true')
    else if (c === 102 /* f */) this.literal('false')
    else if (c === 110 /* n */) this.literal('null')
    else throw INVALID
  }

  private literal(word: string): void {
    if (!this.s.startsWith(word, this.i)) throw INVALID
    this.i += word.length
  }

  private string(): void {
    const s = this.s
    let i = this.i + 1
    for (;;) {
      const c = s.charCodeAt(i)
      if (c === 34 /* " */) {
        this.i = i + 1
        return
      }
      if (c === 92 /* \ */) {
        const e = s.charCodeAt(i + 1)
        if (e === 117 /* u */) {
          for (let k = 2; k < 6; k++) if (!isHex(s.charCodeAt(i + k))) throw INVALID
          i += 6
        } else if (e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116) {
          i += 2
        } else throw INVALID
      } else if (c < 32 || c !== c /* NaN: end of text */) {
        throw INVALID
      } else i++
    }
  }

  private number(): void {
    const s = this.s
    let i = this.i
    if (s.charCodeAt(i) === 45) i++
    let c = s.charCodeAt(i)
    if (c === 48) i++
    else if (c >= 49 && c <= 57) {
      i++
      while (isDigit(s.charCodeAt(i))) i++
    } else throw INVALID
    c = s.charCodeAt(i)
    if (c === 46 /* . */) {
      i++
      if (!isDigit(s.charCodeAt(i))) throw INVALID
      while (isDigit(s.charCodeAt(i))) i++
      c = s.charCodeAt(i)
    }
    if (c === 101 || c === 69 /* e E */) {
      i++
      c = s.charCodeAt(i)
      if (c === 43 || c === 45) i++
      if (!isDigit(s.charCodeAt(i))) throw INVALID
      while (isDigit(s.charCodeAt(i))) i++
    }
    this.i = i
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70)
}
