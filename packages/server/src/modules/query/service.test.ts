import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../auth/test-utils/identity.js'
import { domainContext, type DomainContext } from '../../test-utils/domain.js'
import { FilterSyntaxError, parseFilter } from './filter.js'
import { createQueryService, QueryTimeout, type QueryService } from './service.js'

const hexId = () => randomBytes(16).toString('hex')

/** A version tree: a root over `objects`, stored in `projectId`; resolves to the root id. */
async function storeTree(ctx: DomainContext, projectId: string, objects: Record<string, unknown>[]): Promise<string> {
  const rows = objects.map((o) => {
    const id = typeof o.id === 'string' ? o.id : hexId()
    return { id, json: JSON.stringify({ ...o, id }) }
  })
  const rootId = hexId()
  const closure = Object.fromEntries(rows.map((r) => [r.id, 1]))
  rows.push({ id: rootId, json: JSON.stringify({ id: rootId, speckle_type: 'Base', __closure: closure }) })
  await ctx.objects.store(projectId, rows)
  return rootId
}

const WALL = 'Objects.BuiltElements.Wall'

describe('the filter language', () => {
  it('binds and tighter than or, and honours parentheses', () => {
    const n = parseFilter('a = 1 or b = 2 and c = 3')
    expect(n.kind).toBe('or')
    const m = parseFilter('(a = 1 or b = 2) and c = 3')
    expect(m.kind).toBe('and')
  })

  it('reads quoted strings with escapes', () => {
    expect(parseFilter(`name = 'it\\'s "x"'`)).toEqual({ kind: 'compare', path: ['name'], op: '=', value: `it's "x"` })
  })

  it.each([
    ['height >', 8],
    ['height > 3 and', 14],
    ['(height > 3', 11],
    ["name = 'open", 7],
    ['a.b. = 1', 5],
    ['height # 3', 7],
    ['', 0],
  ])('refuses %j naming position %i', (text, position) => {
    try {
      parseFilter(text)
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(FilterSyntaxError)
      expect((err as FilterSyntaxError).position).toBe(position)
    }
  })
})

