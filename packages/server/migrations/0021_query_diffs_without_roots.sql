-- Diffs leave the two versions' roots out now (a root has no applicationId and always differs, so it was
-- counted as one added and one removed object). Cached diffs are dropped; they are computed again on demand.
DELETE FROM query_diff_items;
DELETE FROM query_diffs;
