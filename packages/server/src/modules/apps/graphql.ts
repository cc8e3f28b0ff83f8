/**
 * The apps slice: registered apps as the schema shows them (`ServerAppListItem`, `ServerApp`), the app a
 * request's token was issued to (`authenticatedAsApp`) and a user's authorized and created apps.
 */
import type { GraphqlContext } from '../graphql/context.js'
import { ownProfile, scopeItem, type Args } from '../graphql/helpers.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import type { User } from '../users/service.js'
import type { App } from './service.js'

const typeDefs = /* GraphQL */ `
  type ServerApp {
    id: String!
    secret: String
    name: String!
    description: String
    termsAndConditionsLink: String
    logo: String
    public: Boolean
    trustByDefault: Boolean
    author: AppAuthor
    createdAt: DateTime!
    redirectUrl: String!
    scopes: [Scope!]!
  }
  type ServerAppListItem {
    id: String!
    name: String!
    description: String
    redirectUrl: String!
    termsAndConditionsLink: String
    trustByDefault: Boolean
    logo: String
    author: AppAuthor
  }
  type AppAuthor {
    name: String!
    id: String!
    avatar: String
  }

  extend type Query {
    authenticatedAsApp: ServerAppListItem
  }

  extend type User {
    authorizedApps: [ServerAppListItem!]
    createdApps: [ServerApp!]
  }
`

async function appAuthor(ctx: GraphqlContext, app: App) {
  if (app.authorId === null) return null
  const user = await ctx.loaders.users.load(app.authorId)
  return user === null ? null : { id: user.id, name: user.name, avatar: user.avatar }
}

function appListItem(ctx: GraphqlContext, app: App) {
  return {
    id: app.id,
    name: app.name,
    description: app.description,
    redirectUrl: app.redirectUrl,
    termsAndConditionsLink: null,
    trustByDefault: app.trusted,
    logo: null,
    author: () => appAuthor(ctx, app),
  }
}

function resolvers(): ResolverMap {
  return {
    Query: {
      // The app the caller's token was issued to; null for a personal token or no token.
      authenticatedAsApp: async (_p: unknown, _a: Args, ctx: GraphqlContext) => {
        if (ctx.principal === null) return null
        const appId = await ctx.deps.tokens.appOf(ctx.principal.tokenId)
        const app = appId === null ? null : await ctx.deps.apps.get(appId)
        return app === null ? null : appListItem(ctx, app)
      },
    },
    User: {
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
          scopes: app.scopes.map(scopeItem),
        }))
      },
    },
  }
}

export function appsSlice(): GraphqlSlice {
  return { name: 'apps', typeDefs, resolvers: resolvers() }
}
