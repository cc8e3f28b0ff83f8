-- The query module's index of version trees (derived data: every row can be rebuilt from `objects`).
-- `objects` keeps each object's JSON as text and its closure inside the root's JSON; filtering a
-- million-object tree there would parse the root's closure and every object on every query. Instead a
-- root's tree is indexed once, on its first query: one row per member (the root and every closure id)
-- with the two properties queries and diffs use most, and each object's JSON once per project as jsonb.

-- One row per indexed root (a version's referenced object). `key` keeps the member rows narrow.
CREATE TABLE query_roots (
  key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id text NOT NULL,
  root_id text NOT NULL,
  -- building | ready | failed
  state text NOT NULL,
  object_count integer,
  error text,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  built_at timestamptz,
  UNIQUE (project_id, root_id)
);

-- The members of a root's tree. Ordered by object id: cursors page by it.
CREATE TABLE query_members (
  root_key bigint NOT NULL,
  object_id text NOT NULL,
  speckle_type text,
  application_id text,
  PRIMARY KEY (root_key, object_id)
);
-- Counts and filters by type read this index alone.
CREATE INDEX query_members_type ON query_members (root_key, speckle_type, object_id);

-- Each member's JSON as jsonb, without `__closure` (content-addressed: written once per project, shared by
-- every version holding the object). Expression indexes an admin adds (`truss admin index-path`) go here.
CREATE TABLE query_props (
  project_id text NOT NULL,
  id text NOT NULL,
  props jsonb NOT NULL,
  PRIMARY KEY (project_id, id)
);

-- Ids of a tree being indexed, before they join `objects` (unlogged: scratch data).
CREATE UNLOGGED TABLE query_staging (
  root_key bigint NOT NULL,
  object_id text NOT NULL
);
CREATE INDEX query_staging_root ON query_staging (root_key);

-- Diffs between two roots, computed once (objects are immutable, so a diff never goes stale).
CREATE TABLE query_diffs (
  key bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  from_key bigint NOT NULL,
  to_key bigint NOT NULL,
  added integer NOT NULL,
  removed integer NOT NULL,
  changed integer NOT NULL,
  unchanged integer NOT NULL,
  UNIQUE (from_key, to_key)
);
-- kind: 0 added, 1 removed, 2 changed; `object_id` is the object in the later tree (the earlier one's for
-- removed), `previous_id` the earlier object of a changed pair.
CREATE TABLE query_diff_items (
  diff_key bigint NOT NULL,
  kind smallint NOT NULL,
  object_id text NOT NULL,
  previous_id text,
  application_id text,
  speckle_type text,
  PRIMARY KEY (diff_key, kind, object_id)
);
