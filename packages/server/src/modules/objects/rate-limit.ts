/**
 * Rate limits of the object routes, counted per token (per client IP for anonymous readers of public
 * projects) on the bus, so every node of a scaled deployment shares the counters.
 *
 * Speckle's defaults (WIRE.md "Limits": uploads 6/s, reads 3/s) would throttle a sender cutting 1 MB
 * batches far below the speed Truss reaches (about 50 requests per second per sender), so Truss's defaults
 * are set to stop a runaway or hostile client only; `TRUSS_OBJECTS_RATE_LIMITS` tightens them (Speckle's
 * own figures are `upload=6/s,400/min;download=3/s,200/min;diff=10/s,1000/min`) or turns them `off`.
 */
import type { RateLimitRule } from '../accounts/rate-limit.js'

export const OBJECT_ROUTE_ACTIONS = ['upload', 'download', 'diff'] as const
export type ObjectRouteAction = (typeof OBJECT_ROUTE_ACTIONS)[number]

/** Rules per action; an empty list means no limit. */
export type ObjectsRateLimits = Record<ObjectRouteAction, readonly RateLimitRule[]>

export const DEFAULT_OBJECTS_RATE_LIMITS: ObjectsRateLimits = {
  upload: [
    { limit: 500, windowSeconds: 1 },
    { limit: 20_000, windowSeconds: 60 },
  ],
  download: [
    { limit: 500, windowSeconds: 1 },
    { limit: 20_000, windowSeconds: 60 },
  ],
  diff: [
    { limit: 500, windowSeconds: 1 },
    { limit: 20_000, windowSeconds: 60 },
  ],
}

export const NO_OBJECTS_RATE_LIMITS: ObjectsRateLimits = { upload: [], download: [], diff: [] }

const UNIT_SECONDS: Record<string, number> = { s: 1, sec: 1, m: 60, min: 60, h: 3600, hour: 3600 }

/**
 * Parse `upload=6/s,400/min;download=3/s;diff=off`, or `off` for none. Actions left out keep their
 * defaults. Throws an Error whose message says what is wrong.
 */
export function parseObjectsRateLimits(text: string): ObjectsRateLimits {
  const spec = text.trim().toLowerCase()
  if (spec === 'off' || spec === 'none') return NO_OBJECTS_RATE_LIMITS
  const limits: Record<ObjectRouteAction, readonly RateLimitRule[]> = { ...DEFAULT_OBJECTS_RATE_LIMITS }
  for (const entry of spec
    .split(';')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const eq = entry.indexOf('=')
    const action = (eq < 0 ? entry : entry.slice(0, eq)).trim()
    if (!(OBJECT_ROUTE_ACTIONS as readonly string[]).includes(action)) {
      throw new Error(`"${action}" is not one of ${OBJECT_ROUTE_ACTIONS.join(', ')}`)
    }
    if (eq < 0) throw new Error(`"${entry}" needs rules, e.g. ${action}=6/s,400/min or ${action}=off`)
    const rules = entry.slice(eq + 1).trim()
    if (rules === 'off' || rules === 'none') {
      limits[action as ObjectRouteAction] = []
      continue
    }
    limits[action as ObjectRouteAction] = rules.split(',').map((rule) => {
      const match = /^\s*(\d+)\s*\/\s*(\d*)\s*([a-z]+)\s*$/.exec(rule)
      const unit = match ? UNIT_SECONDS[match[3]!] : undefined
      const limit = match ? Number(match[1]) : 0
      const count = match && match[2] !== '' ? Number(match[2]) : 1
      if (!match || unit === undefined || limit < 1 || count < 1) {
        throw new Error(`"${rule.trim()}" is not a rule such as 6/s, 400/min or 1000/10min`)
      }
      return { limit, windowSeconds: unit * count }
    })
  }
  return limits
}

/** The key a request is counted under: its token, or its IP when it has none. */
export function rateLimitSubject(request: { principal?: { tokenId: string } | null; ip: string }): string {
  return request.principal ? `token:${request.principal.tokenId}` : `ip:${request.ip}`
}
