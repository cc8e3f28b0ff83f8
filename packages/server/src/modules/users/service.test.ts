import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sql } from '../../adapters/sql/types.js'
import { BadUserInput, Conflict, NotFound } from '../../errors.js'
import { identityContext, openDatabase, type IdentityContext } from '../auth/test-utils/identity.js'
import { createUsersService } from './service.js'

describe('users service (PGlite)', () => {
  let sql: Sql & { dispose(): Promise<void> }
  let ctx: IdentityContext

  beforeAll(async () => {
    sql = await openDatabase('pglite')
    ctx = identityContext(sql)
  })
  afterAll(() => sql?.dispose())

  it('makes the first user ever a server admin and later ones plain users', async () => {
    const first = await ctx.newUser()
    const second = await ctx.newUser()
    expect(first.serverRole).toBe('server:admin')
    expect(second.serverRole).toBe('server:user')
  })

  it('makes a user an admin when asked', async () => {
    expect((await ctx.newUser({ admin: true })).serverRole).toBe('server:admin')
  })

  it('stores the email lower-cased and the password as an Argon2id hash', async () => {
    const user = await ctx.users.create({ email: '  Ada.Lovelace@Example.COM ', password: 'analytical', name: ' Ada ' })
    expect(user).toMatchObject({ email: 'ada.lovelace@example.com', name: 'Ada', verified: false })
    expect(user.id).toMatch(/^[A-Za-z0-9]{10}$/)
    const { rows } = await sql.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [
      user.id,
    ])
    expect(rows[0].password_hash).toMatch(/^\$argon2id\$/)
    expect(rows[0].password_hash).not.toContain('analytical')
  })

  it('refuses a taken email, whatever its case, with Conflict', async () => {
    await ctx.users.create({ email: 'taken@example.com', password: 'password1', name: 'A' })
    await expect(ctx.users.create({ email: 'TAKEN@example.com', password: 'password2', name: 'B' })).rejects.toThrow(
      Conflict,
    )
  })

  it.each([
    ['a malformed email', { email: 'not-an-email', password: 'password1', name: 'N' }, /not a valid email/],
    ['an email with spaces', { email: 'a b@example.com', password: 'password1', name: 'N' }, /not a valid email/],
    ['a password under 8 characters', { email: 'short@example.com', password: '1234567', name: 'N' }, /at least 8/],
    ['an empty name', { email: 'noname@example.com', password: 'password1', name: '  ' }, /Name must not be empty/],
  ])('refuses %s with BadUserInput and stores nothing', async (_what, input, message) => {
    const before = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM users')
    const attempt = ctx.users.create(input)
    await expect(attempt).rejects.toThrow(BadUserInput)
    await expect(attempt).rejects.toThrow(message)
    const after = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM users')
    expect(after.rows[0].n).toBe(before.rows[0].n)
  })

  it('finds users by id and by email, ignoring the email case', async () => {
    const user = await ctx.newUser({ email: 'Grace@Example.com' })
    expect(await ctx.users.getById(user.id)).toEqual(user)
    expect(await ctx.users.getByEmail('GRACE@example.com')).toEqual(user)
    expect(await ctx.users.getById('nobody0000')).toBeNull()
    expect(await ctx.users.getByEmail('nobody@example.com')).toBeNull()
  })

  it('checks passwords', async () => {
    const user = await ctx.newUser({ email: 'login@example.com', password: 'open sesame' })
    expect((await ctx.users.checkPassword('LOGIN@example.com', 'open sesame'))?.id).toBe(user.id)
    expect(await ctx.users.checkPassword('login@example.com', 'open sesam')).toBeNull()
    expect(await ctx.users.checkPassword('nobody@example.com', 'open sesame')).toBeNull()
  })
  it('sets a new password, marks the email verified and keeps the company', async () => {
    const user = await ctx.users.create({
      email: 'grace.hopper@example.com',
      password: 'first password',
      name: 'G',
      company: ' Navy ',
    })
    expect(user.company).toBe('Navy')
    await ctx.users.setPassword(user.id, 'second password')
    expect(await ctx.users.checkPassword(user.email, 'first password')).toBeNull()
    expect(await ctx.users.checkPassword(user.email, 'second password')).not.toBeNull()
    await expect(ctx.users.setPassword(user.id, 'short')).rejects.toBeInstanceOf(BadUserInput)
    await ctx.users.markVerified(user.id)
    expect((await ctx.users.getById(user.id))?.verified).toBe(true)
    await expect(ctx.users.markVerified('missing000')).rejects.toBeInstanceOf(NotFound)
    await expect(ctx.users.setPassword('missing000', 'long enough')).rejects.toBeInstanceOf(NotFound)
  })

  it('changes a profile only with its user_update activity entry: a failed log leaves the profile as it was', async () => {
    const user = await ctx.newUser({ name: 'Kept' })
    const failing = createUsersService({
      sql,
      activity: {
        async record() {
          throw new Error('activity log unavailable')
        },
      },
    })
    await expect(failing.update(user.id, { name: 'Lost' })).rejects.toThrow('activity log unavailable')
    expect((await ctx.users.getById(user.id))?.name).toBe('Kept')
    await ctx.users.update(user.id, { company: 'Acme' })
    const { rows } = await sql.query<{ action_type: string; info: unknown }>(
      'SELECT action_type, info FROM activity WHERE resource_id = $1',
      [user.id],
    )
    expect(rows).toEqual([
      {
        action_type: 'user_update',
        info: { old: { name: 'Kept', company: null, bio: null, avatar: null }, new: { company: 'Acme' } },
      },
    ])
  })
})

