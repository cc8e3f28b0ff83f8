/**
 * Rate limits for the account routes, counted on the bus (shared by every node in scaled mode) per client
 * IP. A route may have several windows (Speckle: login 4 per 10 minutes and 10 per 30 minutes).
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Bus } from '../../adapters/bus/types.js'

export interface RateLimitRule {
  limit: number
  windowSeconds: number
}

export interface AccountsRateLimits {
  login: readonly RateLimitRule[]
  register: readonly RateLimitRule[]
  /** Password-reset and verification mail requests: each sends a mail. */
  mail: readonly RateLimitRule[]
}

/** Speckle's defaults (WIRE.md "Limits"). */
export const DEFAULT_ACCOUNTS_RATE_LIMITS: AccountsRateLimits = {
  login: [
    { limit: 4, windowSeconds: 600 },
    { limit: 10, windowSeconds: 1800 },
  ],
  register: [{ limit: 6, windowSeconds: 3600 }],
  mail: [
    { limit: 4, windowSeconds: 600 },
    { limit: 10, windowSeconds: 1800 },
  ],
}

export const RATE_LIMITED_BODY = { err: 'You have been rate limited. Please try again later.' } as const

/**
 * Count one request against every rule of `action` for `subject` (default the request's IP). Answers 429
 * with `Retry-After` and `X-RateLimit-Reset` and returns false when a window is full; else sets
 * `X-RateLimit-Remaining`.
 */
export async function checkRateLimit(
  bus: Pick<Bus, 'hit'>,
  rules: readonly RateLimitRule[],
  action: string,
  request: FastifyRequest,
  reply: FastifyReply,
  subject: string = request.ip,
): Promise<boolean> {
  let remaining = Number.POSITIVE_INFINITY
  for (const rule of rules) {
    const result = await bus.hit(`ratelimit:${action}:${rule.windowSeconds}:${subject}`, rule.limit, rule.windowSeconds)
    if (!result.allowed) {
      request.log.info({ action, subject, limit: rule.limit, windowSeconds: rule.windowSeconds }, 'rate limited')
      await reply
        .code(429)
        .header('retry-after', String(Math.max(1, Math.ceil(result.retryAfterSeconds))))
        .header('x-ratelimit-reset', result.resetAt.toISOString())
        .send(RATE_LIMITED_BODY)
      return false
    }
    remaining = Math.min(remaining, result.remaining)
  }
  if (Number.isFinite(remaining)) reply.header('x-ratelimit-remaining', String(remaining))
  return true
}
