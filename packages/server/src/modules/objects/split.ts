/**
 * Upload batches: validate the bytes of a JSON array of objects and cut out the bytes of its elements in
 * one pass, without building the values (or even decoding the text), so objects are stored byte for
 * byte and the server spends a few microseconds per object instead of a full JSON.parse. Each object's
 * top-level `id` (or `hash`) is picked up on the way.
 *
 * `PartScanner` takes a part as it arrives, in chunks cut anywhere, and hands out each object as soon
 * as its last byte is in: an upload is stored while it is still being received. An object that spans
 * chunks is gathered (its end found by a cheap resumable pass that only follows strings and brackets)
 * and then validated whole, so a 100 MB root costs one extra pass, not one per chunk.
 */

export interface ScannedObject {
  /** The element's exact bytes (a view into the chunk it came in when it did not span chunks). */
  bytes: Buffer
  /** Its top-level `hash` or `id` string (raw text between the quotes), when it has one. */
  id: string | undefined
  /** Whether a string in it holds a backslash escape (COPY text needs backslashes doubled). */
  escapes: boolean
  /** Whether it holds raw tabs or line breaks between tokens (pretty-printed JSON). */
  spaced: boolean
  /**
   * Set on an object of at least `largeObjectBytes` that spanned chunks: its brackets balance but its
   * JSON is not checked yet, and `id`, `escapes` and `spaced` are unknown. Check it with `checkObject`
   * (the objects module does that off the main thread: a 100 MB root takes a second). Its bytes are a
   * buffer of their own, which nothing else shares: they may be transferred.
   */
  unchecked?: true
}

