/**
 * Browser-test harness for the web app: a real `truss serve` (PGlite in a temp folder) serving the built
 * app, and Debian's Chromium driven by playwright-core, with console errors collected per page.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const WEB = join(REPO_ROOT, 'packages/web')
const BIN = join(REPO_ROOT, 'packages/cli/src/bin.ts')
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--enable-unsafe-swiftshader',
]

/** Newest modification time under `dir` (ms). */
function newest(dir: string): number {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

/** The app as `npm install` builds it; built again here when missing or older than its sources. */
export async function ensureBuilt(): Promise<void> {
  const index = join(WEB, 'dist/index.html')
  if (existsSync(index) && statSync(index).mtimeMs >= newest(join(WEB, 'src'))) return
  const { build } = await import('vite')
  await build({ root: WEB, configFile: join(WEB, 'vite.config.ts'), logLevel: 'warn' })
}

export interface Server {
  url: string
  dataDir: string
  stop(): Promise<void>
}

export async function startServer(env: NodeJS.ProcessEnv = {}): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'truss-web-'))
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', BIN, 'serve', '--port', '0', '--data-dir', dataDir, '--no-workers'],
    { cwd: REPO_ROOT, env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const onData = (b: Buffer) => {
      out += b.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1]!)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`truss serve exited with ${code}: ${out.slice(-2000)}`)))
  })
  return {
    url,
    dataDir,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await new Promise((resolve) => child.once('exit', resolve))
      }
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`,
    )
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true })
}

/** A page whose console errors and uncaught exceptions are kept, to assert there are none. */
export async function openPage(context: BrowserContext): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage()
  const errors: string[] = []
  // Chromium's console line for a failed request does not name it: the failed responses are kept, and
  // named next to such a line (an expected 401, with no console line, is not an error).
  const failed: string[] = []
  page.on('console', (m) => {
    if (m.type() !== 'error') return
    const text = m.text()
    errors.push(
      text.startsWith('Failed to load resource') && failed.length > 0 ? `${text} (${failed.join(', ')})` : text,
    )
  })
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`))
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`HTTP ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`)
  })
  return { page, errors }
}

/** Sign up through the web app's form on `url`; resolves on the projects page. */
export async function signUp(page: Page, url: string, name: string, email: string): Promise<void> {
  await page.goto(`${url}/signup`)
  await page.getByLabel('Name').fill(name)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill('correct horse battery')
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.getByRole('heading', { name: 'Projects' }).waitFor()
}
