/**
 * The web app (`@truss/web`, built by Vite) served from this process: hashed files under `/assets/` with a
 * year of caching (gzip when the build wrote `.gz` siblings and the client takes it), and `index.html` for
 * any other page a browser navigates to (`Accept: text/html`), so `/projects/P/models/M@V` opens in the
 * app. API clients keep getting JSON 404s. Without a built app, `/` says how to build one.
 * Every page carries `x-speckle-frontend-2`: connectors (specklepy, .NET AccountManager) GET the root URL
 * and read it to decide the server uses project/model URLs (WIRE.md "Server info, health, discovery").
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, extname, join, normalize, sep } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.hdr': 'application/octet-stream',
}

// Paths the app never owns: an unknown route there is an API miss, answered in JSON.
const API_PREFIXES = [
  '/api/',
  '/graphql',
  '/auth/',
  '/objects/',
  '/preview/',
  '/streams/',
  '/healthz',
  '/readyz',
  '/metrics',
]

/** Where the built app is: the configured folder, else `@truss/web`'s `dist` if the package is installed. */
export function findWebDir(configured: string | undefined): string | null {
  if (configured !== undefined) return configured
  try {
    const pkg = createRequire(import.meta.url).resolve('@truss/web/package.json')
    return join(dirname(pkg), 'dist')
  } catch {
    return null
  }
}

export interface WebApp {
  /** Answer a browser's navigation with the app's page; false when `request` is not one. */
  fallback(request: FastifyRequest, reply: FastifyReply): boolean
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Truss</title></head>
<h1>Truss is running</h1><p>The web app is not built. Run <code>npm run build</code> in the Truss folder
(or set TRUSS_WEB_DIR to a built app), then reload. The API answers at <code>/graphql</code>.</p></html>
`

export function registerWebApp(app: FastifyInstance, dir: string | null): WebApp {
  const indexPath = dir === null ? null : join(dir, 'index.html')
  const built = indexPath !== null && existsSync(indexPath)
  const index = built ? readFileSync(indexPath) : Buffer.from(NOT_BUILT)
  const assets = built ? join(dir!, 'assets') : null

  if (assets !== null) {
    app.get('/assets/*', async (request, reply) => {
      const rel = (request.params as { '*': string })['*']
      const file = normalize(join(assets, rel))
      if (!file.startsWith(assets + sep) || !existsSync(file) || !statSync(file).isFile()) {
        return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `No asset ${rel}` } })
      }
      reply
        .header('content-type', TYPES[extname(file)] ?? 'application/octet-stream')
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('vary', 'accept-encoding')
      const gzip = `${file}.gz`
      if (/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? '')) && existsSync(gzip)) {
        return reply.header('content-encoding', 'gzip').send(createReadStream(gzip))
      }
      return reply.send(createReadStream(file))
    })
  }

  const page = (reply: FastifyReply) =>
    reply
      .header('x-speckle-frontend-2', 'true')
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(index)
  app.get('/', async (_request, reply) => page(reply))

  return {
    fallback(request, reply) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return false
      const path = request.url.split('?', 1)[0]!
      if (API_PREFIXES.some((prefix) => path === prefix.replace(/\/$/, '') || path.startsWith(prefix))) return false
      if (path.startsWith('/assets/')) return false
      if (!String(request.headers.accept ?? '').includes('text/html')) return false
      void page(reply)
      return true
    },
  }
}
