/**
 * The objects slice: `Object` (`project.object`; the legacy slice's `stream.object` too), its `children` page
 * and `objectCreate`. Children come from the root's `__closure` (descendant id → depth) through the objects
 * service; this file shapes them as Speckle's `ObjectCollection` (source: Speckle 2.24
 * `core/repositories/objects.ts`, the simple and the query branch).
 */
import { createHash } from 'node:crypto'
import { BadUserInput } from '../../errors.js'
import type { GraphqlContext } from '../graphql/context.js'
import { authorize, obj, required, type Args } from '../graphql/helpers.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import type { Project } from '../projects/service.js'
import { lineJson, type ObjectsService } from './service.js'

const typeDefs = /* GraphQL */ `
  type Object {
    id: String!
    speckleType: String
    applicationId: String @deprecated(reason: "Not implemented.")
    createdAt: DateTime
    totalChildrenCount: Int
    data: JSONObject
    children(
      limit: Int! = 100
      depth: Int! = 50
      select: [String]
      cursor: String
      query: [JSONObject!]
      orderBy: JSONObject
    ): ObjectCollection!
  }
  type ObjectCollection {
    totalCount: Int!
    cursor: String
    objects: [Object!]!
  }
  input ObjectCreateInput {
    streamId: String!
    objects: [JSONObject]!
  }

  extend type Project {
    object(id: String!): Object
  }

  extend type Mutation {
    objectCreate(objectInput: ObjectCreateInput!): [String!]!
  }
`

export type ObjectsDeps = Pick<ObjectsService, 'getObject' | 'streamIds' | 'parseBatch' | 'store'>

type Json = Record<string, unknown>

/** What an `Object` field resolves from; `projectId` lets `children` find the descendants. */
export interface GraphqlObject {
  id: string
  projectId: string
  speckleType: string | null
  totalChildrenCount: number
  createdAt: null
  data: Json
}

// Speckle answers `limit: 0` and `depth: 0` with its defaults (`limit || 50`, `depth || 1000`).
const ZERO_LIMIT = 50
const ZERO_DEPTH = 1000
/** Largest children page; bounded so one request cannot ask for a whole model in one answer. */
export const MAX_CHILDREN_PAGE = 10_000
/** Children a `query`/`orderBy` request may scan (each is parsed): beyond it the simple form must be used. */
export const MAX_FILTERED_CHILDREN = 200_000
const OPERATORS = ['=', '!=', '>', '>=', '<', '<='] as const
type Operator = (typeof OPERATORS)[number]
const PATH = /^[A-Za-z0-9_@$-]+(\.[A-Za-z0-9_@$-]+)*$/

function closureOf(data: Json): [string, number][] {
  const closure = data.__closure
  if (typeof closure !== 'object' || closure === null || Array.isArray(closure)) return []
  return Object.entries(closure as Json).map(([id, depth]) => [id, Number(depth)])
}

/** Speckle stores an object's closure size as its `totalChildrenCount`. */
function childrenCount(data: Json): number {
  const size = closureOf(data).length
  if (size > 0) return size
  return typeof data.totalChildrenCount === 'number' ? data.totalChildrenCount : 0
}

export function toGraphqlObject(projectId: string, id: string, data: Json): GraphqlObject {
  return {
    id,
    projectId,
    speckleType: typeof data.speckle_type === 'string' ? data.speckle_type : null,
    totalChildrenCount: childrenCount(data),
    createdAt: null,
    data,
  }
}

export async function loadObject(objects: ObjectsDeps, projectId: string, id: string): Promise<GraphqlObject | null> {
  const json = await objects.getObject(projectId, id)
  if (json === null) return null
  return toGraphqlObject(projectId, id, JSON.parse(json) as Json)
}

function validPath(field: unknown, what: string): string {
  if (typeof field !== 'string' || !PATH.test(field)) {
    throw new BadUserInput(`${what} must be a field path such as "speckle_type" or "parameters.height"`)
  }
  return field
}

