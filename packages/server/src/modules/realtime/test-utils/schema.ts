/**
 * A tiny schema for realtime tests: `projectVersionsUpdated(id)` streams the hub topic `project:<id>`, as the
 * real resolvers will (through `context.subscribe`).
 */
import {
  GraphQLInt,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  type GraphQLFieldConfig,
} from 'graphql'
import type { RealtimeHub } from '../hub.js'

export interface TestPrincipal {
  userId: string
}

export interface TestContext {
  principal: TestPrincipal
  subscribe: RealtimeHub['subscribe']
}

export interface VersionEvent {
  id: string
  type: string
  seq?: number
  blob?: string
}

/** Tokens `good` and `other` are valid; anything else is refused. */
export async function verifyTestToken(token: string): Promise<TestPrincipal | null> {
  if (token === 'good') return { userId: 'user-1' }
  if (token === 'other') return { userId: 'user-2' }
  return null
}

const VersionEventType = new GraphQLObjectType<VersionEvent>({
  name: 'VersionEvent',
  fields: {
    id: { type: new GraphQLNonNull(GraphQLString) },
    type: { type: new GraphQLNonNull(GraphQLString) },
    seq: { type: GraphQLInt },
    blob: { type: GraphQLString },
  },
})

const projectVersionsUpdated: GraphQLFieldConfig<unknown, TestContext, { id: string }> = {
  type: new GraphQLNonNull(VersionEventType),
  args: { id: { type: new GraphQLNonNull(GraphQLString) } },
  subscribe: (_source, args, context) => context.subscribe(`project:${args.id}`),
  // The event is what the change feed published; the test publishes VersionEvent-shaped objects.
  resolve: (event) => event as VersionEvent,
}

export const testSchema = new GraphQLSchema({
  query: new GraphQLObjectType<unknown, TestContext>({
    name: 'Query',
    fields: {
      whoami: { type: new GraphQLNonNull(GraphQLString), resolve: (_s, _a, context) => context.principal.userId },
    },
  }),
  subscription: new GraphQLObjectType<unknown, TestContext>({
    name: 'Subscription',
    fields: {
      projectVersionsUpdated,
      refused: {
        type: GraphQLString,
        subscribe: () => {
          throw new Error('You do not have access to this project')
        },
      },
    },
  }),
})

export const VERSIONS_SUBSCRIPTION =
  'subscription ($id: String!) { projectVersionsUpdated(id: $id) { id type seq blob } }'
