/**
 * Speckle's REST object API (WIRE.md "REST object API") end to end: a real server started in-process on
 * port 0, real HTTP on 127.0.0.1. The round trips run on PGlite and on PostgreSQL; the permission matrix
 * runs on PGlite.
 */
import { connect } from 'node:net'
import { gzipSync } from 'node:zlib'
import { Base, MemoryTransport, ServerTransport, receive, send } from '@truss/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BOUNDARY,
  http,
  leaf,
  lines,
  multipart,
  postJson,
  treeOf,
  upload,
  type ObjectsServer,
  type RawAnswer,
  startObjectsServer,
} from './objects-harness.js'

const BACKENDS = [
  ['PGlite', 'pglite'],
  ['PostgreSQL', 'postgres'],
] as const

/** `count` distinct leaves tagged with `tag`, and the root that references them all. */
function sampleTree(tag: string, count = 5) {
  const children = Array.from({ length: count }, (_, i) => leaf({ tag, i, name: `child ${i}` }))
  const root = treeOf(children, { tag, name: 'root' })
  return { root, children, all: [root, ...children] }
}

const batch = (objects: readonly { json: string }[]) => `[${objects.map((o) => o.json).join(',')}]`
const gzipPart = (objects: readonly { json: string }[]) => ({
  type: 'application/gzip',
  body: gzipSync(batch(objects)),
})