function getPath(data: Json, path: string): unknown {
  let at: unknown = data
  for (const key of path.split('.')) {
    if (typeof at !== 'object' || at === null) return undefined
    at = (at as Json)[key]
  }
  return at
}

function setPath(target: Json, path: string, value: unknown): void {
  const keys = path.split('.')
  let at = target
  for (const key of keys.slice(0, -1)) {
    if (typeof at[key] !== 'object' || at[key] === null) at[key] = {}
    at = at[key] as Json
  }
  at[keys.at(-1)!] = value
}

/** `select`: only the listed paths of `data` (missing ones read `null`), nested as the paths say. */
function selected(data: Json, select: readonly string[] | null): Json {
  if (select === null) return data
  const out: Json = {}
  for (const path of select) setPath(out, path, getPath(data, path) ?? null)
  return out
}

interface Clause {
  field: string
  operator: Operator
  value: string | number | boolean
  or: boolean
}

function parseQuery(raw: unknown): Clause[] | null {
  if (raw === null || raw === undefined) return null
  if (!Array.isArray(raw)) throw new BadUserInput('query must be a list of { field, operator, value } clauses')
  return raw.map((c, i) => {
    const clause = (typeof c === 'object' && c !== null ? c : {}) as Json
    const operator = clause.operator
    if (!OPERATORS.includes(operator as Operator)) {
      throw new BadUserInput(`Invalid operator for query (clause ${i}): use one of ${OPERATORS.join(' ')}`)
    }
    const value = clause.value
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new BadUserInput(`query clause ${i} needs a string, number or boolean value`)
    }
    const verb = clause.verb
    if (verb !== undefined && verb !== null && (typeof verb !== 'string' || !/^(and|or)$/i.test(verb))) {
      throw new BadUserInput(`query clause ${i}: verb must be "and" or "or"`)
    }
    return {
      field: validPath(clause.field, `query clause ${i} field`),
      operator: operator as Operator,
      value,
      or: i > 0 && typeof verb === 'string' && verb.toLowerCase() === 'or',
    }
  })
}

function compareAs(actual: unknown, clause: Clause): boolean {
  // As Speckle's SQL: the stored value is compared as the type of the given one; others never match.
  if (typeof actual !== typeof clause.value) return false
  const a = actual as string | number | boolean
  const b = clause.value
  switch (clause.operator) {
    case '=':
      return a === b
    case '!=':
      return a !== b
    case '>':
      return a > b
    case '>=':
      return a >= b
    case '<':
      return a < b
    case '<=':
      return a <= b
  }
}

/** Clauses joined as SQL reads `a OR b AND c`: AND binds tighter. */
function matches(data: Json, clauses: readonly Clause[]): boolean {
  let any = false
  let all = true
  for (const clause of clauses) {
    if (clause.or) {
      any ||= all
      all = true
    }
    all &&= compareAs(getPath(data, clause.field), clause)
  }
  return any || all
}

interface Order {
  field: string
  descending: boolean
}

function parseOrder(raw: unknown): Order | null {
  if (raw === null || raw === undefined) return null
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new BadUserInput('orderBy must be { field, direction }')
  const { field, direction } = raw as Json
  if (
    direction !== undefined &&
    direction !== null &&
    (typeof direction !== 'string' || !/^(asc|desc)$/i.test(direction))
  ) {
    throw new BadUserInput('orderBy direction must be "asc" or "desc"')
  }
  return {
    field: validPath(field, 'orderBy field'),
    descending: typeof direction === 'string' && /^desc$/i.test(direction),
  }
}

// jsonb's order between types (null < string < number < boolean < array < object); a missing value sorts
// as SQL NULL does: last ascending, first descending.
function rank(v: unknown): number {
  if (v === null) return 0
  if (typeof v === 'string') return 1
  if (typeof v === 'number') return 2
  if (typeof v === 'boolean') return 3
  return Array.isArray(v) ? 4 : 5
}

