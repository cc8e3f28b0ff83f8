/**
 * A 200 MB object through the REST object API of a real server, on PGlite and on PostgreSQL: uploaded
 * as one gzip part, then read back by every route (single, tree download as the root and as a child,
 * getobjects, object-stream) and checked byte for byte by hash. It is stored in pieces: no database value
 * is longer than 4 MiB and a few bytes.
 */
import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSql } from '../../src/adapters/sql/index.js'
import { http, multipart, postJson, upload, type ObjectsServer, startObjectsServer } from './objects-harness.js'

const MB = 1024 * 1024
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

/** A mesh-like object of about `bytes` bytes of JSON, with its id (sha256 of the JSON without it). */
function hugeObject(bytes: number): { id: string; json: Buffer } {
  const unit = '0.123456789,-12.5,3.1415926,'
  const values = unit.repeat(Math.ceil(bytes / unit.length)).slice(0, -1)
  const body = `{"speckle_type":"Objects.Geometry.Mesh","units":"m","vertices":[${values}]`
  const id = sha(`${body}}`).slice(0, 32)
  return { id, json: Buffer.from(`${body},"id":"${id}"}`) }
}

describe.each(['pglite', 'postgres'] as const)('a 200 MB object (%s)', (backend) => {
  let s: ObjectsServer
  const big = hugeObject(200 * MB)
  const bigHash = sha(big.json)
  const rootId = sha(`root of ${big.id}`).slice(0, 32)
  const root = JSON.stringify({
    speckle_type: 'Base',
    '@mesh': { referencedId: big.id, speckle_type: 'reference' },
    totalChildrenCount: 1,
    __closure: { [big.id]: 1 },
    id: rootId,
  })

  beforeAll(async () => {
    s = await startObjectsServer({
      backend,
      env: { MAX_OBJECT_SIZE_MB: '300', MAX_OBJECT_UPLOAD_FILE_SIZE_MB: '300' },
    })
  }, 60_000)
  afterAll(() => s?.close())

  it('is stored whole and read back byte for byte by every route', async () => {
    const part = gzipSync(Buffer.concat([Buffer.from('['), big.json, Buffer.from(`,${root}]`)]), { level: 1 })
    const stored = await upload(
      s,
      s.privateProject,
      multipart([{ type: 'application/gzip', body: part }]),
      s.ownerToken,
    )
    expect(stored.status).toBe(201)

    if (backend === 'postgres') {
      // No database value holds it whole (on PGlite the unit tests check this; its folder is the server's).
      const sql = await createSql({ databaseUrl: s.server.config.databaseUrl, logger: pino({ level: 'silent' }) })
      try {
        const { rows } = await sql.query<{ n: number; pieces: number }>(
          `SELECT max(octet_length(data))::int AS n, count(*)::int AS pieces FROM objects WHERE project_id = $1 AND id LIKE $2`,
          [s.privateProject, `${big.id}%`],
        )
        expect(Number(rows[0]!.n)).toBeLessThanOrEqual(4 * MB + 3)
        expect(Number(rows[0]!.pieces)).toBe(1 + Math.ceil(big.json.length / (4 * MB)))
      } finally {
        await sql.close()
      }
    }

    const single = await http(`${s.url}/objects/${s.privateProject}/${big.id}/single`, { token: s.ownerToken })
    expect(single.status).toBe(200)
    expect(single.raw.length).toBe(big.json.length)
    expect(sha(single.raw)).toBe(bigHash)

    const asRoot = await http(`${s.url}/objects/${s.privateProject}/${big.id}`, {
      token: s.ownerToken,
      headers: { accept: 'text/plain' },
    })
    expect(asRoot.status).toBe(200)
    const rootLine = Buffer.from(asRoot.text)
    expect(rootLine.subarray(0, 33).toString()).toBe(`${big.id}\t`)
    expect(sha(rootLine.subarray(33, rootLine.length - 1))).toBe(bigHash)

    const tree = await http(`${s.url}/objects/${s.privateProject}/${rootId}`, {
      token: s.ownerToken,
      headers: { accept: 'text/plain' },
    })
    expect(tree.status).toBe(200)
    const treeLines = tree.text.split('\n').filter((l) => l !== '')
    expect(treeLines.map((l) => l.slice(0, 32))).toEqual([rootId, big.id])
    expect(treeLines[0]!.slice(33)).toBe(root)
    expect(sha(treeLines[1]!.slice(33))).toBe(bigHash)

    const listed = await postJson(
      `${s.url}/api/getobjects/${s.privateProject}`,
      { objects: JSON.stringify([big.id]) },
      s.ownerToken,
      'text/plain',
    )
    expect(listed.status).toBe(200)
    expect(sha(listed.text.slice(33, -1))).toBe(bigHash)

    const streamed = await postJson(
      `${s.url}/api/v2/projects/${s.privateProject}/object-stream`,
      { objectIds: [big.id] },
      s.ownerToken,
    )
    expect(streamed.status).toBe(200)
    expect(sha(streamed.text.slice(33, -1))).toBe(bigHash)
  }, 240_000)
})
