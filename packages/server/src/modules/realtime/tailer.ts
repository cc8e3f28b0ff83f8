/**
 * The change feed on one node: every node tails the outbox itself, by seq, and hands each row to its own
 * subscribers (through the hub, which subscribes here as it would to a bus). No node is special, and an event
 * committed with its change cannot be lost between commit and publish: the row is there for every node's next
 * read. The bus carries only nudges (the `JOBS_TOPIC` hint every committed change publishes, events.ts) that make
 * a read happen now rather than at the next poll.
 *
 * Holes. A seq is taken when the row is inserted, but becomes visible when its transaction commits, so seq 7
 * may be seen before seq 6; and a rolled-back transaction leaves 6 missing for ever. The tailer delivers in seq
 * order: it holds the rows after a hole for up to `holeGraceMs` from when it first saw the hole, then moves
 * past it. A hole it moved past is re-checked for `lateWatchMs`; a row that shows up there (a transaction that
 * took longer than the grace to commit) is still delivered, late and out of order, never dropped.
 */
import type { Logger } from 'pino'
import type { Bus, BusHandler } from '../../adapters/bus/types.js'
import { EVENT_SEQ, JOBS_TOPIC } from '../../events.js'
import { systemClock, type Clock } from './connection.js'
import type { OutboxReader, OutboxRow } from './outbox.js'

export const TAILER_DEFAULTS = {
  /** Read the outbox at least this often, nudged or not. */
  pollMs: 500,
  /** How long rows wait behind a hole before the tailer moves past it. */
  holeGraceMs: 1000,
  /** How long a hole the tailer moved past is still re-checked. */
  lateWatchMs: 60_000,
  /** Rows read per query. */
  batchSize: 1000,
  /** A resume that would replay more than this many events is answered with a reset. */
  maxReplayEvents: 10_000,
} as const

/** Holes tracked per gap; a larger gap (a sequence jump) is timed by its first seqs only. */
const MAX_TRACKED_PER_GAP = 1000

export interface OutboxTailerOptions {
  reader: OutboxReader
  /** Where nudges arrive (every node's bus); without it the tailer only polls and `nudge()`s. */
  nudges?: Pick<Bus, 'subscribe'>
  pollMs?: number
  holeGraceMs?: number
  lateWatchMs?: number
  batchSize?: number
  maxReplayEvents?: number
  clock?: Clock
  now?: () => number
  logger?: Logger
}

/** The events a resume replays, and the seq they run to (later ones arrive live). */
export interface Replay {
  events: object[]
  upTo: number
}

/** The client resumed from a seq the outbox no longer holds (pruned), or from too far back: refetch. */
export class ResumeReset extends Error {
  readonly code = 'RESUME_RESET'
  constructor(
    readonly since: number,
    reason: string,
  ) {
    super(`Cannot resume from seq ${since}: ${reason}; refetch, then subscribe without a seq (RESUME_RESET)`)
    this.name = 'ResumeReset'
  }
}

export interface OutboxTailer {
  /** Start after the rows committed now (older ones are for resumes). Resolves once tailing. */
  start(): Promise<void>
  /** Bus-shaped: `handler` gets every later event of `topic`, each a fresh object carrying its seq. */
  subscribe(topic: string, handler: BusHandler): Promise<() => Promise<void>>
  /** Read now (a nudge); several calls while a read runs make one more read. */
  nudge(): void
  /** Resolves when a read that started after this call finished (tests). */
  settle(): Promise<void>
  /** The highest seq delivered in order. */
  position(): number
  /** `topic`'s events after `since` up to `position()`, for a resuming subscriber. */
  replay(topic: string, since: number): Promise<Replay>
  stats(): { position: number; heldHoles: number; lateHoles: number; delivered: number; lateDelivered: number }
  close(): Promise<void>
}

/** The tailer's cursor and hole bookkeeping: a pure function of what it read and when. */
export interface HoleState {
  cursor: number
  /** Missing seq → when it was first seen missing. */
  missingSince: Map<number, number>
  /** Missing seqs moved past → until when to re-check them. */
  late: Map<number, number>
}

export function initialHoleState(cursor: number): HoleState {
  return { cursor, missingSince: new Map(), late: new Map() }
}

/**
 * Advance over `rows` (read after `state.cursor`, in seq order) at time `now`: the rows to deliver in order,
 * and whether it stopped at a hole younger than `graceMs`. Mutates `state`.
 */
export function advance(
  state: HoleState,
  rows: readonly OutboxRow[],
  now: number,
  graceMs: number,
  lateWatchMs: number,
): { deliver: OutboxRow[]; held: boolean } {
  const deliver: OutboxRow[] = []
  for (const row of rows) {
    if (row.seq <= state.cursor) continue
    const expected = state.cursor + 1
    if (row.seq > expected) {
      const last = Math.min(row.seq - 1, expected + MAX_TRACKED_PER_GAP - 1)
      let young = false
      for (let seq = expected; seq <= last; seq++) {
        let since = state.missingSince.get(seq)
        if (since === undefined) state.missingSince.set(seq, (since = now))
        if (now - since < graceMs) young = true
      }
      if (young) {
        noteLaterHoles(state, rows, row.seq, now)
        return { deliver, held: true }
      }
      for (let seq = expected; seq <= last; seq++) {
        state.missingSince.delete(seq)
        state.late.set(seq, now + lateWatchMs)
      }
    }
    state.missingSince.delete(row.seq)
    state.cursor = row.seq
    deliver.push(row)
  }
  return { deliver, held: false }
}