function compareValues(a: unknown, b: unknown, descending: boolean): number {
  if (a === undefined || b === undefined) {
    if (a === b) return 0
    return (a === undefined ? 1 : -1) * (descending ? -1 : 1)
  }
  const ra = rank(a)
  const rb = rank(b)
  let c = ra - rb
  if (c === 0 && ra >= 1 && ra <= 3) c = (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0
  if (c === 0 && ra >= 4) c = JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0
  return descending ? -c : c
}

interface Keyed {
  id: string
  value: unknown
}

/** The query branch's cursor: the last row's sort value and id (opaque to clients). */
function encodeQueryCursor(last: Keyed): string {
  return Buffer.from(JSON.stringify({ v: last.value ?? null, m: last.value === undefined, id: last.id })).toString(
    'base64url',
  )
}

function decodeQueryCursor(cursor: string): Keyed {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Json
    if (typeof parsed.id === 'string') return { id: parsed.id, value: parsed.m === true ? undefined : parsed.v }
  } catch {
    // Falls through to the refusal.
  }
  throw new BadUserInput('The cursor is not valid')
}

export interface ChildrenArgs {
  limit?: unknown
  depth?: unknown
  select?: unknown
  cursor?: unknown
  query?: unknown
  orderBy?: unknown
}

export interface ObjectCollection {
  totalCount: number
  cursor: string | null
  objects: GraphqlObject[]
}

async function fetchObjects(objects: ObjectsDeps, projectId: string, ids: readonly string[]) {
  const found = new Map<string, Json>()
  for await (const batch of objects.streamIds(projectId, ids)) {
    for (const line of batch) found.set(line[0], JSON.parse(lineJson(line)) as Json)
  }
  return found
}

/**
 * `Object.children`: the descendants listed in the object's `__closure` at a depth below `depth` (Speckle's
 * `mindepth < depth`: direct children need `depth: 2`). Without `query`/`orderBy`, pages by id with the last
 * id as cursor and `totalCount` the object's whole closure size, as Speckle; with them, filters and sorts
 * every child, `totalCount` counts the matches and `cursor` is null on a short page.
 */