for (const [label, backend] of BACKENDS) {
  describe(`object API round trips on ${label}`, () => {
    let s: ObjectsServer

    beforeAll(async () => {
      // Level 1 for everyone: the gzip'd answers Speckle always sends (and remote clients get from Truss).
      s = await startObjectsServer({ backend, env: { OBJECTS_GZIP_LEVEL: '1' } })
    })

    afterAll(async () => {
      await s?.close()
    })

    const single = (id: string, project = s.privateProject) =>
      http(`${s.url}/objects/${project}/${id}/single`, { token: s.ownerToken })
    const diff = (ids: string[], project = s.privateProject) =>
      postJson(`${s.url}/api/diff/${project}`, { objects: JSON.stringify(ids) }, s.ownerToken)

    it('stores a gzip multipart batch and answers 201 with an empty body', async () => {
      const { all } = sampleTree('gzip')
      const res = await upload(s, s.privateProject, multipart([gzipPart(all)]), s.ownerToken)
      expect(res.status).toBe(201)
      expect(res.raw.length).toBe(0)
      const known = JSON.parse((await diff(all.map((o) => o.id))).text) as Record<string, boolean>
      expect(Object.values(known)).toEqual(all.map(() => true))
    })

    it('accepts plain JSON parts typed application/json, text/plain and application/octet-stream', async () => {
      for (const type of ['application/json', 'text/plain', 'application/octet-stream']) {
        const object = leaf({ tag: 'plain', type })
        const res = await upload(s, s.privateProject, multipart([{ type, body: batch([object]) }]), s.ownerToken)
        expect(res.status, type).toBe(201)
        expect(res.text).toBe('')
        expect((await single(object.id)).text).toBe(object.json)
      }
    })

    it('stores every part of a request holding several parts of mixed encodings', async () => {
      const objects = Array.from({ length: 6 }, (_, i) => leaf({ tag: 'multi', i }))
      const body = multipart([
        { name: 'batch-1', ...gzipPart(objects.slice(0, 2)) },
        { name: 'object-batch', type: 'application/json', body: batch(objects.slice(2, 4)) },
        { name: 'batch-3', ...gzipPart(objects.slice(4)) },
      ])
      expect((await upload(s, s.privateProject, body, s.ownerToken)).status).toBe(201)
      for (const o of objects) expect((await single(o.id)).text).toBe(o.json)
    })

    it('accepts a re-upload with 201 and keeps the first write of an id', async () => {
      const first = leaf({ tag: 'idempotent', v: 1 })
      const body = multipart([gzipPart([first])])
      expect((await upload(s, s.privateProject, body, s.ownerToken)).status).toBe(201)
      expect((await upload(s, s.privateProject, body, s.ownerToken)).status).toBe(201)
      // Same id, other content: Speckle skips ids it already has.
      const second = { id: first.id, json: JSON.stringify({ id: first.id, speckle_type: 'Base', v: 2 }) }
      expect((await upload(s, s.privateProject, multipart([gzipPart([second])]), s.ownerToken)).status).toBe(201)
      expect((await single(first.id)).text).toBe(first.json)
    })

    it('stores a request mixing stored and new objects (and one id twice), each once, the first write kept', async () => {
      const known = Array.from({ length: 300 }, (_, i) => leaf({ tag: 'mix-known', i, pad: 'k'.repeat(900) }))
      expect((await upload(s, s.privateProject, multipart([gzipPart(known)]), s.ownerToken)).status).toBe(201)
      const fresh = Array.from({ length: 3000 }, (_, i) => leaf({ tag: 'mix-new', i, pad: 'n'.repeat(900) }))
      // The stored objects come after megabytes of new ones, so the database meets them mid-stream.
      const changed = { id: known[7]!.id, json: JSON.stringify({ id: known[7]!.id, speckle_type: 'Base', v: 'other' }) }
      const body = multipart([gzipPart([...fresh, fresh[0]!, ...known.slice(0, 5), changed])])
      expect((await upload(s, s.privateProject, body, s.ownerToken)).status).toBe(201)
      const present = JSON.parse((await diff([...known, ...fresh].map((o) => o.id))).text) as Record<string, boolean>
      expect(Object.values(present).filter(Boolean).length).toBe(3300)
      expect((await single(known[7]!.id)).text).toBe(known[7]!.json)
      expect((await single(fresh[2999]!.id)).text).toBe(fresh[2999]!.json)
    })

    it('stores nothing of a multi-megabyte request whose last object is bad, though it streamed in', async () => {
      const good = Array.from({ length: 5000 }, (_, i) => leaf({ tag: 'late-bad', i, pad: 'x'.repeat(900) }))
      for (const bad of ['{"speckle_type":"Base"}', '{"id":"' + 'a'.repeat(32) + '","x":tru}']) {
        const text = `[${good.map((o) => o.json).join(',')},${bad}]`
        const res = await upload(
          s,
          s.privateProject,
          multipart([{ type: 'application/gzip', body: gzipSync(text) }]),
          s.ownerToken,
        )
        expect(res.status).toBe(400)
        const present = JSON.parse((await diff([good[0]!.id, good[4999]!.id])).text) as Record<string, boolean>
        expect(present).toEqual({ [good[0]!.id]: false, [good[4999]!.id]: false })
      }
      const upperHalf = multipart([gzipPart(good.slice(2500)), { type: 'application/json', body: '[{"id": 1}]' }])
      expect((await upload(s, s.privateProject, upperHalf, s.ownerToken)).status).toBe(400)
      expect(JSON.parse((await diff([good[2500]!.id])).text)).toEqual({ [good[2500]!.id]: false })
    })

    it('refuses bytes that are not UTF-8 inside a string with 400 and stores nothing of the request', async () => {
      const ok = leaf({ tag: 'utf8-ok' })
      const id = leaf({ tag: 'utf8-bad' }).id
      const bad = Buffer.concat([
        Buffer.from(`[${ok.json},{"id":"${id}","s":"`),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('"}]'),
      ])
      const res = await upload(s, s.privateProject, multipart([{ type: 'application/json', body: bad }]), s.ownerToken)
      expect(res.status).toBe(400)
      expect(res.text).toBe('Failed to parse data. Batch is not in JSON format.')
      expect(JSON.parse((await diff([ok.id, id])).text)).toEqual({ [ok.id]: false, [id]: false })
    })

    it('serves /single as exactly the uploaded text, byte for byte', async () => {
      const id = leaf({ tag: 'bytes' }).id
      // Spacing, key order, number spellings and escapes as another SDK might write them.
      const json = `{"speckle_type":"Base", "id":"${id}","z":2.50,"a":[1, 2.0,3e2],"big":12345678901234567890,"s":"Gebäude \\u00e9 \\"q\\" 🏗️ \\\\ end","n":null}`
      const body = multipart([{ type: 'application/gzip', body: gzipSync(`[ ${json} ]`) }])
      expect((await upload(s, s.privateProject, body, s.ownerToken)).status).toBe(201)
      const res = await single(id)
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toMatch(/^application\/json/)
      expect(res.raw.equals(Buffer.from(json))).toBe(true)
    })

    it('stores a pretty-printed object without its line breaks, keeping strings and numbers as written', async () => {
      const child = leaf({ tag: 'pretty-child' })
      const root = treeOf([child], { tag: 'pretty' })
      // As the .NET SDK's test fixtures are written: indented, one property a line, numbers like 1.0.
      const pretty = (json: string) => JSON.stringify(JSON.parse(json), null, '\t').replace(/}$/, ',\n\t"n": 1.0\r\n}')
      const text = `[\n${pretty(root.json)},\n${pretty(child.json)}\n]`
      const body = multipart([{ type: 'application/json', body: text }])
      expect((await upload(s, s.privateProject, body, s.ownerToken)).status).toBe(201)
      const compact = (json: string) => json.replace(/}$/, ',"n":1.0}')
      const res = await http(`${s.url}/objects/${s.privateProject}/${root.id}`, {
        token: s.ownerToken,
        headers: { accept: 'text/plain' },
      })
      expect(lines(res.text)).toEqual([
        [root.id, compact(root.json)],
        [child.id, compact(child.json)],
      ])
      expect((await single(child.id)).text).toBe(compact(child.json))
    })

    it('downloads a tree as id<TAB>json lines with Accept: text/plain, root first then children by id, gzip', async () => {
      const { root, children, all } = sampleTree('text-tree', 12)
      expect((await upload(s, s.privateProject, multipart([gzipPart(all)]), s.ownerToken)).status).toBe(201)
      const res = await http(`${s.url}/objects/${s.privateProject}/${root.id}`, {
        token: s.ownerToken,
        headers: { accept: 'text/plain' },
      })
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toMatch(/^text\/plain; charset=utf-8$/i)
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(res.raw.subarray(0, 2).toString('hex')).toBe('1f8b')
      expect(res.text.endsWith('\n')).toBe(true)
      const got = lines(res.text)
      expect(got[0]).toEqual([root.id, root.json])
      const sorted = [...children].sort((a, b) => (a.id < b.id ? -1 : 1))
      expect(got.slice(1)).toEqual(sorted.map((c) => [c.id, c.json]))
    })

    it('downloads a tree as one JSON array unless Accept is exactly text/plain, gzip', async () => {
      const { root, children, all } = sampleTree('json-tree', 7)
      expect((await upload(s, s.privateProject, multipart([gzipPart(all)]), s.ownerToken)).status).toBe(201)
      const sortedIds = children.map((c) => c.id).sort()
      for (const accept of [undefined, 'application/json', 'text/plain, */*']) {
        const res = await http(`${s.url}/objects/${s.privateProject}/${root.id}`, {
          token: s.ownerToken,
          headers: accept === undefined ? {} : { accept },
        })
        expect(res.status).toBe(200)
        expect(res.headers['content-type']).toMatch(/^application\/json/)
        expect(res.headers['content-encoding']).toBe('gzip')
        const array = JSON.parse(res.text) as { id: string }[]
        expect(array.map((o) => o.id)).toEqual([root.id, ...sortedIds])
        expect(array[0]).toEqual(JSON.parse(root.json))
      }
    })

    it('serves a childless object as a tree of one', async () => {
      const lone = leaf({ tag: 'lone' })
      await upload(s, s.privateProject, multipart([gzipPart([lone])]), s.ownerToken)
      const text = await http(`${s.url}/objects/${s.privateProject}/${lone.id}`, {
        token: s.ownerToken,
        headers: { accept: 'text/plain' },
      })
      expect(lines(text.text)).toEqual([[lone.id, lone.json]])
      const json = await http(`${s.url}/objects/${s.privateProject}/${lone.id}`, { token: s.ownerToken })
      expect(JSON.parse(json.text)).toEqual([JSON.parse(lone.json)])
    })

    it('answers 404 "Failed to find object." for an unknown tree root or single object', async () => {
      const missing = 'f'.repeat(32)
      for (const path of [missing, `${missing}/single`]) {
        const res = await http(`${s.url}/objects/${s.privateProject}/${path}`, { token: s.ownerToken })
        expect(res.status).toBe(404)
        expect(res.text).toBe('Failed to find object.')
      }
    })

    it('answers getobjects as text lines or a JSON array, skipping unknown ids', async () => {
      const { children } = sampleTree('getobjects', 4)
      expect((await upload(s, s.privateProject, multipart([gzipPart(children)]), s.ownerToken)).status).toBe(201)
      const unknown = '0'.repeat(32)
      const asked = [children[2]!.id, unknown, children[0]!.id, children[3]!.id]
      const known = children.filter((c) => asked.includes(c.id)).sort((a, b) => (a.id < b.id ? -1 : 1))
      const url = `${s.url}/api/getobjects/${s.privateProject}`

      const text = await postJson(url, { objects: JSON.stringify(asked) }, s.ownerToken, 'text/plain')
      expect(text.status).toBe(200)
      expect(text.headers['content-encoding']).toBe('gzip')
      expect(text.headers['content-type']).toMatch(/^text\/plain/)
      expect(lines(text.text)).toEqual(known.map((c) => [c.id, c.json]))

      const json = await postJson(url, { objects: JSON.stringify(asked) }, s.ownerToken)
      expect(json.status).toBe(200)
      expect(json.headers['content-encoding']).toBe('gzip')
      expect(json.headers['content-type']).toMatch(/^application\/json/)
      expect(JSON.parse(json.text)).toEqual(known.map((c) => JSON.parse(c.json)))

      const none = await postJson(url, { objects: JSON.stringify([unknown]) }, s.ownerToken)
      expect(JSON.parse(none.text)).toEqual([])
    })

    it('answers diff with a gzip JSON map saying which ids the project holds', async () => {
      const stored = leaf({ tag: 'diff' })
      const absent = leaf({ tag: 'diff', absent: true })
      await upload(s, s.privateProject, multipart([gzipPart([stored])]), s.ownerToken)
      const res = await diff([stored.id, absent.id])
      expect(res.status).toBe(200)
      expect(res.headers['content-encoding']).toBe('gzip')
      expect(JSON.parse(res.text)).toEqual({ [stored.id]: true, [absent.id]: false })
      // Objects are per project: the public project does not have it.
      expect(JSON.parse((await diff([stored.id], s.publicProject)).text)).toEqual({ [stored.id]: false })
    })

    it('answers object-stream with a text line for every requested id', async () => {
      const { children } = sampleTree('object-stream', 30)
      expect((await upload(s, s.privateProject, multipart([gzipPart(children)]), s.ownerToken)).status).toBe(201)
      const asked = children.map((c) => c.id).reverse()
      for (const encoding of ['gzip', 'identity']) {
        const res = await http(`${s.url}/api/v2/projects/${s.privateProject}/object-stream/`, {
          method: 'POST',
          token: s.ownerToken,
          headers: { 'content-type': 'application/json', accept: 'text/plain', 'accept-encoding': encoding },
          body: JSON.stringify({ objectIds: asked, attributeMask: { include: ['name'] } }),
        })
        expect(res.status).toBe(200)
        expect(res.headers['content-type']).toMatch(/^text\/plain/)
        const got = new Map(lines(res.text))
        expect(got.size).toBe(asked.length)
        for (const c of children) expect(got.get(c.id)).toBe(c.json)
      }
    })

    it('round-trips a model with detached and chunked children through ServerTransport send() and receive()', async () => {
      const walls = Array.from({ length: 20 }, (_, i) => new Base({ name: `wall ${i}`, height: 3 + i / 10 }))
      const vertices = Array.from({ length: 1050 }, (_, i) => i * 0.5)
      const model = new Base({ name: `model on ${label}`, '@walls': walls, '@(100)vertices': vertices })
      const server = () => new ServerTransport({ serverUrl: s.url, projectId: s.privateProject, token: s.ownerToken })
      const id = await send(model, { transports: [server()], useDefaultCache: false })
      const back = await receive(id, { remote: server(), local: new MemoryTransport() })
      expect(back.name).toBe(`model on ${label}`)
      expect((back['@walls'] as Base[]).map((w) => [w.name, w.height])).toEqual(walls.map((w) => [w.name, w.height]))
      expect(back['@(100)vertices']).toEqual(vertices)
      // 20 walls + 11 chunks of at most 100 vertices, all in the root's closure.
      const tree = await http(`${s.url}/objects/${s.privateProject}/${id}`, {
        token: s.ownerToken,
        headers: { accept: 'text/plain' },
      })
      expect(lines(tree.text)).toHaveLength(1 + 20 + 11)
    })
  })
}

