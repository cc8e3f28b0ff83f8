/**
 * What the admin's database statistics show (the monitor slice): the monitor's reading of the database
 * (size, rows and bytes per table), objects and bytes per project, and the job queue's depth and age.
 */
import type { SqlExecutor } from '../../adapters/sql/types.js'
import type { DatabaseStats } from '../../workers/monitor/index.js'

export interface ProjectObjectStats {
  projectId: string
  objects: number
  /** Stored size of the objects' data (compressed where the column is). */
  bytes: number
}

export interface QueueStats {
  kind: string
  status: string
  count: number
  oldestSeconds: number
}

export interface ServerStats {
  database: DatabaseStats
  /** Largest first. */
  projects: ProjectObjectStats[]
  jobs: QueueStats[]
}

/**
 * Objects and their stored bytes per project, largest first (one pass over the objects table). A large
 * object's pieces (rows whose id holds a dot, see objects/repository.ts) add to its bytes, not to the count.
 */
export async function projectObjectStats(sql: Pick<SqlExecutor, 'query'>, limit = 100): Promise<ProjectObjectStats[]> {
  const { rows } = await sql.query<{ project_id: string; objects: number; bytes: number }>(
    `SELECT project_id, (count(*) FILTER (WHERE strpos(id, '.') = 0))::float8 AS objects,
            coalesce(sum(pg_column_size(data)), 0)::float8 AS bytes
       FROM objects GROUP BY project_id ORDER BY bytes DESC, project_id LIMIT $1`,
    [limit],
  )
  return rows.map((r) => ({ projectId: r.project_id, objects: r.objects, bytes: r.bytes }))
}
