/** The apps module: registered apps (built-in and third-party), access codes and refresh tokens. */
export { createAppsService } from './service.js'
export type { App, AppsService, AppsServiceOptions, TokenPair } from './service.js'
export { BUILT_IN_APPS, CONNECTOR_SCOPES, WEB_APP_ID, builtInRedirectUrl } from './builtin.js'
export type { BuiltInApp } from './builtin.js'
