-- The change feed's outbox (DESIGN.md decision 9): every committed change writes its events here in the
-- same transaction, one row per topic it goes to. Every node tails the table by `seq` and hands the rows to
-- its own subscribers, so no node is special and an event cannot be lost between commit and publish.
-- `seq` is allocated when the row is inserted, not when it commits: a later seq may become visible before an
-- earlier one, and a rolled-back transaction leaves a hole for ever (the tailer waits a short grace for holes).
CREATE TABLE outbox (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic text NOT NULL,
  project_id text,
  type text NOT NULL,
  payload jsonb NOT NULL,
  -- clock_timestamp(), not now(): the row is written last in its transaction, so this is when its seq was taken.
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- Resume reads one topic's rows after a seq.
CREATE INDEX outbox_topic_seq ON outbox (topic, seq);
CREATE INDEX outbox_created_at ON outbox (created_at);

-- The highest seq the prune job removed: a client resuming from before it has missed events and must refetch.
CREATE TABLE outbox_state (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO outbox_state DEFAULT VALUES;
