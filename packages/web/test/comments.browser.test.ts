/**
 * Comments in the viewer, two users in two browser contexts on the same version: a thread posted on a
 * selected object arrives live and is shown as text (a hostile body runs nothing), a reply arrives live
 * the other way, a pin over the canvas opens the thread, and resolving shows for the other user.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { Base, MemoryTransport, Mesh, ServerTransport, send } from '@truss/core'
import { ensureBuilt, launchBrowser, openPage, startServer, type Server } from './harness.js'

const HOSTILE = '<img src=x onerror=window.__pwned=1><script>window.__pwned=1</script>'

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

/** GraphQL from inside the page, with its session cookie. */
async function pageGql<T>(page: Page, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const body = await page.evaluate(
    async ([q, v]) => {
      const res = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: q, variables: v }),
      })
      return (await res.json()) as { data?: unknown; errors?: unknown }
    },
    [query, variables] as const,
  )
  if (body.errors) throw new Error(JSON.stringify(body.errors))
  return body.data as T
}

describe('comments in the viewer, live between two users', () => {
  let server: Server
  let browser: Browser

  beforeAll(async () => {
    await ensureBuilt()
    ;[server, browser] = await Promise.all([startServer(), launchBrowser()])
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

  it('posts a thread on an object, shows it and its reply live as text, pins it, and resolves it', async () => {
    const ctxA = await browser.newContext({ viewport: { width: 1400, height: 800 } })
    const ctxB = await browser.newContext({ viewport: { width: 1400, height: 800 } })
    const { page: a, errors: errorsA } = await openPage(ctxA)
    const { page: b, errors: errorsB } = await openPage(ctxB)
    await Promise.all([signUp(a, 'Ada Owner', 'ada@example.com'), signUp(b, 'Bob Reviewer', 'bob@example.com')])

    // Ada makes a project, adds Bob, and sends a model with the SDK.
    const { projectMutations } = await pageGql<{ projectMutations: { create: { id: string } } }>(
      a,
      'mutation($i: ProjectCreateInput) { projectMutations { create(input: $i) { id } } }',
      { i: { name: 'Commented' } },
    )
    const projectId = projectMutations.create.id
    const bob = await pageGql<{ activeUser: { id: string } }>(b, '{ activeUser { id } }')
    await pageGql(a, 'mutation($i: ProjectUpdateRoleInput!) { projectMutations { updateRole(input: $i) { id } } }', {
      i: { projectId, userId: bob.activeUser.id, role: 'stream:contributor' },
    })
    const { apiTokenCreate: token } = await pageGql<{ apiTokenCreate: string }>(
      a,
      'mutation($t: ApiTokenCreateInput!) { apiTokenCreate(token: $t) }',
      { t: { name: 'sdk', scopes: ['streams:read', 'streams:write'] } },
    )
    const objectId = await send(
      new Base({ name: 'Boxes', '@elements': [box('Column C1', 0, 2), box('Column C2', 4, 2)] }),
      {
        transports: [new ServerTransport({ serverUrl: server.url, projectId, token })],
        cache: new MemoryTransport(),
      },
    )
    const model = await pageGql<{ modelMutations: { create: { id: string } } }>(
      a,
      'mutation($i: CreateModelInput!) { modelMutations { create(input: $i) { id } } }',
      { i: { projectId, name: 'columns' } },
    )
    const modelId = model.modelMutations.create.id
    const version = await pageGql<{ versionMutations: { create: { id: string } } }>(
      a,
      'mutation($i: CreateVersionInput!) { versionMutations { create(input: $i) { id } } }',
      { i: { projectId, modelId, objectId, message: 'boxes' } },
    )
    const url = `${server.url}/projects/${projectId}/models/${modelId}@${version.versionMutations.create.id}`

    // Both open the version; both panels are empty.
    await Promise.all([a.goto(url), b.goto(url)])
    const panelA = a.getByRole('complementary', { name: 'Comments' })
    const panelB = b.getByRole('complementary', { name: 'Comments' })
    for (const page of [a, b]) {
      await page.waitForFunction(() => Boolean((window as { trussViewer?: unknown }).trussViewer), null, {
        timeout: 60_000,
      })
    }
    await panelA.getByText('No comments on this model yet.').waitFor()
    await panelB.getByText('No comments on this model yet.').waitFor()

    // Ada selects a column and posts the hostile text on it.
    await a.getByRole('list', { name: 'Outline' }).getByRole('button', { name: 'Column C1', exact: true }).click()
    await a.getByRole('complementary', { name: 'Properties' }).getByRole('row', { name: 'name Column C1' }).waitFor()
    await panelA.getByLabel('New comment').fill(HOSTILE)
    await panelA.getByRole('button', { name: 'Post comment' }).click()
    await panelA.getByRole('list', { name: 'Comment threads' }).getByText(HOSTILE).waitFor()

    // Bob sees it without a reload, as text; nothing of it ran or became an element.
    const threadsB = panelB.getByRole('list', { name: 'Comment threads' })
    await threadsB.getByText(HOSTILE).waitFor({ timeout: 15_000 })
    await expect(threadsB.getByText('Ada Owner').isVisible()).resolves.toBe(true)
    await expect(threadsB.getByText(/Unread/).isVisible()).resolves.toBe(true)
    for (const page of [a, b]) {
      await expect(page.evaluate(() => (window as { __pwned?: unknown }).__pwned)).resolves.toBeUndefined()
      await expect(page.locator('img[src="x"], .comments-panel script').count()).resolves.toBe(0)
    }

    // Bob's pin sits over the canvas; clicking it opens the thread.
    const pin = b.getByTestId('comment-pin')
    await pin.waitFor({ state: 'visible', timeout: 15_000 })
    const [pinBox, canvasBox] = await Promise.all([pin.boundingBox(), b.getByTestId('viewer').boundingBox()])
    expect(pinBox && canvasBox).toBeTruthy()
    const [px, py] = [pinBox!.x + pinBox!.width / 2, pinBox!.y + pinBox!.height / 2]
    expect(px).toBeGreaterThan(canvasBox!.x)
    expect(px).toBeLessThan(canvasBox!.x + canvasBox!.width)
    expect(py).toBeGreaterThan(canvasBox!.y)
    expect(py).toBeLessThan(canvasBox!.y + canvasBox!.height)
    await pin.click()
    const openB = panelB.getByRole('region', { name: 'Open thread' })
    await openB.getByText(HOSTILE).waitFor()
    // Opening it brought back Ada's selection.
    await b.getByRole('complementary', { name: 'Properties' }).getByRole('row', { name: 'name Column C1' }).waitFor()

    // Bob replies; Ada sees the reply arrive, then reads it.
    await openB.getByLabel('Reply').fill('Looks thin — <b>check</b> it')
    await openB.getByRole('button', { name: 'Send reply' }).click()
    await openB.getByText('Looks thin — <b>check</b> it').waitFor()
    const threadsA = panelA.getByRole('list', { name: 'Comment threads' })
    await threadsA.getByText('1 reply').waitFor({ timeout: 15_000 })
    await threadsA.getByRole('button', { name: /Open thread by Ada Owner/ }).click()
    const openA = panelA.getByRole('region', { name: 'Open thread' })
    await openA.getByText('Looks thin — <b>check</b> it').waitFor()
    await expect(openA.getByText('Bob Reviewer').isVisible()).resolves.toBe(true)

    // Ada resolves it; Bob's open thread says so, and its pin goes.
    await openA.getByRole('button', { name: 'Resolve' }).click()
    await openA.getByRole('button', { name: 'Reopen' }).waitFor()
    await openB.getByRole('status').getByText('Resolved').waitFor({ timeout: 15_000 })
    await expect.poll(() => b.getByTestId('comment-pin').count(), { timeout: 5_000 }).toBe(0)

    expect(errorsA).toEqual([])
    expect(errorsB).toEqual([])
    await Promise.all([ctxA.close(), ctxB.close()])
  }, 150_000)
})
