import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sql } from '../../adapters/sql/types.js'
import { BadUserInput, NotFound } from '../../errors.js'
import { createBus } from '../../adapters/bus/index.js'
import { countingSql, identityContext, openDatabase, type IdentityContext } from '../auth/test-utils/identity.js'
import { createUsersService, type User } from '../users/service.js'
import { createTokensService, subscribeTokenRevocations, TOKENS_REVOKED_TOPIC } from './service.js'

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

describe.each(['pglite', 'postgres'] as const)('tokens service (%s)', (kind) => {
  let sql: Sql & { dispose(): Promise<void> }
  let ctx: IdentityContext
  let clock = Date.now()
  let user: User

  beforeAll(async () => {
    sql = await openDatabase(kind)
    ctx = identityContext(sql, { now: () => clock, cacheTtlMs: 30_000 })
    user = await ctx.newUser()
  })
  afterAll(() => sql?.dispose())

  const selects = () => ctx.sql.statements.filter((s) => s.startsWith('SELECT t.id')).length
  const touches = () => ctx.sql.statements.filter((s) => s.startsWith('UPDATE api_tokens SET last_used_at')).length

  it('creates a 42-character alphanumeric token and stores only the SHA-256 of its secret', async () => {
    const token = await ctx.tokens.create({ userId: user.id, name: 'ci', scopes: ['streams:read'] })
    expect(token).toMatch(/^[A-Za-z0-9]{42}$/)
    const { rows } = await sql.query<{ token_hash: string; user_id: string; scopes: string[]; name: string }>(
      'SELECT token_hash, user_id, scopes, name FROM api_tokens WHERE id = $1',
      [token.slice(0, 10)],
    )
    expect(rows).toEqual([
      { token_hash: sha256(token.slice(10)), user_id: user.id, scopes: ['streams:read'], name: 'ci' },
    ])
  })

  it('verifies a token into its principal', async () => {
    const token = await ctx.tokens.create({ userId: user.id, name: 'rw', scopes: ['streams:read', 'streams:write'] })
    const principal = await ctx.tokens.verify(token)
    expect(principal).toEqual({
      userId: user.id,
      serverRole: user.serverRole,
      scopes: new Set(['streams:read', 'streams:write']),
      tokenId: token.slice(0, 10),
    })
  })

  it('refuses a wrong secret, an unknown id and malformed tokens', async () => {
    const token = await ctx.newToken(user.id)
    const wrongSecret = token.slice(0, 10) + (token[10] === 'a' ? 'b' : 'a') + token.slice(11)
    expect(await ctx.tokens.verify(wrongSecret)).toBeNull()
    // Once the id is cached, a wrong secret is still refused.
    expect(await ctx.tokens.verify(token)).not.toBeNull()
    expect(await ctx.tokens.verify(wrongSecret)).toBeNull()
    expect(await ctx.tokens.verify('Zz' + token.slice(2))).toBeNull()
    for (const bad of ['', token.slice(0, 41), token + 'a', token.slice(0, 41) + '-', ' '.repeat(42)]) {
      expect(await ctx.tokens.verify(bad)).toBeNull()
    }
  })

  it('refuses unknown scopes, no scopes, no name, an unknown user and a past expiry', async () => {
    await expect(
      ctx.tokens.create({ userId: user.id, name: 'x', scopes: ['streams:read', 'webhooks:write'] }),
    ).rejects.toThrow(/Unknown scope "webhooks:write"/)
    await expect(ctx.tokens.create({ userId: user.id, name: 'x', scopes: [] })).rejects.toThrow(BadUserInput)
    await expect(ctx.tokens.create({ userId: user.id, name: ' ', scopes: ['streams:read'] })).rejects.toThrow(
      BadUserInput,
    )
    await expect(ctx.tokens.create({ userId: 'nobody0000', name: 'x', scopes: ['streams:read'] })).rejects.toThrow(
      NotFound,
    )
    await expect(
      ctx.tokens.create({ userId: user.id, name: 'x', scopes: ['streams:read'], expiresAt: new Date(clock - 1) }),
    ).rejects.toThrow(/expire in the future/)
  })

  it('refuses a token once it expires, even while cached', async () => {
    const token = await ctx.tokens.create({
      userId: user.id,
      name: 'short',
      scopes: ['streams:read'],
      expiresAt: new Date(clock + 10_000),
    })
    expect(await ctx.tokens.verify(token)).not.toBeNull()
    clock += 10_001
    expect(await ctx.tokens.verify(token)).toBeNull()
  })

  it('names the owner of a usable token only', async () => {
    const other = await ctx.newUser()
    const token = await ctx.newToken(other.id)
    const id = token.slice(0, 10)
    expect(await ctx.tokens.ownerOf(id)).toBe(other.id)
    expect(await ctx.tokens.ownerOf('nothing000')).toBeNull()
    expect(await ctx.tokens.ownerOf(token)).toBeNull()
    expect(await ctx.tokens.ownerOf("x' OR '1")).toBeNull()
    const expiring = await ctx.tokens.create({
      userId: other.id,
      name: 'soon',
      scopes: ['streams:read'],
      expiresAt: new Date(clock + 5_000),
    })
    expect(await ctx.tokens.ownerOf(expiring.slice(0, 10))).toBe(other.id)
    clock += 5_001
    expect(await ctx.tokens.ownerOf(expiring.slice(0, 10))).toBeNull()
    expect(await ctx.tokens.revoke(id)).toBe(true)
    expect(await ctx.tokens.ownerOf(id)).toBeNull()
  })

  it('refuses a revoked token at once, and revokes only once', async () => {
    const token = await ctx.newToken(user.id)
    expect(await ctx.tokens.verify(token)).not.toBeNull()
    expect(await ctx.tokens.revoke(token.slice(0, 10))).toBe(true)
    expect(await ctx.tokens.verify(token)).toBeNull()
    expect(await ctx.tokens.revoke(token.slice(0, 10))).toBe(false)
    expect(await ctx.tokens.revoke('nothing000')).toBe(false)
  })

  it('answers a burst of requests with one query, and asks again after the cache TTL', async () => {
    const token = await ctx.newToken(user.id)
    const selectsBefore = selects()
    const burst = await Promise.all(Array.from({ length: 50 }, () => ctx.tokens.verify(token)))
    for (let i = 0; i < 50; i++) expect(await ctx.tokens.verify(token)).not.toBeNull()
    expect(burst.every((p) => p?.userId === user.id)).toBe(true)
    expect(selects() - selectsBefore).toBe(1)
    clock += 30_001
    expect(await ctx.tokens.verify(token)).not.toBeNull()
    expect(selects() - selectsBefore).toBe(2)
  })

  it('records last use at most once a minute', async () => {
    clock = Date.now() // the service compares its clock with the database's
    const token = await ctx.newToken(user.id)
    const id = token.slice(0, 10)
    const lastUsed = async () =>
      (await sql.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM api_tokens WHERE id = $1', [id]))
        .rows[0].last_used_at
    expect(await lastUsed()).toBeNull()
    const touchesBefore = touches()
    await ctx.tokens.verify(token)
    expect(await lastUsed()).toBeInstanceOf(Date)
    expect(touches() - touchesBefore).toBe(1)
    clock += 31_000 // cache expired, but used less than a minute ago: no write
    await ctx.tokens.verify(token)
    await ctx.tokens.verify(token)
    expect(touches() - touchesBefore).toBe(1)
    // A minute later (by both clocks) it is written again.
    await sql.query("UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE id = $1", [id])
    clock += 60_000
    await ctx.tokens.verify(token)
    expect(touches() - touchesBefore).toBe(2)
    expect(Date.now() - (await lastUsed())!.getTime()).toBeLessThan(60_000)
  })

  it('stops accepting a deleted user’s tokens once the cache entry ages out', async () => {
    const doomed = await ctx.newUser()
    const token = await ctx.newToken(doomed.id)
    expect(await ctx.tokens.verify(token)).not.toBeNull()
    await sql.query('DELETE FROM users WHERE id = $1', [doomed.id])
    clock += 30_001
    expect(await ctx.tokens.verify(token)).toBeNull()
  })

  it('carries the owner’s server role, so policy can refuse archived users', async () => {
    const archived = await ctx.newUser()
    await sql.query("UPDATE users SET server_role = 'server:archived-user' WHERE id = $1", [archived.id])
    const token = await ctx.newToken(archived.id)
    expect((await ctx.tokens.verify(token))?.serverRole).toBe('server:archived-user')
  })
  it('records the app an app token was issued to', async () => {
    await sql.query(
      `INSERT INTO apps (id, secret_hash, name, redirect_url, scopes) VALUES ('testapp', 'x', 'Test', 'http://a', '{}')
       ON CONFLICT (id) DO NOTHING`,
    )
    const token = await ctx.tokens.createAppToken({
      userId: user.id,
      appId: 'testapp',
      name: 'Test',
      scopes: ['streams:read'],
    })
    expect((await ctx.tokens.verify(token))?.scopes).toEqual(new Set(['streams:read']))
    const { rows } = await sql.query<{ app_id: string }>('SELECT app_id FROM api_tokens WHERE id = $1', [
      token.slice(0, 10),
    ])
    expect(rows).toEqual([{ app_id: 'testapp' }])
  })

  it('announces a revocation on the bus; a subscribed server forgets the cached token at once', async () => {
    const bus = await createBus({})
    try {
      const announced: unknown[] = []
      await bus.subscribe(TOKENS_REVOKED_TOPIC, (message) => announced.push(message))
      const here = createTokensService({ sql, bus, now: () => clock })
      const there = createTokensService({ sql, now: () => clock })
      await subscribeTokenRevocations(bus, there)
      const token = await here.create({ userId: user.id, name: 'shared', scopes: ['streams:read'] })
      expect(await there.verify(token)).not.toBeNull()
      expect(await here.revoke(token.slice(0, 10))).toBe(true)
      await expect.poll(() => announced).toEqual([{ tokenIds: [token.slice(0, 10)] }])
      expect(await there.verify(token)).toBeNull()
      // Nothing is announced for a token that was not revoked now.
      expect(await here.revoke(token.slice(0, 10))).toBe(false)
      expect(announced).toHaveLength(1)
    } finally {
      await bus.close()
    }
  })

  it("announces a user's role change on the bus; every server drops that user's cached tokens at once", async () => {
    const bus = await createBus({})
    try {
      const here = createTokensService({ sql, bus, now: () => clock })
      const thereSql = countingSql(sql)
      const there = createTokensService({ sql: thereSql, now: () => clock })
      await subscribeTokenRevocations(bus, there)
      const users = createUsersService({ sql, tokens: here })
      const member = await ctx.newUser()
      const other = await ctx.newUser()
      const token = await here.create({ userId: member.id, name: 'cached', scopes: ['streams:read'] })
      const otherToken = await here.create({ userId: other.id, name: 'kept', scopes: ['streams:read'] })
      for (const node of [here, there]) {
        expect((await node.verify(token))?.serverRole).toBe('server:user')
        expect((await node.verify(otherToken))?.serverRole).toBe('server:user')
      }
      await users.setServerRole(member.id, 'server:archived-user')
      // Well within the 30 s cache TTL (the clock does not move): both nodes read the new role.
      expect((await here.verify(token))?.serverRole).toBe('server:archived-user')
      await expect.poll(async () => (await there.verify(token))?.serverRole).toBe('server:archived-user')
      // Other users' cached tokens stay cached: no query for them.
      const before = thereSql.statements.length
      expect((await there.verify(otherToken))?.serverRole).toBe('server:user')
      expect(thereSql.statements.length).toBe(before)
    } finally {
      await bus.close()
    }
  })
})
