import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { createMemoryBus } from '../../adapters/bus/index.js'
import { seqOf } from '../../events.js'
import { createRealtimeHub } from './hub.js'
import type { OutboxReader, OutboxRow } from './outbox.js'
import { advance, createOutboxTailer, initialHoleState, lateToCheck } from './tailer.js'
import { FakeClock } from './test-utils/socket.js'

const row = (seq: number, topic = 't'): OutboxRow => ({ seq, topic, payload: { type: 'E', projectId: 'p', n: seq } })

/** An outbox whose rows become visible when "committed", in any order, as concurrent transactions do. */
function fakeOutbox() {
  const committed = new Map<number, OutboxRow>()
  let pruned = 0
  const sorted = () => [...committed.values()].sort((a, b) => a.seq - b.seq)
  const reader: OutboxReader = {
    head: () => Promise.resolve(Math.max(0, ...committed.keys())),
    after: (seq, limit) =>
      Promise.resolve(
        sorted()
          .filter((r) => r.seq > seq)
          .slice(0, limit),
      ),
    bySeq: (seqs) => Promise.resolve(sorted().filter((r) => seqs.includes(r.seq))),
    topicRange: (topic, since, upTo, limit) =>
      Promise.resolve(
        sorted()
          .filter((r) => r.topic === topic && r.seq > since && r.seq <= upTo)
          .slice(0, limit),
      ),
    prunedThrough: () => Promise.resolve(pruned),
  }
  return {
    reader,
    commit: (...rows: OutboxRow[]) => rows.forEach((r) => committed.set(r.seq, r)),
    prune: (through: number) => {
      for (const seq of committed.keys()) if (seq <= through) committed.delete(seq)
      pruned = through
    },
  }
}

describe('outbox hole handling (advance)', () => {
  it('delivers consecutive rows at once', () => {
    const state = initialHoleState(0)
    const { deliver, held } = advance(state, [row(1), row(2), row(3)], 0, 1000, 60_000)
    expect(deliver.map((r) => r.seq)).toEqual([1, 2, 3])
    expect(held).toBe(false)
    expect(state.cursor).toBe(3)
  })

  it('holds the rows after a hole until it fills, then delivers them in order', () => {
    const state = initialHoleState(0)
    expect(advance(state, [row(1), row(3)], 0, 1000, 60_000).deliver.map((r) => r.seq)).toEqual([1])
    expect(advance(state, [row(3)], 500, 1000, 60_000)).toEqual({ deliver: [], held: true })
    // Seq 2's transaction commits within the grace.
    expect(advance(state, [row(2), row(3)], 700, 1000, 60_000).deliver.map((r) => r.seq)).toEqual([2, 3])
    expect(state.missingSince.size).toBe(0)
    expect(state.late.size).toBe(0)
  })

  it('moves past a hole once it is older than the grace, and keeps re-checking it for the late window', () => {
    const state = initialHoleState(4)
    expect(advance(state, [row(7)], 0, 1000, 60_000).held).toBe(true)
    expect(advance(state, [row(7)], 999, 1000, 60_000).held).toBe(true)
    const passed = advance(state, [row(7), row(8)], 1000, 1000, 60_000)
    expect(passed.deliver.map((r) => r.seq)).toEqual([7, 8])
    expect(lateToCheck(state, 1001)).toEqual([5, 6])
    expect(lateToCheck(state, 61_000)).toEqual([])
    expect(state.late.size).toBe(0)
  })

  it('times each hole from when it was first seen, not from when the one before it cleared', () => {
    const state = initialHoleState(0)
    advance(state, [row(2), row(4)], 0, 1000, 60_000)
    const { deliver } = advance(state, [row(2), row(4)], 1000, 1000, 60_000)
    expect(deliver.map((r) => r.seq)).toEqual([2, 4])
  })
})

