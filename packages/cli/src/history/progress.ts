/** Object-count progress for commit, push and pull: a redrawn bar on a terminal, a line per 10% otherwise. */
import type { CliIo } from '../command.js'

export interface Progress {
  update(done: number, total?: number): void
  /** The last line: count, seconds and objects/s. */
  end(done: number): { seconds: number; perSecond: number }
}

export function objectProgress(io: CliIo, label: string, tty = process.stderr.isTTY === true): Progress {
  const started = performance.now()
  let lastTenth = -1
  let lastDraw = 0
  const rate = (done: number) => done / Math.max((performance.now() - started) / 1000, 0.001)
  return {
    update(done, total) {
      const now = performance.now()
      if (tty) {
        if (now - lastDraw < 100) return
        lastDraw = now
        const width = 30
        const fraction = total ? Math.min(done / total, 1) : 0
        const bar = total ? `[${'#'.repeat(Math.round(fraction * width)).padEnd(width, '-')}] ` : ''
        io.stderr(
          `\r${label} ${bar}${done.toLocaleString('en-US')}${total ? `/${total.toLocaleString('en-US')}` : ''} objects, ${Math.round(rate(done)).toLocaleString('en-US')}/s`,
        )
      } else if (total) {
        const tenth = Math.floor((done / total) * 10)
        if (tenth !== lastTenth && tenth < 10) {
          lastTenth = tenth
          io.stderr(
            `${label} ${tenth * 10}% (${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} objects)\n`,
          )
        }
      }
    },
    end(done) {
      const seconds = (performance.now() - started) / 1000
      const perSecond = rate(done)
      io.stderr(
        `${tty ? '\r' : ''}${label} ${done.toLocaleString('en-US')} objects in ${seconds.toFixed(1)} s (${Math.round(perSecond).toLocaleString('en-US')} objects/s)\n`,
      )
      return { seconds, perSecond }
    },
  }
}
