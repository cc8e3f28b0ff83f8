-- Preview images of a project's objects (Speckle's `object_preview` and `previews`). One status row per
-- (project, object): pending (a render is wanted), done (its images are stored) or error (the last render
-- failed; error says why). `angles` is how many turntable images were stored, angle 0 the default view.
CREATE TABLE preview_renders (
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  object_id text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'error')),
  angles integer NOT NULL DEFAULT 0,
  error text,
  -- When a render was last asked for: the routes ask again for an old error, not on every request.
  requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  rendered_at timestamptz,
  PRIMARY KEY (project_id, object_id)
);

-- The PNG bytes, kept in the database: a few tens of kB an angle, written in the transaction that
-- finishes the render job, and gone with the project.
CREATE TABLE preview_images (
  project_id text NOT NULL,
  object_id text NOT NULL,
  angle integer NOT NULL CHECK (angle >= 0),
  png bytea NOT NULL,
  PRIMARY KEY (project_id, object_id, angle),
  FOREIGN KEY (project_id, object_id) REFERENCES preview_renders (project_id, object_id) ON DELETE CASCADE
);
