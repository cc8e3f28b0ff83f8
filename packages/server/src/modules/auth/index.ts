/**
 * The auth module: who is calling. The principal type and scope names, the Fastify plugin that turns a
 * request's token into `request.principal`, and the random ids and secrets identity records use.
 */
export { authPlugin, tokenFromRequest, INVALID_TOKEN_BODY } from './plugin.js'
export type { AuthPluginOptions } from './plugin.js'
export { SCOPES, SERVER_ROLES, isScope } from '../../principal.js'
export type { Principal, Scope, ServerRole } from '../../principal.js'
export { newId, randomAlphanumeric, ID_LENGTH } from '../../ids.js'
export { openIdentity, createIdentityServices } from './identity.js'
export type { IdentityServices, OpenIdentityOptions } from './identity.js'
