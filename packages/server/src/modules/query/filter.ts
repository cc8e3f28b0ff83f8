/**
 * The query filter language: a small expression over an object's properties, parsed to an AST and compiled
 * to parameterized SQL. Values and paths are always parameters (paths as `text[]` for `#>` / `#>>`); the only
 * text the compiler writes into SQL is its own.
 *
 *   filter     := or
 *   or         := and ('or' and)*
 *   and        := unary ('and' unary)*
 *   unary      := 'not' unary | '(' or ')' | comparison
 *   comparison := path op value | path 'exists'
 *   path       := segment ('.' segment)*     segment: [A-Za-z_$@][A-Za-z0-9_$@-]* or a number (array index)
 *   op         := '=' | '!=' | '>' | '>=' | '<' | '<=' | '~'
 *   value      := "string" | 'string' (backslash escapes \" \' \\) | number | true | false | null
 *
 * Keywords are case-insensitive. `and` binds tighter than `or`. Semantics:
 * - `=` / `!=` compare JSON values of the same type: `height = 3` matches the number 3, not the string "3".
 * - `>`, `>=`, `<`, `<=` with a number compare numbers only; with a string, strings (byte order).
 * - `~` is a case-insensitive substring match on strings (`name ~ 'wall'`); `%` and `_` are literal.
 * - A comparison on a path an object lacks is false, `!=` included; `not` negates the whole (so
 *   `not height = 3` also matches objects without a height). `x = null` matches a JSON null only.
 * - `speckle_type`, `id` and `applicationId` read indexed columns; any other path reads the object's JSON.
 */
import { BadUserInput } from '../../errors.js'

export type FilterValue = string | number | boolean | null
export type FilterOp = '=' | '!=' | '>' | '>=' | '<' | '<=' | '~'

export type FilterNode =
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; operand: FilterNode }
  | { kind: 'compare'; path: string[]; op: FilterOp; value: FilterValue }
  | { kind: 'exists'; path: string[] }

/** A filter (or select path) that does not parse; `position` is the 0-based character offset of the fault. */
export class FilterSyntaxError extends BadUserInput {
  constructor(
    readonly reason: string,
    readonly position: number,
  ) {
    super(`Invalid filter at position ${position}: ${reason}`)
  }
}

type Token =
  | { t: 'word'; v: string; at: number }
  | { t: 'string'; v: string; at: number }
  | { t: 'number'; v: number; at: number }
  | { t: 'op'; v: FilterOp; at: number }
  | { t: '(' | ')' | '.'; at: number }
  | { t: 'end'; at: number }

const WORD_START = /[A-Za-z_$@]/
const WORD_CHAR = /[A-Za-z0-9_$@-]/
const NUMBER = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/
/** Longest filter accepted, in characters (a bound on parse and SQL size). */
export const MAX_FILTER_LENGTH = 4000
const MAX_PATH_SEGMENTS = 32
const MAX_COMPARISONS = 64

function tokenize(text: string): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++
      continue
    }
    const at = i
    if (c === '(' || c === ')') {
      out.push({ t: c, at })
      i++
    } else if (c === '"' || c === "'") {
      let v = ''
      i++
      for (;;) {
        if (i >= text.length) throw new FilterSyntaxError('unterminated string', at)
        const d = text[i]!
        if (d === '\\') {
          const e = text[i + 1]
          if (e !== '"' && e !== "'" && e !== '\\') throw new FilterSyntaxError('unknown escape in string', i)
          v += e
          i += 2
        } else if (d === c) {
          i++
          break
        } else {
          v += d
          i++
        }
      }
      out.push({ t: 'string', v, at })
    } else if (c === '=' || c === '~') {
      out.push({ t: 'op', v: c, at })
      i++
    } else if (c === '!' || c === '>' || c === '<') {
      if (text[i + 1] === '=') {
        out.push({ t: 'op', v: `${c}=` as FilterOp, at })
        i += 2
      } else if (c === '!') {
        throw new FilterSyntaxError("expected '!='", at)
      } else {
        out.push({ t: 'op', v: c as FilterOp, at })
        i++
      }
    } else if (c === '-' || (c >= '0' && c <= '9') || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      // A number, unless it follows a '.' (then it is an array index segment of a path).
      const prev = out[out.length - 1]
      const m = NUMBER.exec(text.slice(i))
      if (prev?.t === '.' && /^\d+/.test(text.slice(i))) {
        const digits = /^\d+/.exec(text.slice(i))![0]
        out.push({ t: 'word', v: digits, at })
        i += digits.length
      } else if (m) {
        out.push({ t: 'number', v: Number(m[0]), at })
        i += m[0].length
      } else {
        throw new FilterSyntaxError('expected a number', at)
      }
    } else if (c === '.') {
      out.push({ t: '.', at })
      i++
    } else if (WORD_START.test(c)) {
      let j = i + 1
      while (j < text.length && WORD_CHAR.test(text[j]!)) j++
      out.push({ t: 'word', v: text.slice(i, j), at })
      i = j
    } else {
      throw new FilterSyntaxError(`unexpected character '${c}'`, at)
    }
  }
  out.push({ t: 'end', at: text.length })
  return out
}

