/**
 * The object API under bad input: one barrage of malformed uploads and requests, fired together at a
 * server started with a 1 MB part limit; each gets Speckle's 400, nothing partial is stored, and the
 * server keeps serving.
 */
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { createGzip, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BOUNDARY,
  http,
  leaf,
  multipart,
  postJson,
  upload,
  type ObjectsServer,
  type RawAnswer,
  startObjectsServer,
} from './objects-harness.js'

const PART_LIMIT_MB = 1
const PART_LIMIT = PART_LIMIT_MB * 1024 * 1024

/** gzip of `inflatedBytes` of JSON whitespace inside an array: a few hundred KB that inflate far past the limit. */
async function gzipBomb(inflatedBytes: number): Promise<Buffer> {
  const gz = createGzip({ level: 9 })
  const chunks: Buffer[] = []
  gz.on('data', (c: Buffer) => chunks.push(c))
  const done = new Promise((resolve) => gz.on('end', resolve))
  const block = Buffer.alloc(1024 * 1024, 0x20)
  gz.write('[')
  for (let written = 0; written < inflatedBytes; written += block.length) {
    if (!gz.write(block)) await new Promise((resolve) => gz.once('drain', resolve))
  }
  gz.end(']')
  await done
  return Buffer.concat(chunks)
}

/** A JSON batch of leaves padded to about `bytes`. */
function bigBatch(bytes: number, tag: string) {
  const pad = 'x'.repeat(10_000)
  const objects = Array.from({ length: Math.ceil(bytes / 10_050) }, (_, i) => leaf({ tag, i, pad }))
  return { objects, text: `[${objects.map((o) => o.json).join(',')}]` }
}

/**
 * Start an upload and walk away halfway through the body (closing, or resetting the connection), as a
 * client that crashes or is cancelled does. There is no answer to check: the server must just carry on.
 */
function abandonUpload(s: ObjectsServer, project: string, token: string, body: Buffer, reset: boolean): Promise<void> {
  const { hostname, port } = new URL(s.url)
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `POST /objects/${project} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${body.length}\r\n\r\n`,
      )
      socket.write(body.subarray(0, body.length >> 1))
      setTimeout(() => {
        if (reset) socket.resetAndDestroy()
        else socket.destroy()
        resolve()
      }, 200)
    })
    socket.on('error', () => resolve())
  })
}

interface Case {
  name: string
  send: () => Promise<RawAnswer>
  status: number
  /** Expected text body (exact string or pattern). */
  text?: string | RegExp
  /** Expected JSON error code. */
  code?: string
  /** Slowest acceptable answer. */
  maxMs?: number
}

