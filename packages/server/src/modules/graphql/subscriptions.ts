/**
 * Subscription resolvers. The transport (modules/realtime) puts `subscribe(topic)` in the context: an async
 * iterable of the bus messages on a topic. These resolvers authorize at subscribe time, then again for every
 * event (a revoked user, or a project turned private, stops receiving at once), and re-read what the events
 * point at, shaping Speckle's payloads (WIRE-GRAPHQL.md "Subscriptions").
 *
 * Per event, nothing is read per subscriber: the access check answers from the node's access cache
 * (policy/access-cache.ts, kept true by the project's own topic), and what an event points at (the version,
 * model, project) is read once per event per node, since the hub hands every subscriber of a node the same
 * event object.
 */
import { Unauthenticated } from '../../errors.js'
import { isTrussEvent, projectTopic, userTopic, withSeqOf, type TrussEvent } from '../../events.js'
import type { Bus } from '../../adapters/bus/types.js'
import { createProjectAccessCache, type ProjectAccessCache } from '../policy/access-cache.js'
import { createLoaders, type GraphqlContext, type GraphqlDeps, type Subscribe } from './context.js'
import type { ResolverMap } from './resolvers.js'
import type { GraphqlSlice } from './schema.js'

const typeDefs = /* GraphQL */ `
  extend type Subscription {
    projectVersionsUpdated(id: String!): ProjectVersionsUpdatedMessage!
    projectModelsUpdated(id: String!, modelIds: [String!]): ProjectModelsUpdatedMessage!
    projectUpdated(id: String!): ProjectUpdatedMessage!
    userProjectsUpdated: UserProjectsUpdatedMessage!
    commitCreated(streamId: String!): JSONObject
    commitUpdated(streamId: String!, commitId: String): JSONObject
    commitDeleted(streamId: String!): JSONObject
    branchCreated(streamId: String!): JSONObject
    branchUpdated(streamId: String!, branchId: String): JSONObject
    branchDeleted(streamId: String!): JSONObject
    streamUpdated(streamId: String): JSONObject
    streamDeleted(streamId: String): JSONObject
    userStreamAdded: JSONObject
    userStreamRemoved: JSONObject
  }
  enum ProjectVersionsUpdatedMessageType {
    CREATED
    UPDATED
    DELETED
  }
  type ProjectVersionsUpdatedMessage {
    id: String!
    type: ProjectVersionsUpdatedMessageType!
    modelId: String!
    version: Version
  }
  enum ProjectModelsUpdatedMessageType {
    CREATED
    UPDATED
    DELETED
  }
  type ProjectModelsUpdatedMessage {
    id: String!
    type: ProjectModelsUpdatedMessageType!
    model: Model
  }
  enum ProjectUpdatedMessageType {
    UPDATED
    DELETED
  }
  type ProjectUpdatedMessage {
    id: String!
    type: ProjectUpdatedMessageType!
    project: Project
  }
  enum UserProjectsUpdatedMessageType {
    ADDED
    REMOVED
  }
  type UserProjectsUpdatedMessage {
    id: String!
    type: UserProjectsUpdatedMessageType!
    project: Project
  }
`

type Args = Record<string, unknown>

/** What a node's event sources offer beyond iteration (the hub's topic subscriptions, `busSubscribe`'s). */
interface ListenableSource extends AsyncIterator<unknown> {
  readonly ready: Promise<void>
  listen(listener: (event: unknown) => void, ended?: (error: Error | null) => void): void
}

function isListenable(source: AsyncIterator<unknown>): source is ListenableSource {
  const candidate = source as Partial<ListenableSource>
  return typeof candidate.listen === 'function' && candidate.ready instanceof Promise
}

/** Per node (one per `subscribe`, i.e. per hub): the access cache and the once-per-event reads. */
export interface NodeFeed {
  access: ProjectAccessCache
  /** `load()` once per event object and `key` on this node; later callers share the first read. */
  once<T>(event: object, key: string, load: () => Promise<T>): Promise<T>
}

// Keyed by the transport's `subscribe` function: it stands for the node's change feed, which the cache
// must listen to; the context carries no other handle on it.
const nodeFeeds = new WeakMap<Subscribe, NodeFeed>()