const KEYWORDS = new Set(['and', 'or', 'not', 'exists', 'true', 'false', 'null'])

/** Parse a filter; throws `FilterSyntaxError` naming the position of the first fault. */
export function parseFilter(text: string): FilterNode {
  if (text.length > MAX_FILTER_LENGTH) throw new FilterSyntaxError(`longer than ${MAX_FILTER_LENGTH} characters`, 0)
  const tokens = tokenize(text)
  let k = 0
  let comparisons = 0
  const peek = () => tokens[k]!
  const isWord = (word: string) => {
    const t = peek()
    return t.t === 'word' && t.v.toLowerCase() === word
  }
  const describe = (t: Token) =>
    t.t === 'end'
      ? 'end of filter'
      : t.t === 'word' || t.t === 'op'
        ? `'${String(t.v)}'`
        : t.t === 'string'
          ? 'a string'
          : t.t === 'number'
            ? 'a number'
            : `'${t.t}'`

  function or(): FilterNode {
    let left = and()
    while (isWord('or')) {
      k++
      left = { kind: 'or', left, right: and() }
    }
    return left
  }
  function and(): FilterNode {
    let left = unary()
    while (isWord('and')) {
      k++
      left = { kind: 'and', left, right: unary() }
    }
    return left
  }
  function unary(): FilterNode {
    if (isWord('not')) {
      k++
      return { kind: 'not', operand: unary() }
    }
    const t = peek()
    if (t.t === '(') {
      k++
      const inner = or()
      const close = peek()
      if (close.t !== ')') throw new FilterSyntaxError(`expected ')' but found ${describe(close)}`, close.at)
      k++
      return inner
    }
    return comparison()
  }
  function comparison(): FilterNode {
    if (++comparisons > MAX_COMPARISONS)
      throw new FilterSyntaxError(`more than ${MAX_COMPARISONS} comparisons`, peek().at)
    const path = parsePathTokens()
    if (isWord('exists')) {
      k++
      return { kind: 'exists', path }
    }
    const opToken = peek()
    if (opToken.t !== 'op')
      throw new FilterSyntaxError(`expected an operator but found ${describe(opToken)}`, opToken.at)
    k++
    const v = peek()
    let value: FilterValue
    if (v.t === 'string' || v.t === 'number') value = v.v
    else if (v.t === 'word' && v.v.toLowerCase() === 'true') value = true
    else if (v.t === 'word' && v.v.toLowerCase() === 'false') value = false
    else if (v.t === 'word' && v.v.toLowerCase() === 'null') value = null
    else throw new FilterSyntaxError(`expected a value but found ${describe(v)}`, v.at)
    if (typeof value === 'number' && !Number.isFinite(value)) throw new FilterSyntaxError('number out of range', v.at)
    k++
    const op = opToken.v
    if (op === '~' && typeof value !== 'string') throw new FilterSyntaxError("'~' takes a string", v.at)
    if (op !== '=' && op !== '!=' && op !== '~' && (typeof value === 'boolean' || value === null)) {
      throw new FilterSyntaxError(`'${op}' takes a number or a string`, v.at)
    }
    return { kind: 'compare', path, op, value }
  }
  function parsePathTokens(): string[] {
    const first = peek()
    if (first.t !== 'word' || KEYWORDS.has(first.v.toLowerCase())) {
      throw new FilterSyntaxError(`expected a property path but found ${describe(first)}`, first.at)
    }
    const path = [first.v]
    k++
    while (peek().t === '.') {
      k++
      const seg = peek()
      if (seg.t !== 'word') throw new FilterSyntaxError(`expected a path segment but found ${describe(seg)}`, seg.at)
      path.push(seg.v)
      k++
    }
    if (path.length > MAX_PATH_SEGMENTS)
      throw new FilterSyntaxError(`a path has more than ${MAX_PATH_SEGMENTS} segments`, first.at)
    return path
  }

  if (peek().t === 'end') throw new FilterSyntaxError('the filter is empty', 0)
  const node = or()
  const rest = peek()
  if (rest.t !== 'end') throw new FilterSyntaxError(`unexpected ${describe(rest)}`, rest.at)
  return node
}

const SEGMENT = /^(?:[A-Za-z_$@][A-Za-z0-9_$@-]*|\d+)$/

/** A dotted path (`parameters.fireRating.value`) as segments; throws `FilterSyntaxError` for anything else. */
export function parsePath(text: string): string[] {
  const segments = text.split('.')
  let at = 0
  for (const s of segments) {
    if (!SEGMENT.test(s)) throw new FilterSyntaxError(`'${text}' is not a property path`, at)
    at += s.length + 1
  }
  if (segments.length > MAX_PATH_SEGMENTS) throw new FilterSyntaxError(`more than ${MAX_PATH_SEGMENTS} segments`, 0)
  return segments
}

