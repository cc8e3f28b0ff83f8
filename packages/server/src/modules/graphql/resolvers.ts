/**
 * Resolvers: thin. Each parses its arguments, asks the policy, calls a service and shapes the answer in
 * Speckle's terms. Legacy names (stream, branch, commit) live only here, mapped onto projects, models and
 * versions (the same records: ids are interchangeable).
 */
import { BadUserInput, Forbidden, NotFound } from '../../errors.js'
import { pageSize, type Page } from '../../pagination.js'
import { ID_LENGTH } from '../auth/ids.js'
import { SCOPES } from '../auth/principal.js'
import { displayName, type Model, type ModelsTreeItem } from '../models/service.js'
import { requireServer } from '../policy/service.js'
import { isProjectRole, type Project, type ProjectRole, type ProjectVisibility } from '../projects/service.js'
import { TOKEN_LENGTH } from '../tokens/service.js'
import type { User } from '../users/service.js'
import type { Version } from '../versions/service.js'
import { activityPage } from './activity.js'
import { firstPageKey, treeKey, type GraphqlContext } from './context.js'
import {
  actor,
  authorize,
  authorizeLoaded,
  int,
  limitedUser,
  loadProject,
  obj,
  required,
  str,
  strs,
  type Args,
} from './helpers.js'
import {
  cancelInvite,
  inviteInputs,
  inviteToProject,
  inviteToServer,
  lookupInvite,
  myInvites,
  pendingCollaborator,
  useInvite,
} from './invites.js'
import { createObjects, loadObject, objectChildren, type GraphqlObject } from './objects.js'
import { subscriptionResolvers } from './subscriptions.js'
import { apiToken, appListItem, lifespanToExpiry, ownProfile } from './tokens.js'

type Resolver<P = unknown> = (parent: P, args: Args, ctx: GraphqlContext) => unknown
export type ResolverMap = Record<string, Record<string, Resolver<never> | { subscribe: Resolver; resolve?: Resolver }>>

// A token id or a whole token: letters and digits.
const TOKEN_OR_ID = new RegExp(`^[A-Za-z0-9]{${ID_LENGTH}}(?:[A-Za-z0-9]{${TOKEN_LENGTH - ID_LENGTH}})?$`)

const VISIBILITY_IN: Record<string, ProjectVisibility> = { PRIVATE: 'private', PUBLIC: 'public', UNLISTED: 'unlisted' }

function legacyVisibility(isPublic: unknown, isDiscoverable: unknown): ProjectVisibility | undefined {
  if (isPublic === false) return 'private'
  if (isPublic === true) return isDiscoverable === true ? 'public' : 'unlisted'
  if (isDiscoverable === true) return 'public'
  return undefined
}

function previewUrl(ctx: GraphqlContext, version: Version): string {
  return `${ctx.deps.serverInfo.canonicalUrl.replace(/\/$/, '')}/preview/${version.projectId}/commits/${version.id}`
}

const SCOPE_DESCRIPTIONS: Record<string, string> = Object.fromEntries(
  SCOPES.map((s) => [s, `Allows ${s.replace(':', ' ')} access.`]),
)

async function projectModel(ctx: GraphqlContext, project: Project, id: string): Promise<Model> {
  const model = await ctx.deps.models.getById(project.id, id)
  if (model === null) throw new NotFound('model', id)
  return model
}

async function projectVersion(ctx: GraphqlContext, projectId: string, id: string): Promise<Version> {
  const version = await ctx.deps.versions.getById(projectId, id)
  if (version === null) throw new NotFound('version', id)
  return version
}

/** `User.projects` / legacy `streams`: the caller's own projects only. */
async function userProjects(ctx: GraphqlContext, user: { id: string }, args: Args) {
  if (ctx.principal?.userId !== user.id) throw new NotFound('user', user.id)
  requireServer(ctx.principal, 'readProfile')
  const filter = obj(args.filter)
  const page = await ctx.deps.projects.listForUser(user.id, {
    limit: int(args.limit),
    cursor: str(args.cursor),
    search: str(filter.search) ?? str(args.query),
    onlyWithRoles: strs(filter.onlyWithRoles),
  })
  for (const item of page.items) ctx.loaders.roles.prime(item.id, item.role)
  return { ...page, numberOfHidden: 0 }
}

