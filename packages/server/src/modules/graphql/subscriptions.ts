/**
 * Subscription resolvers. The transport (modules/realtime) puts `subscribe(topic)` in the context: an async
 * iterable of the bus messages on a topic. These resolvers authorize once, then filter those hints and
 * re-read what they point at, shaping Speckle's payloads (WIRE-GRAPHQL.md "Subscriptions").
 */
import { Unauthenticated } from '../../errors.js'
import { isTrussEvent, projectTopic, userTopic, type TrussEvent } from '../../events.js'
import type { Bus } from '../../adapters/bus/types.js'
import type { GraphqlContext, Subscribe } from './context.js'

type Args = Record<string, unknown>

/** Map each event of `topic` through `shape`; `undefined` drops it. Ends the source when the consumer stops. */
async function* shaped<T>(
  ctx: GraphqlContext,
  topic: string,
  shape: (event: TrussEvent) => Promise<T | undefined> | T | undefined,
): AsyncGenerator<T> {
  if (!ctx.subscribe) throw new Error('This transport does not serve subscriptions')
  for await (const message of ctx.subscribe(topic)) {
    if (!isTrussEvent(message)) continue
    const value = await shape(message)
    if (value !== undefined) yield value
  }
}

/** Authorize reading the project, then stream its shaped events. */
function projectSubscription<T>(
  field: string,
  idArg: string,
  shape: (event: TrussEvent, args: Args, ctx: GraphqlContext) => Promise<T | undefined> | T | undefined,
) {
  return {
    subscribe: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
      const projectId = String(args[idArg] ?? '')
      if (ctx.principal === null) throw new Unauthenticated()
      await ctx.deps.policy.requireProject(ctx.principal, projectId, 'read')
      return shaped(ctx, projectTopic(projectId), (event) => shape(event, args, ctx))
    },
    resolve: (payload: Record<string, unknown>) => payload[field],
  }
}

const VERSION_TYPES = { VersionCreated: 'CREATED', VersionUpdated: 'UPDATED', VersionDeleted: 'DELETED' } as const
const MODEL_TYPES = { ModelCreated: 'CREATED', ModelUpdated: 'UPDATED', ModelDeleted: 'DELETED' } as const

