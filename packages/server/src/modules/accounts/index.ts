/**
 * The accounts module: password sign-up and sign-in feeding the app flow, e-mail verification, password
 * reset and change, server settings and server invites, and the REST routes Speckle's clients call.
 */
export { accountsRoutes } from './rest.js'
export type { AccountsRoutesOptions } from './rest.js'
export { createAccountsService } from './service.js'
export type { AccountsService, AccountsServiceOptions, RegisterInput } from './service.js'
export { createServerSettingsService, DEFAULT_SERVER_SETTINGS, serverSettingsUpdateSchema } from './settings.js'
export type { ServerSettings, ServerSettingsService, ServerSettingsUpdate } from './settings.js'
export { createServerInvitesService } from './invites.js'
export type { ServerInvite, ServerInvitesService, ServerInvitesServiceOptions } from './invites.js'
export { createProjectInvitesService } from './project-invites.js'
export type {
  CreateProjectInviteInput,
  ProjectInvite,
  ProjectInvitesService,
  ProjectInvitesServiceOptions,
} from './project-invites.js'
export { DEFAULT_ACCOUNTS_RATE_LIMITS, RATE_LIMITED_BODY } from './rate-limit.js'
export type { AccountsRateLimits, RateLimitRule } from './rate-limit.js'
