-- Project blobs (Speckle's `blob_storage`): the bytes live in the blob store under `blobs/<project>/<id>`;
-- this row is what the API lists. upload_status: 0 pending, 1 done, 2 error (Speckle's).
CREATE TABLE blobs (
  id text NOT NULL,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id text,
  object_key text NOT NULL,
  file_name text NOT NULL,
  file_type text NOT NULL,
  file_size bigint,
  file_hash text,
  upload_status integer NOT NULL DEFAULT 0,
  upload_error text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (project_id, id)
);
CREATE INDEX blobs_project_created ON blobs (project_id, created_at DESC, id DESC);

-- A file uploaded for import (Speckle's `file_uploads`); the id is the blob's. converted_status:
-- 0 queued, 1 converting, 2 completed, 3 error (Speckle's). model_name is the target model ("branch").
CREATE TABLE file_uploads (
  id text PRIMARY KEY,
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  model_name text NOT NULL,
  user_id text,
  file_name text NOT NULL,
  file_type text NOT NULL,
  file_size bigint NOT NULL,
  upload_complete boolean NOT NULL DEFAULT true,
  upload_date timestamptz NOT NULL DEFAULT clock_timestamp(),
  converted_status integer NOT NULL DEFAULT 0,
  converted_message text,
  converted_version_id text,
  converted_last_update timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX file_uploads_project ON file_uploads (project_id, upload_date DESC, id DESC);