describe('users service: profiles and batch reads (PGlite)', () => {
  let sql: Sql & { dispose(): Promise<void> }
  let ctx: IdentityContext

  beforeAll(async () => {
    sql = await openDatabase('pglite')
    ctx = identityContext(sql)
  })
  afterAll(() => sql?.dispose())

  it('reads many users in one query, skipping unknown ids and duplicates', async () => {
    const [a, b] = [await ctx.newUser(), await ctx.newUser()]
    const users = await ctx.users.getMany([b.id, a.id, 'missing000', a.id])
    expect(users.map((u) => u.id).sort()).toEqual([a.id, b.id].sort())
    expect(await ctx.users.getMany([])).toEqual([])
  })

  it('updates the given profile fields, trims them and clears with null or empty', async () => {
    const user = await ctx.newUser()
    await ctx.users.update(user.id, { company: 'Acme' })
    const avatar = 'data:image/png;base64,iVBORw0KGgo='
    const updated = await ctx.users.update(user.id, { name: '  Grace ', bio: ' Admiral ', avatar })
    expect(updated).toMatchObject({ id: user.id, name: 'Grace', bio: 'Admiral', avatar, company: 'Acme' })
    const cleared = await ctx.users.update(user.id, { company: '', bio: null })
    expect(cleared).toMatchObject({ name: 'Grace', company: null, bio: null, avatar })
    expect(await ctx.users.getById(user.id)).toEqual(cleared)
    expect(await ctx.users.update(user.id, {})).toEqual(cleared)
  })

  it('refuses an empty name, overlong fields, a malformed avatar and an unknown user', async () => {
    const user = await ctx.newUser()
    await expect(ctx.users.update(user.id, { name: '  ' })).rejects.toThrow(BadUserInput)
    await expect(ctx.users.update(user.id, { name: null })).rejects.toThrow(BadUserInput)
    await expect(ctx.users.update(user.id, { bio: 'x'.repeat(2001) })).rejects.toThrow('Bio must be at most')
    await expect(ctx.users.update(user.id, { company: 'x'.repeat(513) })).rejects.toThrow(BadUserInput)
    await expect(ctx.users.update(user.id, { avatar: 'javascript:alert(1)' })).rejects.toThrow('Avatar must be')
    await expect(ctx.users.update(user.id, { avatar: `data:image/png;base64,${'A'.repeat(300_000)}` })).rejects.toThrow(
      BadUserInput,
    )
    await expect(ctx.users.update('missing000', { bio: 'x' })).rejects.toThrow(NotFound)
    expect((await ctx.users.getById(user.id))?.name).toBe(user.name)
  })

  it('keeps avatars to PNG, JPEG, GIF or WebP data URLs whose bytes match their type, and bounded', async () => {
    const user = await ctx.newUser()
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(32)])
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(32)])
    const dataUrl = (type: string, bytes: Buffer) => `data:${type};base64,${bytes.toString('base64')}`
    for (const avatar of [dataUrl('image/png', png), dataUrl('image/jpeg', jpeg), dataUrl('image/JPG', jpeg)]) {
      expect((await ctx.users.update(user.id, { avatar })).avatar).toBe(avatar)
    }
    const refusals: [string, string][] = [
      [dataUrl('image/svg+xml', Buffer.from('<svg onload="alert(1)"/>')), 'must be PNG, JPEG, GIF or WebP'],
      [dataUrl('image/png', jpeg), 'is not a image/png image'],
      [dataUrl('text/html', Buffer.from('<p>')), 'Avatar must be'],
      ['data:image/png;base64,not base64!', 'Avatar must be'],
      [dataUrl('image/png', Buffer.concat([png, Buffer.alloc(190 * 1024)])), 'too large'],
    ]
    for (const [avatar, message] of refusals) {
      await expect(ctx.users.update(user.id, { avatar })).rejects.toThrow(message)
    }
    expect((await ctx.users.getById(user.id))?.avatar).toBe(dataUrl('image/JPG', jpeg))
  })
})

describe('users service: the first user', () => {
  it('makes exactly one admin when several users are created at once on an empty server', async () => {
    const sql = await openDatabase('pglite')
    try {
      const ctx = identityContext(sql)
      const created = await Promise.all([1, 2, 3, 4].map(() => ctx.newUser()))
      expect(created.filter((u) => u.serverRole === 'server:admin')).toHaveLength(1)
    } finally {
      await sql.dispose()
    }
  })

  it('makes exactly one admin under concurrency on PostgreSQL too', async () => {
    const sql = await openDatabase('postgres')
    try {
      const ctx = identityContext(sql)
      const created = await Promise.all([1, 2, 3, 4, 5, 6].map(() => ctx.newUser()))
      expect(created.filter((u) => u.serverRole === 'server:admin')).toHaveLength(1)
    } finally {
      await sql.dispose()
    }
  })
})
