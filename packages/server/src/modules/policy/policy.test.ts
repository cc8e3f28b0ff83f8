import { describe, expect, it } from 'vitest'
import { Forbidden, NotFound, Unauthenticated } from '../../errors.js'
import type { Principal, ServerRole } from '../../principal.js'
import type { ProjectAccess, ProjectRole, ProjectVisibility } from '../projects/service.js'
import {
  assertAllowed,
  canManageProject,
  canReadProject,
  canWriteProject,
  createPolicy,
  decideProject,
  decideServer,
  MissingScope,
  PROJECT_ACTIONS,
  requireServer,
  SERVER_ACTIONS,
  type AccessDecision,
  type ProjectAction,
  type ServerAction,
} from './service.js'

function principal(scopes: string[], serverRole: ServerRole = 'server:user'): Principal {
  return { userId: 'user000001', serverRole, scopes: new Set(scopes), tokenId: 'token00001' }
}

const CALLERS = {
  anonymous: null,
  // Holds the scope each action needs (streams:read for read, streams:write for write).
  scoped: principal(['streams:read', 'streams:write', 'profile:read']),
  unscoped: principal(['profile:read', 'users:read']),
} as const
type Caller = keyof typeof CALLERS
type RoleName = 'none' | 'reviewer' | 'contributor' | 'owner'
const ROLES: Record<RoleName, ProjectRole | null> = {
  none: null,
  reviewer: 'stream:reviewer',
  contributor: 'stream:contributor',
  owner: 'stream:owner',
}

function access(visibility: ProjectVisibility, role: ProjectRole | null): ProjectAccess {
  return { project: { id: 'project001', name: 'P', visibility }, role }
}

// Every (caller × role × visibility × action), with the decision WIRE.md implies. An anonymous caller has no
// role in practice; the role column is still varied to show it is ignored.
const TABLE: [Caller, RoleName, ProjectVisibility, 'read' | 'write', AccessDecision][] = [
  ['anonymous', 'none', 'public', 'read', 'allow'],
  ['anonymous', 'none', 'public', 'write', 'unauthenticated'],
  ['anonymous', 'none', 'private', 'read', 'unauthenticated'],
  ['anonymous', 'none', 'private', 'write', 'unauthenticated'],
  ['anonymous', 'reviewer', 'public', 'read', 'allow'],
  ['anonymous', 'reviewer', 'public', 'write', 'unauthenticated'],
  ['anonymous', 'reviewer', 'private', 'read', 'unauthenticated'],
  ['anonymous', 'reviewer', 'private', 'write', 'unauthenticated'],
  ['anonymous', 'contributor', 'public', 'read', 'allow'],
  ['anonymous', 'contributor', 'public', 'write', 'unauthenticated'],
  ['anonymous', 'contributor', 'private', 'read', 'unauthenticated'],
  ['anonymous', 'contributor', 'private', 'write', 'unauthenticated'],
  ['anonymous', 'owner', 'public', 'read', 'allow'],
  ['anonymous', 'owner', 'public', 'write', 'unauthenticated'],
  ['anonymous', 'owner', 'private', 'read', 'unauthenticated'],
  ['anonymous', 'owner', 'private', 'write', 'unauthenticated'],

  ['scoped', 'none', 'public', 'read', 'allow'],
  ['scoped', 'none', 'public', 'write', 'forbidden'],
  ['scoped', 'none', 'private', 'read', 'forbidden'],
  ['scoped', 'none', 'private', 'write', 'forbidden'],
  ['scoped', 'reviewer', 'public', 'read', 'allow'],
  ['scoped', 'reviewer', 'public', 'write', 'forbidden'],
  ['scoped', 'reviewer', 'private', 'read', 'allow'],
  ['scoped', 'reviewer', 'private', 'write', 'forbidden'],
  ['scoped', 'contributor', 'public', 'read', 'allow'],
  ['scoped', 'contributor', 'public', 'write', 'allow'],
  ['scoped', 'contributor', 'private', 'read', 'allow'],
  ['scoped', 'contributor', 'private', 'write', 'allow'],
  ['scoped', 'owner', 'public', 'read', 'allow'],
  ['scoped', 'owner', 'public', 'write', 'allow'],
  ['scoped', 'owner', 'private', 'read', 'allow'],
  ['scoped', 'owner', 'private', 'write', 'allow'],

  ['unscoped', 'none', 'public', 'read', 'allow'],
  ['unscoped', 'none', 'public', 'write', 'forbidden'],
  ['unscoped', 'none', 'private', 'read', 'forbidden'],
  ['unscoped', 'none', 'private', 'write', 'forbidden'],
  ['unscoped', 'reviewer', 'public', 'read', 'allow'],
  ['unscoped', 'reviewer', 'public', 'write', 'forbidden'],
  ['unscoped', 'reviewer', 'private', 'read', 'forbidden'],
  ['unscoped', 'reviewer', 'private', 'write', 'forbidden'],
  ['unscoped', 'contributor', 'public', 'read', 'allow'],
  ['unscoped', 'contributor', 'public', 'write', 'forbidden'],
  ['unscoped', 'contributor', 'private', 'read', 'forbidden'],
  ['unscoped', 'contributor', 'private', 'write', 'forbidden'],
  ['unscoped', 'owner', 'public', 'read', 'allow'],
  ['unscoped', 'owner', 'public', 'write', 'forbidden'],
  ['unscoped', 'owner', 'private', 'read', 'forbidden'],
  ['unscoped', 'owner', 'private', 'write', 'forbidden'],
]

