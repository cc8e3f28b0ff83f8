/**
 * The query module: filtered reads of a version's tree (`version.objects`, `POST …/versions/:id/query`),
 * diffs between two versions' trees, and the expression indexes an admin adds for paths used often.
 * A tree is indexed on its first query (see migrations/0014_query.sql); reads after that touch only the
 * tree's members. Every read runs within a time budget: past it, `QueryTimeout` says which index helps.
 */
import { createHash } from 'node:crypto'
import type { Sql, SqlExecutor } from '../../adapters/sql/types.js'
import { BadUserInput, Unavailable } from '../../errors.js'
import type { ObjectsService } from '../objects/service.js'
import { parseFilter, parsePath, pathNumber, pathText, readsProps, type FilterNode } from './filter.js'
import { createQueryRepository, type DiffCounts, type MemberRow, type Selection } from './repository.js'

export { FilterSyntaxError } from './filter.js'

/** A read that ran past its time budget; the message names the fix. */
export class QueryTimeout extends BadUserInput {
  override readonly statusCode = 422
  constructor(budgetMs: number, paths: readonly string[]) {
    super(
      `The query took longer than ${budgetMs} ms` +
        (paths.length > 0
          ? `; an admin can index ${paths.map((p) => `'${p}'`).join(', ')} (truss admin index-path PATH)`
          : '') +
        ', or narrow it with speckle_type',
      { graphqlCode: 'QUERY_TIMEOUT' },
    )
  }
}

export interface QueryServiceOptions {
  sql: Sql
  objects: Pick<ObjectsService, 'closureIdBatches'>
  /** Longest a read may run, in ms (default 10,000). */
  timeBudgetMs?: number
  /**
   * Members per statement where the database cannot stop a statement at a timeout (PGlite: it has no
   * `statement_timeout`), so the budget is checked between chunks (default 20,000).
   */
  chunkSize?: number
  /** Longest a request waits for another request's indexing of the same tree, in ms (default 10 minutes). */
  buildWaitMs?: number
}

export interface ObjectQuery {
  projectId: string
  /** The version's root object. */
  rootId: string
  filter?: string | null
  /** Dotted paths to return (like objectloader2's attribute mask); absent: the whole object. */
  select?: readonly string[] | null
  limit?: number | null
  cursor?: string | null
}

export interface QueriedObject {
  id: string
  speckleType: string | null
  applicationId: string | null
  /** The object's JSON without `__closure`, or only the selected paths. */
  data: Record<string, unknown>
}

export interface QueryPage {
  items: QueriedObject[]
  /** Null at the end. */
  cursor: string | null
}

export type DiffKind = 'added' | 'removed' | 'changed'

export interface DiffItem {
  kind: DiffKind
  id: string
  previousId: string | null
  applicationId: string | null
  speckleType: string | null
}

export interface DiffPage extends DiffCounts {
  items: DiffItem[]
  cursor: string | null
}

export const DEFAULT_QUERY_LIMIT = 100
export const MAX_QUERY_LIMIT = 10_000
const KINDS: DiffKind[] = ['added', 'removed', 'changed']
const INDEX_PREFIX = 'query_props_path_'

function encode(parts: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url')
}

function decode(cursor: string | null | undefined): unknown[] | null {
  if (!cursor) return null
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(parsed)) return parsed
  } catch {
    // refused below
  }
  throw new BadUserInput('The cursor is not valid')
}

function limitOf(limit: number | null | undefined): number {
  if (limit === null || limit === undefined) return DEFAULT_QUERY_LIMIT
  if (!Number.isInteger(limit) || limit < 0) throw new BadUserInput('limit must be a non-negative integer')
  return Math.min(limit, MAX_QUERY_LIMIT)
}

