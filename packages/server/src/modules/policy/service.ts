/**
 * The one authorization policy (DESIGN.md decision 6): every permission decision, from server role,
 * project role, project visibility and token scopes, is made here. Following Speckle 2.24 (WIRE.md):
 * reading needs `streams:read` and any project role, or nothing at all on a public or unlisted project;
 * writing needs `streams:write` and contributor or owner; managing needs `streams:write` and owner;
 * receiving a version is reading by a signed-in caller; leaving needs `streams:read` and any role; reading
 * the activity log needs a `streams:read` token of a non-guest user and reading access.
 * Server-wide actions (creating projects, tokens, reading one's profile) need their scope; guests cannot
 * create projects. Archived users are refused everything; server admins get no implicit project access.
 */
import { Forbidden, NotFound, Unauthenticated } from '../../errors.js'
import type { Principal } from '../../principal.js'
import type { ProjectAccess, ProjectRole, ProjectsService } from '../projects/service.js'

/**
 * `unauthenticated`: a caller with a token might be allowed; `forbidden`: this caller is not; `not_found`:
 * the project does not exist (said only to authenticated callers). Transports map these: Speckle's object
 * routes answer 401 for everything but a read's `not_found` (WIRE.md).
 */
export type AccessDecision = 'allow' | 'unauthenticated' | 'forbidden' | 'not_found'

// `readInvites`: see who is invited (`invitedTeam`), contributors and owners (Speckle's STREAM_CONTRIBUTOR).
// `readProjectActivity`: `stream.activity`, which Speckle guards with `@hasRole(server:user)` and
// `@hasScope(streams:read)` on top of reading the stream: a token is needed even on a public project.
export const PROJECT_ACTIONS = [
  'read',
  'write',
  'manage',
  'receive',
  'leave',
  'readInvites',
  'readProjectActivity',
] as const
export type ProjectAction = (typeof PROJECT_ACTIONS)[number]

export const REQUIRED_SCOPE: Record<ProjectAction, string> = {
  read: 'streams:read',
  write: 'streams:write',
  manage: 'streams:write',
  receive: 'streams:read',
  leave: 'streams:read',
  readInvites: 'streams:read',
  readProjectActivity: 'streams:read',
}

const ROLE_RANK: Record<ProjectRole, number> = { 'stream:reviewer': 1, 'stream:contributor': 2, 'stream:owner': 3 }
const REQUIRED_ROLE: Record<ProjectAction, ProjectRole> = {
  read: 'stream:reviewer',
  write: 'stream:contributor',
  manage: 'stream:owner',
  receive: 'stream:reviewer',
  leave: 'stream:reviewer',
  readInvites: 'stream:contributor',
  readProjectActivity: 'stream:reviewer',
}

/** Decide whether `principal` (null: no credentials) may do `action` on the project described by `access`. */
export function decideProject(
  principal: Principal | null,
  access: ProjectAccess,
  action: ProjectAction,
): AccessDecision {
  if (principal?.serverRole === 'server:archived-user') return 'forbidden'
  const { project } = access
  if (project === null) return principal === null ? 'unauthenticated' : 'not_found'
  if (action === 'read' && project.visibility !== 'private') return 'allow'
  if (principal === null) return 'unauthenticated'
  if (action === 'receive' && project.visibility !== 'private') return 'allow'
  if (!principal.scopes.has(REQUIRED_SCOPE[action])) return 'forbidden'
  if (action === 'readProjectActivity') {
    if (principal.serverRole === 'server:guest') return 'forbidden'
    if (project.visibility !== 'private') return 'allow'
  }
  if (access.role === null || ROLE_RANK[access.role] < ROLE_RANK[REQUIRED_ROLE[action]]) return 'forbidden'
  return 'allow'
}

export function canReadProject(principal: Principal | null, access: ProjectAccess): AccessDecision {
  return decideProject(principal, access, 'read')
}

export function canWriteProject(principal: Principal | null, access: ProjectAccess): AccessDecision {
  return decideProject(principal, access, 'write')
}

/** Owner-only actions: roles, settings, webhooks, deletion. */
export function canManageProject(principal: Principal | null, access: ProjectAccess): AccessDecision {
  return decideProject(principal, access, 'manage')
}

export const SERVER_ACTIONS = [
  'createProject',
  'createToken',
  'readTokens',
  'readApps',
  'readProfile',
  'updateProfile',
  'inviteUsers',
  'useInvite',
  'readOwnInvites',
  'readActivity',
  'deleteAnyProjects',
  'manageServer',
] as const
/** Actions not about one project (named apart from project actions: `missingScope` takes either). */
export type ServerAction = (typeof SERVER_ACTIONS)[number]