describe('object API under bad input', () => {
  let s: ObjectsServer

  beforeAll(async () => {
    s = await startObjectsServer({ env: { MAX_OBJECT_UPLOAD_FILE_SIZE_MB: String(PART_LIMIT_MB) } })
  })

  afterAll(async () => {
    await s?.close()
  })

  it('answers every malformed request with 400, stores nothing of it, and keeps serving', async () => {
    const project = s.privateProject
    const token = s.ownerToken
    /** Well-formed objects sent inside bad requests: none may be stored. */
    const innocent: { id: string; json: string }[] = []
    const good = (tag: string) => {
      const o = leaf({ tag })
      innocent.push(o)
      return o
    }
    const arr = (...objects: { json: string }[]) => `[${objects.map((o) => o.json).join(',')}]`

    const valid = good('truncated')
    const whole = multipart([{ type: 'application/json', body: arr(valid) }])
    const wholeGzip = multipart([{ type: 'application/gzip', body: gzipSync(arr(valid)) }])
    const wholePng = multipart([{ type: 'image/png', body: randomBytes(4096) }])
    const fiveWithBadThird = [good('five-1'), good('five-2'), { json: '{"speckle_type":"Base","noId":true}' }]
    fiveWithBadThird.push(good('five-4'), good('five-5'))
    const oversize = bigBatch(PART_LIMIT * 1.5, 'oversize')
    const oversizeGzip = bigBatch(PART_LIMIT * 1.5, 'oversize-gzip')
    innocent.push(...oversize.objects.slice(0, 5), ...oversizeGzip.objects.slice(0, 5))
    const bomb = await gzipBomb(256 * 1024 * 1024)
    expect(bomb.length).toBeLessThan(300 * 1024)

    const FILE_TOO_LARGE = /^File size too large \(\d+ > \d+\)/
    const cases: Case[] = [
      // Unparsable or missing multipart.
      {
        name: 'boundary in the header differs from the body',
        send: () =>
          upload(s, project, multipart([{ type: 'application/json', body: arr(good('boundary')) }], 'other'), token),
        status: 400,
      },
      {
        name: 'body cut off in the middle of a part',
        send: () => upload(s, project, whole.subarray(0, whole.length - 40), token),
        status: 400,
      },
      {
        name: 'gzip body cut off in the middle of a part',
        send: () => upload(s, project, wholeGzip.subarray(0, wholeGzip.length - 60), token),
        status: 400,
      },
      {
        name: 'body cut off in the middle of a part typed image/png',
        send: () => upload(s, project, wholePng.subarray(0, wholePng.length - 40), token),
        status: 400,
      },
      {
        name: 'multipart without a boundary parameter',
        send: () => upload(s, project, whole, token, 'multipart/form-data'),
        status: 400,
      },
      {
        name: 'multipart with no file part',
        send: () => upload(s, project, Buffer.from(`--${BOUNDARY}--\r\n`), token),
        status: 400,
      },
      {
        name: 'a JSON body instead of multipart',
        send: () => upload(s, project, Buffer.from(arr(good('json-body'))), token, 'application/json'),
        status: 400,
      },
      {
        name: 'a text/plain body instead of multipart',
        send: () => upload(s, project, Buffer.from(arr(good('text-body'))), token, 'text/plain'),
        status: 400,
      },
      {
        name: 'an urlencoded body instead of multipart',
        send: () => upload(s, project, Buffer.from('objects=%5B%5D'), token, 'application/x-www-form-urlencoded'),
        status: 400,
      },
      {
        name: 'an upload without a content type',
        send: () => http(`${s.url}/objects/${project}`, { method: 'POST', body: whole, token }),
        status: 400,
      },
      // Bad parts.
      {
        name: 'a part typed image/png',
        send: () => upload(s, project, multipart([{ type: 'image/png', body: arr(good('png')) }]), token),
        status: 400,
        text: /^Invalid ContentType header/,
      },
      {
        name: 'a plain part that is not JSON',
        send: () => upload(s, project, multipart([{ type: 'application/json', body: '[{"id": nope' }]), token),
        status: 400,
        text: 'Failed to parse data. Batch is not in JSON format.',
      },
      {
        name: 'a gzip part that is not JSON',
        send: () => upload(s, project, multipart([{ type: 'application/gzip', body: gzipSync('not json') }]), token),
        status: 400,
        text: 'Failed to parse data. Batch is not in JSON format.',
      },
      {
        name: 'a gzip part that is not gzip',
        send: () => upload(s, project, multipart([{ type: 'application/gzip', body: arr(good('not-gzip')) }]), token),
        status: 400,
      },
      {
        name: 'a batch that is an object, not an array',
        send: () => upload(s, project, multipart([{ type: 'application/json', body: good('object').json }]), token),
        status: 400,
        text: 'Failed to parse data. Batch is expected to be wrapped in a JSON array.',
      },
      {
        name: 'a batch of numbers',
        send: () => upload(s, project, multipart([{ type: 'application/json', body: '[1,2,3]' }]), token),
        status: 400,
      },
      ...[
        ['without an id', '{"speckle_type":"Base"}'],
        ['with a short id', '{"id":"abc123","speckle_type":"Base"}'],
        ['with a non-hex id', `{"id":"${'z'.repeat(32)}","speckle_type":"Base"}`],
        ['with a numeric id', '{"id":12345678901234567890123456789012,"speckle_type":"Base"}'],
      ].map(([what, json]): Case => ({
        name: `an object ${what}`,
        send: () => upload(s, project, multipart([{ type: 'application/json', body: `[${json}]` }]), token),
        status: 400,
      })),
      {
        name: 'a batch of five whose third object has no id',
        send: () =>
          upload(s, project, multipart([{ type: 'application/json', body: arr(...fiveWithBadThird) }]), token),
        status: 400,
      },
      {
        name: 'a request whose second part is typed image/png',
        send: () =>
          upload(
            s,
            project,
            multipart([
              { type: 'application/gzip', body: gzipSync(arr(good('first-of-two'))) },
              { type: 'image/png', body: arr(good('second-of-two')) },
            ]),
            token,
          ),
        status: 400,
        text: /^Invalid ContentType header/,
      },
      {
        name: 'a request whose second part is not JSON',
        send: () =>
          upload(
            s,
            project,
            multipart([
              { type: 'application/json', body: arr(good('first-of-two-json')) },
              { type: 'application/json', body: 'garbage' },
            ]),
            token,
          ),
        status: 400,
        text: 'Failed to parse data. Batch is not in JSON format.',
      },
      // Limits.
      {
        name: 'a plain part over the size limit',
        send: () => upload(s, project, multipart([{ type: 'application/json', body: oversize.text }]), token),
        status: 400,
        text: FILE_TOO_LARGE,
      },
      {
        name: 'a gzip part that inflates over the size limit',
        send: () =>
          upload(s, project, multipart([{ type: 'application/gzip', body: gzipSync(oversizeGzip.text) }]), token),
        status: 400,
        text: FILE_TOO_LARGE,
      },
      {
        name: 'a gzip bomb (256 MB inflated)',
        send: () => upload(s, project, multipart([{ type: 'application/gzip', body: bomb }]), token),
        status: 400,
        text: FILE_TOO_LARGE,
        maxMs: 2000,
      },
      // Bad id lists.
      ...['getobjects', 'diff'].flatMap((route) =>
        [
          ['a string that is not JSON', { objects: 'not json' }],
          ['a JSON object', { objects: '{"a":1}' }],
          ['an array of numbers', { objects: '[1,2]' }],
          ['a number', { objects: 42 }],
          ['nothing', {}],
        ].map(([what, body]): Case => ({
          name: `${route} with objects as ${what as string}`,
          send: () => postJson(`${s.url}/api/${route}/${project}`, body, token),
          status: 400,
          code: 'USER_INPUT_ERROR',
        })),
      ),
      {
        name: 'getobjects with a body that is not JSON',
        send: () =>
          http(`${s.url}/api/getobjects/${project}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"objects": [',
            token,
          }),
        status: 400,
      },
      ...[
        ['missing', {}],
        ['a string', { objectIds: 'abc' }],
        ['numbers', { objectIds: [1, 2] }],
        ['an object', { objectIds: { a: 1 } }],
      ].map(([what, body]): Case => ({
        name: `object-stream with objectIds ${what as string}`,
        send: () => postJson(`${s.url}/api/v2/projects/${project}/object-stream/`, body, token, 'text/plain'),
        status: 400,
        code: 'USER_INPUT_ERROR',
      })),
    ]

    const rssBefore = process.memoryUsage().rss
    let rssPeak = rssBefore
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 10)
    const abandoned = bigBatch(200_000, 'abandoned')
    const abandonedGzip = bigBatch(200_000, 'abandoned-gzip')
    innocent.push(...abandoned.objects, ...abandonedGzip.objects)
    const abandonments = [
      abandonUpload(s, project, token, multipart([{ type: 'application/json', body: abandoned.text }]), false),
      abandonUpload(
        s,
        project,
        token,
        multipart([{ type: 'application/gzip', body: gzipSync(abandonedGzip.text) }]),
        true,
      ),
    ]
    const answers = await Promise.all(cases.map((c) => c.send()))
    await Promise.all(abandonments)
    clearInterval(sampler)

    const failures: string[] = []
    cases.forEach((c, i) => {
      const a = answers[i]!
      const problems: string[] = []
      if (a.status !== c.status) problems.push(`status ${a.status}`)
      if (typeof c.text === 'string' && a.text !== c.text) problems.push(`body ${JSON.stringify(a.text)}`)
      if (c.text instanceof RegExp && !c.text.test(a.text)) problems.push(`body ${JSON.stringify(a.text)}`)
      if (c.code !== undefined) {
        let code: unknown
        try {
          code = (JSON.parse(a.text) as { error?: { code?: unknown } }).error?.code
        } catch {
          code = undefined
        }
        if (code !== c.code) problems.push(`body ${JSON.stringify(a.text)}`)
      }
      if (c.maxMs !== undefined && a.ms > c.maxMs) problems.push(`took ${Math.round(a.ms)} ms`)
      if (problems.length > 0) failures.push(`${c.name}: ${problems.join(', ')}`)
    })
    expect(failures).toEqual([])
    // The bomb was not inflated in memory (256 MB), nor were the oversize parts kept.
    expect((rssPeak - rssBefore) / 1024 / 1024).toBeLessThan(128)

    // Still serving.
    const healthz = await http(`${s.url}/healthz`)
    expect(healthz.status).toBe(200)
    const after = leaf({ tag: 'after the barrage' })
    const ok = await upload(s, project, multipart([{ type: 'application/gzip', body: gzipSync(arr(after)) }]), token)
    expect(ok.status).toBe(201)
    expect((await http(`${s.url}/objects/${project}/${after.id}/single`, { token })).text).toBe(after.json)

    // Nothing of any refused request was stored, not even the valid objects around the bad ones.
    const known = await postJson(
      `${s.url}/api/diff/${project}`,
      { objects: JSON.stringify(innocent.map((o) => o.id)) },
      token,
    )
    const stored = Object.entries(JSON.parse(known.text) as Record<string, boolean>).filter(([, has]) => has)
    expect(stored).toEqual([])
    expect(innocent.length).toBeGreaterThan(20)
  })

  it('refuses an oversize upload from a client that keeps sending, then serves the next request', async () => {
    // 8 MB of random (incompressible) base64 in one plain part: the server answers after reading past the limit.
    const text = `[${JSON.stringify({ id: 'a'.repeat(32), blob: randomBytes(6 * 1024 * 1024).toString('base64') })}]`
    const res = await upload(s, s.privateProject, multipart([{ type: 'application/json', body: text }]), s.ownerToken)
    expect(res.status).toBe(400)
    expect(res.text).toMatch(/^File size too large/)
    expect((await http(`${s.url}/healthz`)).status).toBe(200)
  })
})