/** One whole object's check, as the scanner makes it; null when `bytes` is not exactly one valid object. */
export function checkObject(bytes: Buffer): Pick<ScannedObject, 'id' | 'escapes' | 'spaced'> | null {
  const scanner = new Scanner(bytes.toString('latin1'))
  if (scanner.tryObject(0) !== bytes.length) return null
  return { id: scanner.id, escapes: scanner.escapes, spaced: scanner.spaced }
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
const BOM = Buffer.from([0xef, 0xbb, 0xbf])
const NUL = Buffer.from([0])

/**
 * A chunk as a one-byte string ending in a NUL the scanner stops at. Objects usually run past the end of
 * their chunk; reading beyond a string answers NaN, which throws V8's optimized scanner back to slower
 * code every time (measured: half the speed). A NUL is refused like any invalid byte instead.
 */
function withSentinel(b: Buffer): string {
  return Buffer.concat([b, NUL]).toString('latin1')
}

const enum Phase {
  /** Before the opening `[` (a byte order mark may come first). */
  Start,
  /** After `[`: an object or `]`. */
  First,
  /** After `,`: an object. */
  Item,
  /** After an object: `,` or `]`. */
  After,
  /** After `]`: only whitespace. */
  Done,
  /** The part does not start with `[`: gathered whole to tell "not JSON" from "not an array". */
  Rejecting,
}

/** Scan a whole batch held in memory. Throws BatchScanError. */
export function scanBatch(text: string | Buffer): ScannedObject[] {
  const out: ScannedObject[] = []
  const scanner = new PartScanner((o) => out.push(o))
  scanner.push(typeof text === 'string' ? Buffer.from(text) : text)
  scanner.end()
  return out
}

/** Element texts of a JSON array of objects (convenience for callers that do not need ids). */
export function splitJsonArray(text: string): string[] {
  return scanBatch(text).map((o) => o.bytes.toString())
}

/**
 * A JSON array of objects, scanned as its bytes arrive. `push` calls `emit` for every object completed
 * by the chunk (the object's `bytes` may point into the chunk: the caller must not modify chunks);
 * `end` checks the part was complete. Both throw BatchScanError for a bad batch.
 */
/** Bytes of a grown buffer's old content moved per byte gathered (see `PartScanner.carry`). */
const CARRY_RATIO = 32

export class PartScanner {
  private phase = Phase.Start
  private items = 0
  private bomChecked = false
  private head: Buffer | undefined
  /** Pieces of an object that did not end in the chunk it began in, with the state of its bracket pass. */
  /**
   * The bytes of an object that did not end in the chunk it began in, gathered in one buffer of its own
   * that doubles as needed (a list of chunks joined at the end would hold a 100 MB root twice).
   */
  private pending: Buffer | undefined
  private pendingBytes = 0
  /**
   * After `pending` grew: the buffer it grew from, whose first `carryBytes` bytes still go to the front of
   * the new one (`carried` so far), CARRY_RATIO bytes per byte gathered and at least `carrySlice` per chunk.
   * Copying 64 MB at once held the event loop for 240 ms while a 116 MB root arrived (fresh pages fault
   * in as they are written: ~270 MB/s here); a slice per chunk costs a few ms, and the carry is done once
   * 1/CARRY_RATIO of the old size has arrived.
   */
  private carry: Buffer | undefined
  private carryBytes = 0
  private carried = 0
  private depth = 0
  private inString = false
  private escaped = false
  private rejected: Buffer[] = []

  /** `largeObjectBytes`: gathered objects at least this long are handed out unchecked (see `unchecked`). */
  constructor(
    private readonly emit: (object: ScannedObject) => void,
    private readonly largeObjectBytes = Infinity,
    private readonly carrySlice = 256 * 1024,
  ) {}

  push(chunk: Buffer): void {
    let b = chunk
    if (b.length === 0) return
    if (this.phase === Phase.Rejecting) {
      this.rejected.push(b)
      return
    }
    if (!this.bomChecked) {
      // A byte order mark, itself possibly cut across chunks.
      if (this.head) b = Buffer.concat([this.head, b])
      this.head = undefined
      if (b.length < 3 && BOM.subarray(0, b.length).equals(b)) {
        this.head = b
        return
      }
      this.bomChecked = true
      if (BOM.equals(b.subarray(0, 3))) b = b.subarray(3)
      if (b.length === 0) return
    }
    let i = 0
    if (this.pending) {
      const end = this.follow(b, 0)
      if (end === -1) {
        this.gather(b)
        return
      }
      this.gather(b.subarray(0, end))
      this.finishCarry()
      const whole = this.pending.subarray(0, this.pendingBytes)
      this.pending = undefined
      this.pendingBytes = 0
      this.emitObject(whole, true)
      i = end
    }
    const n = b.length
    let scanner: Scanner | undefined
    for (;;) {
      // Whitespace between tokens.
      let c = b[i]
      while (c === 32 || c === 10 || c === 13 || c === 9) c = b[++i]
      if (i >= n) return
      switch (this.phase) {
        case Phase.Start:
          if (c !== 91 /* [ */) {
            this.phase = Phase.Rejecting
            this.rejected.push(b.subarray(i))
            return
          }
          this.phase = Phase.First
          i++
          continue
        case Phase.First:
        case Phase.Item: {
          if (this.phase === Phase.First && c === 93 /* ] */) {
            this.phase = Phase.Done
            i++
            continue
          }
          if (c !== 123 /* { */) throw new BatchScanError(isValueStart(c) ? { notObject: this.items } : 'not-json')
          // Scanned as a one-byte string (offsets stay byte offsets): V8 reads those faster than a Buffer.
          scanner ??= new Scanner(withSentinel(b))
          const end = scanner.tryObject(i)
          if (end === -1) {
            // Either the object goes on in the next chunk, or it is broken: the bracket pass tells which.
            this.depth = 0
            this.inString = false
            this.escaped = false
            const close = this.follow(b, i)
            if (close !== -1) throw new BatchScanError('not-json')
            this.pending = Buffer.allocUnsafeSlow(Math.max(64 * 1024, 2 * (n - i)))
            this.pendingBytes = 0
            this.gather(b.subarray(i))
            return
          }
          this.emitObject(b.subarray(i, end), false, scanner)
          i = end
          continue
        }
        case Phase.After:
          if (c === 44 /* , */) this.phase = Phase.Item
          else if (c === 93 /* ] */) this.phase = Phase.Done
          else throw new BatchScanError('not-json')
          i++
          continue
        case Phase.Done:
          throw new BatchScanError('not-json')
      }
    }
  }

  end(): void {
    if (this.phase === Phase.Rejecting) {
      let parsed: unknown
      try {
        parsed = JSON.parse(Buffer.concat(this.rejected).toString())
      } catch {
        throw new BatchScanError('not-json')
      }
      throw new BatchScanError(Array.isArray(parsed) ? 'not-json' : 'not-array')
    }
    if (this.phase !== Phase.Done || this.pending || this.head) throw new BatchScanError('not-json')
  }

  /** Validate one whole object (`b` from `start` is exactly it when `whole`) and emit it. */
  private gather(piece: Buffer): void {
    let buf = this.pending!
    if (this.pendingBytes + piece.length > buf.length) {
      this.finishCarry() // the growth before this one (rare: the buffer has doubled since)
      const grown = Buffer.allocUnsafeSlow(Math.max(buf.length * 2, this.pendingBytes + piece.length))
      if (this.pendingBytes <= this.carrySlice) buf.copy(grown, 0, 0, this.pendingBytes)
      else {
        this.carry = buf
        this.carryBytes = this.pendingBytes
        this.carried = 0
      }
      this.pending = buf = grown
    }
    this.pendingBytes += piece.copy(buf, this.pendingBytes)
    if (this.carry) {
      const end = Math.min(this.carried + Math.max(this.carrySlice, CARRY_RATIO * piece.length), this.carryBytes)
      this.carry.copy(buf, this.carried, this.carried, end)
      this.carried = end
      if (end === this.carryBytes) this.carry = undefined
    }
  }

  /** What is left of the carry, copied now (the object is complete, or `pending` grows again). */
  private finishCarry(): void {
    if (!this.carry) return
    this.carry.copy(this.pending!, this.carried, this.carried, this.carryBytes)
    this.carry = undefined
  }

  /** Emit one object: `b` is exactly it; `whole` when it still needs its check (it spanned chunks). */
  private emitObject(b: Buffer, whole: boolean, scanned?: Scanner): void {
    if (whole && b.length >= this.largeObjectBytes) {
      this.emit({ bytes: b, id: undefined, escapes: false, spaced: false, unchecked: true })
    } else {
      let scanner = scanned
      if (whole || !scanner) {
        scanner = new Scanner(b.toString('latin1'))
        if (scanner.tryObject(0) !== b.length) throw new BatchScanError('not-json')
      }
      this.emit({ bytes: b, id: scanner.id, escapes: scanner.escapes, spaced: scanner.spaced })
    }
    this.items++
    this.phase = Phase.After
  }

  /**
   * The bracket pass: follow strings and bracket depth from `from`; the offset just after the object's
   * closing brace, or -1 when the chunk ends first (the state is kept for the next chunk).
   */
  private follow(b: Buffer, from: number): number {
    let depth = this.depth
    let inString = this.inString
    let escaped = this.escaped
    const n = b.length
    let i = from
    // The next backslash at or after `i`, searched once and reused (most strings have none).
    let slash = -2
    while (i < n) {
      if (inString) {
        if (escaped) {
          escaped = false
          i++
          continue
        }
        const q = b.indexOf(34, i)
        if (slash !== -1 && slash < i) slash = b.indexOf(92, i)
        if (q === -1 && slash === -1) {
          i = n
          break
        }
        if (slash !== -1 && (q === -1 || slash < q)) {
          escaped = true
          i = slash + 1
        } else {
          inString = false
          i = q + 1
        }
        continue
      }
      const c = b[i]!
      if (c === 34) inString = true
      else if (c === 123 || c === 91) depth++
      else if (c === 125 || c === 93) {
        depth--
        if (depth === 0) {
          this.depth = 0
          return i + 1
        }
      }
      i++
    }
    this.depth = depth
    this.inString = inString
    this.escaped = escaped
    return -1
  }
}

function isValueStart(c: number): boolean {
  return c === 34 || c === 45 || (c >= 48 && c <= 57) || c === 91 || c === 116 || c === 102 || c === 110
}

/**
 * A validating recursive-descent pass over one object, read as a one-byte string (`latin1` of its bytes,
 * so offsets are byte offsets; multi-byte characters only occur inside strings, where any byte from
 * 0x20 up is allowed). Measured faster here than an explicit-stack state machine over the same text.
 */
class Scanner {
  private i = 0
  id: string | undefined
  escapes = false
  spaced = false

  constructor(private readonly s: string) {}

  /** The offset just after the object starting at `start`, or -1 when it is not a valid object there. */
  tryObject(start: number): number {
    const s = this.s
    this.i = start
    this.escapes = false
    this.spaced = false
    try {
      if (s.charCodeAt(start) !== 123 /* { */) return -1
      this.id = this.object(1)
      return this.i
    } catch (err) {
      if (err instanceof Invalid || err instanceof RangeError) return -1
      throw err
    }
  }

  private ws(): void {
    const s = this.s
    let i = this.i
    for (;;) {
      const c = s.charCodeAt(i)
      if (c === 32) i++
      else if (c === 10 || c === 13 || c === 9) {
        this.spaced = true
        i++
      } else break
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
        this.escapes = true
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
