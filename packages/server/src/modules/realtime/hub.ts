/**
 * The change-feed fan-out on one node. Resolvers call `hub.subscribe(topic)` (through their context) and
 * get an async iterable of the topic's events. The hub holds ONE bus subscription per topic however many
 * local subscribers it has (reference-counted; dropped when the last one leaves) and hands each event to
 * every local subscriber. Events come through the bus, so one published on any node reaches every node.
 *
 * Each subscriber has a bounded queue: a subscriber that falls behind is dropped (its iterator throws
 * `SubscriberLagged`), the server's memory never grows with a slow reader.
 *
 * With a `source` (the node's outbox tailer, tailer.ts) events come from the outbox instead of the bus, carry
 * their seq, and a subscriber may resume: `subscribe(topic, { since })` first replays the topic's events after
 * `since`, then live ones, with neither a duplicate nor a gap at the switch-over.
 */
import type { Logger } from 'pino'
import type { Bus } from '../../adapters/bus/types.js'
import { seqOf } from '../../events.js'
import type { Replay } from './tailer.js'

export const DEFAULT_MAX_QUEUED_EVENTS = 256

export interface RealtimeHubOptions {
  bus: Bus
  /**
   * Where a topic's events come from; default the bus. In the server: the node's outbox tailer for the change
   * feed's topics, the bus for ephemeral ones (presence).
   */
  sourceOf?(topic: string): Pick<Bus, 'subscribe'>
  /** A topic's events after a seq up to where live delivery stands; needed for `since`. */
  replay?(topic: string, since: number): Promise<Replay>
  /** Events a subscriber may have waiting before it is dropped. Default 256. */
  maxQueuedEvents?: number
  logger?: Logger
}

/** An event stream for one subscriber. `return()` leaves the topic. */
export interface TopicSubscription<T> extends AsyncIterableIterator<T> {
  /** Resolves once the node listens to the topic on the bus (events published later will arrive). */
  readonly ready: Promise<void>
  /**
   * Hand every later event to `listener` synchronously, as it reaches the node, instead of queueing it for
   * `next()`. For caches that must drop what an event invalidates before any subscriber handles the events
   * after it (subscribers only ever handle events asynchronously, after the delivery loop). `ended` is
   * called once when the subscription stops: with the error when the topic failed, null otherwise.
   */
  listen(listener: (event: T) => void, ended?: (error: Error | null) => void): void
  return(): Promise<IteratorResult<T, undefined>>
}

export interface RealtimeHub {
  /**
   * Events published on `topic` (on any node) from now on, until `return()` is called; with `since`, first
   * the events after that seq (the iterator throws `ResumeReset` when they are no longer kept).
   */
  subscribe<T = unknown>(topic: string, options?: SubscribeOptions): TopicSubscription<T>
  /** Publish an event to every subscriber of `topic` on every node. */
  publish(topic: string, event: unknown): Promise<void>
  /** True once the node's bus subscription for `topic` is active. */
  isListening(topic: string): boolean
  stats(): { topics: number; subscribers: number }
  /** End every subscription and leave every topic. */
  close(): Promise<void>
}

export interface SubscribeOptions {
  /** The last seq the subscriber saw: replay what came after it, then go live. */
  since?: number | undefined
}

/** The subscriber did not keep up with its topic and was dropped; subscribe again to resume. */
export class SubscriberLagged extends Error {
  readonly code = 'RATE_LIMITED'
  constructor(
    readonly topic: string,
    readonly maxQueuedEvents: number,
  ) {
    super(`Too many events waiting for this subscriber of ${topic} (more than ${maxQueuedEvents}); subscribe again`)
    this.name = 'SubscriberLagged'
  }
}

/** The hub could not listen to the topic on the bus. */
export class TopicUnavailable extends Error {
  readonly code = 'UNAVAILABLE'
  constructor(
    readonly topic: string,
    options?: { cause?: unknown },
  ) {
    super(`Cannot subscribe to ${topic} right now`, options)
    this.name = 'TopicUnavailable'
  }
}

interface Subscriber {
  deliver(event: unknown): void
  fail(error: Error): void
  end(): void
}

interface Topic {
  subscribers: Set<Subscriber>
  listening: boolean
  /** The bus subscription; resolves to its unsubscribe function. */
  unsubscribe: Promise<(() => Promise<void>) | null>
  /** Set when the last subscriber left: the bus unsubscribe in flight. */
  left?: Promise<void>
}

