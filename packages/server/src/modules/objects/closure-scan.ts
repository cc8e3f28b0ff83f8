/**
 * The keys of an object's top-level `__closure`, read from its JSON bytes as they come, piece by piece.
 * A million-child root is 100+ MB of JSON: parsing it (in JavaScript or in the database) would build
 * every value only to read the keys of one property. This scanner keeps a few bytes of state and the key
 * being read; a piece may end anywhere, inside a string or an escape included.
 *
 * The first top-level `__closure` whose value is an object counts (values of any other kind are skipped,
 * as are `__closure` properties of nested objects and the text inside strings). The text is trusted to be
 * JSON (uploads are checked); text that is not shows as `complete` staying false.
 */

const QUOTE = 34
const BACKSLASH = 92

/** What a container on the stack expects next. */
const ARRAY = 0
const OBJECT_KEY = 1
const OBJECT_VALUE = 2

export class ClosureScanner {
  /** One entry per open container, outermost first. */
  private readonly stack: number[] = []
  private started = false
  private broken = false
  private inString = false
  /** The previous byte of the current string was an unescaped backslash (it may have ended a piece). */
  private escaped = false
  /** Bytes of the key being read, when it is one that matters (a top-level key or a closure key). */
  private collecting: Buffer[] | undefined
  private collectingHasEscape = false
  /** The top-level key whose value comes next. */
  private rootKey: string | undefined
  private inClosure = false
  private closureDone = false

  /** The closure was read to its end: nothing further can add keys (a caller may stop reading). */
  get complete(): boolean {
    return this.closureDone
  }

  /** The keys that end within `piece`, in the order written. */
  push(piece: Uint8Array): string[] {
    const keys: string[] = []
    if (this.broken || this.closureDone) return keys
    const b = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length)
    const n = b.length
    const stack = this.stack
    let i = 0
    // Where the next backslash of this piece is (n: none); looked up again only once passed.
    let nextBackslash = -1
    while (i < n) {
      if (this.inString) {
        if (this.escaped) {
          this.collecting?.push(b.subarray(i, i + 1))
          this.escaped = false
          i++
          continue
        }
        // Jump to the string's next quote or backslash (neither byte occurs inside a multi-byte character).
        if (nextBackslash < i) {
          const found = b.indexOf(BACKSLASH, i)
          nextBackslash = found === -1 ? n : found
        }
        const q = b.indexOf(QUOTE, i)
        const stop = q === -1 ? n : q
        if (nextBackslash < stop) {
          this.collecting?.push(b.subarray(i, nextBackslash + 1))
          this.collectingHasEscape = true
          this.escaped = true
          i = nextBackslash + 1
          continue
        }
        if (q === -1) {
          this.collecting?.push(b.subarray(i))
          return keys
        }
        // The closing quote.
        this.inString = false
        if (this.collecting) {
          this.collecting.push(b.subarray(i, q))
          const key = this.decode()
          if (stack.length === 1) this.rootKey = key
          else if (key !== undefined) keys.push(key)
        }
        i = q + 1
        continue
      }
      const c = b[i]!
      i++
      if (c === 32 || c === 10 || c === 13 || c === 9) continue
      if (!this.started) {
        if (c !== 123 /* { */) {
          this.broken = true
          return keys
        }
        this.started = true
        stack.push(OBJECT_KEY)
        continue
      }
      if (stack.length === 0) {
        // Bytes after the root object ended: not one JSON value.
        this.broken = true
        return keys
      }
      const top = stack.length - 1
      switch (c) {
        case QUOTE: {
          this.inString = true
          const isKey = stack[top] === OBJECT_KEY
          this.collecting = isKey && (stack.length === 1 || (this.inClosure && stack.length === 2)) ? [] : undefined
          this.collectingHasEscape = false
          break
        }
        case 123 /* { */:
          if (stack.length === 1 && this.rootKey === '__closure' && !this.closureDone) this.inClosure = true
          stack.push(OBJECT_KEY)
          break
        case 91 /* [ */:
          stack.push(ARRAY)
          break
        case 125 /* } */:
        case 93 /* ] */:
          stack.pop()
          if (this.inClosure && stack.length === 1) {
            this.inClosure = false
            this.closureDone = true
            return keys
          }
          break
        case 58 /* : */:
          if (stack[top] === OBJECT_KEY) stack[top] = OBJECT_VALUE
          break
        case 44 /* , */:
          if (stack[top] === OBJECT_VALUE) stack[top] = OBJECT_KEY
          if (stack.length === 1) this.rootKey = undefined
          break
        default:
        // Numbers, true, false, null: nothing to track.
      }
    }
    return keys
  }

  private decode(): string | undefined {
    const parts = this.collecting!
    this.collecting = undefined
    const raw = parts.length === 1 ? parts[0]!.toString('utf8') : Buffer.concat(parts).toString('utf8')
    if (!this.collectingHasEscape) return raw
    try {
      return JSON.parse(`"${raw}"`) as string
    } catch {
      return undefined
    }
  }
}

/**
 * Keys of the top-level `__closure` of an object's JSON text, in the order written (empty when it has
 * none, when its value is not an object, or when the text ends before the closure does).
 */
export function closureIds(json: string | Uint8Array): string[] {
  if (typeof json === 'string' && !json.includes('"__closure"')) return [] // most objects have none
  const scanner = new ClosureScanner()
  const keys = scanner.push(typeof json === 'string' ? Buffer.from(json) : json)
  return scanner.complete ? keys : []
}