/** Paths answered from columns of `query_members` (alias `m`) rather than the JSON. */
const COLUMNS: Record<string, string> = {
  speckle_type: 'm.speckle_type',
  id: 'm.object_id',
  applicationId: 'm.application_id',
}

export function columnOf(path: readonly string[]): string | undefined {
  return path.length === 1 ? COLUMNS[path[0]!] : undefined
}

/** Whether evaluating `node` reads the objects' JSON (`query_props`, alias `p`). */
export function readsProps(node: FilterNode): boolean {
  switch (node.kind) {
    case 'and':
    case 'or':
      return readsProps(node.left) || readsProps(node.right)
    case 'not':
      return readsProps(node.operand)
    default:
      return columnOf(node.path) === undefined
  }
}

/** `%`, `_` and `\` escaped for LIKE / ILIKE (whose default escape character is `\`). */
export function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

/**
 * The SQL expressions over a JSON path, shared by queries and the expression indexes an admin creates, so
 * the planner sees the index's expression in the query (`pathSql` is `$n::text[]` in a query, a literal
 * in an index; a one-shot statement is planned with its parameters' values).
 */
export const pathText = (pathSql: string) => `(p.props #>> ${pathSql})`
export const pathNumber = (pathSql: string) =>
  `(CASE WHEN jsonb_typeof(p.props #> ${pathSql}) = 'number' THEN (p.props #>> ${pathSql})::numeric END)`

/** The compiled WHERE clause and its parameters (numbered after `firstParam - 1` earlier ones). */
export interface CompiledFilter {
  where: string
  params: unknown[]
  readsProps: boolean
}

/** Compile a filter to a boolean SQL expression over `m` (query_members) and `p` (query_props). */
export function compileFilter(node: FilterNode, firstParam: number): CompiledFilter {
  const params: unknown[] = []
  const param = (v: unknown, cast: string) => {
    params.push(v)
    return `$${firstParam + params.length - 1}::${cast}`
  }

  function leaf(path: string[], op: FilterOp, value: FilterValue): string {
    const column = columnOf(path)
    if (column !== undefined) {
      // Columns hold strings (or null when the object has none).
      if (value === null) return op === '=' ? `${column} IS NULL` : `${column} IS NOT NULL`
      if (typeof value !== 'string') return 'false'
      if (op === '~') return `${column} ILIKE ${param(`%${likeEscape(value)}%`, 'text')}`
      if (op === '=') return `${column} = ${param(value, 'text')}`
      if (op === '!=') return `${column} <> ${param(value, 'text')}`
      return `${column} COLLATE "C" ${op} ${param(value, 'text')}`
    }
    const p = param(path, 'text[]')
    const typeIs = (t: string) => `jsonb_typeof(p.props #> ${p}) = '${t}'`
    if (op === '=' || op === '!=') {
      let eq: string
      if (value === null) eq = typeIs('null')
      else if (typeof value === 'string') eq = `(${pathText(p)} = ${param(value, 'text')} AND ${typeIs('string')})`
      else if (typeof value === 'number') eq = `${pathNumber(p)} = ${param(String(value), 'numeric')}`
      else eq = `(p.props #> ${p}) = ${param(JSON.stringify(value), 'jsonb')}`
      // `!=` needs the path present (and a JSON null differs from every value but null).
      return op === '=' ? eq : `((p.props #> ${p}) IS NOT NULL AND NOT COALESCE(${eq}, false))`
    }
    if (op === '~')
      return `(${pathText(p)} ILIKE ${param(`%${likeEscape(value as string)}%`, 'text')} AND ${typeIs('string')})`
    if (typeof value === 'number') return `${pathNumber(p)} ${op} ${param(String(value), 'numeric')}`
    return `(${pathText(p)} COLLATE "C" ${op} ${param(value, 'text')} AND ${typeIs('string')})`
  }

  // A leaf may be NULL (a missing path): harmless under AND/OR in WHERE, so it stays bare there (an index
  // can serve it); under NOT it is made false first.
  function walk(n: FilterNode): string {
    switch (n.kind) {
      case 'and':
        return `(${walk(n.left)} AND ${walk(n.right)})`
      case 'or':
        return `(${walk(n.left)} OR ${walk(n.right)})`
      case 'not':
        return `(NOT COALESCE(${walk(n.operand)}, false))`
      case 'exists': {
        const column = columnOf(n.path)
        return column !== undefined ? `${column} IS NOT NULL` : `(p.props #> ${param(n.path, 'text[]')}) IS NOT NULL`
      }
      case 'compare':
        return leaf(n.path, n.op, n.value)
    }
  }
  return { where: walk(node), params, readsProps: readsProps(node) }
}
