/**
 * The web app in Debian's Chromium against a real `truss serve`: sign up, create a project, make a token,
 * send a model with the SDK, open the version link, see it drawn (pixels checked, screenshot saved), click
 * an object and read its properties. Also: a wrong password, a private project opened by a stranger and by
 * nobody, and a public project opened with no account.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { Base, MemoryTransport, Mesh, ServerTransport, send } from '@truss/core'
import { ensureBuilt, launchBrowser, openPage, REPO_ROOT, startServer, type Server } from './harness.js'

/** An axis-aligned box as a Speckle mesh (8 vertices, 6 quads). */
function box(name: string, x: number, size: number): Mesh {
  const [a, b] = [x, x + size]
  const vertices = [a, 0, 0, b, 0, 0, b, size, 0, a, size, 0, a, 0, size, b, 0, size, b, size, size, a, size, size]
  const quads = [
    [0, 3, 2, 1],
    [4, 5, 6, 7],
    [0, 1, 5, 4],
    [1, 2, 6, 5],
    [2, 3, 7, 6],
    [3, 0, 4, 7],
  ]
  return new Mesh({ name, vertices, faces: quads.flatMap((q) => [4, ...q]), units: 'm', applicationId: name })
}

/** Non-white pixels in a PNG screenshot, counted in the page (the canvas is drawn over white). */
async function drawnFraction(page: Page): Promise<number> {
  return page.evaluate(() => {
    const canvas = document.querySelector('[data-testid=viewer] canvas') as HTMLCanvasElement | null
    if (!canvas) return 0
    const out = document.createElement('canvas')
    out.width = canvas.width
    out.height = canvas.height
    const ctx = out.getContext('2d')!
    ctx.fillStyle = '#fff'
    ctx.fillRect(0, 0, out.width, out.height)
    ctx.drawImage(canvas, 0, 0)
    const { data } = ctx.getImageData(0, 0, out.width, out.height)
    let drawn = 0
    for (let i = 0; i < data.length; i += 4) if (data[i]! < 235 || data[i + 1]! < 235 || data[i + 2]! < 235) drawn++
    return drawn / (out.width * out.height)
  })
}

const SHOTS = join(REPO_ROOT, '.tmp/screenshots')