describe('project policy', () => {
  it('has one row for every combination', () => {
    const keys = new Set(TABLE.map(([c, r, v, a]) => `${c}/${r}/${v}/${a}`))
    expect(keys.size).toBe(3 * 4 * 2 * 2)
  })

  it.each(TABLE)('%s caller with role %s on a %s project: %s → %s', (caller, role, visibility, action, expected) => {
    const check = action === 'read' ? canReadProject : canWriteProject
    expect(check(CALLERS[caller], access(visibility, ROLES[role]))).toBe(expected)
  })

  it('treats an unlisted project as public for reading only', () => {
    expect(canReadProject(null, access('unlisted', null))).toBe('allow')
    expect(canReadProject(CALLERS.unscoped, access('unlisted', null))).toBe('allow')
    expect(canWriteProject(null, access('unlisted', null))).toBe('unauthenticated')
    expect(canWriteProject(CALLERS.scoped, access('unlisted', 'stream:reviewer'))).toBe('forbidden')
    expect(canWriteProject(CALLERS.scoped, access('unlisted', 'stream:contributor'))).toBe('allow')
  })

  it('says not_found for an unknown project only to an authenticated caller', () => {
    const missing: ProjectAccess = { project: null, role: null }
    for (const check of [canReadProject, canWriteProject, canManageProject]) {
      expect(check(null, missing)).toBe('unauthenticated')
      expect(check(CALLERS.scoped, missing)).toBe('not_found')
      expect(check(CALLERS.unscoped, missing)).toBe('not_found')
    }
  })

  it('refuses archived users everything, even reading a public project', () => {
    const archived = principal(['streams:read', 'streams:write'], 'server:archived-user')
    expect(canReadProject(archived, access('public', 'stream:owner'))).toBe('forbidden')
    expect(canReadProject(archived, access('private', 'stream:owner'))).toBe('forbidden')
    expect(canWriteProject(archived, access('private', 'stream:owner'))).toBe('forbidden')
    expect(canReadProject(archived, { project: null, role: null })).toBe('forbidden')
  })

  it('gives server admins no implicit project access', () => {
    const admin = principal(['streams:read', 'streams:write'], 'server:admin')
    expect(canReadProject(admin, access('private', null))).toBe('forbidden')
    expect(canWriteProject(admin, access('public', null))).toBe('forbidden')
    expect(canWriteProject(admin, access('private', 'stream:contributor'))).toBe('allow')
  })

  it('lets guests use the roles they were given', () => {
    const guest = principal(['streams:read', 'streams:write'], 'server:guest')
    expect(canWriteProject(guest, access('private', 'stream:contributor'))).toBe('allow')
    expect(canReadProject(guest, access('private', null))).toBe('forbidden')
  })

  it('needs streams:read to read and streams:write to write, each on its own', () => {
    const readOnly = principal(['streams:read'])
    const writeOnly = principal(['streams:write'])
    expect(canReadProject(readOnly, access('private', 'stream:owner'))).toBe('allow')
    expect(canWriteProject(readOnly, access('private', 'stream:owner'))).toBe('forbidden')
    expect(canWriteProject(writeOnly, access('private', 'stream:owner'))).toBe('allow')
    expect(canReadProject(writeOnly, access('private', 'stream:owner'))).toBe('forbidden')
  })

  it('lets only owners holding streams:write manage a project', () => {
    expect(canManageProject(CALLERS.scoped, access('public', 'stream:owner'))).toBe('allow')
    expect(canManageProject(CALLERS.scoped, access('public', 'stream:contributor'))).toBe('forbidden')
    expect(canManageProject(CALLERS.unscoped, access('public', 'stream:owner'))).toBe('forbidden')
    expect(canManageProject(null, access('public', null))).toBe('unauthenticated')
    expect(decideProject(CALLERS.scoped, access('private', 'stream:owner'), 'manage')).toBe('allow')
  })

  it('maps refusals to domain errors', () => {
    expect(() => assertAllowed('allow', 'p')).not.toThrow()
    expect(() => assertAllowed('unauthenticated', 'p')).toThrow(Unauthenticated)
    expect(() => assertAllowed('forbidden', 'p')).toThrow(Forbidden)
    expect(() => assertAllowed('not_found', 'p')).toThrow(NotFound)
  })

  it('looks the project up once per decision through the projects service', async () => {
    const calls: [string, string | null][] = []
    const policy = createPolicy({
      projects: {
        async getAccess(projectId, who) {
          calls.push([projectId, who?.userId ?? null])
          return projectId === 'known00001' ? access('private', 'stream:reviewer') : { project: null, role: null }
        },
      },
    })
    expect(await policy.authorizeProject(CALLERS.scoped, 'known00001', 'read')).toBe('allow')
    expect(await policy.authorizeProject(CALLERS.scoped, 'known00001', 'write')).toBe('forbidden')
    await expect(policy.requireProject(CALLERS.scoped, 'missing001', 'read')).rejects.toThrow(NotFound)
    await expect(policy.requireProject(null, 'known00001', 'read')).rejects.toThrow(Unauthenticated)
    expect((await policy.requireProject(CALLERS.scoped, 'known00001', 'read')).role).toBe('stream:reviewer')
    expect(calls).toEqual([
      ['known00001', 'user000001'],
      ['known00001', 'user000001'],
      ['missing001', 'user000001'],
      ['known00001', null],
      ['known00001', 'user000001'],
    ])
  })
})

