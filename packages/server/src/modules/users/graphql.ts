/**
 * The users slice: the signed-in user (`activeUser`, `activeUserMutations.update`), other users as
 * `LimitedUser`, and an admin's `userRoleChange`. Other modules add their fields to `User`.
 */
import { BadUserInput } from '../../errors.js'
import type { GraphqlContext } from '../graphql/context.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import { limitedUser, obj, required, str, type Args } from '../graphql/helpers.js'
import { requireServer } from '../policy/service.js'
import type { User } from './service.js'

const typeDefs = /* GraphQL */ `
  extend type User {
    id: ID!
    name: String!
    email: String
    company: String
    avatar: String
    bio: String
    role: String
    verified: Boolean
    createdAt: DateTime
  }
  type LimitedUser {
    id: ID!
    name: String!
    company: String
    avatar: String
    bio: String
    verified: Boolean
    role: String
  }
  type ActiveUserMutations {
    update(user: UserUpdateInput!): User!
  }
  input UserRoleInput {
    id: String!
    role: String!
  }
  input UserUpdateInput {
    name: String
    company: String
    bio: String
    avatar: String
  }

  "A user as server admins see them (Speckle's admin list)."
  type AdminUserListItem {
    id: ID!
    name: String!
    email: String
    role: String
    verified: Boolean
    company: String
    avatar: String
    createdAt: DateTime
  }
  type AdminUserList {
    totalCount: Int!
    cursor: String
    items: [AdminUserListItem!]!
  }
  "Server administration (server admins only)."
  type AdminQueries {
    "Users newest first; query matches name or email."
    userList(limit: Int! = 25, cursor: String, query: String): AdminUserList!
  }

  extend type Query {
    activeUser: User
    otherUser(id: String!): LimitedUser
    admin: AdminQueries!
  }

  extend type Mutation {
    activeUserMutations: ActiveUserMutations!
    userRoleChange(userRoleInput: UserRoleInput!): Boolean!
  }
`

function resolvers(): ResolverMap {
  return {
    Query: {
      activeUser: async (_p: unknown, _a: Args, ctx: GraphqlContext) => {
        if (ctx.principal === null) return null
        return ctx.loaders.users.load(ctx.principal.userId)
      },
      otherUser: async (_p: unknown, args: Args, ctx: GraphqlContext) =>
        limitedUser(await ctx.loaders.users.load(required(args.id, 'id'))),
      admin: () => ({}),
    },
    AdminQueries: {
      userList: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        requireServer(ctx.principal, 'manageServer')
        const limit = Math.min(Math.max(Number(args.limit ?? 25) || 25, 1), 100)
        const page = await ctx.deps.users.list({ limit, cursor: str(args.cursor), query: str(args.query) })
        return { ...page, items: page.items.map((u) => ({ ...u, role: u.serverRole })) }
      },
    },
    User: {
      role: (u: User) => u.serverRole,
      email: (u: User, _a: Args, ctx: GraphqlContext) => (ctx.principal?.scopes.has('profile:email') ? u.email : null),
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
    Mutation: {
      activeUserMutations: () => ({}),
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
    },
  }
}

export function usersSlice(): GraphqlSlice {
  return { name: 'users', typeDefs, resolvers: resolvers() }
}
