-- Durable background work (DESIGN.md decision 4). A job row is written in the same transaction as the
-- change that causes it; workers claim ready rows with FOR UPDATE SKIP LOCKED and hold them by a lease.
-- status: queued (waiting for run_at), running (leased until lease_until), succeeded, dead (last attempt
-- failed; last_error kept). A failed attempt that has attempts left goes back to queued with a later run_at.
CREATE TABLE jobs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL CHECK (max_attempts > 0),
  run_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  lease_until timestamptz,
  -- The worker holding the lease; with `attempts` it fences a worker whose lease ran out from finishing.
  locked_by text,
  last_error text,
  result jsonb,
  -- A key that makes enqueueing idempotent while a job with it is unfinished (e.g. one preview per version).
  dedupe_key text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz
);
-- What a claim scans: ready queued jobs in order, and running jobs whose lease ran out.
CREATE INDEX jobs_queued ON jobs (run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE status = 'running';
CREATE INDEX jobs_kind_status ON jobs (kind, status, created_at DESC);
CREATE UNIQUE INDEX jobs_dedupe ON jobs (kind, dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
