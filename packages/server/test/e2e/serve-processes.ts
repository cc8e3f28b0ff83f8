/**
 * `truss serve` processes for end-to-end tests of several nodes (TypeScript sources through tsx), and a GraphQL
 * call over HTTP that throws on errors.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const BIN = join(REPO_ROOT, 'packages/cli/src/bin.ts')

export interface ServeProcess {
  url: string
  process: ChildProcess
}

/** Start `truss serve` on a free port with `env` (e.g. DATABASE_URL, REDIS_URL); resolves once it listens. */
export function startServeProcess(env: NodeJS.ProcessEnv, dataDir: string): Promise<ServeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, 'serve', '--port', '0', '--data-dir', dataDir], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve({ url: m[1]!, process: child })
    })
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()))
    child.on('exit', (code) => reject(new Error(`node exited with ${code}: ${err}`)))
  })
}

export async function gql(url: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  })
  const body = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] }
  if (body.errors) throw new Error(JSON.stringify(body.errors))
  return body.data!
}