describe.each(['pglite', 'postgres'] as const)('the query service on %s', (kind) => {
  let sql: Awaited<ReturnType<typeof openDatabase>>
  let ctx: DomainContext
  let query: QueryService
  let projectId: string
  let otherProjectId: string
  let rootA: string
  let rootB: string

  beforeAll(async () => {
    sql = await openDatabase(kind)
    ctx = domainContext(sql)
    query = createQueryService({ sql, objects: ctx.objects, chunkSize: 7 })
    const owner = await ctx.newUser()
    projectId = (await ctx.newProject(owner.id)).id
    otherProjectId = (await ctx.newProject(owner.id)).id
    const objects: Record<string, unknown>[] = []
    for (let i = 0; i < 30; i++) {
      objects.push({
        id: hexId(),
        speckle_type: i % 3 === 0 ? WALL : 'Objects.BuiltElements.Floor',
        applicationId: `app-${i}`,
        name: i % 2 === 0 ? `Basic Wall ${i}` : `Floor_${i}%`,
        height: i,
        label: String(i),
        parameters: { fireRating: { value: i % 5 === 0 ? 'EI60' : 'EI30' } },
        ...(i === 7 ? { quoted: `O'Brien "x"` } : {}),
      })
    }
    rootA = await storeTree(ctx, projectId, objects)
    // Version B: objects 0-9 as they were, 10-19 changed (same applicationId), 20-29 gone, 5 new ones.
    const b = objects.slice(0, 10)
    for (let i = 10; i < 20; i++) b.push({ ...objects[i], id: hexId(), height: i + 100 })
    for (let i = 0; i < 5; i++) b.push({ speckle_type: WALL, applicationId: `new-${i}`, name: 'New', height: 1 })
    rootB = await storeTree(ctx, projectId, b)
    // Another project's tree: never answered for this project's version.
    await storeTree(ctx, otherProjectId, [{ speckle_type: WALL, name: 'elsewhere' }])
  }, 60_000)

  afterAll(async () => {
    await sql?.dispose()
  })

  const ids = async (filter: string) => {
    const all = []
    for await (const page of query.stream({ projectId, rootId: rootA, filter, select: ['height'] }, 4))
      all.push(...page)
    return all.map((o) => o.data.height as number).sort((x, y) => x - y)
  }

  it('filters on speckle_type, numbers, strings and substrings', async () => {
    expect(await query.count({ projectId, rootId: rootA, filter: `speckle_type = "${WALL}"` })).toBe(10)
    expect(await ids('height > 26')).toEqual([27, 28, 29])
    expect(await ids('height >= 3 and height < 5')).toEqual([3, 4])
    expect(await ids(`parameters.fireRating.value = 'EI60' and speckle_type = "${WALL}"`)).toEqual([0, 15])
    expect(await ids("name ~ 'basic WALL 2'")).toEqual([2, 20, 22, 24, 26, 28])
    // `%` and `_` are literal in `~`.
    expect(await ids("name ~ '_2%'")).toEqual([])
    expect(await ids("name ~ '9%'")).toEqual([9, 19, 29])
  })

  it('compares JSON values only with values of their own type', async () => {
    expect(await ids('height = 3')).toEqual([3])
    expect(await ids("height = '3'")).toEqual([])
    expect(await ids("label = '3'")).toEqual([3])
    expect(await ids('label > 3')).toEqual([])
  })

  it('treats a missing path as no match, not as an error, and not negates it', async () => {
    expect(await ids("nothing.here = 'x'")).toEqual([])
    expect(await ids("nothing != 'x'")).toEqual([])
    expect((await ids("not nothing = 'x'")).length).toBe(31) // the root too
    expect(await ids('quoted exists')).toEqual([7])
    expect(await ids(`quoted = 'O\\'Brien "x"'`)).toEqual([7])
  })

  it('applies and/or precedence and parentheses', async () => {
    expect(await ids('height = 1 or height = 2 and height = 3')).toEqual([1])
    expect(await ids('(height = 1 or height = 2) and height = 2')).toEqual([2])
    expect(await ids('not (height > 2) and height exists')).toEqual([0, 1, 2])
  })

  it('keeps injection attempts in values as values', async () => {
    expect(await ids(`name = "x'; DROP TABLE objects; --"`)).toEqual([])
    expect(await ids(`name ~ "' OR 1=1 --"`)).toEqual([])
    await expect(
      query.count({ projectId, rootId: rootA, filter: "name'); DROP TABLE objects; -- = 1" }),
    ).rejects.toThrow(FilterSyntaxError)
    await expect(query.find({ projectId, rootId: rootA, select: ["a'}; DROP TABLE objects"] })).rejects.toThrow(
      FilterSyntaxError,
    )
    expect((await sql.query('SELECT count(*)::int AS n FROM objects')).rows[0]).toBeTruthy()
  })

  it("answers only the version's own tree", async () => {
    expect(await query.count({ projectId, rootId: rootA, filter: "name = 'elsewhere'" })).toBe(0)
    expect(await query.count({ projectId, rootId: rootA })).toBe(31) // the root and its 30 children
    expect(await query.count({ projectId, rootId: rootB, filter: `speckle_type = "${WALL}"` })).toBe(12)
  })

  it('returns only the selected paths', async () => {
    const page = await query.find({
      projectId,
      rootId: rootA,
      filter: 'height = 5',
      select: ['name', 'parameters.fireRating.value', 'speckle_type', 'missing'],
    })
    expect(page.items).toHaveLength(1)
    expect(page.items[0]!.data).toEqual({
      name: 'Floor_5%',
      parameters: { fireRating: { value: 'EI60' } },
      speckle_type: 'Objects.BuiltElements.Floor',
    })
    const whole = await query.find({ projectId, rootId: rootA, filter: 'height = 5' })
    expect(whole.items[0]!.data).toMatchObject({ height: 5, applicationId: 'app-5' })
  })

  it('pages with cursors, each object once', async () => {
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: Awaited<ReturnType<QueryService['find']>> = await query.find({
        projectId,
        rootId: rootA,
        filter: 'height >= 0',
        select: [],
        limit: 4,
        cursor,
      })
      seen.push(...page.items.map((o) => o.id))
      cursor = page.cursor
    } while (cursor !== null)
    expect(seen).toHaveLength(30)
    expect(new Set(seen).size).toBe(30)
    expect([...seen].sort()).toEqual(seen)
  })

  it('answers a query past its time budget with a clear error', async () => {
    const slow = createQueryService({ sql, objects: ctx.objects, timeBudgetMs: 50, chunkSize: 2 })
    await slow.count({ projectId, rootId: rootA }) // indexed before the clock matters
    let release = () => {}
    let locked: Promise<void> | undefined
    if (kind === 'postgres') {
      // Hold a lock the query waits on: PostgreSQL's statement timeout counts the wait.
      const held = new Promise<void>((resolve) => (release = resolve))
      let lockTaken = () => {}
      const taken = new Promise<void>((resolve) => (lockTaken = resolve))
      locked = sql.transaction(async (tx) => {
        await tx.query('LOCK TABLE query_props IN ACCESS EXCLUSIVE MODE')
        lockTaken()
        await held
      })
      await taken
    } else {
      // PGlite checks the budget between chunks: 2 members a chunk, 31 members, 50 ms.
      const original = Date.now
      let t = original()
      Date.now = () => (t += 10)
      release = () => (Date.now = original)
    }
    try {
      await expect(slow.count({ projectId, rootId: rootA, filter: 'height > 0' })).rejects.toThrow(
        /longer than 50 ms; an admin can index 'height'/,
      )
      await expect(slow.count({ projectId, rootId: rootA, filter: 'height > 0' })).rejects.toBeInstanceOf(QueryTimeout)
    } finally {
      release()
      await locked
    }
  })

  it('uses a path index an admin creates, and lists it', async () => {
    const names = await query.createPathIndex('parameters.fireRating.value')
    expect(names).toHaveLength(2)
    const listed = await query.listPathIndexes()
    expect(listed.map((i) => i.name)).toEqual(expect.arrayContaining(names))
    expect(await ids("parameters.fireRating.value = 'EI60'")).toEqual([0, 5, 10, 15, 20, 25])
    await expect(query.createPathIndex("a}'; DROP TABLE objects; --")).rejects.toThrow(FilterSyntaxError)
    await query.dropPathIndex('parameters.fireRating.value')
    expect(await query.listPathIndexes()).toEqual([])
  })

  it('diffs two versions by applicationId, with counts and pages', async () => {
    const d = await query.diff({ projectId, fromRootId: rootA, toRootId: rootB, limit: 1000 })
    // The versions' roots (containers, always different) are left out.
    expect({ added: d.added, removed: d.removed, changed: d.changed, unchanged: d.unchanged }).toEqual({
      added: 5,
      removed: 10,
      changed: 10,
      unchanged: 10,
    })
    const changed = d.items.filter((i) => i.kind === 'changed')
    expect(changed).toHaveLength(10)
    expect(changed.every((i) => i.previousId && i.previousId !== i.id && i.applicationId?.startsWith('app-'))).toBe(
      true,
    )
    const paged: string[] = []
    let cursor: string | null = null
    do {
      const page: Awaited<ReturnType<QueryService['diff']>> = await query.diff({
        projectId,
        fromRootId: rootA,
        toRootId: rootB,
        limit: 5,
        cursor,
        kinds: ['added', 'removed'],
      })
      paged.push(...page.items.map((i) => `${i.kind}:${i.id}`))
      cursor = page.cursor
    } while (cursor !== null)
    expect(paged).toHaveLength(15)
    expect(new Set(paged).size).toBe(15)
    expect(paged.some((p) => p.endsWith(rootA) || p.endsWith(rootB))).toBe(false)
  })
})