/** A model's versions; the first page (a list of models each showing its latest versions) is batched. */
function modelVersions(ctx: GraphqlContext, m: Model, args: Args): Promise<Page<Version>> {
  const cursor = str(args.cursor)
  if (!cursor) return ctx.loaders.modelVersions.load(firstPageKey(pageSize(int(args.limit)), m.id))
  return ctx.deps.versions.listForModel(m.id, { limit: int(args.limit), cursor })
}

async function legacyStreamCommits(ctx: GraphqlContext, page: Page<Version>) {
  return page
}

function idList(v: unknown, name: string, max = 1000): string[] {
  const ids = strs(v) ?? []
  if (ids.length === 0) throw new BadUserInput(`${name} must list at least one id`)
  if (ids.length > max) throw new BadUserInput(`${name} lists more than ${max} ids`)
  return [...new Set(ids)]
}

/** Delete projects the caller owns (or, `asAdmin`, any project): all are checked before any is deleted. */
async function deleteProjects(ctx: GraphqlContext, ids: string[], asAdmin: boolean): Promise<boolean> {
  const principal = requireServer(ctx.principal, 'deleteAnyProjects')
  if (!asAdmin) await Promise.all(ids.map((id) => authorize(ctx, id, 'manage')))
  const deleted = await Promise.all(ids.map((id) => ctx.deps.projects.delete(id, principal.userId)))
  return deleted.every(Boolean)
}

const projectFields = {
  visibility: (p: Project) => (p.visibility === 'private' ? 'PRIVATE' : 'UNLISTED'),
  role: (p: Project, _a: Args, ctx: GraphqlContext) => ctx.loaders.roles.load(p.id),
  allowPublicComments: () => false,
  sourceApps: (p: Project, _a: Args, ctx: GraphqlContext) => ctx.loaders.sourceApps.load(p.id),
  // Truss has no workspaces: every project is a personal one.
  workspaceId: () => null,
  team: async (p: Project, _a: Args, ctx: GraphqlContext) => {
    const team = await ctx.loaders.teams.load(p.id)
    return Promise.all(
      team.map(async (m) => ({
        id: m.userId,
        role: m.role,
        user: limitedUser(await ctx.loaders.users.load(m.userId)),
      })),
    )
  },
  invitedTeam: async (p: Project, _a: Args, ctx: GraphqlContext) => {
    await authorizeLoaded(ctx, p, 'readInvites')
    return (await ctx.loaders.projectInvites.load(p.id)).map((i) => pendingCollaborator(ctx, i))
  },
  object: (p: Project, args: Args, ctx: GraphqlContext) => loadObject(ctx.deps.objects, p.id, required(args.id, 'id')),
}

