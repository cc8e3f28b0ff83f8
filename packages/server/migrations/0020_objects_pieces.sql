-- Objects of 4 MiB or more are stored in pieces (repository.ts, `PIECES_MARK`): a stub
-- `{"__truss_pieces":N}` under the object's id and N rows `<id>.000000`, `<id>.000001`, ... holding its
-- text cut into pieces of about 4 MiB, each starting at a UTF-8 character. This rewrites the large
-- objects of existing data folders that way; reads also accept an object still stored whole.
DO $$
DECLARE
  r record;
  piece_bytes constant int := 4194304;
  n int;
BEGIN
  FOR r IN
    SELECT project_id, id FROM objects
    WHERE octet_length(data) >= piece_bytes AND strpos(id, '.') = 0 AND left(data, 18) <> '{"__truss_pieces":'
  LOOP
    INSERT INTO objects (project_id, id, data)
    SELECT r.project_id, r.id || '.' || lpad((row_number() OVER (ORDER BY s.a) - 1)::text, 6, '0'),
           convert_from(substring(o.b FROM s.a FOR s.z - s.a), 'UTF8')
    FROM (SELECT convert_to(data, 'UTF8') AS b FROM objects WHERE project_id = r.project_id AND id = r.id) AS o,
    LATERAL (
      SELECT a, lead(a, 1, octet_length(o.b) + 1) OVER (ORDER BY a) AS z
      FROM (
        -- The first character start at or after each step (continuation bytes are 10xxxxxx).
        SELECT CASE
            WHEN get_byte(o.b, g - 1) & 192 <> 128 THEN g
            WHEN g + 1 > octet_length(o.b) THEN g + 1
            WHEN get_byte(o.b, g) & 192 <> 128 THEN g + 1
            WHEN g + 2 > octet_length(o.b) THEN g + 2
            WHEN get_byte(o.b, g + 1) & 192 <> 128 THEN g + 2
            ELSE g + 3
          END AS a
        FROM generate_series(1, octet_length(o.b), piece_bytes) AS g
      ) AS starts
    ) AS s
    WHERE s.z > s.a
    ON CONFLICT (project_id, id) DO UPDATE SET data = EXCLUDED.data;
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE objects SET data = '{"__truss_pieces":' || n || '}' WHERE project_id = r.project_id AND id = r.id;
  END LOOP;
END $$;
