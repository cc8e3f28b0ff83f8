/**
 * `truss diff A B`: the objects of two commits' trees compared. Objects with an applicationId are matched
 * by it (same applicationId, other id = changed); the rest are matched by id (added or removed). Data
 * chunks are left out: they are pieces of their parents' arrays, which show as changed instead.
 */
import { DATA_CHUNK_TYPE, type Transport } from '@truss/core'
import { treeIds } from './snapshot.js'

export interface DiffEntry {
  status: 'added' | 'removed' | 'changed'
  applicationId: string | null
  speckleType: string
  /** Id in A (removed, changed). */
  from: string | null
  /** Id in B (added, changed). */
  to: string | null
}

export interface TreeDiff {
  added: number
  removed: number
  changed: number
  unchanged: number
  entries: DiffEntry[]
}

interface Item {
  id: string
  applicationId: string | null
  speckleType: string
}

async function items(objects: Transport, objectId: string): Promise<Map<string, Item>> {
  const ids = await treeIds(objects, objectId)
  const out = new Map<string, Item>()
  const stream = objects.getObjects?.(ids) ?? fetchEach(objects, ids)
  for await (const [id, json] of stream) {
    const o = JSON.parse(json) as { applicationId?: unknown; speckle_type?: unknown }
    const speckleType = typeof o.speckle_type === 'string' ? o.speckle_type : 'Base'
    if (speckleType === DATA_CHUNK_TYPE) continue
    const applicationId = typeof o.applicationId === 'string' && o.applicationId !== '' ? o.applicationId : null
    out.set(id, { id, applicationId, speckleType })
  }
  return out
}

async function* fetchEach(objects: Transport, ids: readonly string[]): AsyncIterable<[string, string]> {
  for (const id of ids) {
    const json = await objects.getObject(id)
    if (json !== null) yield [id, json]
  }
}

export async function diffTrees(objects: Transport, a: string, b: string): Promise<TreeDiff> {
  const [left, right] = [await items(objects, a), await items(objects, b)]
  const byApp = (m: Map<string, Item>) => {
    const out = new Map<string, Item>()
    for (const it of m.values())
      if (it.applicationId !== null && !out.has(it.applicationId)) out.set(it.applicationId, it)
    return out
  }
  const leftApp = byApp(left)
  const rightApp = byApp(right)
  const entries: DiffEntry[] = []
  let unchanged = 0
  for (const it of right.values()) {
    if (left.has(it.id)) {
      unchanged++
      continue
    }
    const before = it.applicationId === null ? undefined : leftApp.get(it.applicationId)
    if (before !== undefined && !right.has(before.id)) {
      entries.push({
        status: 'changed',
        applicationId: it.applicationId,
        speckleType: it.speckleType,
        from: before.id,
        to: it.id,
      })
    } else {
      entries.push({
        status: 'added',
        applicationId: it.applicationId,
        speckleType: it.speckleType,
        from: null,
        to: it.id,
      })
    }
  }
  for (const it of left.values()) {
    if (right.has(it.id)) continue
    const after = it.applicationId === null ? undefined : rightApp.get(it.applicationId)
    if (after !== undefined && !left.has(after.id)) continue // counted as changed above
    entries.push({
      status: 'removed',
      applicationId: it.applicationId,
      speckleType: it.speckleType,
      from: it.id,
      to: null,
    })
  }
  const order = { removed: 0, changed: 1, added: 2 }
  entries.sort(
    (x, y) => order[x.status] - order[y.status] || (x.applicationId ?? '').localeCompare(y.applicationId ?? ''),
  )
  const count = (s: DiffEntry['status']) => entries.filter((e) => e.status === s).length
  return { added: count('added'), removed: count('removed'), changed: count('changed'), unchanged, entries }
}

/** The diff as an aligned text table, then a summary line. */
export function formatDiff(diff: TreeDiff, limit = 200): string {
  const rows = diff.entries
    .slice(0, limit)
    .map((e) => [
      e.status,
      e.applicationId ?? '-',
      e.speckleType,
      e.from === null ? '' : e.from.slice(0, 12),
      e.to === null ? '' : e.to.slice(0, 12),
    ])
  const header = ['status', 'applicationId', 'speckle_type', 'from', 'to']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  const out = rows.length > 0 ? [line(header), ...rows.map(line)] : []
  if (diff.entries.length > limit) out.push(`… ${diff.entries.length - limit} more (use --json for all)`)
  out.push(`${diff.added} added, ${diff.removed} removed, ${diff.changed} changed, ${diff.unchanged} unchanged`)
  return `${out.join('\n')}\n`
}
