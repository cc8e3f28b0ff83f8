-- Project webhooks (Speckle's `webhooks_config` / `webhooks_events`), plus the attempt history Speckle lacks.
CREATE TABLE webhooks (
  id text PRIMARY KEY,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  url text NOT NULL,
  description text,
  -- Kept as given: it keys the HMAC of every delivery, so it must be readable. Never returned by the API.
  secret text,
  triggers text[] NOT NULL,
  enabled boolean NOT NULL DEFAULT true,
  -- Failed attempts in a row; a success resets it; past the limit the webhook is disabled.
  consecutive_failures integer NOT NULL DEFAULT 0,
  disabled_reason text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhooks_project ON webhooks (project_id, created_at);

-- One row per event per webhook, with Speckle's status: 0 queued, 1 sending, 2 called, 3 failed. The
-- target is copied in so that an event about the project's own deletion is still delivered after the
-- webhook went with the project. `payload` holds the exact body bytes once built (retries resend them).
CREATE TABLE webhook_events (
  id text PRIMARY KEY,
  webhook_id text REFERENCES webhooks (id) ON DELETE SET NULL,
  -- No foreign key: the events of a deleted project stay until delivered.
  project_id text NOT NULL,
  event_name text NOT NULL,
  event jsonb NOT NULL,
  url text NOT NULL,
  secret text,
  payload text,
  status integer NOT NULL DEFAULT 0,
  status_info text,
  retry_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_update timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhook_events_webhook ON webhook_events (webhook_id, created_at DESC, id DESC);

CREATE TABLE webhook_deliveries (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id text NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  status_code integer,
  latency_ms integer NOT NULL,
  response_excerpt text,
  error text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id, attempt);