function nodeFeed(subscribe: Subscribe, deps: GraphqlDeps): NodeFeed {
  const existing = nodeFeeds.get(subscribe)
  if (existing) return existing
  const reads = new WeakMap<object, Map<string, Promise<unknown>>>()
  const feed: NodeFeed = {
    access: createProjectAccessCache({
      loadAccess: (projectId, principal) => deps.projects.getAccess(projectId, principal),
      watch(projectId, onEvent, onEnded) {
        const source = subscribe(projectTopic(projectId))[Symbol.asyncIterator]()
        if (!isListenable(source)) {
          void source.return?.()
          return null
        }
        source.listen(onEvent, () => onEnded())
        return { ready: source.ready, stop: () => void source.return?.() }
      },
    }),
    once<T>(event: object, key: string, load: () => Promise<T>): Promise<T> {
      let byKey = reads.get(event)
      if (byKey === undefined) reads.set(event, (byKey = new Map()))
      let read = byKey.get(key) as Promise<T> | undefined
      if (read === undefined) byKey.set(key, (read = load()))
      return read
    },
  }
  nodeFeeds.set(subscribe, feed)
  return feed
}

function requireSubscribe(ctx: GraphqlContext): Subscribe {
  if (!ctx.subscribe) throw new Error('This transport does not serve subscriptions')
  return ctx.subscribe
}

/**
 * Map each event of `source` through `shape` (`undefined` drops it). A plain iterator, not a generator, so
 * that `return()` before the first `next()` still ends the source and runs `onEnd` (a shared subscription's
 * later members are ended that way).
 */
function shaped<T>(
  ctx: GraphqlContext,
  source: AsyncIterator<unknown>,
  shape: (event: TrussEvent) => Promise<T | undefined> | T | undefined,
  onEnd: () => void = () => undefined,
): AsyncIterableIterator<T> {
  let ended = false
  const end = (): void => {
    if (ended) return
    ended = true
    onEnd()
  }
  const iterator: AsyncIterableIterator<T> = {
    async next(): Promise<IteratorResult<T>> {
      try {
        while (true) {
          const next = await source.next()
          if (next.done) {
            end()
            return { value: undefined, done: true }
          }
          if (!isTrussEvent(next.value)) continue
          // Loaders cache for one event: a connection's context lives as long as the connection.
          ctx.loaders = createLoaders(ctx.deps, ctx.principal)
          const value = await shape(next.value)
          // The event's seq goes on with its payload, for clients that resume (realtime/connection.ts).
          if (value !== undefined) return { value: withSeqOf(value, next.value), done: false }
        }
      } catch (error) {
        end()
        throw error
      }
    },
    async return(): Promise<IteratorResult<T>> {
      end()
      await source.return?.()
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator]() {
      return iterator
    },
  }
  return iterator
}

/** A user's own topic: no per-event check (it only carries that user's project list changes). */
function userSubscription<T>(
  ctx: GraphqlContext,
  shape: (event: TrussEvent, userId: string) => Promise<T | undefined> | T | undefined,
): AsyncIterableIterator<T> {
  if (ctx.principal === null) throw new Unauthenticated()
  const userId = ctx.principal.userId
  const source = requireSubscribe(ctx)(userTopic(userId), { since: ctx.resumeFrom })[Symbol.asyncIterator]()
  return shaped(ctx, source, (event) => shape(event, userId))
}

export type ProjectShape<T> = (
  event: TrussEvent,
  args: Args,
  ctx: GraphqlContext,
  node: NodeFeed,
) => Promise<T | undefined> | T | undefined

/**
 * Authorize reading the project, then stream its shaped events to a subscriber who may still read it.
 * The project stays held in the node's access cache while the subscription lasts; the subscriber's own
 * topic subscription opens before the access read, so no event between the check and the stream is lost.
 */
