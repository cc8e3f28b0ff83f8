/**
 * A local history folder (issue 16): `.truss/objects.db` (Speckle's SQLite cache layout, every object),
 * `.truss/refs.db` (commits, branches, tags and the links of commits to server versions) and
 * `.truss/config` (JSON: current branch, user, remotes), written atomically. Every multi-row refs.db change
 * runs in one SQLite transaction, and objects are flushed to objects.db before a commit that names them,
 * so a process killed at any point leaves every ref pointing at a commit whose objects are present.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { SQLiteTransport, sha256Hex } from '@truss/core'

export const TRUSS_DIR = '.truss'
export const DEFAULT_BRANCH = 'main'

/** A history error a user reads: printed as `truss: <message>`, exit code 1. */
export class HistoryError extends Error {
  override readonly name = 'HistoryError'
}

export interface Remote {
  url: string
  project: string
}

export interface RepoConfig {
  branch: string
  user: { name: string; email?: string }
  remotes: Record<string, Remote>
}

export interface Commit {
  id: string
  parents: string[]
  objectId: string
  message: string
  author: string
  /** ISO 8601. */
  createdAt: string
  sourceApp: string
}

export interface RemoteLink {
  remote: string
  commitId: string
  versionId: string
  modelId: string
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS commits(
  id TEXT PRIMARY KEY, parents TEXT NOT NULL, object_id TEXT NOT NULL, message TEXT NOT NULL,
  author TEXT NOT NULL, created_at TEXT NOT NULL, source_app TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS branches(name TEXT PRIMARY KEY, head TEXT NOT NULL REFERENCES commits(id));
CREATE TABLE IF NOT EXISTS tags(name TEXT PRIMARY KEY, commit_id TEXT NOT NULL REFERENCES commits(id));
CREATE TABLE IF NOT EXISTS remote_versions(
  remote TEXT NOT NULL, commit_id TEXT NOT NULL REFERENCES commits(id), version_id TEXT NOT NULL,
  model_id TEXT NOT NULL, PRIMARY KEY(remote, commit_id), UNIQUE(remote, version_id));
`

/** A commit's id: a content hash of its fields, so the same commit made twice is one commit. */
export function commitId(c: Omit<Commit, 'id'>): string {
  return sha256Hex(JSON.stringify([c.parents, c.objectId, c.message, c.author, c.createdAt, c.sourceApp])).slice(0, 40)
}

/** Branch and tag names: no spaces or control characters, not starting with `-`, no `..`. */
export function checkRefName(name: string, what: 'branch' | 'tag'): string {
  const bad =
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    /[\s\x00-\x1f~^:?*[\\]/.test(name) ||
    name.startsWith('-') ||
    name.includes('..') ||
    name.endsWith('/') ||
    name === ''
  if (bad) {
    throw new HistoryError(`${JSON.stringify(name)} is not a valid ${what} name`)
  }
  return name
}

/** Write `text` to `path` through a temporary file and a rename, so a reader sees the old or the new file. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
}

type Row = {
  id: string
  parents: string
  object_id: string
  message: string
  author: string
  created_at: string
  source_app: string
}

const toCommit = (r: Row): Commit => ({
  id: r.id,
  parents: JSON.parse(r.parents) as string[],
  objectId: r.object_id,
  message: r.message,
  author: r.author,
  createdAt: r.created_at,
  sourceApp: r.source_app,
})

/** Walk up from `dir` to the folder holding `.truss/`. */
export function findRoot(dir: string): string | null {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, TRUSS_DIR, 'refs.db'))) return d
    if (dirname(d) === d) return null
  }
}

export class Repo {
  readonly root: string
  readonly dir: string
  private readonly db: BetterSqlite3.Database
  private objectsTransport: SQLiteTransport | undefined

  private constructor(root: string) {
    this.root = root
    this.dir = join(root, TRUSS_DIR)
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3
    this.db = new Database(join(this.dir, 'refs.db'))
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('busy_timeout = 10000')
    this.db.pragma('foreign_keys = ON')
    this.db.exec(SCHEMA)
  }

  /** Create `.truss/` in `root` (refused when it exists). */
  static init(root: string, user: RepoConfig['user'], branch = DEFAULT_BRANCH): Repo {
    const dir = join(resolve(root), TRUSS_DIR)
    if (existsSync(join(dir, 'refs.db'))) throw new HistoryError(`${resolve(root)} already holds a Truss history`)
    mkdirSync(dir, { recursive: true })
    checkRefName(branch, 'branch')
    const config: RepoConfig = { branch, user, remotes: {} }
    writeFileAtomic(join(dir, 'config'), `${JSON.stringify(config, null, 2)}\n`)
    const repo = new Repo(resolve(root))
    repo.objects()
    return repo
  }

  /** Open the history holding `dir` (or one of its parents). */
  static open(dir: string): Repo {
    const root = findRoot(dir)
    if (root === null) {
      throw new HistoryError(`${resolve(dir)} is not inside a Truss history (run 'truss init' first)`)
    }
    return new Repo(root)
  }

  /** `.truss/objects.db`: the SQLiteTransport every object of every commit lives in. */
  objects(): SQLiteTransport {
    this.objectsTransport ??= new SQLiteTransport({ basePath: this.dir, scope: 'objects' })
    return this.objectsTransport
  }

  async close(): Promise<void> {
    await this.objectsTransport?.close()
    this.db.close()
  }

  // ---- config --------------------------------------------------------------------------------

  config(): RepoConfig {
    return JSON.parse(readFileSync(join(this.dir, 'config'), 'utf8')) as RepoConfig
  }

  writeConfig(config: RepoConfig): void {
    writeFileAtomic(join(this.dir, 'config'), `${JSON.stringify(config, null, 2)}\n`)
  }

  currentBranch(): string {
    return this.config().branch
  }

  remote(name: string): Remote {
    const remote = this.config().remotes[name]
    if (remote === undefined) throw new HistoryError(`no remote named ${JSON.stringify(name)} ('truss remote add')`)
    return remote
  }

  // ---- commits -------------------------------------------------------------------------------

  getCommit(id: string): Commit | null {
    const row = this.db.prepare('SELECT * FROM commits WHERE id = ?').get(id) as Row | undefined
    return row === undefined ? null : toCommit(row)
  }

  /**
   * A commit named by a branch, a tag, a full id or an unambiguous id prefix (at least 4 characters),
   * optionally followed by `~N` (the N-th first parent).
   */
  resolve(ref: string): Commit {
    const m = /^(.*?)(?:~(\d*))?$/.exec(ref)!
    const base = m[1]!
    let commit = this.resolveBase(base)
    const steps = m[2] === undefined ? 0 : m[2] === '' ? 1 : Number(m[2])
    for (let i = 0; i < steps; i++) {
      const parent = commit.parents[0]
      if (parent === undefined) throw new HistoryError(`${ref}: ${base} has only ${i} ancestor(s)`)
      commit = this.getCommit(parent)!
    }
    return commit
  }

  private resolveBase(ref: string): Commit {
    const head = ref === 'HEAD' ? this.head(this.currentBranch()) : (this.head(ref) ?? this.tag(ref))
    if (head !== null) return this.getCommit(head)!
    if (ref === 'HEAD') throw new HistoryError(`branch ${this.currentBranch()} has no commits yet`)
    if (/^[0-9a-f]{4,40}$/.test(ref)) {
      const rows = this.db
        .prepare('SELECT * FROM commits WHERE id >= ? AND id < ? LIMIT 2')
        .all(ref, `${ref}g`) as Row[]
      if (rows.length === 1) return toCommit(rows[0]!)
      if (rows.length > 1) throw new HistoryError(`${ref} is ambiguous: give more of the commit id`)
    }
    throw new HistoryError(`unknown branch, tag or commit ${JSON.stringify(ref)}`)
  }

  /**
   * Record commits and move `branch` to the last of them, in one transaction. The objects they name must
   * already be flushed to objects.db.
   */
  addCommits(commits: readonly Commit[], branch?: { name: string; head: string }, links: readonly RemoteLink[] = []) {
    const insert = this.db.prepare(
      `INSERT OR IGNORE INTO commits(id, parents, object_id, message, author, created_at, source_app)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    )
    const link = this.db.prepare(
      'INSERT OR REPLACE INTO remote_versions(remote, commit_id, version_id, model_id) VALUES (?, ?, ?, ?)',
    )
    this.db.transaction(() => {
      for (const c of commits) {
        insert.run(c.id, JSON.stringify(c.parents), c.objectId, c.message, c.author, c.createdAt, c.sourceApp)
      }
      for (const l of links) link.run(l.remote, l.commitId, l.versionId, l.modelId)
      if (branch) this.setHeadIn(branch.name, branch.head)
    })()
  }

  /** Make a commit on the current branch from an object already in objects.db. */
  commit(input: { objectId: string; message: string; sourceApp?: string; now?: Date }): Commit {
    const branch = this.currentBranch()
    const head = this.head(branch)
    const config = this.config()
    const author = config.user.email ? `${config.user.name} <${config.user.email}>` : config.user.name
    const fields = {
      parents: head === null ? [] : [head],
      objectId: input.objectId,
      message: input.message,
      author,
      createdAt: (input.now ?? new Date()).toISOString(),
      sourceApp: input.sourceApp ?? 'truss',
    }
    const commit = { id: commitId(fields), ...fields }
    this.addCommits([commit], { name: branch, head: commit.id })
    return commit
  }

  /** Commits reachable from `head`, newest first (by time, parents after children). */
  log(head: string, limit = Infinity): Commit[] {
    const out: Commit[] = []
    const seen = new Set<string>()
    const queue: Commit[] = [this.getCommit(head)!]
    while (queue.length > 0 && out.length < limit) {
      queue.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
      const c = queue.shift()!
      if (seen.has(c.id)) continue
      seen.add(c.id)
      out.push(c)
      for (const p of c.parents) if (!seen.has(p)) queue.push(this.getCommit(p)!)
    }
    return out
  }

  /**
   * Whether `ancestor` is `descendant` or one of its ancestors; `pending` holds commits not stored yet (a pull
   * checks them before its transaction).
   */
  isAncestor(ancestor: string, descendant: string, pending?: ReadonlyMap<string, Commit>): boolean {
    const stack = [descendant]
    const seen = new Set<string>()
    while (stack.length > 0) {
      const id = stack.pop()!
      if (id === ancestor) return true
      if (seen.has(id)) continue
      seen.add(id)
      stack.push(...((pending?.get(id) ?? this.getCommit(id))?.parents ?? []))
    }
    return false
  }

  // ---- branches and tags ---------------------------------------------------------------------

  head(branch: string): string | null {
    return (
      (this.db.prepare('SELECT head FROM branches WHERE name = ?').pluck().get(branch) as string | undefined) ?? null
    )
  }

  branches(): { name: string; head: string }[] {
    return this.db.prepare('SELECT name, head FROM branches ORDER BY name').all() as { name: string; head: string }[]
  }

  setHead(branch: string, head: string): void {
    this.setHeadIn(branch, head)
  }

  private setHeadIn(branch: string, head: string): void {
    this.db
      .prepare('INSERT INTO branches(name, head) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET head = excluded.head')
      .run(branch, head)
  }

  createBranch(name: string, head: string): void {
    checkRefName(name, 'branch')
    if (this.head(name) !== null) throw new HistoryError(`branch ${name} already exists`)
    this.setHeadIn(name, head)
  }

  tag(name: string): string | null {
    return (
      (this.db.prepare('SELECT commit_id FROM tags WHERE name = ?').pluck().get(name) as string | undefined) ?? null
    )
  }

  tags(): { name: string; commit: string }[] {
    return this.db.prepare('SELECT name, commit_id AS "commit" FROM tags ORDER BY name').all() as {
      name: string
      commit: string
    }[]
  }

  createTag(name: string, commit: string): void {
    checkRefName(name, 'tag')
    if (this.tag(name) !== null) throw new HistoryError(`tag ${name} already exists`)
    this.db.prepare('INSERT INTO tags(name, commit_id) VALUES (?, ?)').run(name, commit)
  }

  // ---- links to server versions ----------------------------------------------------------------

  links(remote: string): RemoteLink[] {
    return this.db
      .prepare(
        'SELECT remote, commit_id AS commitId, version_id AS versionId, model_id AS modelId FROM remote_versions WHERE remote = ?',
      )
      .all(remote) as RemoteLink[]
  }

  /** Check every ref: each branch head and tag names a commit, and each commit's root object is stored. */
  async check(): Promise<string[]> {
    const problems: string[] = []
    const commits = this.db.prepare('SELECT * FROM commits').all() as Row[]
    const ids = new Set(commits.map((c) => c.id))
    for (const b of this.branches()) if (!ids.has(b.head)) problems.push(`branch ${b.name} names a missing commit`)
    for (const t of this.tags()) if (!ids.has(t.commit)) problems.push(`tag ${t.name} names a missing commit`)
    const roots = [...new Set(commits.map((c) => c.object_id))]
    const has = await this.objects().hasObjects(roots)
    for (const c of commits) if (!has[c.object_id]) problems.push(`commit ${c.id} names missing object ${c.object_id}`)
    for (const c of commits) {
      for (const p of JSON.parse(c.parents) as string[]) {
        if (!ids.has(p)) problems.push(`commit ${c.id} names missing parent ${p}`)
      }
    }
    return problems
  }

  /** Size of objects.db in bytes (for status). */
  objectsBytes(): number {
    try {
      return statSync(join(this.dir, 'objects.db')).size
    } catch {
      return 0
    }
  }
}