const SERVER_SCOPE: Record<ServerAction, string> = {
  createProject: 'streams:write',
  createToken: 'tokens:write',
  readTokens: 'tokens:read',
  readApps: 'apps:read',
  readProfile: 'profile:read',
  // Speckle 2.24 has no `profile:write`; connectors' tokens carry `profile:read`, which its profile update takes.
  updateProfile: 'profile:read',
  // Server and project invites (Speckle does not give this scope to personal tokens).
  inviteUsers: 'users:invite',
  // Accepting or declining a project invite is a project mutation (Speckle's need streams:write).
  useInvite: 'streams:write',
  readOwnInvites: 'streams:read',
  // Speckle's `user.activity` needs users:read, even for one's own.
  readActivity: 'users:read',
  // Legacy `streamsDelete` and `projectMutations.batchDelete`: admins only (Speckle's SERVER_ADMIN).
  deleteAnyProjects: 'streams:write',
  manageServer: 'server:setup',
}

// Speckle's SERVER_USER actions: guests are refused them.
// `readActivity`: Speckle's `User.activity` carries `@hasRole(server:user)`.
const NOT_FOR_GUESTS: ReadonlySet<ServerAction> = new Set([
  'createProject',
  'readTokens',
  'inviteUsers',
  'readActivity',
])

/** Decide a server-wide action; `not_found` never comes out. */
export function decideServer(principal: Principal | null, action: ServerAction): AccessDecision {
  if (principal === null) return 'unauthenticated'
  if (principal.serverRole === 'server:archived-user') return 'forbidden'
  if (NOT_FOR_GUESTS.has(action) && principal.serverRole === 'server:guest') return 'forbidden'
  // Server settings and deleting others' projects: admins only, whatever the token's scopes.
  if ((action === 'manageServer' || action === 'deleteAnyProjects') && principal.serverRole !== 'server:admin') {
    return 'forbidden'
  }
  return principal.scopes.has(SERVER_SCOPE[action]) ? 'allow' : 'forbidden'
}

/** Forbidden because the token lacks a scope; GraphQL answers carry it as `extensions.scope` (as Speckle). */
export class MissingScope extends Forbidden {
  constructor(readonly scope: string) {
    super(`Your auth token does not have the required scope: ${scope}`)
  }
}

/** The scope a refused principal lacks for the action, if that is why; null otherwise. */
export function missingScope(principal: Principal | null, action: ProjectAction | ServerAction): string | null {
  if (principal === null) return null
  const scope =
    action in REQUIRED_SCOPE ? REQUIRED_SCOPE[action as ProjectAction] : SERVER_SCOPE[action as ServerAction]
  return principal.scopes.has(scope) ? null : scope
}

/** As `decideServer`, throwing `Unauthenticated`, `MissingScope` or `Forbidden`. */
export function requireServer(principal: Principal | null, action: ServerAction): Principal {
  const decision = decideServer(principal, action)
  if (decision === 'allow' && principal !== null) return principal
  if (decision === 'unauthenticated' || principal === null) throw new Unauthenticated()
  const scope = missingScope(principal, action)
  if (scope !== null && principal.serverRole !== 'server:archived-user') throw new MissingScope(scope)
  throw new Forbidden('You do not have permission to do this')
}

/** Turn a refusal into the domain error transports map (GraphQL, JSON REST); `allow` returns quietly. */
export function assertAllowed(decision: AccessDecision, projectId: string, scope: string | null = null): void {
  switch (decision) {
    case 'allow':
      return
    case 'unauthenticated':
      throw new Unauthenticated()
    case 'forbidden':
      if (scope !== null) throw new MissingScope(scope)
      throw new Forbidden('You do not have access to this project')
    case 'not_found':
      throw new NotFound('project', projectId)
  }
}

export interface Policy {
  /** Look the project and the caller's role up (one query) and decide. */
  authorizeProject(principal: Principal | null, projectId: string, action: ProjectAction): Promise<AccessDecision>
  /** As `authorizeProject`, but throws `Unauthenticated`, `Forbidden` or `NotFound`; returns the access read. */
  requireProject(principal: Principal | null, projectId: string, action: ProjectAction): Promise<ProjectAccess>
}

export function createPolicy({ projects }: { projects: Pick<ProjectsService, 'getAccess'> }): Policy {
  return {
    async authorizeProject(principal, projectId, action) {
      return decideProject(principal, await projects.getAccess(projectId, principal), action)
    },
    async requireProject(principal, projectId, action) {
      const access = await projects.getAccess(projectId, principal)
      const decision = decideProject(principal, access, action)
      const archived = principal?.serverRole === 'server:archived-user'
      assertAllowed(decision, projectId, decision === 'forbidden' && !archived ? missingScope(principal, action) : null)
      return access
    },
  }
}
