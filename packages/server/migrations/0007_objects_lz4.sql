-- Values over about 2 kB (a root object's closure runs to megabytes) are compressed when stored. lz4 does
-- it in about a third of the time of PostgreSQL's default pglz (an 11.6 MB root: 110-140 ms against
-- 350 ms here) for a slightly larger result. Builds without lz4 (PGlite's) keep pglz. Applies to rows
-- written from now on; nothing is rewritten.
DO $$
BEGIN
  ALTER TABLE objects ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  NULL;
END $$;