// The whole grid: every project action × caller (scopes and server role) × visibility × project role.
// Each string gives the decision for roles none, reviewer, contributor, owner: A allow, U unauthenticated,
// F forbidden.
const FULL_CALLERS = {
  anonymous: null,
  user: principal(['streams:read', 'streams:write', 'profile:read', 'tokens:write']),
  noScopes: principal(['users:read']),
  guest: principal(['streams:read', 'streams:write', 'profile:read', 'tokens:write'], 'server:guest'),
  admin: principal(['streams:read', 'streams:write', 'profile:read', 'tokens:write'], 'server:admin'),
  archived: principal(['streams:read', 'streams:write', 'profile:read', 'tokens:write'], 'server:archived-user'),
} as const
type FullCaller = keyof typeof FULL_CALLERS
const VISIBILITIES: ProjectVisibility[] = ['public', 'unlisted', 'private']
const ROLE_ORDER: (ProjectRole | null)[] = [null, 'stream:reviewer', 'stream:contributor', 'stream:owner']
const LETTER: Record<string, AccessDecision> = { A: 'allow', U: 'unauthenticated', F: 'forbidden' }

const GRID: Record<
  ProjectAction,
  Record<FullCaller, [publicRoles: string, unlistedRoles: string, privateRoles: string]>