describe('object API permissions, as Speckle answers them', () => {
  let s: ObjectsServer
  const { root, all } = sampleTree('permissions', 3)
  const UNKNOWN_PROJECT = 'nosuchproj'

  type Route = { name: string; mode: 'read' | 'write'; call: (project: string, token?: string) => Promise<RawAnswer> }
  const routes: Route[] = [
    {
      name: 'POST /objects',
      mode: 'write',
      call: (p, t) => upload(s, p, multipart([gzipPart([leaf({ tag: 'perm-upload', t: t ?? null })])]), t),
    },
    {
      name: 'GET /objects/:p/:id',
      mode: 'read',
      call: (p, t) => http(`${s.url}/objects/${p}/${root.id}`, { token: t }),
    },
    {
      name: 'GET /objects/:p/:id/single',
      mode: 'read',
      call: (p, t) => http(`${s.url}/objects/${p}/${root.id}/single`, { token: t }),
    },
    {
      name: 'POST /api/getobjects',
      mode: 'read',
      call: (p, t) => postJson(`${s.url}/api/getobjects/${p}`, { objects: JSON.stringify([root.id]) }, t),
    },
    {
      name: 'POST /api/diff',
      mode: 'write',
      call: (p, t) => postJson(`${s.url}/api/diff/${p}`, { objects: JSON.stringify([root.id]) }, t),
    },
    {
      name: 'POST /api/v2/projects/:p/object-stream/',
      mode: 'read',
      call: (p, t) => postJson(`${s.url}/api/v2/projects/${p}/object-stream/`, { objectIds: [root.id] }, t),
    },
  ]

  /** Every route's status for this caller on this project, by route name. */
  async function statuses(project: string, token: string | undefined) {
    const out: Record<string, number> = {}
    for (const r of routes) {
      const res = await r.call(project, token)
      out[r.name] = res.status
      // Permission answers are bare statuses.
      if (res.status === 401 || (res.status === 404 && r.mode === 'read' && project === UNKNOWN_PROJECT)) {
        expect(res.raw.length, `${r.name} ${res.status} body`).toBe(0)
      }
    }
    return out
  }
  const expected = (read: number, write: number) =>
    Object.fromEntries(routes.map((r) => [r.name, r.mode === 'read' ? read : write]))

  beforeAll(async () => {
    s = await startObjectsServer()
    for (const project of [s.privateProject, s.publicProject]) {
      expect((await upload(s, project, multipart([gzipPart(all)]), s.ownerToken)).status).toBe(201)
    }
  })

  afterAll(async () => {
    await s?.close()
  })

  it('lets the owner with streams:read and streams:write use every route on both projects', async () => {
    const ok = expected(200, 201)
    ok['POST /api/diff'] = 200
    expect(await statuses(s.privateProject, s.ownerToken)).toEqual(ok)
    expect(await statuses(s.publicProject, s.ownerToken)).toEqual(ok)
  })

  it('answers 401 with an empty body to every anonymous request on a private project', async () => {
    expect(await statuses(s.privateProject, undefined)).toEqual(expected(401, 401))
  })

  it('lets anyone read a public project without a token, but not upload or diff (401)', async () => {
    expect(await statuses(s.publicProject, undefined)).toEqual(expected(200, 401))
    const single = await http(`${s.url}/objects/${s.publicProject}/${root.id}/single`)
    expect(single.text).toBe(root.json)
  })

  it('refuses upload and diff to a read-only token with 401 and lets it read', async () => {
    expect(await statuses(s.privateProject, s.readOnlyToken)).toEqual(expected(200, 401))
  })

  it('refuses a token without stream scopes with 401 on a private project (public reads stay open)', async () => {
    expect(await statuses(s.privateProject, s.profileToken)).toEqual(expected(401, 401))
    expect(await statuses(s.publicProject, s.profileToken)).toEqual(expected(200, 401))
  })

  it('refuses a user without a role on the project with 401 (public reads stay open)', async () => {
    expect(await statuses(s.privateProject, s.outsiderToken)).toEqual(expected(401, 401))
    expect(await statuses(s.publicProject, s.outsiderToken)).toEqual(expected(200, 401))
  })

  it('answers 404 to reads of an unknown project with a token, 401 to its writes and to anonymous callers', async () => {
    expect(await statuses(UNKNOWN_PROJECT, s.ownerToken)).toEqual(expected(404, 401))
    expect(await statuses(UNKNOWN_PROJECT, undefined)).toEqual(expected(401, 401))
  })

  it('refuses an invalid token on every route with 403 {"error":"Your token is not valid."}', async () => {
    const forged = `${s.ownerToken.slice(0, 10)}${'0'.repeat(32)}`
    for (const token of [forged, 'not-a-token']) {
      for (const r of routes) {
        for (const project of [s.privateProject, s.publicProject]) {
          const res = await r.call(project, token)
          expect(res.status, r.name).toBe(403)
          expect(JSON.parse(res.text), r.name).toEqual({ error: 'Your token is not valid.' })
        }
      }
    }
  })

  it('never stores anything from a refused upload', async () => {
    const object = leaf({ tag: 'refused' })
    for (const token of [undefined, s.readOnlyToken, s.profileToken, s.outsiderToken]) {
      expect((await upload(s, s.privateProject, multipart([gzipPart([object])]), token)).status).toBe(401)
    }
    const known = await postJson(
      `${s.url}/api/diff/${s.privateProject}`,
      { objects: JSON.stringify([object.id]) },
      s.ownerToken,
    )
    expect(JSON.parse(known.text)).toEqual({ [object.id]: false })
  })

  it('answers CORS preflights on every object route with 204 and Access-Control-Allow-Origin: *', async () => {
    const paths = [
      `/objects/${s.privateProject}`,
      `/objects/${s.privateProject}/${root.id}`,
      `/objects/${s.privateProject}/${root.id}/single`,
      `/api/getobjects/${s.privateProject}`,
      `/api/diff/${s.privateProject}`,
      `/api/v2/projects/${s.privateProject}/object-stream/`,
    ]
    for (const path of paths) {
      const res = await http(`${s.url}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://viewer.example.com',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      })
      expect(res.status, path).toBe(204)
      expect(res.headers['access-control-allow-origin'], path).toBe('*')
      expect(String(res.headers['access-control-allow-headers']), path).toMatch(/authorization/i)
    }
  })
})

describe('OBJECTS_GZIP_LEVEL', () => {
  const servers: ObjectsServer[] = []
  const { root, children, all } = sampleTree('gzip-level', 40)
  const sorted = [...children].sort((a, b) => (a.id < b.id ? -1 : 1))
  const expectedLines = [[root.id, root.json], ...sorted.map((c) => [c.id, c.json])]

  async function serverWith(level: string): Promise<ObjectsServer> {
    const s = await startObjectsServer({ env: { OBJECTS_GZIP_LEVEL: level } })
    servers.push(s)
    expect((await upload(s, s.privateProject, multipart([gzipPart(all)]), s.ownerToken)).status).toBe(201)
    return s
  }
  const download = (s: ObjectsServer, headers: Record<string, string> = {}) =>
    http(`${s.url}/objects/${s.privateProject}/${root.id}`, {
      token: s.ownerToken,
      headers: { accept: 'text/plain', 'accept-encoding': 'gzip', ...headers },
    })
  /** gzip'd either way, as Speckle answers; compressed when the bytes on the wire are well under the text. */
  const compressed = (res: RawAnswer) => {
    expect(res.status).toBe(200)
    expect(res.headers['content-encoding']).toBe('gzip')
    expect(res.raw.subarray(0, 2).toString('hex')).toBe('1f8b')
    expect(lines(res.text)).toEqual(expectedLines)
    return res.raw.length < res.text.length / 2
  }

  afterAll(async () => {
    for (const s of servers) await s.close()
  })

  it('auto (default): stored gzip for a client on this machine, compressed through a proxy', async () => {
    const s = await serverWith('auto')
    expect(compressed(await download(s))).toBe(false)
    expect(compressed(await download(s, { 'x-forwarded-for': '203.0.113.7' }))).toBe(true)
    expect(compressed(await download(s, { forwarded: 'for=203.0.113.7' }))).toBe(true)
    const asked = children.slice(0, 3).map((c) => c.id)
    const got = await postJson(
      `${s.url}/api/getobjects/${s.privateProject}`,
      { objects: JSON.stringify(asked) },
      s.ownerToken,
    )
    expect(got.headers['content-encoding']).toBe('gzip')
    expect(got.raw.length).toBeGreaterThan(got.text.length)
    expect((JSON.parse(got.text) as { id: string }[]).map((o) => o.id)).toEqual([...asked].sort())
    // The SDK's transport reads the stored-gzip answer unchanged.
    const transport = new ServerTransport({ serverUrl: s.url, projectId: s.privateProject, token: s.ownerToken })
    const base = await receive(root.id, { remote: transport, local: new MemoryTransport() })
    expect(base.id).toBe(root.id)
  })

  it('a fixed level applies to every client', async () => {
    const six = await serverWith('6')
    expect(compressed(await download(six))).toBe(true)
    const zero = await serverWith('0')
    expect(compressed(await download(zero, { 'x-forwarded-for': '203.0.113.7' }))).toBe(false)
  })
})

describe('stalled clients (HTTP_IDLE_TIMEOUT_SECONDS, MAX_CONCURRENT_UPLOADS)', () => {
  let s: ObjectsServer

  beforeAll(async () => {
    s = await startObjectsServer({
      backend: 'postgres',
      env: { HTTP_IDLE_TIMEOUT_SECONDS: '1', MAX_CONCURRENT_UPLOADS: '1' },
    })
  })

  afterAll(async () => {
    await s?.close()
  })

  /** Send the headers and the first part of an upload whose body never ends; resolves when the server hangs up. */
  function stalledUpload(objects: readonly { json: string }[]): { closed: Promise<number> } {
    const body = multipart([gzipPart(objects)])
    const url = new URL(`${s.url}/objects/${s.privateProject}`)
    const socket = connect(Number(url.port), url.hostname)
    const started = performance.now()
    socket.write(
      `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${s.ownerToken}\r\n` +
        `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${body.length + 1000}\r\n\r\n`,
    )
    socket.write(body.subarray(0, body.length - 10)) // the part, but not the end of the form
    socket.on('data', () => undefined)
    socket.on('error', () => undefined)
    return { closed: new Promise((resolve) => socket.once('close', () => resolve(performance.now() - started))) }
  }

  it('closes a connection on which the client stopped sending, freeing its upload slot; nothing of it is stored', async () => {
    // Over 256 kB of COPY text: the stalled upload holds the only slot and has started loading.
    const stalledObjects = Array.from({ length: 300 }, (_, i) => leaf({ tag: 'stalled', i, pad: 'p'.repeat(1000) }))
    const stalled = stalledUpload(stalledObjects)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const next = leaf({ tag: 'after-stall' })
    const waiting = upload(s, s.privateProject, multipart([gzipPart([next])]), s.ownerToken)
    const closedAfter = await stalled.closed
    expect(closedAfter).toBeGreaterThan(900) // the idle timeout, not an error
    expect(closedAfter).toBeLessThan(10_000)
    expect((await waiting).status).toBe(201)
    const known = JSON.parse(
      (
        await postJson(
          `${s.url}/api/diff/${s.privateProject}`,
          { objects: JSON.stringify([next.id, ...stalledObjects.map((o) => o.id)]) },
          s.ownerToken,
        )
      ).text,
    ) as Record<string, boolean>
    expect(known[next.id]).toBe(true)
    expect(stalledObjects.filter((o) => known[o.id])).toHaveLength(0)
  })

  it('keeps a slow sender that keeps sending', async () => {
    // A sender pausing under the timeout between pieces is not cut off.
    const objects = Array.from({ length: 50 }, (_, i) => leaf({ tag: 'slow', i }))
    const body = multipart([gzipPart(objects)])
    const url = new URL(`${s.url}/objects/${s.privateProject}`)
    const status = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname)
      let answer = ''
      socket.on('data', (b: Buffer) => (answer += b.toString()))
      socket.on('error', reject)
      socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''))
      socket.write(
        `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${s.ownerToken}\r\nConnection: close\r\n` +
          `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${body.length}\r\n\r\n`,
      )
      const pieces = [body.subarray(0, 100), body.subarray(100, body.length - 20), body.subarray(body.length - 20)]
      void (async () => {
        for (const piece of pieces) {
          await new Promise((r) => setTimeout(r, 600))
          socket.write(piece)
        }
      })()
    })
    expect(status).toBe('HTTP/1.1 201 Created')
  })

  it('closes a download whose client stopped reading, and serves the next one', async () => {
    const children = Array.from({ length: 3000 }, (_, i) => leaf({ tag: 'unread', i, pad: 'd'.repeat(12_000) }))
    const root = treeOf(children, { tag: 'unread' })
    for (let i = 0; i < children.length; i += 500) {
      const res = await upload(s, s.privateProject, multipart([gzipPart(children.slice(i, i + 500))]), s.ownerToken)
      expect(res.status).toBe(201)
    }
    expect((await upload(s, s.privateProject, multipart([gzipPart([root])]), s.ownerToken)).status).toBe(201)
    const url = new URL(`${s.url}/objects/${s.privateProject}/${root.id}`)
    // A paused client only notices the server hanging up once it reads again: it reads nothing for 3 s
    // (the idle timeout is 1 s), then takes what the buffers held. A server that had not cut the answer
    // would now deliver all of it.
    const received = await new Promise<number>((resolve) => {
      const socket = connect(Number(url.port), url.hostname)
      let bytes = 0
      socket.on('error', () => undefined)
      socket.on('data', (b: Buffer) => (bytes += b.length))
      socket.pause()
      socket.once('close', () => resolve(bytes))
      socket.write(
        `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${s.ownerToken}\r\nAccept: text/plain\r\n\r\n`,
      )
      setTimeout(() => socket.resume(), 3000)
    })
    const full = children.reduce((n, c) => n + c.id.length + 2 + Buffer.byteLength(c.json), 0)
    expect(received).toBeGreaterThan(0)
    expect(received).toBeLessThan(full / 2)
    const whole = await http(`${s.url}/objects/${s.privateProject}/${root.id}`, {
      token: s.ownerToken,
      headers: { accept: 'text/plain' },
    })
    expect(whole.status).toBe(200)
    expect(lines(whole.text)).toHaveLength(children.length + 1)
  })
})
