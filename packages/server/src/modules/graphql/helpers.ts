/** Shared by the resolver files: argument readers, authorization through the policy, common shapes. */
import { BadUserInput, Forbidden, NotFound } from '../../errors.js'
import { SCOPES, type Principal } from '../../principal.js'
import { assertAllowed, decideProject, missingScope, requireServer, type ProjectAction } from '../policy/service.js'
import type { Project } from '../projects/service.js'
import type { User } from '../users/service.js'
import type { GraphqlContext } from './context.js'

export type Args = Record<string, unknown>

export const str = (v: unknown): string | null => (typeof v === 'string' ? v : null)
export const int = (v: unknown): number | null => (typeof v === 'number' ? v : null)
export const strs = (v: unknown): string[] | null =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null
export const obj = (v: unknown): Args => (typeof v === 'object' && v !== null ? (v as Args) : {})
export function required(v: unknown, name: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new BadUserInput(`${name} is required`)
  return v
}

export async function authorize(ctx: GraphqlContext, projectId: string, action: ProjectAction): Promise<void> {
  await ctx.deps.policy.requireProject(ctx.principal, projectId, action)
}

/**
 * As `authorize`, for a project already loaded: the caller's role comes from the batched roles loader, so a
 * list of projects costs one query, not one per project. The policy still decides.
 */
export async function authorizeLoaded(ctx: GraphqlContext, p: Project, action: ProjectAction): Promise<void> {
  const role = await ctx.loaders.roles.load(p.id)
  const decision = decideProject(ctx.principal, { project: p, role }, action)
  const archived = ctx.principal?.serverRole === 'server:archived-user'
  assertAllowed(decision, p.id, decision === 'forbidden' && !archived ? missingScope(ctx.principal, action) : null)
}

export function actor(ctx: GraphqlContext): Principal {
  if (ctx.principal === null) throw new Error('authorize first')
  return ctx.principal
}

export async function loadProject(ctx: GraphqlContext, id: string, action: ProjectAction = 'read'): Promise<Project> {
  await authorize(ctx, id, action)
  const project = await ctx.loaders.projects.load(id)
  if (project === null) throw new NotFound('project', id)
  return project
}

export function limitedUser(user: User | null) {
  if (user === null) return null
  return {
    id: user.id,
    name: user.name,
    company: user.company,
    avatar: user.avatar,
    bio: user.bio,
    verified: user.verified,
    role: user.serverRole,
  }
}

/** Only the signed-in user's own profile lists tokens and apps. */
export function ownProfile(ctx: GraphqlContext, user: User, action: 'readTokens' | 'readApps'): Principal {
  if (ctx.principal?.userId !== user.id) throw new Forbidden('You can only view your own tokens and apps')
  return requireServer(ctx.principal, action)
}

const SCOPE_DESCRIPTIONS: Record<string, string> = Object.fromEntries(
  SCOPES.map((s) => [s, `Allows ${s.replace(':', ' ')} access.`]),
)

/** Speckle's `Scope`: a scope name with its description. */
export function scopeItem(name: string): { name: string; description: string } {
  return { name, description: SCOPE_DESCRIPTIONS[name] ?? name }
}

export function idList(v: unknown, name: string, max = 1000): string[] {
  const ids = strs(v) ?? []
  if (ids.length === 0) throw new BadUserInput(`${name} must list at least one id`)
  if (ids.length > max) throw new BadUserInput(`${name} lists more than ${max} ids`)
  return [...new Set(ids)]
}
