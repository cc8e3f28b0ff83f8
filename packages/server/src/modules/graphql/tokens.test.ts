/**
 * Tokens and apps through GraphQL: `activeUser.apiTokens`, `appTokenCreate`, `authorizedApps` and
 * `createdApps`, over HTTP on PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAppsService } from '../apps/service.js'
import type { User } from '../users/service.js'
import { ALL_SCOPES, graphqlHarness, type GraphqlHarness, type Json } from './test-utils.js'

describe.each(['pglite', 'postgres'] as const)('GraphQL tokens and apps (%s)', (kind) => {
  let h: GraphqlHarness
  let user: User
  let token: string

  beforeAll(async () => {
    h = await graphqlHarness(kind)
    user = await h.ctx.newUser()
    token = await h.ctx.newToken(user.id, [...ALL_SCOPES])
    await createAppsService({ sql: h.sql, tokens: h.ctx.tokens }).ensureBuiltInApps('http://localhost:3000')
  })

  afterAll(async () => {
    await h?.close()
  })

  it('lists the user’s own personal tokens with their last characters, never the token', async () => {
    const created = await h.gql(
      'mutation { apiTokenCreate(token: { name: "ci", scopes: ["streams:read"], lifespan: 3600000 }) }',
      {},
      token,
    )
    const ci = created.body.data.apiTokenCreate as string
    const { body } = await h.gql(
      '{ activeUser { apiTokens { id name lastChars scopes createdAt lifespan lastUsed } } }',
      {},
      token,
    )
    const listed = body.data.activeUser.apiTokens as Json[]
    const mine = listed.find((t) => t.id === ci.slice(0, 10))
    expect(mine).toMatchObject({ name: 'ci', lastChars: ci.slice(-6), scopes: ['streams:read'], lifespan: 3600000 })
    expect(listed.some((t) => t.id === token.slice(0, 10))).toBe(true)
    expect(JSON.stringify(body)).not.toContain(ci)
    // Revoked tokens leave the list.
    await h.gql(`mutation { apiTokenRevoke(token: "${ci.slice(0, 10)}") }`, {}, token)
    const after = (await h.gql('{ activeUser { apiTokens { id } } }', {}, token)).body.data.activeUser.apiTokens
    expect(after.map((t: Json) => t.id)).not.toContain(ci.slice(0, 10))
  })

  it('refuses apiTokens without tokens:read, naming the scope', async () => {
    const weak = await h.ctx.newToken(user.id, ['profile:read'])
    const { body } = await h.gql('{ activeUser { id apiTokens { id } } }', {}, weak)
    expect(body.errors[0].extensions).toEqual({ code: 'FORBIDDEN', statusCode: 403, scope: 'tokens:read' })
  })

  it('lets an app token create app tokens within its own scopes, and nobody else', async () => {
    const appToken = await h.ctx.tokens.createAppToken({
      userId: user.id,
      appId: 'explorer',
      name: 'Explorer',
      scopes: ['streams:read', 'tokens:write'],
    })
    const CREATE = 'mutation($t: AppTokenCreateInput!) { appTokenCreate(token: $t) }'
    const made = await h.gql(CREATE, { t: { name: 'embed', scopes: ['streams:read'], lifespan: 60000 } }, appToken)
    const child = made.body.data.appTokenCreate as string
    expect(child).toMatch(/^[A-Za-z0-9]{42}$/)
    const principal = await h.ctx.tokens.verify(child)
    expect(principal).toMatchObject({ userId: user.id })
    expect([...principal!.scopes]).toEqual(['streams:read'])
    expect(await h.ctx.tokens.appOf(child.slice(0, 10))).toBe('explorer')
    const asApp = await h.gql('{ authenticatedAsApp { id name } }', {}, child)
    expect(asApp.body).toEqual({ data: { authenticatedAsApp: { id: 'explorer', name: 'Speckle Explorer' } } })
    expect((await h.gql('{ authenticatedAsApp { id } }', {}, token)).body.data.authenticatedAsApp).toBeNull()
    // App tokens are not personal tokens.
    const listed = (await h.gql('{ activeUser { apiTokens { id } } }', {}, token)).body.data.activeUser.apiTokens
    expect(listed.map((t: Json) => t.id)).not.toContain(child.slice(0, 10))

    const wider = await h.gql(CREATE, { t: { name: 'x', scopes: ['streams:write'] } }, appToken)
    expect(wider.body.errors[0].extensions.code).toBe('TOKEN_CREATE_ERROR')
    const limited = await h.gql(
      CREATE,
      { t: { name: 'x', scopes: ['streams:read'], limitResources: [{ id: 'p', type: 'project' }] } },
      appToken,
    )
    expect(limited.body.errors[0].extensions.code).toBe('TOKEN_CREATE_ERROR')
    const personal = await h.gql(CREATE, { t: { name: 'x', scopes: ['streams:read'] } }, token)
    expect(personal.body.errors[0].extensions.code).toBe('FORBIDDEN')
    const noScope = await h.ctx.tokens.createAppToken({
      userId: user.id,
      appId: 'explorer',
      name: 'Explorer',
      scopes: ['streams:read'],
    })
    const scopeless = await h.gql(CREATE, { t: { name: 'x', scopes: ['streams:read'] } }, noScope)
    expect(scopeless.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', scope: 'tokens:write' })
    const badLifespan = await h.gql(CREATE, { t: { name: 'x', scopes: ['streams:read'], lifespan: -5 } }, appToken)
    expect(badLifespan.body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
  })

  it('lists the apps a user authorized and created', async () => {
    const apps = createAppsService({ sql: h.sql, tokens: h.ctx.tokens })
    const code = await apps.createAccessCode({ appId: 'sca', userId: user.id, challenge: 'c' })
    await apps.exchangeAccessCode({ appId: 'sca', appSecret: 'sca', accessCode: code, challenge: 'c' })
    const { body } = await h.gql(
      '{ activeUser { authorizedApps { id name redirectUrl trustByDefault author { id } } createdApps { id } } }',
      {},
      token,
    )
    expect(body.errors).toBeUndefined()
    expect(body.data.activeUser.authorizedApps).toEqual([
      expect.objectContaining({ id: 'sca', trustByDefault: true, author: null }),
    ])
    expect(body.data.activeUser.createdApps).toEqual([])
    const weak = await h.ctx.newToken(user.id, ['profile:read'])
    const refused = await h.gql('{ activeUser { authorizedApps { id } } }', {}, weak)
    expect(refused.body.errors[0].extensions.scope).toBe('apps:read')
  })
})
