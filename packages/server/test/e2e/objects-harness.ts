/**
 * What the object API end-to-end tests share: a real server started in-process (`startServer`) on port 0
 * over PGlite in a temporary data folder (or a fresh PostgreSQL database), seeded with users, tokens and
 * projects through the identity services; and plain HTTP helpers that show the raw answer (status, headers,
 * bytes, before any gunzip).
 */
import { createHash } from 'node:crypto'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { FastifyPluginAsync } from 'fastify'
import { pino } from 'pino'
import { runMigrations } from '../../src/adapters/sql/migrate.js'
import type { Sql } from '../../src/adapters/sql/types.js'
import { createIdentityServices, loadConfig, startServer, type RunningServer } from '../../src/index.js'
import { createTestPostgresDatabase, openTestPglite } from '../../src/test-utils/db.js'
import { createSql } from '../../src/adapters/sql/index.js'

export interface ObjectsServer {
  url: string
  server: RunningServer
  dataDir: string
  /** Owner of both projects: streams:read + streams:write. */
  ownerToken: string
  /** The owner's token with streams:read only. */
  readOnlyToken: string
  /** The owner's token without stream scopes (profile:read). */
  profileToken: string
  /** A second user with no role on either project (streams:read + streams:write). */
  outsiderToken: string
  privateProject: string
  publicProject: string
  close(): Promise<void>
}

export interface StartOptions {
  backend?: 'pglite' | 'postgres'
  /** Environment variables for `loadConfig` (e.g. MAX_OBJECT_UPLOAD_FILE_SIZE_MB). */
  env?: Record<string, string>
  routes?: FastifyPluginAsync
}

const silent = pino({ level: 'silent' })

export async function startObjectsServer(options: StartOptions = {}): Promise<ObjectsServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'truss-objects-e2e-'))
  let databaseUrl: string | undefined
  let dropDatabase = async () => {}
  let sql: Sql
  if (options.backend === 'postgres') {
    const database = await createTestPostgresDatabase()
    databaseUrl = database.url
    dropDatabase = database.drop
    sql = await createSql({ databaseUrl, logger: silent })
  } else {
    // The server's own data folder, started from the initdb template (≈ 0.5 s instead of initdb).
    sql = await openTestPglite({ dataDir: join(dataDir, 'db') })
  }
  let seeded: Awaited<ReturnType<typeof seed>>
  try {
    await runMigrations(sql)
    seeded = await seed(sql)
  } finally {
    await sql.close()
  }

  const config = loadConfig(options.env ?? {}, { port: 0, dataDir, databaseUrl, logLevel: 'silent' })
  const server = await startServer(config, { logger: silent, routes: options.routes })
  return {
    url: server.url,
    server,
    dataDir,
    ...seeded,
    async close() {
      await server.close()
      await dropDatabase()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

async function seed(sql: Sql) {
  const { users, tokens, projects } = createIdentityServices(sql)
  const password = 'correct horse battery'
  const owner = await users.create({ email: 'owner@example.com', name: 'Owner', password })
  const outsider = await users.create({ email: 'outsider@example.com', name: 'Outsider', password })
  const token = (userId: string, scopes: string[]) => tokens.create({ userId, name: 'e2e', scopes })
  return {
    ownerToken: await token(owner.id, ['streams:read', 'streams:write']),
    readOnlyToken: await token(owner.id, ['streams:read']),
    profileToken: await token(owner.id, ['profile:read']),
    outsiderToken: await token(outsider.id, ['streams:read', 'streams:write']),
    privateProject: (await projects.create({ ownerId: owner.id, name: 'Private', visibility: 'private' })).id,
    publicProject: (await projects.create({ ownerId: owner.id, name: 'Public', visibility: 'public' })).id,
  }
}

// ── HTTP ────────────────────────────────────────────────────────────────────────────────────────────

export interface RawAnswer {
  status: number
  headers: IncomingHttpHeaders
  /** The body as received (still gzip when the server compressed it). */
  raw: Buffer
  /** The body decoded: gunzipped when `Content-Encoding: gzip`, as UTF-8 text. */
  text: string
  ms: number
}

/** One HTTP request with node:http, so the answer is seen exactly as sent (no automatic gunzip). */
export function http(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string; token?: string } = {},
): Promise<RawAnswer> {
  const started = performance.now()
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body
  if (body !== undefined) headers['content-length'] = String(body.length)
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? (body ? 'POST' : 'GET'), headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const raw = Buffer.concat(chunks)
        const gzipped = res.headers['content-encoding'] === 'gzip'
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          raw,
          text: (gzipped ? gunzipSync(raw) : raw).toString('utf8'),
          ms: performance.now() - started,
        })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

