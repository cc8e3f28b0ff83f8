-- Versions (Speckle "commits"), their receipts, and the activity log; plus the indexes the model and
-- project listings page through. Ids are 10-character random strings as elsewhere.

CREATE TABLE versions (
  id text PRIMARY KEY,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  model_id text NOT NULL REFERENCES models (id) ON DELETE CASCADE,
  -- The root object; no foreign key (objects are keyed by project and deleted by the objects module).
  object_id text NOT NULL,
  message text,
  source_application text,
  total_children_count integer,
  parents text[] NOT NULL DEFAULT '{}',
  -- No foreign key: a version keeps its author's id after the account is deleted (as Speckle).
  author_id text,
  -- clock_timestamp(): versions created in one transaction still get distinct, ordered times.
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- Model.versions and Project.versions page newest first by (created_at, id).
CREATE INDEX versions_model_created ON versions (model_id, created_at DESC, id DESC);
CREATE INDEX versions_project_created ON versions (project_id, created_at DESC, id DESC);

-- Who received a version, from which application (commitReceive / versionMutations.markReceived).
CREATE TABLE version_receipts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  version_id text NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
  user_id text NOT NULL,
  source_application text NOT NULL,
  message text,
  received_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX version_receipts_version ON version_receipts (version_id);

-- Project.models pages most recently updated first by (updated_at, id).
CREATE INDEX models_project_updated ON models (project_id, updated_at DESC, id DESC);
-- User.projects pages most recently updated first.
CREATE INDEX projects_updated ON projects (updated_at DESC, id DESC);

-- One row per mutation, written in the same transaction as the change. Speckle's names: resource_type
-- `stream` | `branch` | `commit` | `user`; action_type `stream_update`, `branch_create`, `commit_create`, …
-- No foreign keys: the log outlives what it describes (a `stream_delete` row stays after the project).
CREATE TABLE activity (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id text,
  user_id text,
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  action_type text NOT NULL,
  info jsonb NOT NULL DEFAULT '{}',
  time timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX activity_project_time ON activity (project_id, time DESC, id DESC);
CREATE INDEX activity_user_time ON activity (user_id, time DESC, id DESC);

-- Model names are unique within a project whatever their case (Speckle looks branches up by lower(name)).
CREATE UNIQUE INDEX models_project_lower_name ON models (project_id, lower(name));
