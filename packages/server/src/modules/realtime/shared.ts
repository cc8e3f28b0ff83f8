/**
 * Shared subscription executions on one node (DESIGN.md decision 9: an event is serialized once, not once
 * per subscriber). Subscribers whose operations are interchangeable — the same query text, operation name,
 * variables and extensions, run for an equivalent principal — form a group. The group runs ONE graphql-js
 * event stream: for each bus event, one execution and one `JSON.stringify`; every member then sends that
 * same JSON inside its own protocol envelope, as a WebSocket frame built once per event for all the members
 * with that envelope.
 *
 * Authorization stays per subscriber: every subscriber still runs its own `subscribe()` (the subscription
 * resolver's authorization, with its own context) before it joins; only the per-event work is shared. Its own
 * stream, once authorized, either becomes the group's (first member) or is ended at once (later members).
 *
 * Why the whole principal, not the project role, is the equivalence: executing an event may read anything the
 * context's principal carries (the caller's project role, token scopes, server role, per-user fields such as
 * an email shown only to its owner), and which of these a payload reads is a property of the schema, which
 * this module does not know and which changes as resolvers are written. Keying by a role decision would be
 * correct only while no payload field reads more than the role; keying by the principal (structural
 * equality: user, server role, scopes, token) is correct by construction. The price: sharing happens among
 * one principal's subscriptions on a node (the same client's many operations, its reconnections, several tabs),
 * not across different users with the same role. A gateway may pass a coarser `principalKey` once the
 * schema's subscription payloads are known to depend on nothing else.
 */
import type { ExecutionResult } from 'graphql'
import type { Logger } from 'pino'
import { textFrame } from './protocol.js'

/** What a member wraps each result in: `prefix + json + suffix`. Made once per operation (`createEnvelope`). */
export interface Envelope {
  readonly prefix: string
  readonly suffix: string
  /** Equal for equal envelopes; one string per envelope, so its hash is computed once, not once per event. */
  readonly key: string
}

export function createEnvelope(prefix: string, suffix: string): Envelope {
  return { prefix, suffix, key: `${prefix}\u0000${suffix}` }
}

/** One event's result, the same for every member of a group. */
export interface SharedResult {
  /** The JSON of the `ExecutionResult`. */
  readonly json: string
  /**
   * `prefix + json + suffix` as one WebSocket text frame, built once per distinct envelope: members whose
   * frames are alike (same protocol, same operation id, as most clients' first subscription is `"1"`) send
   * one buffer.
   */
  frame(envelope: Envelope): Buffer
}

/** One subscriber of a group (a connection's operation). */
export interface SharedMember {
  /** One event's result. */
  result(result: SharedResult): void
  /** The event stream failed (e.g. the subscriber lagged, or the topic became unavailable). */
  failed(error: unknown): void
  /** The event stream ended. */
  completed(): void
}

export interface SharedSubscriptions {
  /**
   * Deliver the events of `key`'s group to `member`. `stream` is the member's own, authorized event stream:
   * it becomes the group's when there is no live group for `key`, otherwise it is ended. Returns the
   * function that leaves the group (the group's stream ends with its last member).
   */
  attach(key: string, stream: AsyncIterator<ExecutionResult>, member: SharedMember): () => void
  stats(): { groups: number; members: number }
}

interface Group {
  members: Set<SharedMember>
  stream: AsyncIterator<ExecutionResult>
}

export function createSharedSubscriptions(logger?: Logger): SharedSubscriptions {
  const groups = new Map<string, Group>()

  function end(stream: AsyncIterator<ExecutionResult>): void {
    Promise.resolve(stream.return?.()).catch((error: unknown) =>
      logger?.debug({ err: error }, 'ending a subscription stream failed'),
    )
  }

  async function pump(key: string, group: Group): Promise<void> {
    let failure: { error: unknown } | null = null
    try {
      while (true) {
        const next = await group.stream.next()
        if (next.done || group.members.size === 0) break
        // Once per group per event, whatever the number of members.
        const result = sharedResult(JSON.stringify(next.value))
        // A copy: a member may leave (or be dropped for a full send buffer) while we deliver.
        for (const member of [...group.members]) member.result(result)
      }
    } catch (error) {
      failure = { error }
    }
    // No await since the loop ended: no one can have joined the finished group.
    if (groups.get(key) === group) groups.delete(key)
    const members = [...group.members]
    group.members.clear()
    for (const member of members) {
      if (failure) member.failed(failure.error)
      else member.completed()
    }
  }

  return {
    attach(key, stream, member) {
      let group = groups.get(key)
      if (group) {
        end(stream)
      } else {
        group = { members: new Set(), stream }
        groups.set(key, group)
        void pump(key, group)
      }
      const joined = group
      joined.members.add(member)
      return () => {
        if (!joined.members.delete(member) || joined.members.size > 0) return
        if (groups.get(key) === joined) groups.delete(key)
        end(joined.stream)
      }
    },

    stats() {
      let members = 0
      for (const group of groups.values()) members += group.members.size
      return { groups: groups.size, members }
    },
  }
}

function sharedResult(json: string): SharedResult {
  const frames = new Map<string, Buffer>()
  return {
    json,
    frame({ prefix, suffix, key }) {
      let frame = frames.get(key)
      if (frame === undefined) frames.set(key, (frame = textFrame(`${prefix}${json}${suffix}`)))
      return frame
    },
  }
}

/**
 * A canonical string for a JSON-like value (object keys sorted; Sets and Maps by their sorted entries), so
 * structurally equal principals and variables give equal keys. Null for anything it cannot vouch for
 * (functions, class instances, cycles): such an operation is not shared.
 */
export function canonicalKey(value: unknown): string | null {
  try {
    return canonical(value, 0)
  } catch {
    return null
  }
}

const MAX_DEPTH = 32

function canonical(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new Error('too deep')
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') {
    return JSON.stringify(value)
  }
  if (value === undefined) return 'undefined'
  if (typeof value === 'bigint') return `${value}n`
  if (Array.isArray(value)) return `[${value.map((item) => canonical(item, depth + 1)).join(',')}]`
  if (value instanceof Set) {
    return `Set(${[...value]
      .map((item) => canonical(item, depth + 1))
      .sort()
      .join(',')})`
  }
  if (value instanceof Map) {
    return `Map(${[...value]
      .map(([k, v]) => `${canonical(k, depth + 1)}=>${canonical(v, depth + 1)}`)
      .sort()
      .join(',')})`
  }
  if (value instanceof Date) return `Date(${value.getTime()})`
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown
    if (proto !== Object.prototype && proto !== null) throw new Error('not a plain object')
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k], depth + 1)}`)
    return `{${entries.join(',')}}`
  }
  throw new Error(`cannot key a ${typeof value}`)
}