export async function objectChildren(
  objects: ObjectsDeps,
  parent: GraphqlObject,
  args: ChildrenArgs,
): Promise<ObjectCollection> {
  const limitArg = args.limit ?? 100
  const depthArg = args.depth ?? 50
  if (typeof limitArg !== 'number' || !Number.isInteger(limitArg) || limitArg < 0) {
    throw new BadUserInput('limit must be a non-negative integer')
  }
  if (typeof depthArg !== 'number' || !Number.isInteger(depthArg) || depthArg < 0) {
    throw new BadUserInput('depth must be a non-negative integer')
  }
  const limit = Math.min(limitArg || ZERO_LIMIT, MAX_CHILDREN_PAGE)
  const depth = depthArg || ZERO_DEPTH
  let select: string[] | null = null
  if (Array.isArray(args.select)) {
    select = args.select.filter((s) => s !== null).map((s) => validPath(s, 'select'))
  }
  const cursor = typeof args.cursor === 'string' && args.cursor !== '' ? args.cursor : null
  const clauses = parseQuery(args.query)
  const order = parseOrder(args.orderBy)
  const ids = closureOf(parent.data)
    .filter(([, d]) => d < depth)
    .map(([id]) => id)

  if (clauses === null && order === null) {
    if (cursor !== null && cursor.length > 64) throw new BadUserInput('The cursor is not valid')
    const page = ids
      .filter((id) => cursor === null || id > cursor)
      .sort()
      .slice(0, limit)
    const found = await fetchObjects(objects, parent.projectId, page)
    const items = page.flatMap((id) => {
      const data = found.get(id)
      return data === undefined
        ? []
        : [{ ...toGraphqlObject(parent.projectId, id, data), data: selected(data, select) }]
    })
    return { totalCount: parent.totalChildrenCount, cursor: items.at(-1)?.id ?? null, objects: items }
  }

  if (ids.length > MAX_FILTERED_CHILDREN) {
    throw new BadUserInput(
      `This object has ${ids.length} children: query and orderBy work on at most ${MAX_FILTERED_CHILDREN}; page without them`,
    )
  }
  const sortBy: Order = order ?? { field: 'id', descending: false }
  // Speckle adds the sort field to a selection that lacks it.
  if (select !== null && !select.includes(sortBy.field)) select.push(sortBy.field)
  const keyed: Keyed[] = []
  for await (const batch of objects.streamIds(parent.projectId, ids)) {
    for (const line of batch) {
      const data = JSON.parse(lineJson(line)) as Json
      if (clauses === null || matches(data, clauses)) keyed.push({ id: line[0], value: getPath(data, sortBy.field) })
    }
  }
  const compare = (a: Keyed, b: Keyed) =>
    compareValues(a.value, b.value, sortBy.descending) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  keyed.sort(compare)
  const after = cursor === null ? null : decodeQueryCursor(cursor)
  const start = after === null ? 0 : keyed.findIndex((k) => compare(k, after) > 0)
  const page = start < 0 ? [] : keyed.slice(start, start + limit)
  const found = await fetchObjects(
    objects,
    parent.projectId,
    page.map((k) => k.id),
  )
  const items = page.map((k) => {
    const data = found.get(k.id)!
    return { ...toGraphqlObject(parent.projectId, k.id, data), data: selected(data, select) }
  })
  const last = page.at(-1)
  return {
    totalCount: keyed.length,
    cursor: page.length === limit && last !== undefined ? encodeQueryCursor(last) : null,
    objects: items,
  }
}

/** Largest `objectCreate` batch: bigger uploads belong on the REST object API. */
export const MAX_CREATE_OBJECTS = 10_000

/**
 * `objectCreate`: store the objects, each under its `hash`, its `id` or else the MD5 of its JSON (as
 * Speckle), and answer their ids in order. Ids and sizes are checked as REST uploads are.
 */
export async function createObjects(objects: ObjectsDeps, projectId: string, input: unknown): Promise<string[]> {
  if (!Array.isArray(input)) throw new BadUserInput('objects must be a list of objects')
  const given = input.filter((o) => o !== null)
  if (given.length > MAX_CREATE_OBJECTS) {
    throw new BadUserInput(`At most ${MAX_CREATE_OBJECTS} objects per objectCreate; use the REST object API`)
  }
  const prepared = given.map((raw, i) => {
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new BadUserInput(`Object ${i} is not a JSON object`)
    const obj = { ...(raw as Json) }
    if (typeof obj.hash === 'string') obj.id = obj.hash
    else if (obj.id === undefined || obj.id === null || obj.id === '') {
      obj.id = createHash('md5').update(JSON.stringify(obj)).digest('hex')
    }
    return obj
  })
  if (prepared.length === 0) return []
  const rows = objects.parseBatch(JSON.stringify(prepared))
  await objects.store(projectId, rows)
  return rows.map((r) => r.id)
}

function resolvers(): ResolverMap {
  return {
    Project: {
      object: (p: Project, args: Args, ctx: GraphqlContext) =>
        loadObject(ctx.deps.objects, p.id, required(args.id, 'id')),
    },
    Object: {
      children: (o: GraphqlObject, args: Args, ctx: GraphqlContext) => objectChildren(ctx.deps.objects, o, args),
    },
    Mutation: {
      objectCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.objectInput)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        return createObjects(ctx.deps.objects, projectId, input.objects)
      },
    },
  }
}

export function objectsSlice(): GraphqlSlice {
  return { name: 'objects', typeDefs, resolvers: resolvers() }
}
