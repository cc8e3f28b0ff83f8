/**
 * Serving the built web app: pages for browsers on any path the API does not own, hashed assets with long
 * caching and gzip, JSON 404s for API clients, the connectors' header on every page, and a clear page when
 * nothing is built. Plus the session cookie on WebSocket upgrades, taken only from this site.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sessionCookieOfUpgrade } from '../auth/plugin.js'
import { registerWebApp } from './static.js'

function appFor(dir: string | null): FastifyInstance {
  const app = Fastify()
  const web = registerWebApp(app, dir)
  app.get('/graphql', async () => ({ data: null }))
  app.setNotFoundHandler((request, reply) => {
    if (web.fallback(request, reply)) return reply
    return reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'nope' } })
  })
  return app
}

describe('the web app served by the server', () => {
  let dir: string
  let app: FastifyInstance
  const script = 'console.log("truss")'.repeat(50)

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'truss-webdir-'))
    mkdirSync(join(dir, 'assets'))
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Truss</title><div id="root"></div>')
    writeFileSync(join(dir, 'assets/index-abc.js'), script)
    writeFileSync(join(dir, 'assets/index-abc.js.gz'), gzipSync(script))
    writeFileSync(join(dir, 'secret.txt'), 'not an asset')
    app = appFor(dir)
  })
  afterAll(async () => {
    await app.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('answers / and app paths a browser opens with the page, carrying x-speckle-frontend-2', async () => {
    for (const url of ['/', '/projects/p1/models/m1@v1', '/signin?next=/']) {
      const res = await app.inject({ url, headers: { accept: 'text/html,application/xhtml+xml' } })
      expect(res.statusCode).toBe(200)
      expect(res.headers['content-type']).toMatch(/^text\/html/)
      expect(res.headers['x-speckle-frontend-2']).toBe('true')
      expect(res.headers['cache-control']).toBe('no-cache')
      expect(res.body).toContain('<div id="root">')
    }
  })

  it('keeps JSON 404s for API clients and API paths', async () => {
    const api = await app.inject({ url: '/projects/p1', headers: { accept: 'application/json' } })
    expect(api.statusCode).toBe(404)
    expect(api.json()).toMatchObject({ error: { code: 'NOT_FOUND' } })
    const underApi = await app.inject({ url: '/api/nothing', headers: { accept: 'text/html' } })
    expect(underApi.statusCode).toBe(404)
    expect(underApi.headers['content-type']).toMatch(/json/)
    const post = await app.inject({ method: 'POST', url: '/projects', headers: { accept: 'text/html' } })
    expect(post.statusCode).toBe(404)
  })

  it('serves hashed assets cached for a year, gzipped when the client takes it', async () => {
    const plain = await app.inject({ url: '/assets/index-abc.js' })
    expect(plain.statusCode).toBe(200)
    expect(plain.headers['content-type']).toMatch(/^text\/javascript/)
    expect(plain.headers['cache-control']).toContain('immutable')
    expect(plain.body).toBe(script)
    const gz = await app.inject({ url: '/assets/index-abc.js', headers: { 'accept-encoding': 'gzip, br' } })
    expect(gz.headers['content-encoding']).toBe('gzip')
    expect(gunzipSync(gz.rawPayload).toString()).toBe(script)
    expect(gz.rawPayload.length).toBeLessThan(script.length)
  })

  it('refuses missing assets and paths out of the assets folder', async () => {
    expect((await app.inject({ url: '/assets/missing.js' })).statusCode).toBe(404)
    const escape = await app.inject({ url: '/assets/..%2Fsecret.txt' })
    expect(escape.statusCode).toBe(404)
    expect(escape.body).not.toContain('not an asset')
  })

  it('says how to build the app when none is built', async () => {
    const bare = appFor(null)
    const res = await bare.inject({ url: '/', headers: { accept: 'text/html' } })
    expect(res.statusCode).toBe(200)
    expect(res.headers['x-speckle-frontend-2']).toBe('true')
    expect(res.body).toContain('npm run build')
    await bare.close()
  })
})

describe('the session cookie on WebSocket upgrades', () => {
  const own = new Set(['https://truss.example.com'])
  const upgrade = (headers: Record<string, string>) => ({ headers: { host: '127.0.0.1:3000', ...headers } })

  it('is taken from this site: the same host or the public URL', () => {
    expect(sessionCookieOfUpgrade(upgrade({ cookie: 'a=1; authn=tok123', origin: 'http://127.0.0.1:3000' }), own)).toBe(
      'tok123',
    )
    expect(sessionCookieOfUpgrade(upgrade({ cookie: 'authn=tok123', origin: 'https://truss.example.com' }), own)).toBe(
      'tok123',
    )
  })

  it('is ignored from another site, without an Origin, or when absent', () => {
    expect(sessionCookieOfUpgrade(upgrade({ cookie: 'authn=tok123', origin: 'https://evil.example' }), own)).toBeNull()
    expect(sessionCookieOfUpgrade(upgrade({ cookie: 'authn=tok123', origin: 'null' }), own)).toBeNull()
    expect(sessionCookieOfUpgrade(upgrade({ cookie: 'authn=tok123' }), own)).toBeNull()
    expect(sessionCookieOfUpgrade(upgrade({ origin: 'http://127.0.0.1:3000' }), own)).toBeNull()
  })
})