export function projectSubscription<T>(
  field: string,
  idArg: string,
  shape: ProjectShape<T>,
  topicOf: (projectId: string) => string = projectTopic,
) {
  return {
    subscribe: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
      const projectId = String(args[idArg] ?? '')
      const principal = ctx.principal
      if (principal === null) throw new Unauthenticated()
      const subscribe = requireSubscribe(ctx)
      const node = nodeFeed(subscribe, ctx.deps)
      const hold = node.access.hold(projectId)
      let source: AsyncIterator<unknown> | undefined
      try {
        await hold.ready
        source = subscribe(topicOf(projectId), { since: ctx.resumeFrom })[Symbol.asyncIterator]()
        const epoch = node.access.epoch(projectId)
        const access = await ctx.deps.policy.requireProject(principal, projectId, 'read')
        node.access.remember(projectId, principal, access, epoch)
      } catch (error) {
        hold.release()
        void source?.return?.()
        throw error
      }
      return shaped(
        ctx,
        source,
        async (event) => {
          // A deletion is told to whoever listened; the project, and so every role, is gone.
          if (event.type !== 'ProjectDeleted') {
            const decision = node.access.decide(principal, projectId, 'read')
            if ((decision instanceof Promise ? await decision : decision) !== 'allow') return undefined
          }
          return shape(event, args, ctx, node)
        },
        hold.release,
      )
    },
    resolve: (payload: Record<string, unknown>) => payload[field],
  }
}

/** The event's version, model or project, read once per event per node. */
const versionOf = (node: NodeFeed, ctx: GraphqlContext, event: TrussEvent & { versionId: string }) =>
  node.once(event, 'version', () => ctx.deps.versions.getById(event.projectId, event.versionId))
const modelOf = (node: NodeFeed, ctx: GraphqlContext, event: TrussEvent & { modelId: string }) =>
  node.once(event, 'model', () => ctx.deps.models.getById(event.projectId, event.modelId))
const projectOf = (node: NodeFeed, ctx: GraphqlContext, event: TrussEvent) =>
  node.once(event, 'project', () => ctx.deps.projects.getById(event.projectId))

const VERSION_TYPES = { VersionCreated: 'CREATED', VersionUpdated: 'UPDATED', VersionDeleted: 'DELETED' } as const
const MODEL_TYPES = { ModelCreated: 'CREATED', ModelUpdated: 'UPDATED', ModelDeleted: 'DELETED' } as const

