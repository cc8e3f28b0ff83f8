-- Comment threads (Speckle's `comments`, `comment_links`, `comment_views`). A thread has no parent_id; a
-- reply points at its thread. `text` is Speckle's SmartTextEditorValue ({version, type, doc, blobIds}),
-- validated by the comments module (rich-text.ts) before it is stored; `raw_text` its plain text.
-- `updated_at` moves with an edit and with every reply to the thread (read/unread compares against it).
CREATE TABLE comments (
  id text PRIMARY KEY,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  -- No foreign key: a comment keeps its author's id after the account is deleted (as versions do).
  author_id text NOT NULL,
  parent_id text REFERENCES comments (id) ON DELETE CASCADE,
  text jsonb NOT NULL,
  raw_text text NOT NULL,
  screenshot text,
  -- The viewer's SerializedViewerState as the client sent it (camera, selection, section box, filters).
  viewer_state jsonb,
  archived boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX comments_project_threads ON comments (project_id, created_at DESC, id DESC) WHERE parent_id IS NULL;
CREATE INDEX comments_replies ON comments (parent_id, created_at, id) WHERE parent_id IS NOT NULL;

-- What a thread is anchored to: versions ('commit'), objects ('object') or the whole project ('stream').
CREATE TABLE comment_links (
  comment_id text NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
  resource_type text NOT NULL CHECK (resource_type IN ('stream', 'commit', 'object')),
  resource_id text NOT NULL,
  PRIMARY KEY (comment_id, resource_type, resource_id)
);
CREATE INDEX comment_links_resource ON comment_links (resource_type, resource_id);

-- When each user last opened a thread: unread means never, or before the thread's updated_at.
CREATE TABLE comment_views (
  comment_id text NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  viewed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (comment_id, user_id)
);

-- In-app notifications: a project member mentioned in a comment (one row per user and comment).
CREATE TABLE comment_notifications (
  id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  comment_id text NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('mention')),
  actor_id text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  read_at timestamptz,
  UNIQUE (user_id, comment_id, kind)
);
CREATE INDEX comment_notifications_user ON comment_notifications (user_id, created_at DESC, id DESC);