export function postJson(url: string, json: unknown, token?: string, accept?: string): Promise<RawAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (accept !== undefined) headers.accept = accept
  return http(url, { method: 'POST', headers, body: JSON.stringify(json), token })
}

export interface Part {
  name?: string
  type: string
  body: Buffer | string
}

export const BOUNDARY = 'truss-e2e-boundary-7d1c'

/** A multipart/form-data body with one file part per entry. */
export function multipart(parts: readonly Part[], boundary = BOUNDARY): Buffer {
  const chunks: Buffer[] = []
  parts.forEach((part, i) => {
    const name = part.name ?? `batch-${i + 1}`
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}"\r\n` +
          `Content-Type: ${part.type}\r\n\r\n`,
      ),
      Buffer.isBuffer(part.body) ? part.body : Buffer.from(part.body),
      Buffer.from('\r\n'),
    )
  })
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return Buffer.concat(chunks)
}

/** POST /objects/:projectId with the given multipart body. */
export function upload(
  s: Pick<ObjectsServer, 'url'>,
  projectId: string,
  body: Buffer,
  token: string | undefined,
  contentType = `multipart/form-data; boundary=${BOUNDARY}`,
): Promise<RawAnswer> {
  return http(`${s.url}/objects/${projectId}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
    token,
  })
}

// ── objects ─────────────────────────────────────────────────────────────────────────────────────────

/** Truss's id rule (WIRE.md): sha256 of the compact JSON without `id`, first 32 hex characters. */
export function idOf(object: Record<string, unknown>): string {
  const { id: _id, ...rest } = object
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 32)
}

/** A leaf object with its id, as compact JSON text and parsed. */
export function leaf(props: Record<string, unknown>): { id: string; json: string } {
  const body = { speckle_type: 'Base', ...props }
  const id = idOf(body)
  return { id, json: JSON.stringify({ id, ...body }) }
}

/** A root whose `@children` reference the given leaves, with `__closure`. */
export function treeOf(children: readonly { id: string }[], props: Record<string, unknown> = {}) {
  const body = {
    speckle_type: 'Base',
    ...props,
    '@children': children.map((c) => ({ referencedId: c.id, speckle_type: 'reference' })),
    totalChildrenCount: children.length,
    __closure: Object.fromEntries(children.map((c) => [c.id, 1])),
  }
  const id = idOf(body)
  return { id, json: JSON.stringify({ id, ...body }) }
}

/** Parse `id\tjson\n` lines. */
export function lines(text: string): [string, string][] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const tab = l.indexOf('\t')
      return [l.slice(0, tab), l.slice(tab + 1)]
    })
}

/** The objects of a Speckle `.verified.json` fixture (a map id → object, UTF-8 with BOM). */
export function verifiedObjects(text: string): Record<string, unknown>[] {
  const map = JSON.parse(text.replace(/^\uFEFF/, '')) as Record<string, Record<string, unknown>>
  return Object.values(map)
}

/** The object of a set that no other object's `__closure` names: the root. */
export function rootOf(objects: readonly Record<string, unknown>[]): Record<string, unknown> {
  const named = new Set<string>()
  for (const o of objects) for (const id of Object.keys((o.__closure as object | null) ?? {})) named.add(id)
  const roots = objects.filter((o) => !named.has(o.id as string))
  if (roots.length !== 1) throw new Error(`expected one root, found ${roots.length}`)
  return roots[0]!
}