function subscriptionResolvers() {
  return {
    projectVersionsUpdated: projectSubscription('projectVersionsUpdated', 'id', async (event, _args, ctx, node) => {
      if (!(event.type in VERSION_TYPES)) return undefined
      const e = event as Extract<TrussEvent, { type: keyof typeof VERSION_TYPES }>
      const version = e.type === 'VersionDeleted' ? null : await versionOf(node, ctx, e)
      return {
        projectVersionsUpdated: { id: e.versionId, type: VERSION_TYPES[e.type], modelId: e.modelId, version },
      }
    }),
    projectModelsUpdated: projectSubscription('projectModelsUpdated', 'id', async (event, args, ctx, node) => {
      if (!(event.type in MODEL_TYPES)) return undefined
      const e = event as Extract<TrussEvent, { type: keyof typeof MODEL_TYPES }>
      const only = Array.isArray(args.modelIds) ? (args.modelIds as string[]) : null
      if (only !== null && only.length > 0 && !only.includes(e.modelId)) return undefined
      const model = e.type === 'ModelDeleted' ? null : await modelOf(node, ctx, e)
      return { projectModelsUpdated: { id: e.modelId, type: MODEL_TYPES[e.type], model } }
    }),
    projectUpdated: projectSubscription('projectUpdated', 'id', async (event, _args, ctx, node) => {
      if (event.type === 'ProjectUpdated') {
        return {
          projectUpdated: {
            id: event.projectId,
            type: 'UPDATED',
            project: await projectOf(node, ctx, event),
          },
        }
      }
      if (event.type === 'ProjectDeleted')
        return { projectUpdated: { id: event.projectId, type: 'DELETED', project: null } }
      return undefined
    }),
    userProjectsUpdated: {
      subscribe: (_p: unknown, _args: Args, ctx: GraphqlContext) =>
        userSubscription(ctx, async (event, userId) => {
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
        }),
      resolve: (payload: Record<string, unknown>) => payload.userProjectsUpdated,
    },
    // Legacy subscriptions answer a bare JSONObject.
    commitCreated: projectSubscription('commitCreated', 'streamId', async (event, _args, ctx, node) => {
      if (event.type !== 'VersionCreated') return undefined
      const version = await versionOf(node, ctx, event)
      const model = await modelOf(node, ctx, event)
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
    commitUpdated: projectSubscription('commitUpdated', 'streamId', async (event, args, ctx, node) => {
      if (event.type !== 'VersionUpdated') return undefined
      if (typeof args.commitId === 'string' && args.commitId !== event.versionId) return undefined
      const version = await versionOf(node, ctx, event)
      const model = event.previousModelId ? await modelOf(node, ctx, event) : null
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
    branchCreated: projectSubscription('branchCreated', 'streamId', async (event, _args, ctx, node) => {
      if (event.type !== 'ModelCreated') return undefined
      const model = await modelOf(node, ctx, event)
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
    branchUpdated: projectSubscription('branchUpdated', 'streamId', async (event, args, ctx, node) => {
      if (event.type !== 'ModelUpdated') return undefined
      if (typeof args.branchId === 'string' && args.branchId !== event.modelId) return undefined
      const model = await modelOf(node, ctx, event)
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
    streamUpdated: projectSubscription('streamUpdated', 'streamId', async (event, _args, ctx, node) => {
      if (event.type !== 'ProjectUpdated') return undefined
      const project = await projectOf(node, ctx, event)
      if (project === null) return undefined
      return { streamUpdated: { id: project.id, name: project.name, description: project.description } }
    }),
    streamDeleted: projectSubscription('streamDeleted', 'streamId', (event) =>
      event.type === 'ProjectDeleted' ? { streamDeleted: { streamId: event.projectId } } : undefined,
    ),
    userStreamAdded: {
      subscribe: (_p: unknown, _args: Args, ctx: GraphqlContext) =>
        userSubscription(ctx, async (event, userId) => {
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
        }),
      resolve: (payload: Record<string, unknown>) => payload.userStreamAdded,
    },
    userStreamRemoved: {
      subscribe: (_p: unknown, _args: Args, ctx: GraphqlContext) =>
        userSubscription(ctx, (event, userId) => {
          if (event.type === 'ProjectRoleChanged' && event.userId === userId && event.role === null) {
            return { userStreamRemoved: { id: event.projectId, revokedBy: event.actorId } }
          }
          if (event.type === 'ProjectDeleted') return { userStreamRemoved: { id: event.projectId } }
          return undefined
        }),
      resolve: (payload: Record<string, unknown>) => payload.userStreamRemoved,
    },
  }
}

/** Speckle's subscriptions (current and legacy), served by the realtime transport. */
export function subscriptionsSlice(): GraphqlSlice {
  return { name: 'subscriptions', typeDefs, resolvers: { Subscription: subscriptionResolvers() } as ResolverMap }
}

/**
 * A `subscribe(topic)` over a bus: each call subscribes, queues messages until the consumer asks, and
 * unsubscribes when the consumer stops (`return()`). Like the hub's subscriptions it has `ready` and
 * `listen`, so the access cache can follow a project. For tests and for transports that need nothing more.
 */
export function busSubscribe(bus: Pick<Bus, 'subscribe'>): Subscribe {
  return (topic) => ({
    [Symbol.asyncIterator](): ListenableSource {
      const queue: unknown[] = []
      let wake: (() => void) | null = null
      let done = false
      let listener: ((event: unknown) => void) | null = null
      const subscribed = bus.subscribe(topic, (message) => {
        if (done) return
        if (listener) return listener(message)
        queue.push(message)
        wake?.()
      })
      return {
        ready: subscribed.then(() => undefined),
        listen(each) {
          listener = each
          queue.length = 0
        },
        async next(): Promise<IteratorResult<unknown>> {
          await subscribed
          while (queue.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve))
          wake = null
          if (done) return { value: undefined, done: true }
          return { value: queue.shift(), done: false }
        },
        async return(): Promise<IteratorResult<unknown>> {
          done = true
          wake?.()
          await (
            await subscribed
          )()
          return { value: undefined, done: true }
        },
      }
    },
  })
}
