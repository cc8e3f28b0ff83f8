/**
 * SQLite transport: the local cache file layout of Speckle's desktop SDKs, so Truss and Speckle
 * connectors share one cache. File `<basePath>/<scope>.db`, table
 * `objects(hash TEXT PRIMARY KEY, content TEXT) WITHOUT ROWID`, WAL journal, batched
 * `INSERT OR IGNORE` writes (WIRE.md, "Local caches").
 */
import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { CorruptObjectError, TransportError, throwIfAborted } from '../errors.js'
import type { CallOptions, Transport, TransportOptions } from './transport.js'

export interface SQLiteTransportOptions extends TransportOptions {
  /** Folder holding `<scope>.db`. Default: the user's data folder + application name. */
  basePath?: string
  /** Application name used for the default folder (default `Speckle`, shared with Speckle's SDKs). */
  applicationName?: string
  /** File name without `.db` (default `Objects`). */
  scope?: string
  /** Buffered bytes that trigger a write transaction (default 10 MB, as Speckle's SDKs batch). */
  batchBytes?: number
}

const MAX_PARAMS = 500

/**
 * The user data folder for an application, as specklepy resolves it: `$XDG_DATA_HOME` or
 * `~/.local/share` on Linux, `~/Library/Application Support` on macOS, `%APPDATA%` on Windows.
 */
export function defaultDataPath(applicationName = 'Speckle', env: NodeJS.ProcessEnv = process.env): string {
  if (process.platform === 'win32') {
    return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), applicationName)
  }
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', applicationName)
  const xdg = env.XDG_DATA_HOME
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.local', 'share'), applicationName)
}

type Statement = BetterSqlite3.Statement

export class SQLiteTransport implements Transport {
  readonly name: string
  readonly path: string
  private readonly db: BetterSqlite3.Database
  private readonly batchBytes: number
  private readonly onProgress?: TransportOptions['onProgress']
  private readonly insert: Statement
  private readonly select: Statement
  private readonly writeBatch: (rows: [string, string][]) => void
  private buffer: [string, string][] = []
  private bufferBytes = 0
  private written = 0
  private closed = false

  constructor(options: SQLiteTransportOptions = {}) {
    const base = options.basePath ?? defaultDataPath(options.applicationName)
    const scope = options.scope ?? 'Objects'
    this.path = join(base, `${scope}.db`)
    this.name = `SQLite(${this.path})`
    this.batchBytes = options.batchBytes ?? 10_000_000
    this.onProgress = options.onProgress
    try {
      mkdirSync(base, { recursive: true })
      const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3
      this.db = new Database(this.path)
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('busy_timeout = 10000')
      this.db.exec('CREATE TABLE IF NOT EXISTS objects(hash TEXT PRIMARY KEY, content TEXT) WITHOUT ROWID')
    } catch (err) {
      throw new TransportError(this.name, `cannot open the cache: ${(err as Error).message}`, { cause: err })
    }
    this.insert = this.db.prepare('INSERT OR IGNORE INTO objects(hash, content) VALUES (?, ?)')
    this.select = this.db.prepare('SELECT content FROM objects WHERE hash = ?').pluck()
    this.writeBatch = this.db.transaction((rows: [string, string][]) => {
      for (const [id, json] of rows) this.insert.run(id, json)
    })
  }

  async saveObject(id: string, json: string): Promise<void> {
    this.assertOpen()
    this.buffer.push([id, json])
    this.bufferBytes += json.length
    if (this.bufferBytes >= this.batchBytes) this.writeBuffered()
  }

  async flush(): Promise<void> {
    this.writeBuffered()
  }

  private writeBuffered(): void {
    if (this.buffer.length === 0) return
    const rows = this.buffer
    this.buffer = []
    this.bufferBytes = 0
    try {
      this.writeBatch(rows)
    } catch (err) {
      throw new TransportError(this.name, `write failed: ${(err as Error).message}`, { cause: err })
    }
    this.written += rows.length
    this.onProgress?.({ transport: this.name, stage: 'write', done: this.written })
  }

  async getObject(id: string, options?: CallOptions): Promise<string | null> {
    throwIfAborted(options?.signal)
    this.assertOpen()
    let content: unknown
    try {
      this.writeBuffered()
      content = this.select.get(id)
    } catch (err) {
      throw new TransportError(this.name, `read failed: ${(err as Error).message}`, { cause: err })
    }
    if (content === undefined) return null
    if (
      typeof content !== 'string' ||
      content.charCodeAt(0) !== 123 ||
      content.charCodeAt(content.length - 1) !== 125
    ) {
      throw new CorruptObjectError(id, this.name, 'the cached row is not a JSON object')
    }
    return content
  }

  async hasObjects(ids: readonly string[], options?: CallOptions): Promise<Record<string, boolean>> {
    this.assertOpen()
    this.writeBuffered()
    const out: Record<string, boolean> = {}
    for (let i = 0; i < ids.length; i += MAX_PARAMS) {
      throwIfAborted(options?.signal)
      const slice = ids.slice(i, i + MAX_PARAMS)
      for (const id of slice) out[id] = false
      const found = this.db
        .prepare(`SELECT hash FROM objects WHERE hash IN (${slice.map(() => '?').join(',')})`)
        .pluck()
        .all(...slice) as string[]
      for (const id of found) out[id] = true
    }
    return out
  }

  async *getObjects(ids: readonly string[], options?: CallOptions): AsyncIterable<[string, string]> {
    this.assertOpen()
    this.writeBuffered()
    for (let i = 0; i < ids.length; i += MAX_PARAMS) {
      throwIfAborted(options?.signal)
      const slice = ids.slice(i, i + MAX_PARAMS)
      const rows = this.db
        .prepare(`SELECT hash, content FROM objects WHERE hash IN (${slice.map(() => '?').join(',')})`)
        .raw()
        .all(...slice) as [string, string][]
      for (const row of rows) yield row
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    try {
      this.writeBuffered()
    } finally {
      this.closed = true
      this.db.close()
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new TransportError(this.name, 'the transport is closed')
  }
}