> = {
  read: {
    anonymous: ['AAAA', 'AAAA', 'UUUU'],
    user: ['AAAA', 'AAAA', 'FAAA'],
    noScopes: ['AAAA', 'AAAA', 'FFFF'],
    guest: ['AAAA', 'AAAA', 'FAAA'],
    admin: ['AAAA', 'AAAA', 'FAAA'],
    archived: ['FFFF', 'FFFF', 'FFFF'],
  },
  write: {
    anonymous: ['UUUU', 'UUUU', 'UUUU'],
    user: ['FFAA', 'FFAA', 'FFAA'],
    noScopes: ['FFFF', 'FFFF', 'FFFF'],
    guest: ['FFAA', 'FFAA', 'FFAA'],
    admin: ['FFAA', 'FFAA', 'FFAA'],
    archived: ['FFFF', 'FFFF', 'FFFF'],
  },
  manage: {
    anonymous: ['UUUU', 'UUUU', 'UUUU'],
    user: ['FFFA', 'FFFA', 'FFFA'],
    noScopes: ['FFFF', 'FFFF', 'FFFF'],
    guest: ['FFFA', 'FFFA', 'FFFA'],
    admin: ['FFFA', 'FFFA', 'FFFA'],
    archived: ['FFFF', 'FFFF', 'FFFF'],
  },
  receive: {
    anonymous: ['UUUU', 'UUUU', 'UUUU'],
    user: ['AAAA', 'AAAA', 'FAAA'],
    noScopes: ['AAAA', 'AAAA', 'FFFF'],
    guest: ['AAAA', 'AAAA', 'FAAA'],
    admin: ['AAAA', 'AAAA', 'FAAA'],
    archived: ['FFFF', 'FFFF', 'FFFF'],
  },
  leave: {
    anonymous: ['UUUU', 'UUUU', 'UUUU'],
    user: ['FAAA', 'FAAA', 'FAAA'],
    noScopes: ['FFFF', 'FFFF', 'FFFF'],
    guest: ['FAAA', 'FAAA', 'FAAA'],
    admin: ['FAAA', 'FAAA', 'FAAA'],
    archived: ['FFFF', 'FFFF', 'FFFF'],
  },
  // Pending invites: contributors and owners, whatever the visibility.
  readInvites: {
    anonymous: ['UUUU', 'UUUU', 'UUUU'],
    user: ['FFAA', 'FFAA', 'FFAA'],
    noScopes: ['FFFF', 'FFFF', 'FFFF'],
    guest: ['FFAA', 'FFAA', 'FFAA'],
    admin: ['FFAA', 'FFAA', 'FFAA'],
    archived: ['FFFF', 'FFFF', 'FFFF'],
  },
  // `stream.activity`: a streams:read token of a user or admin (no guests), and reading access; no anonymous
  // reads even of a public project (Speckle's `@hasRole(server:user) @hasScope(streams:read)`).
  readProjectActivity: {
    anonymous: ['UUUU', 'UUUU', 'UUUU'],
    user: ['AAAA', 'AAAA', 'FAAA'],
    noScopes: ['FFFF', 'FFFF', 'FFFF'],
    guest: ['FFFF', 'FFFF', 'FFFF'],
    admin: ['AAAA', 'AAAA', 'FAAA'],
    archived: ['FFFF', 'FFFF', 'FFFF'],
  },
}

const GRID_ROWS = PROJECT_ACTIONS.flatMap((action) =>
  (Object.keys(FULL_CALLERS) as FullCaller[]).flatMap((caller) =>
    VISIBILITIES.flatMap((visibility, v) =>
      ROLE_ORDER.map(
        (role, r) => [action, caller, visibility, role ?? 'none', LETTER[GRID[action][caller][v]![r]!]!] as const,
      ),
    ),
  ),
)

