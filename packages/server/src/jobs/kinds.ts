/**
 * Every job kind, in one place: its payload, worker group and retry policy (handlers are registered by
 * `main.ts` / `truss worker` from the modules that own the work). A kind's policy is read by whoever
 * enqueues it, and by the worker that runs it.
 */

export const WORKER_GROUPS = ['webhooks', 'imports', 'previews', 'monitor'] as const
export type WorkerGroup = (typeof WORKER_GROUPS)[number]

export interface JobPayloads {
  /** Deliver one webhook event (a `webhook_events` row) to its webhook's URL. */
  'webhook.deliver': { eventId: string }
  /** Convert an uploaded file (a `file_uploads` row) into objects and a version. */
  'fileimport.convert': { fileUploadId: string }
  /** Render the preview images of a version's root object. */
  'preview.render': { projectId: string; objectId: string }
}
export type JobKindName = keyof JobPayloads

export interface KindPolicy {
  group: Exclude<WorkerGroup, 'monitor'>
  /** Attempts in all, the first included (stored with the job when enqueued); after the last failure it is dead. */
  maxAttempts: number
  /** Exponential back-off: base × 2^(attempt−1), at most max, jittered down to half. */
  backoff: { baseSeconds: number; maxSeconds: number }
  /** Jobs of this kind one process runs at once. */
  concurrency: number
  /** An attempt still running after this long is aborted (and counts as failed). */
  timeoutSeconds: number
}

export const JOB_KINDS: Record<JobKindName, KindPolicy> = {
  // Speckle makes one attempt; Truss retries over about an hour (10 s, 20 s, 40 s, … capped at 15 min).
  'webhook.deliver': {
    group: 'webhooks',
    maxAttempts: 6,
    backoff: { baseSeconds: 10, maxSeconds: 900 },
    concurrency: 8,
    timeoutSeconds: 60,
  },
  'fileimport.convert': {
    group: 'imports',
    maxAttempts: 3,
    backoff: { baseSeconds: 30, maxSeconds: 600 },
    concurrency: 1,
    timeoutSeconds: 1800,
  },
  'preview.render': {
    group: 'previews',
    maxAttempts: 3,
    backoff: { baseSeconds: 30, maxSeconds: 600 },
    concurrency: 1,
    timeoutSeconds: 300,
  },
}

export function isJobKind(value: string): value is JobKindName {
  return Object.hasOwn(JOB_KINDS, value)
}

export function isWorkerGroup(value: string): value is WorkerGroup {
  return (WORKER_GROUPS as readonly string[]).includes(value)
}

/** Seconds to wait before attempt `attempt + 1`, after attempt `attempt` (1-based) failed. */
export function backoffSeconds(
  attempt: number,
  policy: { baseSeconds: number; maxSeconds: number },
  random: () => number = Math.random,
): number {
  const full = Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** Math.max(0, attempt - 1))
  // Jitter in [full/2, full]: workers that failed together do not come back together.
  return full / 2 + (full / 2) * random()
}