export function subscriptionResolvers() {
  return {
    projectVersionsUpdated: projectSubscription('projectVersionsUpdated', 'id', async (event, _args, ctx) => {
      if (!(event.type in VERSION_TYPES)) return undefined
      const e = event as Extract<TrussEvent, { type: keyof typeof VERSION_TYPES }>
      const version = e.type === 'VersionDeleted' ? null : await ctx.deps.versions.getById(e.projectId, e.versionId)
      return {
        projectVersionsUpdated: { id: e.versionId, type: VERSION_TYPES[e.type], modelId: e.modelId, version },
      }
    }),
    projectModelsUpdated: projectSubscription('projectModelsUpdated', 'id', async (event, args, ctx) => {
      if (!(event.type in MODEL_TYPES)) return undefined
      const e = event as Extract<TrussEvent, { type: keyof typeof MODEL_TYPES }>
      const only = Array.isArray(args.modelIds) ? (args.modelIds as string[]) : null
      if (only !== null && only.length > 0 && !only.includes(e.modelId)) return undefined
      const model = e.type === 'ModelDeleted' ? null : await ctx.deps.models.getById(e.projectId, e.modelId)
      return { projectModelsUpdated: { id: e.modelId, type: MODEL_TYPES[e.type], model } }
    }),
    projectUpdated: projectSubscription('projectUpdated', 'id', async (event, _args, ctx) => {
      if (event.type === 'ProjectUpdated') {
        return {
          projectUpdated: {
            id: event.projectId,
            type: 'UPDATED',
            project: await ctx.deps.projects.getById(event.projectId),
          },
        }
      }
      if (event.type === 'ProjectDeleted')
        return { projectUpdated: { id: event.projectId, type: 'DELETED', project: null } }
      return undefined
    }),
    userProjectsUpdated: {
      subscribe: async (_p: unknown, _args: Args, ctx: GraphqlContext) => {
        if (ctx.principal === null) throw new Unauthenticated()
        const userId = ctx.principal.userId
        return shaped(ctx, userTopic(userId), async (event) => {
          const added =
            (event.type === 'ProjectCreated' && event.userId === userId) ||
            (event.type === 'ProjectRoleChanged' && event.userId === userId && event.role !== null)
          const removed =
            (event.type === 'ProjectRoleChanged' && event.userId === userId && event.role === null) ||
            event.type === 'ProjectDeleted'
          if (added) {
            const project = await ctx.deps.projects.getById(event.projectId)
            return { userProjectsUpdated: { id: event.projectId, type: 'ADDED', project } }
          }
          if (removed) return { userProjectsUpdated: { id: event.projectId, type: 'REMOVED', project: null } }
          return undefined
        })
      },
      resolve: (payload: Record<string, unknown>) => payload.userProjectsUpdated,
    },
    // Legacy subscriptions answer a bare JSONObject.
    commitCreated: projectSubscription('commitCreated', 'streamId', async (event, _args, ctx) => {
      if (event.type !== 'VersionCreated') return undefined
      const version = await ctx.deps.versions.getById(event.projectId, event.versionId)
      const model = await ctx.deps.models.getById(event.projectId, event.modelId)
      if (version === null) return undefined
      return {
        commitCreated: {
          id: version.id,
          streamId: version.projectId,
          branchId: version.modelId,
          branchName: model?.name ?? null,
          objectId: version.objectId,
          authorId: version.authorId,
          message: version.message,
          sourceApplication: version.sourceApplication,
          totalChildrenCount: version.totalChildrenCount,
          parents: version.parents,
        },
      }
    }),
    commitUpdated: projectSubscription('commitUpdated', 'streamId', async (event, args, ctx) => {
      if (event.type !== 'VersionUpdated') return undefined
      if (typeof args.commitId === 'string' && args.commitId !== event.versionId) return undefined
      const version = await ctx.deps.versions.getById(event.projectId, event.versionId)
      const model = event.previousModelId ? await ctx.deps.models.getById(event.projectId, event.modelId) : null
      return {
        commitUpdated: {
          id: event.versionId,
          streamId: event.projectId,
          message: version?.message ?? null,
          ...(model ? { newBranchName: model.name } : {}),
        },
      }
    }),
    commitDeleted: projectSubscription('commitDeleted', 'streamId', (event) =>
      event.type === 'VersionDeleted'
        ? { commitDeleted: { id: event.versionId, streamId: event.projectId } }
        : undefined,
    ),
    branchCreated: projectSubscription('branchCreated', 'streamId', async (event, _args, ctx) => {
      if (event.type !== 'ModelCreated') return undefined
      const model = await ctx.deps.models.getById(event.projectId, event.modelId)
      if (model === null) return undefined
      return {
        branchCreated: {
          id: model.id,
          streamId: model.projectId,
          authorId: model.authorId,
          name: model.name,
          description: model.description,
          createdAt: model.createdAt.toISOString(),
          updatedAt: model.updatedAt.toISOString(),
        },
      }
    }),
    branchUpdated: projectSubscription('branchUpdated', 'streamId', async (event, args, ctx) => {
      if (event.type !== 'ModelUpdated') return undefined
      if (typeof args.branchId === 'string' && args.branchId !== event.modelId) return undefined
      const model = await ctx.deps.models.getById(event.projectId, event.modelId)
      return {
        branchUpdated: {
          streamId: event.projectId,
          id: event.modelId,
          name: model?.name,
          description: model?.description,
        },
      }
    }),
    branchDeleted: projectSubscription('branchDeleted', 'streamId', (event) =>
      event.type === 'ModelDeleted' ? { branchDeleted: { streamId: event.projectId, id: event.modelId } } : undefined,
    ),
    streamUpdated: projectSubscription('streamUpdated', 'streamId', async (event, _args, ctx) => {
      if (event.type !== 'ProjectUpdated') return undefined
      const project = await ctx.deps.projects.getById(event.projectId)
      if (project === null) return undefined
      return { streamUpdated: { id: project.id, name: project.name, description: project.description } }
    }),
    streamDeleted: projectSubscription('streamDeleted', 'streamId', (event) =>
      event.type === 'ProjectDeleted' ? { streamDeleted: { streamId: event.projectId } } : undefined,
    ),
    userStreamAdded: {
      subscribe: async (_p: unknown, _args: Args, ctx: GraphqlContext) => {
        if (ctx.principal === null) throw new Unauthenticated()
        const userId = ctx.principal.userId
        return shaped(ctx, userTopic(userId), async (event) => {
          if (event.type === 'ProjectCreated' && event.userId === userId) {
            const p = await ctx.deps.projects.getById(event.projectId)
            return (
              p && { userStreamAdded: { id: p.id, name: p.name, description: p.description, visibility: p.visibility } }
            )
          }
          if (event.type === 'ProjectRoleChanged' && event.userId === userId && event.role !== null) {
            return { userStreamAdded: { id: event.projectId, sharedBy: event.actorId } }
          }
          return undefined
        })
      },
      resolve: (payload: Record<string, unknown>) => payload.userStreamAdded,
    },
    userStreamRemoved: {
      subscribe: async (_p: unknown, _args: Args, ctx: GraphqlContext) => {
        if (ctx.principal === null) throw new Unauthenticated()
        const userId = ctx.principal.userId
        return shaped(ctx, userTopic(userId), (event) => {
          if (event.type === 'ProjectRoleChanged' && event.userId === userId && event.role === null) {
            return { userStreamRemoved: { id: event.projectId, revokedBy: event.actorId } }
          }
          if (event.type === 'ProjectDeleted') return { userStreamRemoved: { id: event.projectId } }
          return undefined
        })
      },
      resolve: (payload: Record<string, unknown>) => payload.userStreamRemoved,
    },
  }
}

/**
 * A `subscribe(topic)` over a bus: each call subscribes, queues messages until the consumer asks, and
 * unsubscribes when the consumer stops (`return()`). For tests and for transports that need nothing more.
 */
export function busSubscribe(bus: Pick<Bus, 'subscribe'>): Subscribe {
  return (topic) => ({
    [Symbol.asyncIterator]() {
      const queue: unknown[] = []
      let wake: (() => void) | null = null
      let done = false
      const ready = bus.subscribe(topic, (message) => {
        queue.push(message)
        wake?.()
      })
      return {
        async next(): Promise<IteratorResult<unknown>> {
          await ready
          while (queue.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve))
          wake = null
          if (done) return { value: undefined, done: true }
          return { value: queue.shift(), done: false }
        },
        async return(): Promise<IteratorResult<unknown>> {
          done = true
          wake?.()
          await (
            await ready
          )()
          return { value: undefined, done: true }
        },
      }
    },
  })
}
