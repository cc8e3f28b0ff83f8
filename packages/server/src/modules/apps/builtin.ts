/**
 * The apps every Speckle server has (WIRE.md "Auth: the app flow"): id = secret = the same string, so
 * desktop connectors can run the flow without a registered secret.
 */
import { SCOPES } from '../../principal.js'

export interface BuiltInApp {
  id: string
  name: string
  description: string
  /** Where `/auth/accesscode` sends the browser; relative paths are resolved against `PUBLIC_URL`. */
  redirect: string
  scopes: readonly string[]
}

/** What Speckle grants its connector apps. */
export const CONNECTOR_SCOPES = [
  'streams:read',
  'streams:write',
  'profile:read',
  'profile:email',
  'users:read',
  'users:invite',
] as const

export const WEB_APP_ID = 'spklwebapp'

export const BUILT_IN_APPS: readonly BuiltInApp[] = [
  { id: WEB_APP_ID, name: 'Speckle Web Manager', description: 'The web app', redirect: '/', scopes: SCOPES },
  { id: 'explorer', name: 'Speckle Explorer', description: 'GraphQL explorer', redirect: '/explorer', scopes: SCOPES },
  {
    id: 'sdm',
    name: 'Speckle Desktop Manager',
    description: 'Manages local installations of connectors',
    redirect: 'speckle://account',
    scopes: CONNECTOR_SCOPES,
  },
  {
    id: 'sca',
    name: 'Speckle Connector',
    description: 'Desktop connectors',
    redirect: 'http://localhost:29363',
    scopes: CONNECTOR_SCOPES,
  },
  {
    id: 'sdas',
    name: 'Speckle Desktop Authentication Service',
    description: 'Signs desktop connectors in',
    redirect: 'http://localhost:29364',
    scopes: CONNECTOR_SCOPES,
  },
  {
    id: 'spklexcel',
    name: 'Speckle Connector for Excel',
    description: 'The Excel connector',
    redirect: 'https://speckle-excel.netlify.app',
    scopes: CONNECTOR_SCOPES,
  },
  {
    id: 'spklpwerbi',
    name: 'Speckle Connector for Power BI',
    description: 'The Power BI connector',
    redirect: 'https://oauth.powerbi.com/views/oauthredirect.html',
    scopes: CONNECTOR_SCOPES,
  },
  {
    id: 'spklautoma',
    name: 'Speckle Automate',
    description: 'Automations',
    redirect: '/automate',
    scopes: CONNECTOR_SCOPES,
  },
]

/** The redirect URL of a built-in app on a server reachable at `publicUrl`. */
export function builtInRedirectUrl(app: BuiltInApp, publicUrl: string): string {
  if (!app.redirect.startsWith('/')) return app.redirect
  return app.redirect === '/' ? publicUrl : `${publicUrl.replace(/\/+$/, '')}${app.redirect}`
}
