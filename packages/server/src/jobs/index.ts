/**
 * Durable jobs (DESIGN.md decision 4): `kinds.ts` lists every kind with its policy, `queue.ts` enqueues in
 * the caller's transaction and serves admins, `runner.ts` claims, leases, retries and records outcomes.
 */
export * from './kinds.js'
export * from './queue.js'
export * from './runner.js'
export type { JobStatus } from './repository.js'