describe('project policy, every action', () => {
  it('covers every action × caller × visibility × role', () => {
    expect(GRID_ROWS).toHaveLength(PROJECT_ACTIONS.length * 6 * 3 * 4)
  })

  it.each(GRID_ROWS)('%s by %s on a %s project with role %s → %s', (action, caller, visibility, role, expected) => {
    const projectRole = role === 'none' ? null : role
    expect(decideProject(FULL_CALLERS[caller], access(visibility, projectRole), action)).toBe(expected)
  })

  const SERVER_GRID: Record<ServerAction, Record<FullCaller, string>> = {
    createProject: { anonymous: 'U', user: 'A', noScopes: 'F', guest: 'F', admin: 'A', archived: 'F' },
    createToken: { anonymous: 'U', user: 'A', noScopes: 'F', guest: 'A', admin: 'A', archived: 'F' },
    // The callers' tokens carry neither tokens:read nor apps:read nor users:invite.
    readTokens: { anonymous: 'U', user: 'F', noScopes: 'F', guest: 'F', admin: 'F', archived: 'F' },
    readApps: { anonymous: 'U', user: 'F', noScopes: 'F', guest: 'F', admin: 'F', archived: 'F' },
    inviteUsers: { anonymous: 'U', user: 'F', noScopes: 'F', guest: 'F', admin: 'F', archived: 'F' },
    useInvite: { anonymous: 'U', user: 'A', noScopes: 'F', guest: 'A', admin: 'A', archived: 'F' },
    readOwnInvites: { anonymous: 'U', user: 'A', noScopes: 'F', guest: 'A', admin: 'A', archived: 'F' },
    // No caller here carries users:read except noScopes, which is then allowed.
    readActivity: { anonymous: 'U', user: 'F', noScopes: 'A', guest: 'F', admin: 'F', archived: 'F' },
    deleteAnyProjects: { anonymous: 'U', user: 'F', noScopes: 'F', guest: 'F', admin: 'A', archived: 'F' },
    readProfile: { anonymous: 'U', user: 'A', noScopes: 'F', guest: 'A', admin: 'A', archived: 'F' },
    updateProfile: { anonymous: 'U', user: 'A', noScopes: 'F', guest: 'A', admin: 'A', archived: 'F' },
    // No caller here carries `server:setup`: even the admin is refused for the scope.
    manageServer: { anonymous: 'U', user: 'F', noScopes: 'F', guest: 'F', admin: 'F', archived: 'F' },
  }
  const SERVER_ROWS = SERVER_ACTIONS.flatMap((action) =>
    (Object.keys(FULL_CALLERS) as FullCaller[]).map(
      (caller) => [action, caller, LETTER[SERVER_GRID[action][caller]]!] as const,
    ),
  )
  it.each(SERVER_ROWS)('server action %s by %s → %s', (action, caller, expected) => {
    expect(decideServer(FULL_CALLERS[caller], action)).toBe(expected)
  })

  it('names the missing scope when that is why a token is refused', async () => {
    expect(() => requireServer(FULL_CALLERS.noScopes, 'createProject')).toThrow(MissingScope)
    expect(() => requireServer(FULL_CALLERS.noScopes, 'createProject')).toThrow(
      'Your auth token does not have the required scope: streams:write',
    )
    expect(() => requireServer(FULL_CALLERS.guest, 'createProject')).toThrow(Forbidden)
    expect(() => requireServer(null, 'createProject')).toThrow(Unauthenticated)
    const policy = createPolicy({ projects: { getAccess: async () => access('private', 'stream:owner') } })
    await expect(policy.requireProject(principal(['streams:read']), 'p', 'write')).rejects.toMatchObject({
      scope: 'streams:write',
    })
    await expect(policy.requireProject(FULL_CALLERS.archived, 'p', 'write')).rejects.not.toBeInstanceOf(MissingScope)
  })
  it('keeps reading tokens and inviting users from guests, and reading apps open to them', () => {
    const scopes = ['tokens:read', 'apps:read', 'users:invite']
    for (const [role, tokens, apps, invite] of [
      ['server:user', 'allow', 'allow', 'allow'],
      ['server:guest', 'forbidden', 'allow', 'forbidden'],
      ['server:admin', 'allow', 'allow', 'allow'],
      ['server:archived-user', 'forbidden', 'forbidden', 'forbidden'],
    ] as const) {
      expect(decideServer(principal(scopes, role), 'readTokens')).toBe(tokens)
      expect(decideServer(principal(scopes, role), 'readApps')).toBe(apps)
      expect(decideServer(principal(scopes, role), 'inviteUsers')).toBe(invite)
      // A user's activity log: Speckle's `@hasRole(server:user)`, so guests are refused it like invites.
      expect(decideServer(principal(['users:read'], role), 'readActivity')).toBe(invite)
    }
    expect(() => requireServer(principal(['tokens:write']), 'readTokens')).toThrow(
      'Your auth token does not have the required scope: tokens:read',
    )
  })

  it('lets only a server admin holding streams:write delete any projects', () => {
    expect(decideServer(principal(['streams:write'], 'server:admin'), 'deleteAnyProjects')).toBe('allow')
    expect(decideServer(principal(['streams:read'], 'server:admin'), 'deleteAnyProjects')).toBe('forbidden')
    expect(decideServer(principal(['streams:write'], 'server:user'), 'deleteAnyProjects')).toBe('forbidden')
  })

  it('lets only a server admin with server:setup manage the server', () => {
    expect(decideServer(principal(['server:setup'], 'server:admin'), 'manageServer')).toBe('allow')
    expect(decideServer(principal(['server:setup'], 'server:user'), 'manageServer')).toBe('forbidden')
    expect(() => requireServer(principal(['server:setup'], 'server:user'), 'manageServer')).toThrow(Forbidden)
    expect(() => requireServer(principal(['server:setup'], 'server:user'), 'manageServer')).not.toThrow(MissingScope)
    expect(() => requireServer(FULL_CALLERS.admin, 'manageServer')).toThrow(
      'Your auth token does not have the required scope: server:setup',
    )
  })
})