/** Start the clock of the holes between the rows after `from`, held behind an earlier one. */
function noteLaterHoles(state: HoleState, rows: readonly OutboxRow[], from: number, now: number): void {
  let previous = from
  for (const row of rows) {
    if (row.seq <= from) continue
    const last = Math.min(row.seq - 1, previous + MAX_TRACKED_PER_GAP)
    for (let seq = previous + 1; seq <= last; seq++) if (!state.missingSince.has(seq)) state.missingSince.set(seq, now)
    previous = row.seq
  }
}

/** Late holes still worth re-checking at `now` (expired ones are forgotten). */
export function lateToCheck(state: HoleState, now: number): number[] {
  const seqs: number[] = []
  for (const [seq, until] of state.late) {
    if (until <= now) state.late.delete(seq)
    else seqs.push(seq)
  }
  return seqs
}

function eventOf(row: OutboxRow): object | null {
  if (typeof row.payload !== 'object' || row.payload === null) return null
  const event = { ...(row.payload as object) }
  Object.defineProperty(event, EVENT_SEQ, { value: row.seq, enumerable: false })
  return event
}

export function createOutboxTailer(options: OutboxTailerOptions): OutboxTailer {
  const settings = { ...TAILER_DEFAULTS, ...definedOnly(options) }
  const { reader, logger } = options
  const clock = options.clock ?? systemClock
  const now = options.now ?? Date.now
  const handlers = new Map<string, Set<BusHandler>>()
  let state: HoleState | null = null
  let running: Promise<void> | null = null
  let again = false
  let closed = false
  let cancelTimer: (() => void) | null = null
  let unsubscribeNudges: (() => Promise<void>) | null = null
  let delivered = 0
  let lateDelivered = 0

  function dispatch(row: OutboxRow): void {
    const listeners = handlers.get(row.topic)
    if (listeners === undefined || listeners.size === 0) return
    const event = eventOf(row)
    if (event === null) return
    // One object per row for every local subscriber: per-event reads are shared by object identity.
    for (const listener of [...listeners]) {
      try {
        listener(event, row.topic)
      } catch (error) {
        logger?.error({ err: error, topic: row.topic, seq: row.seq }, 'change-feed subscriber failed')
      }
    }
  }

  async function readOnce(current: HoleState): Promise<boolean> {
    const rows = await reader.after(current.cursor, settings.batchSize)
    const { deliver, held } = advance(current, rows, now(), settings.holeGraceMs, settings.lateWatchMs)
    for (const row of deliver) dispatch(row)
    delivered += deliver.length
    const late = lateToCheck(current, now())
    if (late.length > 0) {
      for (const row of await reader.bySeq(late)) {
        current.late.delete(row.seq)
        lateDelivered += 1
        logger?.warn({ seq: row.seq, topic: row.topic }, 'an outbox row committed after its hole was passed')
        dispatch(row)
      }
    }
    if (held) return false
    return rows.length === settings.batchSize
  }

  function schedule(): void {
    cancelTimer?.()
    if (closed) return
    const held = state !== null && state.missingSince.size > 0
    // Behind a hole, look again soon: the hole fills when its transaction commits, and no nudge may say so.
    const wait = held ? Math.min(settings.pollMs, Math.max(10, settings.holeGraceMs / 10)) : settings.pollMs
    cancelTimer = clock.setTimeout(() => nudge(), wait)
  }

  function nudge(): void {
    if (closed || state === null) return
    if (running) {
      again = true
      return
    }
    const current = state
    running = (async () => {
      try {
        do {
          again = false
          while ((await readOnce(current)) && !closed) again = false
        } while (again && !closed)
      } catch (error) {
        logger?.warn({ err: error }, 'reading the outbox failed; retrying at the next poll')
      } finally {
        running = null
        schedule()
      }
    })()
  }

  return {
    async start() {
      if (state !== null) return
      state = initialHoleState(await reader.head())
      if (options.nudges) unsubscribeNudges = await options.nudges.subscribe(JOBS_TOPIC, () => nudge())
      schedule()
    },

    subscribe(topic, handler) {
      let set = handlers.get(topic)
      if (set === undefined) handlers.set(topic, (set = new Set()))
      set.add(handler)
      return Promise.resolve(async () => {
        set.delete(handler)
        if (set.size === 0 && handlers.get(topic) === set) handlers.delete(topic)
      })
    },

    nudge,

    async settle() {
      if (running) await running
      nudge()
      if (running) await running
    },

    position: () => state?.cursor ?? 0,

    async replay(topic, since) {
      const pruned = await reader.prunedThrough()
      if (since < pruned) throw new ResumeReset(since, 'events after it were pruned from the outbox')
      const upTo = state?.cursor ?? 0
      const rows = await reader.topicRange(topic, since, upTo, settings.maxReplayEvents + 1)
      if (rows.length > settings.maxReplayEvents) {
        throw new ResumeReset(since, `more than ${settings.maxReplayEvents} events were missed`)
      }
      const events: object[] = []
      for (const row of rows) {
        const event = eventOf(row)
        if (event !== null) events.push(event)
      }
      return { events, upTo }
    },

    stats: () => ({
      position: state?.cursor ?? 0,
      heldHoles: state?.missingSince.size ?? 0,
      lateHoles: state?.late.size ?? 0,
      delivered,
      lateDelivered,
    }),

    async close() {
      closed = true
      cancelTimer?.()
      await unsubscribeNudges?.().catch(() => undefined)
      if (running) await running
      handlers.clear()
    },
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