/** The JSON paths a filter reads (for the timeout's advice). */
function propPaths(node: FilterNode, out = new Set<string>()): Set<string> {
  if (node.kind === 'and' || node.kind === 'or') {
    propPaths(node.left, out)
    propPaths(node.right, out)
  } else if (node.kind === 'not') propPaths(node.operand, out)
  else if (readsProps(node) && (node.kind === 'compare' || node.kind === 'exists')) out.add(node.path.join('.'))
  return out
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let at = target
  for (const segment of path.slice(0, -1)) {
    const next = at[segment]
    if (typeof next !== 'object' || next === null) at[segment] = {}
    at = at[segment] as Record<string, unknown>
  }
  at[path[path.length - 1]!] = value
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function createQueryService(options: QueryServiceOptions) {
  const { sql, objects } = options
  const repo = createQueryRepository(sql)
  const budgetMs = options.timeBudgetMs ?? 10_000
  const chunkSize = options.chunkSize ?? 20_000
  const buildWaitMs = options.buildWaitMs ?? 10 * 60_000
  const building = new Map<string, Promise<number>>()

  /** The key of a root's indexed tree, indexing it first if need be. */
  function rootKey(projectId: string, rootId: string): Promise<number> {
    const id = `${projectId}\n${rootId}`
    let pending = building.get(id)
    if (!pending) {
      pending = ensureIndexed(projectId, rootId).finally(() => building.delete(id))
      building.set(id, pending)
    }
    return pending
  }

  async function ensureIndexed(projectId: string, rootId: string): Promise<number> {
    const deadline = Date.now() + buildWaitMs
    for (;;) {
      const claim = await repo.claimRoot(projectId, rootId)
      if (claim.state === 'ready') return claim.key
      if (claim.mine) {
        try {
          await repo.clearBuild(claim.key)
          await repo.stage(claim.key, [rootId])
          for await (const ids of objects.closureIdBatches(projectId, rootId, 20_000)) await repo.stage(claim.key, ids)
          await repo.loadStaged(projectId, claim.key)
          return claim.key
        } catch (err) {
          await repo.failBuild(claim.key, err instanceof Error ? err.message : String(err)).catch(() => undefined)
          throw err
        }
      }
      if (Date.now() > deadline) throw new Unavailable('The version is still being indexed for queries; retry shortly')
      await sleep(200) // another process is indexing this tree
    }
  }

  /**
   * Run `read` within the budget. PostgreSQL stops the statement itself (`statement_timeout`); PGlite
   * cannot, so its reads come in chunks (`chunked`) and the budget is checked between them.
   */
  async function budgeted<T>(
    paths: Set<string>,
    read: (db: SqlExecutor, timeLeft: () => void) => Promise<T>,
  ): Promise<T> {
    const started = Date.now()
    const timeLeft = () => {
      if (Date.now() - started > budgetMs) throw new QueryTimeout(budgetMs, [...paths])
    }
    if (sql.kind === 'pglite') return read(sql, timeLeft)
    try {
      return await sql.transaction(async (tx) => {
        await tx.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.trunc(budgetMs))}`)
        return read(tx, timeLeft)
      })
    } catch (err) {
      if ((err as { code?: string }).code === '57014') throw new QueryTimeout(budgetMs, [...paths])
      throw err
    }
  }

  function parsed(q: ObjectQuery): { filter: FilterNode | null; selection: Selection } {
    const filter = q.filter && q.filter.trim() !== '' ? parseFilter(q.filter) : null
    const selection: Selection =
      q.select === null || q.select === undefined ? { all: true } : { all: false, paths: q.select.map(parsePath) }
    return { filter, selection }
  }

  function toObject(row: MemberRow, selection: Selection): QueriedObject {
    let data: Record<string, unknown>
    if (selection.all) data = row.props ?? {}
    else {
      data = {}
      selection.paths.forEach((path, i) => {
        const value = row[`s${i}`]
        if (value !== null && value !== undefined) setPath(data, path, value)
      })
    }
    return { id: row.object_id, speckleType: row.speckle_type, applicationId: row.application_id, data }
  }

  /** One page of the tree's objects matching the filter, ordered by id. */
  async function find(q: ObjectQuery): Promise<QueryPage> {
    const { filter, selection } = parsed(q)
    const limit = limitOf(q.limit)
    const cursor = decode(q.cursor)
    const after = cursor && typeof cursor[0] === 'string' ? cursor[0] : null
    if (cursor && after === null) throw new BadUserInput('The cursor is not valid')
    const key = await rootKey(q.projectId, q.rootId)
    if (limit === 0) return { items: [], cursor: null }
    const paths = filter ? propPaths(filter) : new Set<string>()
    const chunked = sql.kind === 'pglite' && filter !== null && readsProps(filter)
    const rows = await budgeted(paths, async (db, timeLeft) => {
      const base = { projectId: q.projectId, key, filter, selection }
      if (!chunked) return repo.page(db, { ...base, after, upTo: null, limit })
      const out: MemberRow[] = []
      let from = after
      for (;;) {
        const upTo = await repo.chunkEnd(key, from, chunkSize)
        out.push(...(await repo.page(db, { ...base, after: from, upTo, limit: limit - out.length })))
        if (out.length >= limit || upTo === null) return out
        from = upTo
        timeLeft()
      }
    })
    const items = rows.map((r) => toObject(r, selection))
    return { items, cursor: items.length === limit ? encode([items[items.length - 1]!.id]) : null }
  }

  /** How many of the tree's objects match the filter. */
  async function count(q: Pick<ObjectQuery, 'projectId' | 'rootId' | 'filter'>): Promise<number> {
    const { filter } = parsed({ ...q, select: [] })
    const key = await rootKey(q.projectId, q.rootId)
    const paths = filter ? propPaths(filter) : new Set<string>()
    const chunked = sql.kind === 'pglite' && filter !== null && readsProps(filter)
    return budgeted(paths, async (db, timeLeft) => {
      if (!chunked) return repo.count(db, { projectId: q.projectId, key, filter })
      let total = 0
      let from: string | null = null
      for (;;) {
        const upTo = await repo.chunkEnd(key, from, chunkSize)
        total += await repo.count(db, { projectId: q.projectId, key, filter, after: from, upTo })
        if (upTo === null) return total
        from = upTo
        timeLeft()
      }
    })
  }

  /** Every matching object, a page at a time (each page within the budget). */
  async function* stream(q: Omit<ObjectQuery, 'cursor' | 'limit'>, pageSize = 1000): AsyncIterable<QueriedObject[]> {
    let cursor: string | null = null
    do {
      const page: QueryPage = await find({ ...q, limit: pageSize, cursor })
      if (page.items.length > 0) yield page.items
      cursor = page.cursor
    } while (cursor !== null)
  }

  /**
   * What changed from the tree of `fromRootId` to that of `toRootId`: counts, and a page of the added,
   * removed and changed objects ordered by kind then id. Changed: same applicationId, different id.
   */
  async function diff(q: {
    projectId: string
    fromRootId: string
    toRootId: string
    kinds?: readonly DiffKind[] | null
    limit?: number | null
    cursor?: string | null
  }): Promise<DiffPage> {
    const limit = limitOf(q.limit)
    const cursor = decode(q.cursor)
    if (cursor && (typeof cursor[0] !== 'number' || typeof cursor[1] !== 'string')) {
      throw new BadUserInput('The cursor is not valid')
    }
    const kinds = (q.kinds && q.kinds.length > 0 ? q.kinds : KINDS).map((k) => KINDS.indexOf(k))
    const [fromKey, toKey] = await Promise.all([rootKey(q.projectId, q.fromRootId), rootKey(q.projectId, q.toRootId)])
    const { key, counts } = await repo.diff(fromKey, toKey)
    const rows =
      limit === 0
        ? []
        : await repo.diffItems(
            key,
            cursor ? { kind: cursor[0] as number, id: cursor[1] as string } : null,
            kinds,
            limit,
          )
    const items = rows.map((r): DiffItem => ({
      kind: KINDS[r.kind]!,
      id: r.object_id,
      previousId: r.previous_id,
      applicationId: r.application_id,
      speckleType: r.speckle_type,
    }))
    const last = rows[rows.length - 1]
    return { ...counts, items, cursor: rows.length === limit && last ? encode([last.kind, last.object_id]) : null }
  }

  /**
   * Index a JSON path for filters: one index for text comparisons and `=` on strings, one for numeric
   * ones. DDL takes no parameters, so the path is checked to identifier characters (`parsePath`) before
   * it is written into the statement. Returns the index names.
   */
  async function createPathIndex(pathText_: string): Promise<string[]> {
    const path = parsePath(pathText_)
    const literal = `'{${path.join(',')}}'::text[]`
    const base = `${INDEX_PREFIX}${createHash('sha256').update(path.join('.')).digest('hex').slice(0, 16)}`
    const asProps = (expr: string) => expr.replaceAll('p.props', 'props')
    await repo.createIndex(`${base}_t`, `project_id, ${asProps(pathText(literal))}`)
    await repo.createIndex(`${base}_n`, `project_id, ${asProps(pathNumber(literal))}`)
    return [`${base}_t`, `${base}_n`]
  }

  async function dropPathIndex(pathText_: string): Promise<void> {
    const path = parsePath(pathText_)
    const base = `${INDEX_PREFIX}${createHash('sha256').update(path.join('.')).digest('hex').slice(0, 16)}`
    await repo.dropIndex(`${base}_t`)
    await repo.dropIndex(`${base}_n`)
  }

  /** The path indexes that exist, with their definitions (`valid` false while one builds or after it failed). */
  function listPathIndexes() {
    return repo.listIndexes(INDEX_PREFIX)
  }

  return {
    find,
    count,
    stream,
    diff,
    /** Index a version's tree now (it happens on first query otherwise); resolves to its member count. */
    prepare: async (projectId: string, rootId: string) => {
      const key = await rootKey(projectId, rootId)
      return repo.count(sql, { projectId, key, filter: null })
    },
    createPathIndex,
    dropPathIndex,
    listPathIndexes,
  }
}

export type QueryService = ReturnType<typeof createQueryService>
