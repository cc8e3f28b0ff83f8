-- Content-addressed objects, keyed by (project, id). The JSON is kept as text exactly as uploaded:
-- downloads stream it back without re-encoding (reading text is ~3x faster than jsonb here).
-- The closure (descendant id -> depth) lives inside each object's JSON (`__closure`), so a tree is
-- read by one indexed lookup per batch of ids. No foreign key to projects: a per-row FK check would
-- cost upload throughput; the projects module deletes a project's objects explicitly.
CREATE TABLE IF NOT EXISTS objects (
  project_id text NOT NULL,
  id text NOT NULL,
  data text NOT NULL,
  PRIMARY KEY (project_id, id)
);
