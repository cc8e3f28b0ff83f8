/** An in-memory socket and a fake clock, so connection tests run without a network or sleeps. */
import type { Clock, RealtimeSocket } from '../connection.js'

export interface Frame {
  type: string
  id?: string
  payload?: unknown
}

/** The text a server's WebSocket frame carries; throws on anything but one unmasked, final text frame. */
export function frameText(frame: Buffer): string {
  if (frame[0] !== 0x81) throw new Error(`not a final text frame: first byte ${frame[0]}`)
  const marker = frame[1]!
  if (marker & 0x80) throw new Error('a server frame must not be masked')
  const [length, start] =
    marker === 126 ? [frame.readUInt16BE(2), 4] : marker === 127 ? [Number(frame.readBigUInt64BE(2)), 10] : [marker, 2]
  if (frame.length !== start + length) throw new Error(`frame says ${length} bytes, carries ${frame.length - start}`)
  return frame.toString('utf8', start)
}

export class TestSocket implements RealtimeSocket {
  bufferedAmount = 0
  readonly frames: Frame[] = []
  closedWith: { code: number; reason: string } | null = null
  terminated = false
  /** Called when the socket closes, as `ws` emits `close`. */
  onClose: () => void = () => undefined

  sendFrame(frame: Buffer): void {
    if (this.closedWith || this.terminated) throw new Error('send on a closed socket')
    this.frames.push(JSON.parse(frameText(frame)) as Frame)
  }

  close(code: number, reason: string): void {
    if (this.closedWith || this.terminated) return
    this.closedWith = { code, reason }
    this.onClose()
  }

  terminate(): void {
    if (this.terminated) return
    this.terminated = true
    this.onClose()
  }

  /** Frames sent since the last call. */
  take(): Frame[] {
    return this.frames.splice(0)
  }
}

export class FakeClock implements Clock {
  private now = 0
  private timers = new Set<{ at: number; every: number | null; callback: () => void }>()

  setTimeout(callback: () => void, ms: number): () => void {
    const timer = { at: this.now + ms, every: null, callback }
    this.timers.add(timer)
    return () => this.timers.delete(timer)
  }

  setInterval(callback: () => void, ms: number): () => void {
    const timer = { at: this.now + ms, every: ms, callback }
    this.timers.add(timer)
    return () => this.timers.delete(timer)
  }

  pending(): number {
    return this.timers.size
  }

  advance(ms: number): void {
    const until = this.now + ms
    while (true) {
      const due = [...this.timers].filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at)[0]
      if (!due) break
      this.now = due.at
      if (due.every === null) this.timers.delete(due)
      else due.at += due.every
      due.callback()
    }
    this.now = until
  }
}

/** Let pending promises and the memory bus's `setImmediate` deliveries run. */
export async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await new Promise<void>((resolve) => setImmediate(resolve))
}
