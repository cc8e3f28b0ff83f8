/**
 * Object counts on stderr while sending or receiving: a redrawn line on a terminal; elsewhere (CI, tests)
 * only the first and the final line, so logs stay short.
 */
import type { CliIo } from '../command.js'

export interface ObjectProgress {
  update(done: number, total?: number): void
  /** The final line, with the rate. */
  finish(done: number): void
}

export function objectProgress(io: CliIo, label: string): ObjectProgress {
  const tty = io.stderrIsTTY === true
  const started = performance.now()
  let lastDraw = 0
  let said = false
  const rate = (done: number) => Math.round(done / Math.max((performance.now() - started) / 1000, 0.001))
  return {
    update(done, total) {
      if (!tty) {
        if (!said) io.stderr(`${label}…\n`)
        said = true
        return
      }
      const now = performance.now()
      if (now - lastDraw < 100) return
      lastDraw = now
      const of = total === undefined ? '' : `/${total}`
      io.stderr(`\r${label}: ${done}${of} objects (${rate(done)}/s)\x1b[K`)
    },
    finish(done) {
      const seconds = ((performance.now() - started) / 1000).toFixed(1)
      io.stderr(
        `${tty ? '\r' : ''}${label}: ${done} objects in ${seconds} s (${rate(done)} objects/s)${tty ? '\x1b[K' : ''}\n`,
      )
    },
  }
}
