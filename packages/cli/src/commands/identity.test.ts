import { EventEmitter } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BadUserInput, Conflict, NotFound } from '@truss/server'
import {
  identityContext,
  openDatabase,
  type IdentityContext,
} from '../../../server/src/modules/auth/test-utils/identity.js'
import { UsageError, type CliIo } from '../command.js'
import { createProject, parseProjectsCreateArgs, projectsCommand } from './projects.js'
import { createToken, parseTokensCreateArgs, tokensCommand } from './tokens.js'
import { createUser, parseUsersCreateArgs, usersCommand } from './users.js'

function captureIo(): CliIo & { out: string; err: string } {
  const io = {
    env: {},
    out: '',
    err: '',
    stdout: (text: string) => {
      io.out += text
    },
    stderr: (text: string) => {
      io.err += text
    },
    signals: new EventEmitter(),
  }
  return io
}

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1)

describe('identity command arguments', () => {
  it('parses truss users create', () => {
    expect(
      parseUsersCreateArgs([
        '--email',
        'a@b.co',
        '--password',
        'password1',
        '--name',
        'A',
        '--admin',
        '--data-dir',
        '/d',
      ]),
    ).toEqual({ help: false, dataDir: '/d', input: { email: 'a@b.co', password: 'password1', name: 'A', admin: true } })
    expect(parseUsersCreateArgs(['--help'])).toEqual({ help: true })
  })

  it('parses truss tokens create, splitting and trimming scopes', () => {
    expect(
      parseTokensCreateArgs([
        '--email',
        'a@b.co',
        '--name',
        'ci',
        '--scopes',
        'streams:read, streams:write,',
        '--expires-days',
        '30',
      ]),
    ).toEqual({
      help: false,
      dataDir: undefined,
      input: { email: 'a@b.co', name: 'ci', scopes: ['streams:read', 'streams:write'], expiresDays: 30 },
    })
  })

  it('parses truss projects create', () => {
    expect(parseProjectsCreateArgs(['--owner', 'a@b.co', '--name', 'Tower', '--public', '--description', 'D'])).toEqual(
      {
        help: false,
        dataDir: undefined,
        input: { ownerEmail: 'a@b.co', name: 'Tower', public: true, description: 'D' },
      },
    )
  })

  it.each([
    [
      'a missing --email',
      () => parseUsersCreateArgs(['--password', 'password1', '--name', 'A']),
      /--email is required/,
    ],
    ['an unknown flag', () => parseUsersCreateArgs(['--emial', 'x']), /Unknown option '--emial'/],
    ['a missing --scopes', () => parseTokensCreateArgs(['--email', 'a@b.co', '--name', 'ci']), /--scopes is required/],
    [
      'a bad --expires-days',
      () =>
        parseTokensCreateArgs(['--email', 'a@b.co', '--name', 'n', '--scopes', 'streams:read', '--expires-days', '0']),
      /--expires-days must be a whole number/,
    ],
    [
      'an unknown scope',
      () => parseTokensCreateArgs(['--email', 'a@b.co', '--name', 'n', '--scopes', 'streams:read,stream:write']),
      /unknown scope "stream:write" \(known: streams:read, /,
    ],
    ['a missing --owner', () => parseProjectsCreateArgs(['--name', 'P']), /--owner is required/],
    ['a positional argument', () => parseProjectsCreateArgs(['P']), /Unexpected argument 'P'/],
  ])('refuses %s with a UsageError', (_what, parse, message) => {
    expect(parse).toThrow(UsageError)
    expect(parse).toThrow(message)
  })

  it('prints help for each command and subcommand without opening a database', async () => {
    for (const [command, flag] of [
      [usersCommand, '--password'],
      [tokensCommand, '--scopes'],
      [projectsCommand, '--owner'],
    ] as const) {
      for (const args of [['--help'], ['create', '--help'], ['create', '-h']]) {
        const io = captureIo()
        expect(await command.run(args, io)).toBe(0)
        expect(io.out).toContain(`Usage: truss ${command.name} create`)
        expect(io.out).toContain(flag)
        expect(io.out).toContain('DATABASE_URL')
      }
    }
  })

  it('refuses a missing or unknown subcommand with a UsageError naming create', async () => {
    await expect(usersCommand.run([], captureIo())).rejects.toThrow(/needs a subcommand: create/)
    await expect(tokensCommand.run(['delete'], captureIo())).rejects.toThrow(
      /unknown subcommand "delete" for truss tokens \(known: create\)/,
    )
  })
})

describe('identity commands over the services', () => {
  let sql: Awaited<ReturnType<typeof openDatabase>>
  let ctx: IdentityContext

  beforeAll(async () => {
    sql = await openDatabase('pglite')
    ctx = identityContext(sql)
  })
  afterAll(() => sql?.dispose())

  it('creates users, printing the id last; the first is the admin', async () => {
    const io = captureIo()
    expect(await createUser(ctx, { email: 'Admin@Example.com', password: 'password1', name: 'Admin' }, io)).toBe(0)
    const admin = await ctx.users.getByEmail('admin@example.com')
    expect(io.out).toBe(`Created user admin@example.com (Admin, server:admin)\n${admin!.id}\n`)
    const second = captureIo()
    await createUser(ctx, { email: 'dev@example.com', password: 'password1', name: 'Dev' }, second)
    expect(second.out).toContain('server:user')
    await expect(
      createUser(ctx, { email: 'dev@example.com', password: 'password1', name: 'Dev' }, captureIo()),
    ).rejects.toThrow(Conflict)
    await expect(
      createUser(ctx, { email: 'x@example.com', password: 'short', name: 'X' }, captureIo()),
    ).rejects.toThrow(BadUserInput)
  })

  it('creates a token that verifies, printing it as the last line', async () => {
    const io = captureIo()
    const now = Date.UTC(2030, 0, 1)
    const input = { email: 'dev@example.com', name: 'ci', scopes: ['streams:read', 'streams:write'], expiresDays: 2 }
    expect(await createToken(ctx, input, io, () => now)).toBe(0)
    expect(io.out).toContain('expires 2030-01-03T00:00:00.000Z')
    const token = lastLine(io.out)!
    expect(token).toMatch(/^[A-Za-z0-9]{42}$/)
    const principal = await ctx.tokens.verify(token)
    expect(principal?.scopes).toEqual(new Set(['streams:read', 'streams:write']))
    expect(principal?.userId).toBe((await ctx.users.getByEmail('dev@example.com'))!.id)
  })

  it('refuses a token for an unknown user or with an unknown scope', async () => {
    await expect(
      createToken(ctx, { email: 'ghost@example.com', name: 'x', scopes: ['streams:read'] }, captureIo()),
    ).rejects.toThrow(NotFound)
    await expect(
      createToken(ctx, { email: 'dev@example.com', name: 'x', scopes: ['streams:admin'] }, captureIo()),
    ).rejects.toThrow(/Unknown scope "streams:admin"/)
  })

  it('creates a project owned by the user, printing its id last', async () => {
    const io = captureIo()
    expect(await createProject(ctx, { ownerEmail: 'dev@example.com', name: 'Tower', public: true }, io)).toBe(0)
    const id = lastLine(io.out)!
    const dev = await ctx.users.getByEmail('dev@example.com')
    expect(await ctx.projects.getAccess(id, { userId: dev!.id })).toEqual({
      project: { id, name: 'Tower', visibility: 'public' },
      role: 'stream:owner',
    })
    await expect(
      createProject(ctx, { ownerEmail: 'ghost@example.com', name: 'P', public: false }, captureIo()),
    ).rejects.toThrow(/User ghost@example.com not found/)
  })
})