describe('outbox tailer', () => {
  async function setup() {
    const outbox = fakeOutbox()
    outbox.commit(row(1), row(2))
    const clock = new FakeClock()
    let time = 0
    const tailer = createOutboxTailer({ reader: outbox.reader, clock, now: () => time, holeGraceMs: 1000 })
    await tailer.start()
    const got: number[] = []
    await tailer.subscribe('t', (event) => got.push(seqOf(event)!))
    return { outbox, tailer, got, advanceTime: (ms: number) => (time += ms) }
  }

  it('starts after what is already committed and delivers later rows with their seq', async () => {
    const { outbox, tailer, got } = await setup()
    outbox.commit(row(3), row(4, 'other'), row(5))
    await tailer.settle()
    expect(got).toEqual([3, 5])
    expect(tailer.position()).toBe(5)
  })

  it('delivers a row that commits after its hole was passed, late, exactly once', async () => {
    const { outbox, tailer, got, advanceTime } = await setup()
    outbox.commit(row(4))
    await tailer.settle()
    expect(got).toEqual([])
    advanceTime(1500)
    await tailer.settle()
    expect(got).toEqual([4])
    outbox.commit(row(3))
    await tailer.settle()
    await tailer.settle()
    expect(got).toEqual([4, 3])
    expect(tailer.stats().lateDelivered).toBe(1)
  })

  it('replays a topic after a seq up to its position, and answers RESUME_RESET past the pruned seq', async () => {
    const { outbox, tailer } = await setup()
    outbox.commit(row(3), row(4, 'other'), row(5))
    await tailer.settle()
    const replay = await tailer.replay('t', 1)
    expect(replay.events.map(seqOf)).toEqual([2, 3, 5])
    expect(replay.upTo).toBe(5)
    outbox.prune(3)
    await expect(tailer.replay('t', 1)).rejects.toMatchObject({ code: 'RESUME_RESET' })
    expect((await tailer.replay('t', 3)).events.map(seqOf)).toEqual([5])
  })
})

describe('resuming through the hub', () => {
  it('replays what a subscriber missed, then live events, without a duplicate or a gap at the switch', async () => {
    const outbox = fakeOutbox()
    outbox.commit(row(1), row(2), row(3))
    const tailer = createOutboxTailer({ reader: outbox.reader, clock: new FakeClock(), now: () => 0 })
    await tailer.start()
    const bus = createMemoryBus({ logger: pino({ level: 'silent' }) })
    let releaseReplay: () => void = () => undefined
    const replayGate = new Promise<void>((resolve) => (releaseReplay = resolve))
    const hub = createRealtimeHub({
      bus,
      sourceOf: () => tailer,
      // The replay is read while live events keep arriving; they wait behind it.
      replay: async (topic, since) => {
        const replay = await tailer.replay(topic, since)
        await replayGate
        return replay
      },
    })
    const subscription = hub.subscribe<object>('t', { since: 1 })
    await subscription.ready
    const first = subscription.next()
    await new Promise((resolve) => setImmediate(resolve))
    outbox.commit(row(4), row(5))
    await tailer.settle()
    releaseReplay()
    const seqs = [seqOf((await first).value)]
    for (let i = 0; i < 3; i++) seqs.push(seqOf((await subscription.next()).value))
    expect(seqs).toEqual([2, 3, 4, 5])
    outbox.commit(row(6))
    await tailer.settle()
    expect(seqOf((await subscription.next()).value)).toBe(6)
    await subscription.return()
    await hub.close()
    await tailer.close()
    await bus.close()
  })

  it('ends a resume from a pruned seq with RESUME_RESET', async () => {
    const outbox = fakeOutbox()
    outbox.commit(row(1), row(2), row(3))
    outbox.prune(2)
    const tailer = createOutboxTailer({ reader: outbox.reader, clock: new FakeClock(), now: () => 0 })
    await tailer.start()
    const bus = createMemoryBus({ logger: pino({ level: 'silent' }) })
    const hub = createRealtimeHub({ bus, sourceOf: () => tailer, replay: (t, s) => tailer.replay(t, s) })
    const subscription = hub.subscribe('t', { since: 1 })
    await expect(subscription.next()).rejects.toMatchObject({ code: 'RESUME_RESET' })
    await hub.close()
    await tailer.close()
    await bus.close()
  })
})
