/**
 * Deliveries to real receivers (node:http servers on 127.0.0.1 and 127.0.0.2, never anything else). Where a
 * test needs a host name, the DNS answer is injected through `lookup`, the one boundary deliverWebhook lets a
 * caller replace; "public" addresses appear only in injected answers that are refused before connecting.
 */
import { execFileSync } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import type { ResolvedAddress, WebhookLookup } from './address-guard.js'
import { deliverWebhook, RESPONSE_EXCERPT_BYTES } from './deliver.js'

interface Received {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: Buffer
  remoteAddress: string | undefined
  localAddress: string | undefined
}

interface Receiver {
  url: string
  port: number
  received: Received[]
  server: Server
}

const servers: Server[] = []

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})

/** A receiver that records every request (after reading its body) and lets `answer` respond. */
async function receiver(
  answer: (res: ServerResponse, req: Received) => void,
  options: { host?: string; port?: number } = {},
): Promise<Receiver> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const entry: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        remoteAddress: req.socket.remoteAddress,
        localAddress: req.socket.localAddress,
      }
      received.push(entry)
      answer(res, entry)
    })
  })
  servers.push(server)
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return { url: `http://${host}:${port}/hook`, port, received, server }
}

/** An injected DNS answer per call (the last repeats), counting the questions. */
function fakeLookup(...answers: (readonly ResolvedAddress[])[]): WebhookLookup & { calls: string[] } {
  const calls: string[] = []
  const lookup = async (hostname: string) => {
    calls.push(hostname)
    return answers[Math.min(calls.length, answers.length) - 1]
  }
  return Object.assign(lookup, { calls })
}

const ok = (res: ServerResponse) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('thanks')

