/**
 * A closure's keys gathered in memory, sorted and each once, while they fit a small budget. Speckle's ids
 * are 32 lowercase hex characters: those are packed into 16 bytes each (a million keys take 16 MB, where
 * as JavaScript strings they would take 60+) and sorted by a counting sort on their first two bytes, then
 * by insertion within each of the 65,536 buckets (hashes spread evenly: about 15 keys a bucket at a
 * million). Keys of any other form are kept as strings. `add` says when the budget is spent; the caller
 * then sorts elsewhere (the repository uses a scratch table).
 */

const HEX_ID = /^[0-9a-f]{32}$/

export class ClosureKeyBuffer {
  private packed: Buffer
  private count = 0
  private readonly others: string[] = []

  constructor(
    /** Most 32-hex keys held (16 bytes each). */
    private readonly maxPacked = 500_000,
    /** Most keys of other forms held. */
    private readonly maxOthers = 50_000,
  ) {
    this.packed = Buffer.allocUnsafe(16 * Math.min(maxPacked, 65_536))
  }

  get size(): number {
    return this.count + this.others.length
  }

  /** Every key added so far, in the order added (to hand them on when the budget is spent). */
  *all(): Iterable<string> {
    for (let i = 0; i < this.count; i++) yield this.packed.toString('hex', i * 16, i * 16 + 16)
    yield* this.others
  }

  /** Add keys; false (and nothing kept of this call's remaining keys) once the budget is spent. */
  add(keys: readonly string[]): boolean {
    for (const key of keys) {
      if (HEX_ID.test(key)) {
        if (this.count >= this.maxPacked) return false
        if ((this.count + 1) * 16 > this.packed.length) {
          const grown = Buffer.allocUnsafe(Math.min(this.packed.length * 2, this.maxPacked * 16))
          this.packed.copy(grown, 0, 0, this.count * 16)
          this.packed = grown
        }
        this.packed.write(key, this.count * 16, 'hex')
        this.count++
      } else {
        if (this.others.length >= this.maxOthers) return false
        this.others.push(key)
      }
    }
    return true
  }

  /** The keys in ascending order (JavaScript's, which is byte order for these), each once, in batches. */
  *sorted(batchSize: number): Iterable<string[]> {
    const order = this.sortPacked()
    const others = [...new Set(this.others)].sort()
    const p = this.packed
    let batch: string[] = []
    let o = 0
    let last: string | undefined
    const emit = (key: string) => {
      if (key === last) return
      last = key
      batch.push(key)
    }
    for (let i = 0; i < order.length; i++) {
      const at = order[i]! * 16
      const key = p.toString('hex', at, at + 16)
      while (o < others.length && others[o]! < key) emit(others[o++]!)
      emit(key)
      if (batch.length >= batchSize) {
        yield batch
        batch = []
      }
    }
    while (o < others.length) {
      emit(others[o++]!)
      if (batch.length >= batchSize) {
        yield batch
        batch = []
      }
    }
    if (batch.length > 0) yield batch
  }

  /** Indexes of the packed keys in ascending byte order. */
  private sortPacked(): Uint32Array {
    const n = this.count
    const p = this.packed
    const starts = new Uint32Array(65_537)
    for (let i = 0; i < n; i++) starts[((p[i * 16]! << 8) | p[i * 16 + 1]!) + 1]!++
    for (let b = 1; b <= 65_536; b++) starts[b]! += starts[b - 1]!
    const order = new Uint32Array(n)
    const fill = starts.slice(0, 65_536)
    for (let i = 0; i < n; i++) order[fill[(p[i * 16]! << 8) | p[i * 16 + 1]!]!++] = i
    // Within a bucket the first two bytes are equal: order by the other fourteen. Hashes give small buckets
    // (insertion sort); ids that share a long prefix (counters, not hashes) give big ones (a real sort).
    const compare = (a: number, b: number): number => {
      for (let k = 2; k < 16; k++) {
        const d = p[a * 16 + k]! - p[b * 16 + k]!
        if (d !== 0) return d
      }
      return 0
    }
    for (let b = 0; b < 65_536; b++) {
      const from = starts[b]!
      const to = starts[b + 1]!
      if (to - from > 32) {
        order.subarray(from, to).sort(compare)
        continue
      }
      for (let i = from + 1; i < to; i++) {
        const v = order[i]!
        let j = i - 1
        while (j >= from && compare(v, order[j]!) < 0) {
          order[j + 1] = order[j]!
          j--
        }
        order[j + 1] = v
      }
    }
    return order
  }
}