export function createResolvers(): ResolverMap {
  return {
    Query: {
      serverInfo: async (_p: unknown, _a: Args, ctx: GraphqlContext) => {
        const info = ctx.deps.serverInfo
        // Read per request: an admin's `serverInfoUpdate` shows on the next query, on every node.
        const settings = await ctx.deps.settings.get()
        return {
          ...info,
          ...settings,
          scopes: SCOPES.map((name) => ({ name, description: SCOPE_DESCRIPTIONS[name] })),
          serverRoles: [
            { id: 'server:admin', title: 'Admin' },
            { id: 'server:user', title: 'User' },
            { id: 'server:guest', title: 'Guest' },
            { id: 'server:archived-user', title: 'Archived' },
          ],
          authStrategies: [{ id: 'local', name: 'Local', icon: 'TODO', url: '/auth/local', color: null }],
          configuration: info,
          migration: null,
          automateUrl: null,
          workspaces: { workspacesEnabled: false },
        }
      },
      activeUser: async (_p: unknown, _a: Args, ctx: GraphqlContext) => {
        if (ctx.principal === null) return null
        return ctx.loaders.users.load(ctx.principal.userId)
      },
      otherUser: async (_p: unknown, args: Args, ctx: GraphqlContext) =>
        limitedUser(await ctx.loaders.users.load(required(args.id, 'id'))),
      project: (_p: unknown, args: Args, ctx: GraphqlContext) => loadProject(ctx, required(args.id, 'id')),
      stream: (_p: unknown, args: Args, ctx: GraphqlContext) => loadProject(ctx, required(args.id, 'id')),
      projectInvite: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        lookupInvite(ctx, required(args.projectId, 'projectId'), str(args.token)),
      streamInvite: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        lookupInvite(ctx, required(args.streamId, 'streamId'), str(args.token)),
      // The app the caller's token was issued to; null for a personal token or no token.
      authenticatedAsApp: async (_p: unknown, _a: Args, ctx: GraphqlContext) => {
        if (ctx.principal === null) return null
        const appId = await ctx.deps.tokens.appOf(ctx.principal.tokenId)
        const app = appId === null ? null : await ctx.deps.apps.get(appId)
        return app === null ? null : appListItem(ctx, app)
      },
      streamInvites: async (_p: unknown, _a: Args, ctx: GraphqlContext) => {
        requireServer(ctx.principal, 'readOwnInvites')
        const me = await ctx.loaders.users.load(actor(ctx).userId)
        return me === null ? [] : myInvites(ctx, me)
      },
      streams: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        if (ctx.principal === null) throw new BadUserInput('You must be signed in to list your streams')
        return userProjects(ctx, { id: ctx.principal.userId }, args)
      },
    },

    User: {
      role: (u: User) => u.serverRole,
      email: (u: User, _a: Args, ctx: GraphqlContext) => (ctx.principal?.scopes.has('profile:email') ? u.email : null),
      projects: (u: User, args: Args, ctx: GraphqlContext) => userProjects(ctx, u, args),
      streams: (u: User, args: Args, ctx: GraphqlContext) => userProjects(ctx, u, args),
      projectInvites: (u: User, _a: Args, ctx: GraphqlContext) => {
        if (ctx.principal?.userId !== u.id) throw new Forbidden('You can only see your own invites')
        requireServer(ctx.principal, 'readOwnInvites')
        return myInvites(ctx, u)
      },
      activity: async (u: User, args: Args, ctx: GraphqlContext) => {
        if (ctx.principal?.userId !== u.id) throw new Forbidden('You can only see your own activity')
        requireServer(ctx.principal, 'readActivity')
        return activityPage((q) => ctx.deps.activity.forUser(u.id, q), args)
      },
      apiTokens: async (u: User, _a: Args, ctx: GraphqlContext) => {
        ownProfile(ctx, u, 'readTokens')
        return (await ctx.deps.tokens.listPersonal(u.id)).map(apiToken)
      },
      authorizedApps: async (u: User, _a: Args, ctx: GraphqlContext) => {
        ownProfile(ctx, u, 'readApps')
        return (await ctx.deps.apps.authorizedBy(u.id)).map((app) => appListItem(ctx, app))
      },
      createdApps: async (u: User, _a: Args, ctx: GraphqlContext) => {
        ownProfile(ctx, u, 'readApps')
        return (await ctx.deps.apps.createdBy(u.id)).map((app) => ({
          ...appListItem(ctx, app),
          // Speckle shows its author the app's secret; Truss keeps only its hash.
          secret: null,
          public: app.public,
          createdAt: app.createdAt,
          scopes: app.scopes.map((name) => ({ name, description: SCOPE_DESCRIPTIONS[name] ?? name })),
        }))
      },
    },

    Project: {
      ...projectFields,
      models: (p: Project, args: Args, ctx: GraphqlContext) => {
        const filter = obj(args.filter)
        // A first page without filters (a list of projects each showing its models) is batched.
        if (!str(args.cursor) && Object.values(filter).every((v) => v === null || v === undefined || v === false)) {
          return ctx.loaders.projectModels.load(firstPageKey(pageSize(int(args.limit)), p.id))
        }
        return ctx.deps.models.list(p.id, {
          limit: int(args.limit),
          cursor: str(args.cursor),
          search: str(filter.search),
          ids: strs(filter.ids),
          excludeIds: strs(filter.excludeIds),
          onlyWithVersions: filter.onlyWithVersions === true,
          sourceApps: strs(filter.sourceApps),
          contributors: strs(filter.contributors),
        })
      },
      model: (p: Project, args: Args, ctx: GraphqlContext) => projectModel(ctx, p, required(args.id, 'id')),
      modelByName: async (p: Project, args: Args, ctx: GraphqlContext) => {
        const name = required(args.name, 'name')
        const model = await ctx.loaders.modelsByName.load(treeKey(p.id, name))
        if (model === null) throw new NotFound('model', undefined)
        return model
      },
      versions: (p: Project, args: Args, ctx: GraphqlContext) =>
        ctx.deps.versions.listForProject(p.id, { limit: int(args.limit), cursor: str(args.cursor) }),
      version: (p: Project, args: Args, ctx: GraphqlContext) => projectVersion(ctx, p.id, required(args.id, 'id')),
      modelsTree: (p: Project, args: Args, ctx: GraphqlContext) => {
        const filter = obj(args.filter)
        return ctx.deps.models.tree(p.id, {
          limit: int(args.limit),
          cursor: str(args.cursor),
          search: str(filter.search),
          sourceApps: strs(filter.sourceApps),
          contributors: strs(filter.contributors),
        })
      },
      modelChildrenTree: (p: Project, args: Args, ctx: GraphqlContext) =>
        ctx.loaders.childrenTrees.load(treeKey(p.id, required(args.fullName, 'fullName'))),
    },

    ModelsTreeItem: {
      model: (item: ModelsTreeItem, _a: Args, ctx: GraphqlContext) =>
        ctx.loaders.modelsByName.load(treeKey(item.projectId, item.fullName)),
      children: (item: ModelsTreeItem, _a: Args, ctx: GraphqlContext) =>
        item.hasChildren ? ctx.loaders.childrenTrees.load(treeKey(item.projectId, item.fullName)) : [],
    },

    Model: {
      displayName: (m: Model) => displayName(m.name),
      previewUrl: () => null,
      author: async (m: Model, _a: Args, ctx: GraphqlContext) =>
        m.authorId === null ? null : limitedUser(await ctx.loaders.users.load(m.authorId)),
      versionCount: (m: Model, _a: Args, ctx: GraphqlContext) => ctx.loaders.versionCounts.load(m.id),
      childrenTree: (m: Model, _a: Args, ctx: GraphqlContext) =>
        ctx.loaders.childrenTrees.load(treeKey(m.projectId, m.name)),
      versions: async (m: Model, args: Args, ctx: GraphqlContext) => {
        const filter = obj(args.filter)
        const priority = strs(filter.priorityIds) ?? []
        const first =
          priority.length > 0 ? (await ctx.deps.versions.getMany(priority)).filter((v) => v.modelId === m.id) : []
        if (filter.priorityIdsOnly === true) return { totalCount: first.length, cursor: null, items: first }
        // As Speckle: the priority versions lead the first page, and no page repeats them.
        const page = await modelVersions(ctx, m, args)
        const rest = page.items.filter((v) => !priority.includes(v.id))
        return { ...page, items: str(args.cursor) ? rest : [...first, ...rest] }
      },
      version: async (m: Model, args: Args, ctx: GraphqlContext) => {
        const version = await projectVersion(ctx, m.projectId, required(args.id, 'id'))
        if (version.modelId !== m.id) throw new NotFound('version', version.id)
        return version
      },
    },

    Version: {
      referencedObject: (v: Version) => v.objectId,
      parents: (v: Version) => v.parents,
      previewUrl: (v: Version, _a: Args, ctx: GraphqlContext) => previewUrl(ctx, v),
      authorUser: async (v: Version, _a: Args, ctx: GraphqlContext) =>
        v.authorId === null ? null : limitedUser(await ctx.loaders.users.load(v.authorId)),
      model: async (v: Version, _a: Args, ctx: GraphqlContext) => {
        const model = await ctx.loaders.models.load(v.modelId)
        if (model === null) throw new NotFound('model', v.modelId)
        return model
      },
    },

    Stream: {
      role: projectFields.role,
      allowPublicComments: projectFields.allowPublicComments,
      object: projectFields.object,
      isPublic: (p: Project) => p.visibility !== 'private',
      isDiscoverable: (p: Project) => p.visibility === 'public',
      collaborators: async (p: Project, _a: Args, ctx: GraphqlContext) => {
        const team = await ctx.loaders.teams.load(p.id)
        return Promise.all(
          team.map(async (m) => {
            const user = await ctx.loaders.users.load(m.userId)
            return { id: m.userId, role: m.role, name: user?.name ?? '', company: user?.company, avatar: user?.avatar }
          }),
        )
      },
      activity: async (p: Project, args: Args, ctx: GraphqlContext) => {
        await authorizeLoaded(ctx, p, 'readProjectActivity')
        return activityPage((q) => ctx.deps.activity.forProject(p.id, q), args)
      },
      // Speckle shows a stream's pending collaborators to its owners only.
      pendingCollaborators: async (p: Project, _a: Args, ctx: GraphqlContext) => {
        await authorizeLoaded(ctx, p, 'manage')
        return (await ctx.loaders.projectInvites.load(p.id)).map((i) => pendingCollaborator(ctx, i))
      },
      size: () => null,
      favoritesCount: () => 0,
      // Truss has no comments.
      commentCount: () => 0,
      branches: (p: Project, args: Args, ctx: GraphqlContext) =>
        ctx.deps.models.list(p.id, { limit: int(args.limit), cursor: str(args.cursor) }),
      // Legacy lookups answer null rather than an error for an unknown branch or commit.
      branch: (p: Project, args: Args, ctx: GraphqlContext) =>
        ctx.loaders.modelsByName.load(treeKey(p.id, (str(args.name) ?? 'main').trim())),
      commits: async (p: Project, args: Args, ctx: GraphqlContext) =>
        legacyStreamCommits(
          ctx,
          await ctx.deps.versions.listForProject(p.id, { limit: int(args.limit), cursor: str(args.cursor) }),
        ),
      commit: async (p: Project, args: Args, ctx: GraphqlContext) => {
        const id = str(args.id)
        if (id !== null) return ctx.deps.versions.getById(p.id, id)
        return (await ctx.deps.versions.listForProject(p.id, { limit: 1 })).items[0] ?? null
      },
    },

    Object: {
      children: (o: GraphqlObject, args: Args, ctx: GraphqlContext) => objectChildren(ctx.deps.objects, o, args),
    },

    Branch: {
      author: async (m: Model, _a: Args, ctx: GraphqlContext) =>
        m.authorId === null ? null : limitedUser(await ctx.loaders.users.load(m.authorId)),
      commits: (m: Model, args: Args, ctx: GraphqlContext) => modelVersions(ctx, m, args),
    },

    Commit: {
      referencedObject: (v: Version) => v.objectId,
      branchName: async (v: Version, _a: Args, ctx: GraphqlContext) => (await ctx.loaders.models.load(v.modelId))?.name,
      authorName: async (v: Version, _a: Args, ctx: GraphqlContext) =>
        v.authorId === null ? null : (await ctx.loaders.users.load(v.authorId))?.name,
      authorAvatar: async (v: Version, _a: Args, ctx: GraphqlContext) =>
        v.authorId === null ? null : (await ctx.loaders.users.load(v.authorId))?.avatar,
      streamId: (v: Version) => v.projectId,
      streamName: async (v: Version, _a: Args, ctx: GraphqlContext) =>
        (await ctx.loaders.projects.load(v.projectId))?.name,
    },

    Mutation: {
      projectMutations: () => ({}),
      modelMutations: () => ({}),
      versionMutations: () => ({}),

      apiTokenCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const principal = requireServer(ctx.principal, 'createToken')
        const input = obj(args.token)
        const scopes = strs(input.scopes) ?? []
        const denied = scopes.filter((s) => s === 'tokens:write' || !principal.scopes.has(s))
        if (scopes.length === 0 || denied.length > 0) {
          throw new BadUserInput(
            scopes.length === 0
              ? 'A token needs at least one scope'
              : `You cannot create a token with these scopes: ${denied.join(', ')}`,
            { graphqlCode: 'TOKEN_CREATE_ERROR' },
          )
        }
        return ctx.deps.tokens.create({
          userId: principal.userId,
          name: required(input.name, 'name'),
          scopes,
          expiresAt: lifespanToExpiry(input.lifespan),
        })
      },
      apiTokenRevoke: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const principal = requireServer(ctx.principal, 'createToken')
        // The token itself or its id: only the first 10 characters (the id) count, a `Bearer ` prefix is dropped.
        const given = required(args.token, 'token')
          .trim()
          .replace(/^Bearer\s+/i, '')
        if (!TOKEN_OR_ID.test(given)) throw new BadUserInput('token must be an API token or its 10-character id')
        const tokenId = given.slice(0, ID_LENGTH)
        // Someone else's token, or one already revoked or expired, is "not found": nothing is said about it.
        if ((await ctx.deps.tokens.ownerOf(tokenId)) !== principal.userId) throw new NotFound('token', tokenId)
        return ctx.deps.tokens.revoke(tokenId)
      },
      appTokenCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const principal = requireServer(ctx.principal, 'createToken')
        const input = obj(args.token)
        // Only an app's token can make app tokens, for its own app, with scopes it holds itself.
        const appId = await ctx.deps.tokens.appOf(principal.tokenId)
        if (appId === null) {
          throw new Forbidden('Only an app can create app tokens: authenticate with a token issued to an app')
        }
        if (Array.isArray(input.limitResources) && input.limitResources.length > 0) {
          throw new BadUserInput('Tokens limited to resources (limitResources) are not supported by this server', {
            graphqlCode: 'TOKEN_CREATE_ERROR',
          })
        }
        const scopes = strs(input.scopes) ?? []
        const denied = scopes.filter((s) => !principal.scopes.has(s))
        if (scopes.length === 0 || denied.length > 0) {
          throw new BadUserInput(
            scopes.length === 0
              ? 'A token needs at least one scope'
              : `You cannot create a token with these scopes: ${denied.join(', ')}`,
            { graphqlCode: 'TOKEN_CREATE_ERROR' },
          )
        }
        return ctx.deps.tokens.createAppToken({
          userId: principal.userId,
          appId,
          name: required(input.name, 'name'),
          scopes,
          expiresAt: lifespanToExpiry(input.lifespan),
        })
      },

      activeUserMutations: () => ({}),
      serverInfoUpdate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        requireServer(ctx.principal, 'manageServer')
        const input = obj(args.info)
        // Text fields: absent leaves them, null or '' clears them; null flags leave them.
        const text = (key: string) => (input[key] === undefined ? undefined : str(input[key]))
        const flag = (key: string) => (typeof input[key] === 'boolean' ? input[key] : undefined)
        await ctx.deps.settings.update({
          name: required(str(input.name)?.trim(), 'name'),
          company: text('company'),
          description: text('description'),
          adminContact: text('adminContact'),
          termsOfService: text('termsOfService'),
          inviteOnly: flag('inviteOnly'),
          guestModeEnabled: flag('guestModeEnabled'),
        })
        return true
      },
      // Speckle's admin mutation: the new role applies to the user's tokens at once, on every node.
      userRoleChange: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        requireServer(ctx.principal, 'manageServer')
        const input = obj(args.userRoleInput)
        const role = required(input.role, 'role')
        if (role === 'server:guest' && !(await ctx.deps.settings.get()).guestModeEnabled) {
          throw new BadUserInput('Guest role is not enabled')
        }
        const userId = required(input.id, 'id')
        await ctx.deps.users.setServerRole(userId, role)
        ctx.loaders.users.clear(userId)
        return true
      },

      serverInviteCreate: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        inviteToServer(ctx, inviteInputs(args.input)),
      serverInviteBatchCreate: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        inviteToServer(ctx, inviteInputs(args.input ?? [])),
      streamInviteCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        await inviteToProject(ctx, required(input.streamId, 'streamId'), inviteInputs(input))
        return true
      },
      streamInviteUse: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        useInvite(ctx, required(args.streamId, 'streamId'), required(args.token, 'token'), args.accept),
      streamInviteCancel: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        await cancelInvite(ctx, required(args.streamId, 'streamId'), required(args.inviteId, 'inviteId'))
        return true
      },

      streamCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const principal = requireServer(ctx.principal, 'createProject')
        const input = obj(args.stream)
        const project = await ctx.deps.projects.create({
          ownerId: principal.userId,
          name: str(input.name) ?? 'Unnamed Stream',
          description: str(input.description),
          visibility: legacyVisibility(input.isPublic ?? true, input.isDiscoverable),
        })
        for (const userId of strs(input.withContributors) ?? []) {
          await ctx.deps.projects.setRole({
            projectId: project.id,
            userId,
            role: 'stream:contributor',
            actorId: principal.userId,
          })
        }
        return project.id
      },
      streamUpdate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.stream)
        const id = required(input.id, 'id')
        await authorize(ctx, id, 'manage')
        await ctx.deps.projects.update({
          id,
          actorId: actor(ctx).userId,
          name: str(input.name),
          description: str(input.description),
          visibility: legacyVisibility(input.isPublic, input.isDiscoverable),
        })
        return true
      },
      streamDelete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const id = required(args.id, 'id')
        await authorize(ctx, id, 'manage')
        return ctx.deps.projects.delete(id, actor(ctx).userId)
      },
      // An admin tool in Speckle: deletes any streams, whoever owns them.
      streamsDelete: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        deleteProjects(ctx, idList(args.ids, 'ids'), true),
      streamUpdatePermission: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.permissionParams)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'manage')
        const role = required(input.role, 'role')
        if (!isProjectRole(role)) throw new BadUserInput(`Unknown role ${role}`)
        await ctx.deps.projects.setRole({
          projectId,
          userId: required(input.userId, 'userId'),
          role,
          actorId: actor(ctx).userId,
        })
        return true
      },
      streamRevokePermission: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.permissionParams)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'manage')
        return ctx.deps.projects.removeRole(projectId, required(input.userId, 'userId'), actor(ctx).userId)
      },

      branchCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.branch)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        const model = await ctx.deps.models.create({
          projectId,
          name: required(input.name, 'name'),
          description: str(input.description),
          actorId: actor(ctx).userId,
        })
        return model.id
      },
      branchUpdate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.branch)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.models.update({
          projectId,
          id: required(input.id, 'id'),
          name: str(input.name),
          description: str(input.description),
          actorId: actor(ctx).userId,
        })
        return true
      },
      branchDelete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.branch)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.models.delete({ projectId, id: required(input.id, 'id'), actorId: actor(ctx).userId })
        return true
      },

      commitCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.commit)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        const branchName = required(input.branchName, 'branchName')
        const model =
          (await ctx.deps.models.getByName(projectId, branchName)) ??
          (await ctx.deps.models.getById(projectId, branchName))
        if (model === null) {
          throw new BadUserInput(`Failed to find branch with name or id ${branchName}.`, {
            graphqlCode: 'COMMIT_CREATE_ERROR',
          })
        }
        const version = await ctx.deps.versions.create({
          projectId,
          modelId: model.id,
          objectId: required(input.objectId, 'objectId'),
          message: str(input.message),
          sourceApplication: str(input.sourceApplication),
          totalChildrenCount: int(input.totalChildrenCount),
          parents: strs(input.parents),
          actorId: actor(ctx).userId,
        })
        return version.id
      },
      commitUpdate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.commit)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        const id = required(input.id, 'id')
        const newBranchName = str(input.newBranchName)
        if (newBranchName) {
          await ctx.deps.versions.moveToModel({
            projectId,
            versionIds: [id],
            targetModelName: newBranchName,
            actorId: actor(ctx).userId,
          })
        }
        if (input.message !== undefined) {
          await ctx.deps.versions.update({
            projectId,
            versionId: id,
            message: str(input.message),
            actorId: actor(ctx).userId,
          })
        }
        return true
      },
      commitReceive: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'receive')
        await ctx.deps.versions.markReceived({
          projectId,
          versionId: required(input.commitId, 'commitId'),
          sourceApplication: required(input.sourceApplication, 'sourceApplication'),
          message: str(input.message),
          actorId: actor(ctx).userId,
        })
        return true
      },
      commitDelete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.commit)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.versions.delete({
          projectId,
          versionIds: [required(input.id, 'id')],
          actorId: actor(ctx).userId,
        })
        return true
      },
      commitsMove: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.versions.moveToModel({
          projectId,
          versionIds: idList(input.commitIds, 'commitIds'),
          targetModelName: required(input.targetBranch, 'targetBranch'),
          actorId: actor(ctx).userId,
        })
        return true
      },
      commitsDelete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.versions.delete({
          projectId,
          versionIds: idList(input.commitIds, 'commitIds'),
          actorId: actor(ctx).userId,
        })
        return true
      },
      objectCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.objectInput)
        const projectId = required(input.streamId, 'streamId')
        await authorize(ctx, projectId, 'write')
        return createObjects(ctx.deps.objects, projectId, input.objects)
      },
    },

    ActiveUserMutations: {
      update: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const principal = requireServer(ctx.principal, 'updateProfile')
        const input = obj(args.user)
        const field = (key: string) => (input[key] === undefined ? undefined : str(input[key]))
        const user = await ctx.deps.users.update(principal.userId, {
          name: field('name'),
          company: field('company'),
          bio: field('bio'),
          avatar: field('avatar'),
        })
        ctx.loaders.users.clear(user.id).prime(user.id, user)
        return user
      },
    },

    ProjectMutations: {
      create: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const principal = requireServer(ctx.principal, 'createProject')
        const input = obj(args.input)
        const visibility = str(input.visibility)
        return ctx.deps.projects.create({
          ownerId: principal.userId,
          name: str(input.name) ?? 'Unnamed Project',
          description: str(input.description),
          visibility: visibility === null ? 'public' : VISIBILITY_IN[visibility],
          withDefaultModel: false,
        })
      },
      update: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.update)
        const id = required(input.id, 'id')
        await authorize(ctx, id, 'manage')
        const visibility = str(input.visibility)
        const project = await ctx.deps.projects.update({
          id,
          actorId: actor(ctx).userId,
          name: str(input.name),
          description: str(input.description),
          visibility: visibility === null ? null : VISIBILITY_IN[visibility],
        })
        return project
      },
      delete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const id = required(args.id, 'id')
        await authorize(ctx, id, 'manage')
        return ctx.deps.projects.delete(id, actor(ctx).userId)
      },
      updateRole: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        const userId = required(input.userId, 'userId')
        await authorize(ctx, projectId, 'manage')
        const role = str(input.role)
        if (role === null) {
          await ctx.deps.projects.removeRole(projectId, userId, actor(ctx).userId)
        } else {
          if (!isProjectRole(role)) throw new BadUserInput(`Unknown role ${role}`)
          await ctx.deps.projects.setRole({ projectId, userId, role: role as ProjectRole, actorId: actor(ctx).userId })
        }
        ctx.loaders.teams.clear(projectId)
        ctx.loaders.roles.clear(projectId)
        return loadProject(ctx, projectId)
      },
      batchDelete: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        deleteProjects(ctx, idList(args.ids, 'ids'), false),
      invites: () => ({}),
      leave: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const id = required(args.id, 'id')
        await authorize(ctx, id, 'leave')
        const userId = actor(ctx).userId
        return ctx.deps.projects.removeRole(id, userId, userId)
      },
    },

    ProjectInviteMutations: {
      create: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        inviteToProject(ctx, required(args.projectId, 'projectId'), inviteInputs(args.input)),
      batchCreate: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        inviteToProject(ctx, required(args.projectId, 'projectId'), inviteInputs(args.input ?? [])),
      use: (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        return useInvite(ctx, required(input.projectId, 'projectId'), required(input.token, 'token'), input.accept)
      },
      cancel: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const projectId = required(args.projectId, 'projectId')
        await cancelInvite(ctx, projectId, required(args.inviteId, 'inviteId'))
        return loadProject(ctx, projectId)
      },
    },

    ModelMutations: {
      create: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        return ctx.deps.models.create({
          projectId,
          name: required(input.name, 'name'),
          description: str(input.description),
          actorId: actor(ctx).userId,
        })
      },
      update: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        return ctx.deps.models.update({
          projectId,
          id: required(input.id, 'id'),
          name: str(input.name),
          description: str(input.description),
          actorId: actor(ctx).userId,
        })
      },
      delete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.models.delete({ projectId, id: required(input.id, 'id'), actorId: actor(ctx).userId })
        return true
      },
    },

    VersionMutations: {
      create: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        return ctx.deps.versions.create({
          projectId,
          modelId: required(input.modelId, 'modelId'),
          objectId: required(input.objectId, 'objectId'),
          message: str(input.message),
          sourceApplication: str(input.sourceApplication),
          totalChildrenCount: int(input.totalChildrenCount),
          parents: strs(input.parents),
          actorId: actor(ctx).userId,
        })
      },
      update: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        return ctx.deps.versions.update({
          projectId,
          versionId: required(input.versionId, 'versionId'),
          message: str(input.message),
          actorId: actor(ctx).userId,
        })
      },
      delete: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        await ctx.deps.versions.delete({
          projectId,
          versionIds: strs(input.versionIds) ?? [],
          actorId: actor(ctx).userId,
        })
        return true
      },
      moveToModel: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'write')
        return ctx.deps.versions.moveToModel({
          projectId,
          versionIds: strs(input.versionIds) ?? [],
          targetModelName: required(input.targetModelName, 'targetModelName'),
          actorId: actor(ctx).userId,
        })
      },
      markReceived: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        const projectId = required(input.projectId, 'projectId')
        await authorize(ctx, projectId, 'receive')
        await ctx.deps.versions.markReceived({
          projectId,
          versionId: required(input.versionId, 'versionId'),
          sourceApplication: required(input.sourceApplication, 'sourceApplication'),
          message: str(input.message),
          actorId: actor(ctx).userId,
        })
        return true
      },
    },

    Subscription: subscriptionResolvers(),
  } as ResolverMap
}