export function createRealtimeHub(options: RealtimeHubOptions): RealtimeHub {
  const { bus, logger } = options
  const maxQueued = options.maxQueuedEvents ?? DEFAULT_MAX_QUEUED_EVENTS
  const topics = new Map<string, Topic>()
  let closed = false

  function join(name: string, subscriber: Subscriber): Topic {
    const existing = topics.get(name)
    if (existing) {
      existing.subscribers.add(subscriber)
      return existing
    }
    const topic: Topic = { subscribers: new Set([subscriber]), listening: false, unsubscribe: Promise.resolve(null) }
    topic.unsubscribe = (options.sourceOf?.(name) ?? bus)
      .subscribe(name, (event) => {
        // Iterate a copy: a subscriber may leave (or be dropped) while we deliver.
        for (const each of [...topic.subscribers]) each.deliver(event)
      })
      .then(
        (unsubscribe) => {
          topic.listening = true
          return unsubscribe
        },
        (error: unknown) => {
          logger?.warn({ err: error, topic: name }, 'bus subscription failed')
          if (topics.get(name) === topic) topics.delete(name)
          const failure = new TopicUnavailable(name, { cause: error })
          for (const each of [...topic.subscribers]) each.fail(failure)
          return null
        },
      )
    topics.set(name, topic)
    return topic
  }

  function leave(name: string, topic: Topic, subscriber: Subscriber): void {
    if (!topic.subscribers.delete(subscriber) || topic.subscribers.size > 0) return
    if (topics.get(name) === topic) topics.delete(name)
    topic.left = topic.unsubscribe
      .then((unsubscribe) => unsubscribe?.())
      .catch((error: unknown) => logger?.warn({ err: error, topic: name }, 'bus unsubscribe failed'))
  }

  function subscribe<T>(name: string, subscribeOptions: SubscribeOptions = {}): TopicSubscription<T> {
    if (closed) return endedSubscription<T>()
    const since = subscribeOptions.since
    // Resuming: live events wait here while the replay is read, then go after it.
    let held: T[] | null = since !== undefined ? [] : null
    let bound = maxQueued
    const queue: T[] = []
    let waiting: { resolve(result: IteratorResult<T, undefined>): void; reject(error: Error): void } | null = null
    let failure: Error | null = null
    let done = false
    let listener: ((event: T) => void) | null = null
    let onEnded: ((error: Error | null) => void) | null = null
    const notifyEnded = (error: Error | null): void => {
      const callback = onEnded
      onEnded = null
      callback?.(error)
    }

    const finish = (): void => {
      if (done) return
      done = true
      queue.length = 0
      leave(name, topic, subscriber)
    }
    const settle = (result: IteratorResult<T, undefined>): void => {
      const pending = waiting
      waiting = null
      pending?.resolve(result)
    }

    /** Replayed seqs: a hole that filled late may also arrive live. */
    const replayed = new Set<number>()
    function accept(event: unknown): void {
      if (listener) {
        try {
          listener(event as T)
        } catch (error) {
          logger?.error({ err: error, topic: name }, 'topic listener failed')
        }
        return
      }
      if (waiting) {
        settle({ value: event as T, done: false })
        return
      }
      if (queue.length >= bound) {
        subscriber.fail(new SubscriberLagged(name, maxQueued))
        return
      }
      queue.push(event as T)
    }

    const subscriber: Subscriber = {
      deliver(event) {
        if (done) return
        if (held !== null) {
          if (held.length >= maxQueued) subscriber.fail(new SubscriberLagged(name, maxQueued))
          else held.push(event as T)
          return
        }
        if (since !== undefined) {
          const seq = seqOf(event)
          // Seen by the client before it resumed, or replayed already.
          if (seq !== undefined && (seq <= since || replayed.has(seq))) return
        }
        accept(event)
      },
      fail(error) {
        if (done) return
        finish()
        notifyEnded(error)
        if (waiting) {
          const pending = waiting
          waiting = null
          pending.reject(error)
        } else failure = error
      },
      end() {
        finish()
        notifyEnded(null)
        settle({ value: undefined, done: true })
      },
    }

    const topic = join(name, subscriber)
    const ready = topic.unsubscribe.then(() => undefined)
    if (since !== undefined) {
      void ready
        .then(async () => {
          if (done) return
          if (!options.replay) throw new Error('This node cannot resume subscriptions')
          const replay = await options.replay(name, since)
          if (done) return
          const pending = held ?? []
          held = null
          // The replay may be longer than the live bound; what follows it is bounded again once it drained.
          bound = maxQueued + replay.events.length
          for (const event of replay.events) {
            const seq = seqOf(event)
            if (seq !== undefined) replayed.add(seq)
            if (!done) accept(event)
          }
          for (const event of pending) subscriber.deliver(event)
        })
        .catch((error: unknown) => subscriber.fail(error instanceof Error ? error : new Error(String(error))))
    }

    const iterator: TopicSubscription<T> = {
      ready,
      listen(each, ended) {
        listener = each
        onEnded = ended ?? null
        queue.length = 0
        if (done) notifyEnded(failure)
      },
      next() {
        if (queue.length > 0) {
          if (queue.length <= maxQueued) bound = maxQueued
          return Promise.resolve({ value: queue.shift()!, done: false })
        }
        if (failure) {
          const error = failure
          failure = null
          return Promise.reject(error)
        }
        if (done) return Promise.resolve({ value: undefined, done: true })
        if (waiting) return Promise.reject(new Error('next() called while another next() is pending'))
        return new Promise((resolve, reject) => (waiting = { resolve, reject }))
      },
      return() {
        subscriber.end()
        return Promise.resolve({ value: undefined, done: true })
      },
      [Symbol.asyncIterator]() {
        return iterator
      },
    }
    return iterator
  }

  return {
    subscribe,

    publish(topic, event) {
      return bus.publish(topic, event)
    },

    isListening(topic) {
      return topics.get(topic)?.listening ?? false
    },

    stats() {
      let subscribers = 0
      for (const topic of topics.values()) subscribers += topic.subscribers.size
      return { topics: topics.size, subscribers }
    },

    async close() {
      closed = true
      const all = [...topics.values()]
      for (const topic of all) for (const subscriber of [...topic.subscribers]) subscriber.end()
      await Promise.all(all.map((topic) => topic.left))
    },
  }
}

function endedSubscription<T>(): TopicSubscription<T> {
  const iterator: TopicSubscription<T> = {
    ready: Promise.resolve(),
    listen: (_listener, ended) => ended?.(null),
    next: () => Promise.resolve({ value: undefined, done: true }),
    return: () => Promise.resolve({ value: undefined, done: true }),
    [Symbol.asyncIterator]: () => iterator,
  }
  return iterator
}
