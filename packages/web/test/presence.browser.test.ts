/**
 * Presence in Chromium against a real `truss serve` with a 1.5 s TTL: two users view the same model, each
 * sees the other's avatar (and the project page shows them too); closing one user's page makes its avatar
 * disappear from the other's within the TTL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { ensureBuilt, launchBrowser, openPage, signUp as signUpOn, startServer, type Server } from './harness.js'

describe('presence in a real browser', () => {
  let server: Server
  let browser: Browser

  beforeAll(async () => {
    await ensureBuilt()
    ;[server, browser] = await Promise.all([startServer({ TRUSS_PRESENCE_TTL_SECONDS: '1.5' }), launchBrowser()])
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })

  const signUp = (page: Page, name: string, email: string) => signUpOn(page, server.url, name, email)

  /** GraphQL from the page, with its session cookie. */
  const gql = (page: Page, query: string, variables: Record<string, unknown>) =>
    page.evaluate(
      async ([q, v]) => {
        const res = await fetch('/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: q, variables: v }),
        })
        return (await res.json()) as { data: Record<string, Record<string, Record<string, string>>> }
      },
      [query, variables] as const,
    )

  it("shows each viewer the other's avatar, and drops it when that page closes", async () => {
    const ada = await openPage(await browser.newContext())
    const bob = await openPage(await browser.newContext())
    await signUp(ada.page, 'Ada Lovelace', 'ada@example.com')
    await signUp(bob.page, 'Bob Builder', 'bob@example.com')
    const created = await gql(
      ada.page,
      'mutation($i: ProjectCreateInput!) { projectMutations { create(input: $i) { id } } }',
      { i: { name: 'Tower', visibility: 'PUBLIC' } },
    )
    const projectId = created.data.projectMutations!.create!.id!
    const model = await gql(
      ada.page,
      'mutation($i: CreateModelInput!) { modelMutations { create(input: $i) { id } } }',
      { i: { projectId, name: 'structure' } },
    )
    const modelUrl = `${server.url}/projects/${projectId}/models/${model.data.modelMutations!.create!.id!}`

    await ada.page.goto(modelUrl)
    await bob.page.goto(modelUrl)
    const avatars = (page: Page) => page.getByRole('group', { name: 'Viewing now' })
    await avatars(ada.page).getByLabel('Bob Builder').waitFor({ timeout: 10_000 })
    await avatars(bob.page).getByLabel('Ada Lovelace').waitFor({ timeout: 10_000 })
    expect(await avatars(ada.page).getByTestId('presence-avatar').count()).toBe(1)

    // The project page lists everyone on the project, the model's viewers included.
    const carol = await openPage(await browser.newContext())
    await signUp(carol.page, 'Carol Checker', 'carol@example.com')
    await carol.page.goto(`${server.url}/projects/${projectId}`)
    await avatars(carol.page).getByLabel('Bob Builder').waitFor({ timeout: 10_000 })
    await avatars(carol.page).getByLabel('Ada Lovelace').waitFor({ timeout: 10_000 })

    // Heartbeats keep Bob listed past several TTLs; once his page is gone, he is gone.
    await ada.page.waitForTimeout(3_500)
    expect(await avatars(ada.page).getByLabel('Bob Builder').count()).toBe(1)
    await bob.page.close()
    await avatars(ada.page).getByLabel('Bob Builder').waitFor({ state: 'detached', timeout: 10_000 })
    await avatars(carol.page).getByLabel('Bob Builder').waitFor({ state: 'detached', timeout: 10_000 })

    expect(ada.errors).toEqual([])
    expect(bob.errors).toEqual([])
    expect(carol.errors).toEqual([])
  }, 60_000)
})
