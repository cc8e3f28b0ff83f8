/** The resolver types every slice's resolvers are written against. */
import type { GraphqlContext } from './context.js'
import type { Args } from './helpers.js'

type Resolver<P = unknown> = (parent: P, args: Args, ctx: GraphqlContext) => unknown
export type ResolverMap = Record<string, Record<string, Resolver<never> | { subscribe: Resolver; resolve?: Resolver }>>