describe('the web app in a real browser', () => {
  let server: Server
  let browser: Browser

  beforeAll(async () => {
    await ensureBuilt()
    ;[server, browser] = await Promise.all([startServer(), launchBrowser()])
    mkdirSync(SHOTS, { recursive: true })
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })

  async function signUp(page: Page, name: string, email: string) {
    await page.goto(`${server.url}/signup`)
    await page.getByLabel('Name').fill(name)
    await page.getByLabel('Email').fill(email)
    await page.getByLabel('Password').fill('correct horse battery')
    await page.getByRole('button', { name: 'Create account' }).click()
    await page.getByRole('heading', { name: 'Projects' }).waitFor()
  }

  let publicProject: { id: string; modelId: string; versionId: string }
  let privateProjectId: string

  it('signs up, creates a project, sends a model and shows it in the viewer with properties', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    const { page, errors } = await openPage(context)
    await signUp(page, 'Ada Lovelace', 'ada@example.com')
    await expect(page.getByRole('link', { name: /Ada Lovelace/ }).isVisible()).resolves.toBe(true)

    // A project, public so the anonymous test below can open it.
    await page.getByRole('button', { name: 'New project' }).click()
    await page.getByLabel('Name').fill('Tower A')
    await page.getByLabel('Visibility').selectOption('PUBLIC')
    await page.getByRole('button', { name: 'Create', exact: true }).click()
    await page.getByRole('heading', { name: 'Tower A' }).waitFor()
    const projectId = new URL(page.url()).pathname.split('/')[2]!
    await page.getByText('No models yet').waitFor()

    // A personal token, shown once.
    await page.goto(`${server.url}/profile`)
    await page.getByLabel('Name', { exact: true }).nth(1).fill('sdk')
    await page.getByRole('button', { name: 'Create token' }).click()
    const token = (await page.getByTestId('new-token').textContent())!.trim()
    expect(token.length).toBeGreaterThan(20)

    // Send with the SDK, then create the version on the main model.
    const root = new Base({ name: 'Two boxes', '@elements': [box('Column C1', 0, 2), box('Column C2', 4, 2)] })
    const objectId = await send(root, {
      transports: [new ServerTransport({ serverUrl: server.url, projectId, token })],
      cache: new MemoryTransport(),
    })
    const gql = async (query: string, variables: Record<string, unknown>) => {
      const res = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      })
      const body = (await res.json()) as { data: any; errors?: unknown } // eslint-disable-line @typescript-eslint/no-explicit-any
      if (body.errors) throw new Error(JSON.stringify(body.errors))
      return body.data
    }
    const model = await gql('mutation($i: CreateModelInput!) { modelMutations { create(input: $i) { id } } }', {
      i: { projectId, name: 'structure/columns' },
    })
    const modelId = model.modelMutations.create.id as string

    // The project page hears of the new version without a reload.
    await page.goto(`${server.url}/projects/${projectId}`)
    await page.getByRole('heading', { name: 'Models' }).waitFor()
    const created = await gql('mutation($i: CreateVersionInput!) { versionMutations { create(input: $i) { id } } }', {
      i: { projectId, modelId, objectId, message: 'First boxes', sourceApplication: 'truss-sdk' },
    })
    const versionId = created.versionMutations.create.id as string
    await page.getByText('First boxes').waitFor({ timeout: 15_000 })
    await expect(page.getByText('truss-sdk').isVisible()).resolves.toBe(true)
    publicProject = { id: projectId, modelId, versionId }

    // Open the version link: the canvas draws the boxes.
    await page.goto(`${server.url}/projects/${projectId}/models/${modelId}@${versionId}`)
    await page.waitForFunction(() => Boolean((window as { trussViewer?: unknown }).trussViewer), null, {
      timeout: 60_000,
    })
    await expect.poll(() => drawnFraction(page), { timeout: 20_000 }).toBeGreaterThan(0.01)
    writeFileSync(join(SHOTS, 'web-viewer.png'), await page.getByTestId('viewer').screenshot())
    const outline = page.getByRole('list', { name: 'Outline' })
    await outline.getByRole('button', { name: 'Column C1', exact: true }).waitFor()

    // Click the middle of the first box: its properties show.
    const canvas = page.getByTestId('viewer')
    const boxes = await page.evaluate(() => {
      // Screen positions of the two boxes' centres, projected with the viewer's camera.
      const v = (window as unknown as { trussViewer: { viewer: any } }).trussViewer.viewer // eslint-disable-line @typescript-eslint/no-explicit-any
      const cam = v.getRenderer().renderingCamera
      const el = document.querySelector('[data-testid=viewer]')!.getBoundingClientRect()
      return [1, 5].map((x) => {
        const p = v.getRenderer().renderingCamera.position.clone().set(x, 1, 1).project(cam)
        return { x: ((p.x + 1) / 2) * el.width, y: ((1 - p.y) / 2) * el.height }
      })
    })
    await canvas.click({ position: boxes[0]! })
    const props = page.getByRole('complementary', { name: 'Properties' })
    await props.getByRole('row', { name: 'name Column C1' }).waitFor({ timeout: 10_000 })
    await expect(props.getByRole('row', { name: 'speckle_type Objects.Geometry.Mesh' }).isVisible()).resolves.toBe(true)
    // The URL keeps the view: camera and selection.
    await expect.poll(() => new URL(page.url()).hash, { timeout: 5_000 }).toMatch(/camera=.*selected=/)

    // A second version: C1 grows (same applicationId, new id), C2 stays, C3 is new. Compared with the
    // first, the viewer counts and colours them.
    const second = await send(
      new Base({
        name: 'Three boxes',
        '@elements': [box('Column C1', 0, 3), box('Column C2', 4, 2), box('Column C3', 8, 2)],
      }),
      { transports: [new ServerTransport({ serverUrl: server.url, projectId, token })], cache: new MemoryTransport() },
    )
    const next = await gql('mutation($i: CreateVersionInput!) { versionMutations { create(input: $i) { id } } }', {
      i: { projectId, modelId, objectId: second, message: 'Three boxes' },
    })
    const nextId = next.versionMutations.create.id as string
    await page.goto(`${server.url}/projects/${projectId}/models/${modelId}@${nextId}?compare=${versionId}`)
    await page
      .getByRole('status', { name: 'Comparison' })
      .getByText('1 added · 1 changed · 0 removed · 1 unchanged')
      .waitFor({ timeout: 60_000 })
    await expect.poll(() => drawnFraction(page), { timeout: 20_000 }).toBeGreaterThan(0.01)
    writeFileSync(join(SHOTS, 'web-compare.png'), await page.getByTestId('viewer').screenshot())

    expect(errors).toEqual([])
    await context.close()
  }, 180_000)

  it('says the password is wrong and stays signed out', async () => {
    const context = await browser.newContext()
    const { page, errors } = await openPage(context)
    await page.goto(`${server.url}/signin`)
    await page.getByLabel('Email').fill('ada@example.com')
    await page.getByLabel('Password').fill('not the password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').getByText('The email or password is wrong.').waitFor()
    expect(new URL(page.url()).pathname).toBe('/signin')
    expect((await context.cookies()).find((c) => c.name === 'authn')).toBeUndefined()
    // The 401 itself is the only console line Chromium writes for it.
    expect(errors.filter((e) => !/status of 401/.test(e))).toEqual([])
    await context.close()
  })

  it('hides a private project from a stranger and from nobody, and shows a public one with no account', async () => {
    // Ada makes a private project (through her own session in a fresh context).
    const owner = await browser.newContext()
    const { page: ownerPage } = await openPage(owner)
    await ownerPage.goto(`${server.url}/signin`)
    await ownerPage.getByLabel('Email').fill('ada@example.com')
    await ownerPage.getByLabel('Password').fill('correct horse battery')
    await ownerPage.getByRole('button', { name: 'Sign in' }).click()
    await ownerPage.getByRole('heading', { name: 'Projects' }).waitFor()
    await ownerPage.getByRole('button', { name: 'New project' }).click()
    await ownerPage.getByLabel('Name').fill('Secret bunker')
    await ownerPage.getByRole('button', { name: 'Create', exact: true }).click()
    await ownerPage.getByRole('heading', { name: 'Secret bunker' }).waitFor()
    privateProjectId = new URL(ownerPage.url()).pathname.split('/')[2]!
    await owner.close()

    const stranger = await browser.newContext()
    const { page } = await openPage(stranger)
    await signUp(page, 'Eve Stranger', 'eve@example.com')
    await expect(page.getByText('Secret bunker').count()).resolves.toBe(0)
    await page.goto(`${server.url}/projects/${privateProjectId}`)
    await page.getByRole('alert').getByText('This project is not available').waitFor()
    await expect(page.getByText('Secret bunker').count()).resolves.toBe(0)
    await stranger.close()

    const nobody = await browser.newContext({ viewport: { width: 390, height: 844 } })
    const { page: anon, errors } = await openPage(nobody)
    await anon.goto(`${server.url}/projects/${privateProjectId}`)
    await anon
      .getByRole('alert')
      .getByText(/private\. Sign in/)
      .waitFor()
    // The public project opens, and its version draws, without an account (at phone width).
    const { id, modelId, versionId } = publicProject
    await anon.goto(`${server.url}/projects/${id}`)
    await anon.getByRole('heading', { name: 'Tower A' }).waitFor()
    await anon.getByText('First boxes').waitFor()
    await anon.goto(`${server.url}/projects/${id}/models/${modelId}@${versionId}`)
    await anon.waitForFunction(() => Boolean((window as { trussViewer?: unknown }).trussViewer), null, {
      timeout: 60_000,
    })
    await expect.poll(() => drawnFraction(anon), { timeout: 20_000 }).toBeGreaterThan(0.005)
    expect(errors).toEqual([])
    await nobody.close()
  }, 180_000)

  it('lets the first user, an admin, find and archive a user and read the server statistics', async () => {
    const context = await browser.newContext()
    const { page, errors } = await openPage(context)
    await page.goto(`${server.url}/signin?next=/admin`)
    await page.getByLabel('Email').fill('ada@example.com')
    await page.getByLabel('Password').fill('correct horse battery')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Administration' }).waitFor()
    const users = page.getByRole('region', { name: 'Users' })
    await users.getByText('Eve Stranger').waitFor()
    await users.getByLabel('Search users').fill('eve@')
    await expect.poll(() => users.locator('tbody tr').count(), { timeout: 10_000 }).toBe(1)
    await users.getByLabel('Server role of Eve Stranger').selectOption('server:archived-user')
    await page.getByRole('status').getByText('Eve Stranger is now archived-user.').waitFor()
    // Archived: Eve can no longer sign in.
    const eve = await browser.newContext()
    const { page: evePage } = await openPage(eve)
    await evePage.goto(`${server.url}/signin`)
    await evePage.getByLabel('Email').fill('eve@example.com')
    await evePage.getByLabel('Password').fill('correct horse battery')
    await evePage.getByRole('button', { name: 'Sign in' }).click()
    await evePage.getByRole('alert').getByText('The email or password is wrong.').waitFor()
    await eve.close()
    const stats = page.getByRole('region', { name: 'Statistics' })
    await stats.getByText(/Database \d+\.\d MB/).waitFor()
    // The ten largest tables, with sizes and row counts (which ten depends on the schema; all are Truss's).
    const tables = await stats.locator('table').last().locator('tr').allInnerTexts()
    expect(tables.length).toBeGreaterThan(3)
    const rows = tables.filter((row) => /^[a-z_]+\s+[\d.]+ MB\s+~\d+ rows$/.test(row))
    expect(rows.length).toBeGreaterThan(3)
    expect(rows.some((row) => /^(users|objects|schema_migrations|outbox|server_acl)\s/.test(row))).toBe(true)
    expect(errors).toEqual([])
    await context.close()
  }, 120_000)
})