describe('deliverWebhook', () => {
  it('POSTs the exact body bytes, signed, and the receiver verifies the signature', async () => {
    let verified = false
    const hook = await receiver((res, req) => {
      const expected = createHmac('sha256', 's3cret').update(req.body).digest('hex')
      verified = req.headers['x-webhook-signature'] === expected
      res.writeHead(verified ? 200 : 401).end(verified ? 'thanks' : 'bad signature')
    })
    const body = Buffer.from('{"payload":{"activityMessage":"ünïcødé 漢字 🚀","n":1.50}}\n', 'utf8')

    const result = await deliverWebhook({ url: `${hook.url}?q=1`, body, secret: 's3cret', allowPrivate: true })

    expect(verified).toBe(true)
    expect(result).toMatchObject({ ok: true, statusCode: 200, responseExcerpt: 'thanks', remoteAddress: '127.0.0.1' })
    expect(result.error).toBeUndefined()
    expect(result.latencyMs).toBeGreaterThan(0)
    const [req] = hook.received
    expect(req.method).toBe('POST')
    expect(req.url).toBe('/hook?q=1')
    expect(req.body.equals(body)).toBe(true)
    expect(req.headers['content-type']).toBe('application/json')
    expect(req.headers['content-length']).toBe(String(body.length))
    expect(req.headers['user-agent']).toMatch(/^Truss-Webhooks\/\d+\.\d+\.\d+/)
    expect(req.headers.host).toBe(`127.0.0.1:${hook.port}`)
  })

  it('sends a string body as its UTF-8 bytes and signs with the empty string when there is no secret', async () => {
    const hook = await receiver(ok)
    const body = '{"payload":{"text":"€ and 𝄞"}}'

    const result = await deliverWebhook({ url: hook.url, body, allowPrivate: true })

    expect(result.ok).toBe(true)
    const [req] = hook.received
    expect(req.body.equals(Buffer.from(body, 'utf8'))).toBe(true)
    expect(req.headers['x-webhook-signature']).toBe(createHmac('sha256', '').update(req.body).digest('hex'))
  })

  it.each([200, 201, 202, 204])('counts HTTP %i as delivered', async (status) => {
    const hook = await receiver((res) => res.writeHead(status).end())
    const result = await deliverWebhook({ url: hook.url, body: '{}', allowPrivate: true })
    expect(result).toMatchObject({ ok: true, statusCode: status, responseExcerpt: '' })
  })

  it.each([203, 400, 404, 500, 503])('counts HTTP %i as a failure, with the response excerpt', async (status) => {
    const hook = await receiver((res) => res.writeHead(status).end('receiver says no'))
    const result = await deliverWebhook({ url: hook.url, body: '{}', allowPrivate: true })
    expect(result).toMatchObject({
      ok: false,
      statusCode: status,
      errorCode: 'HTTP_STATUS',
      responseExcerpt: 'receiver says no',
    })
    expect(result.error).toMatch(new RegExp(`^HTTP ${status} `))
  })

  it.each([301, 302, 307, 308])('does not follow a %i redirect: the target is never hit', async (status) => {
    const target = await receiver(ok)
    const hook = await receiver((res) => res.writeHead(status, { Location: target.url }).end())

    const result = await deliverWebhook({ url: hook.url, body: '{}', allowPrivate: true })

    expect(result.ok).toBe(false)
    expect(result.statusCode).toBe(status)
    expect(result.errorCode).toBe('REDIRECT')
    expect(result.error).toContain('redirects are not followed')
    expect(result.error).toContain(`Location: ${target.url}`)
    expect(hook.received).toHaveLength(1)
    expect(target.received).toHaveLength(0)
  })

  it('gives up after the timeout when the receiver never answers', async () => {
    const hook = await receiver(() => {}) // reads the request, never responds

    const result = await deliverWebhook({ url: hook.url, body: '{}', allowPrivate: true, timeoutMs: 300 })

    expect(result).toMatchObject({ ok: false, errorCode: 'TIMEOUT', error: 'Timed out after 300 ms' })
    expect(result.statusCode).toBeUndefined()
    expect(result.latencyMs).toBeGreaterThanOrEqual(290)
    expect(result.latencyMs).toBeLessThan(2_000)
    expect(hook.received).toHaveLength(1)
  })

  it('gives up after the timeout when the lookup never answers', async () => {
    const lookup: WebhookLookup = () => new Promise(() => {})
    const result = await deliverWebhook({
      url: 'http://slow-dns.test/',
      body: '{}',
      allowPrivate: true,
      timeoutMs: 300,
      lookup,
    })
    expect(result).toMatchObject({ ok: false, errorCode: 'TIMEOUT' })
    expect(result.latencyMs).toBeLessThan(2_000)
  })

  it('stops reading a huge response at the cap and still judges by the status', async () => {
    let written = 0
    const hook = await receiver((res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' })
      const chunk = Buffer.alloc(64 * 1024, 'a')
      const pump = () => {
        // Endless: only the client going away stops it.
        while (!res.destroyed && res.write(chunk)) written += chunk.length
        if (!res.destroyed) res.once('drain', pump)
      }
      pump()
    })

    const result = await deliverWebhook({ url: hook.url, body: '{}', allowPrivate: true, maxResponseBytes: 100_000 })

    expect(result).toMatchObject({ ok: true, statusCode: 200, responseBytes: 100_000, responseTruncated: true })
    expect(result.responseExcerpt).toBe('a'.repeat(RESPONSE_EXCERPT_BYTES))
    expect(result.latencyMs).toBeLessThan(5_000)
    // The receiver could only write what socket buffers hold before the client hung up.
    expect(written).toBeLessThan(64 * 1024 * 1024)
  })

  it('reads a body under the cap whole, keeping a text excerpt that does not end in half a character', async () => {
    const text = 'é'.repeat(3000) // 6,000 bytes: byte 2,048 falls inside no character, 2,047 would
    const hook = await receiver((res) => res.writeHead(500).end(`x${text}`))

    const result = await deliverWebhook({ url: hook.url, body: '{}', allowPrivate: true })

    expect(result).toMatchObject({ ok: false, statusCode: 500, responseBytes: 6001, responseTruncated: false })
    expect(result.responseExcerpt).toBe(`x${'é'.repeat(1023)}`)
  })

  it('reports a refused connection as a failure, not an exception', async () => {
    const gone = await receiver(ok)
    servers.splice(servers.indexOf(gone.server), 1)
    await new Promise<void>((resolve) => gone.server.close(() => resolve()))

    const result = await deliverWebhook({ url: gone.url, body: '{}', allowPrivate: true })

    expect(result).toMatchObject({ ok: false, errorCode: 'CONNECTION_FAILED' })
    expect(result.error).toContain('ECONNREFUSED')
  })

  it('reports an invalid URL and a failed lookup as failures', async () => {
    expect(await deliverWebhook({ url: 'ftp://example.com/', body: '{}', allowPrivate: false })).toMatchObject({
      ok: false,
      errorCode: 'WEBHOOK_URL_INVALID',
    })
    const lookup: WebhookLookup = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' })
    }
    expect(await deliverWebhook({ url: 'http://nope.test/', body: '{}', allowPrivate: false, lookup })).toMatchObject({
      ok: false,
      errorCode: 'WEBHOOK_DNS_FAILED',
      error: 'Could not resolve the webhook host nope.test: ENOTFOUND',
    })
  })

  it('throws only for wrong arguments', async () => {
    const base = { url: 'http://127.0.0.1:1/', body: '{}', allowPrivate: false }
    await expect(deliverWebhook({ ...base, body: 42 as unknown as string })).rejects.toBeInstanceOf(TypeError)
    await expect(deliverWebhook({ ...base, allowPrivate: 'no' as unknown as boolean })).rejects.toBeInstanceOf(
      TypeError,
    )
    await expect(deliverWebhook({ ...base, timeoutMs: 0 })).rejects.toBeInstanceOf(RangeError)
    await expect(deliverWebhook({ ...base, maxResponseBytes: -1 })).rejects.toBeInstanceOf(RangeError)
  })

  describe('without allowPrivate', () => {
    it.each([
      'http://127.0.0.1:PORT/hook',
      'http://localhost:PORT/hook',
      'http://[::1]:PORT/hook',
      'http://[::ffff:127.0.0.1]:PORT/hook',
      'http://2130706433:PORT/hook',
      'http://0x7f000001:PORT/hook',
      'http://10.0.0.1:PORT/hook',
      'http://192.168.1.1:PORT/hook',
      'http://169.254.169.254:PORT/latest/meta-data/',
    ])('refuses %s before connecting', async (template) => {
      const hook = await receiver(ok)
      const url = template.replace('PORT', String(hook.port))

      const result = await deliverWebhook({ url, body: '{}', allowPrivate: false })

      expect(result).toMatchObject({ ok: false, errorCode: 'WEBHOOK_URL_FORBIDDEN' })
      expect(result.error).toContain('is not allowed')
      expect(result.remoteAddress).toBeUndefined()
      expect(hook.received).toHaveLength(0)
    })

    it('refuses a name whose answer mixes a public address with loopback, asking DNS once', async () => {
      const hook = await receiver(ok)
      const lookup = fakeLookup([
        { address: '93.184.215.14', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ])

      const result = await deliverWebhook({
        url: `http://rebind.test:${hook.port}/`,
        body: '{}',
        allowPrivate: false,
        lookup,
      })

      expect(result).toMatchObject({ ok: false, errorCode: 'WEBHOOK_URL_FORBIDDEN' })
      expect(result.error).toContain('rebind.test resolves to 127.0.0.1')
      expect(lookup.calls).toEqual(['rebind.test'])
      expect(hook.received).toHaveLength(0)
    })
  })

  describe('DNS rebinding', () => {
    it('connects to the address it resolved and checked, never resolving again', async () => {
      // Two receivers on one port: 127.0.0.1 is what the name resolves to at the check; 127.0.0.2 is what
      // it "rebinds" to afterwards. A client that resolved again to connect (as Speckle's does) would hit
      // the second one, and the lookup would count two calls.
      const checked = await receiver(ok, { host: '127.0.0.1' })
      const rebound = await receiver(ok, { host: '127.0.0.2', port: checked.port })
      const lookup = fakeLookup([{ address: '127.0.0.1', family: 4 }], [{ address: '127.0.0.2', family: 4 }])

      const result = await deliverWebhook({
        url: `http://hooks.rebind.test:${checked.port}/in`,
        body: '{"payload":{}}',
        allowPrivate: true,
        lookup,
      })

      expect(result).toMatchObject({ ok: true, statusCode: 200, remoteAddress: '127.0.0.1' })
      expect(lookup.calls).toEqual(['hooks.rebind.test'])
      expect(checked.received).toHaveLength(1)
      expect(rebound.received).toHaveLength(0)
      // Host still names the URL's host, not the address.
      expect(checked.received[0].headers.host).toBe(`hooks.rebind.test:${checked.port}`)
      expect(checked.received[0].localAddress).toBe('127.0.0.1')
    })

    it('connects to the second checked address when that is the one answering, and to no other', async () => {
      // The same in the other direction, so a client that ignored the answer and used 127.0.0.1 would fail.
      const rebound = await receiver(ok, { host: '127.0.0.1' })
      const checked = await receiver(ok, { host: '127.0.0.2', port: rebound.port })
      const lookup = fakeLookup([{ address: '127.0.0.2', family: 4 }], [{ address: '127.0.0.1', family: 4 }])

      const result = await deliverWebhook({
        url: `http://hooks.rebind.test:${rebound.port}/`,
        body: '{}',
        allowPrivate: true,
        lookup,
      })

      expect(result).toMatchObject({ ok: true, remoteAddress: '127.0.0.2' })
      expect(lookup.calls).toHaveLength(1)
      expect(checked.received).toHaveLength(1)
      expect(rebound.received).toHaveLength(0)
    })

    it('refuses when the first answer is loopback, whatever later answers would say', async () => {
      const hook = await receiver(ok)
      // A second, public answer must not be asked for: a client that re-checked a fresh answer would pass.
      const lookup = fakeLookup([{ address: '127.0.0.1', family: 4 }], [{ address: '93.184.215.14', family: 4 }])

      const result = await deliverWebhook({
        url: `http://rebind.test:${hook.port}/`,
        body: '{}',
        allowPrivate: false,
        lookup,
      })

      expect(result).toMatchObject({ ok: false, errorCode: 'WEBHOOK_URL_FORBIDDEN' })
      expect(lookup.calls).toHaveLength(1)
      expect(hook.received).toHaveLength(0)
    })
  })

  describe('over https', () => {
    /** A throwaway self-signed certificate for `hooks.truss.test`, made by openssl for this run. */
    function selfSignedCertificate(): { key: Buffer; cert: Buffer } {
      const dir = mkdtempSync(join(tmpdir(), 'truss-webhook-tls-'))
      try {
        execFileSync(
          'openssl',
          ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1']
            .concat(['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=hooks.truss.test'])
            .concat(['-addext', 'subjectAltName=DNS:hooks.truss.test']),
          { stdio: 'ignore' },
        )
        return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }

    it('sends the URL host as SNI to the checked address and verifies the certificate', async () => {
      const names: string[] = []
      let requests = 0
      const server = createHttpsServer(
        {
          ...selfSignedCertificate(),
          SNICallback: (servername, done) => {
            names.push(servername)
            done(null, undefined)
          },
        },
        (_req, res) => {
          requests += 1
          res.end('ok')
        },
      )
      servers.push(server)
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
      const port = (server.address() as AddressInfo).port
      const lookup = fakeLookup([{ address: '127.0.0.1', family: 4 }])

      const result = await deliverWebhook({
        url: `https://hooks.truss.test:${port}/`,
        body: '{}',
        allowPrivate: true,
        lookup,
      })

      // The receiver's certificate is self-signed, so the client refuses it: TLS is verified, not bypassed.
      expect(result).toMatchObject({ ok: false, errorCode: 'CONNECTION_FAILED', remoteAddress: '127.0.0.1' })
      expect(result.error).toMatch(/self[- ]signed certificate/)
      expect(names).toEqual(['hooks.truss.test'])
      expect(requests).toBe(0)
      expect(lookup.calls).toEqual(['hooks.truss.test'])
    })
  })
})
