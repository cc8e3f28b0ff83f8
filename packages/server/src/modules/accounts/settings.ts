/**
 * Server settings (Speckle's `serverInfo` fields an admin edits): name, description, company, admin
 * contact, terms of service, invite-only and guest mode. One row; the defaults apply until the first update.
 */
import { z } from 'zod'
import type { Sql } from '../../adapters/sql/types.js'
import { lockServerSettings, selectServerSettings, upsertServerSettings, type ServerSettingsRow } from './repository.js'

export interface ServerSettings {
  name: string
  description: string | null
  company: string | null
  adminContact: string | null
  termsOfService: string | null
  inviteOnly: boolean
  guestModeEnabled: boolean
}

export interface ServerSettingsService {
  get(): Promise<ServerSettings>
  /** Change the given fields (validated; throws `BadUserInput` through the error mapper's zod rule). */
  update(patch: ServerSettingsUpdate): Promise<ServerSettings>
}

const text = (max: number) => z.string().trim().max(max, `must be at most ${max} characters`)
const optionalText = (max: number) =>
  text(max)
    .nullable()
    .transform((value) => (value === '' ? null : value))

/** What `update` accepts: every field optional, text fields nullable (null or '' clears them). */
export const serverSettingsUpdateSchema = z.strictObject({
  name: text(512).min(1, 'must not be empty').optional(),
  description: optionalText(10_000).optional(),
  company: optionalText(512).optional(),
  adminContact: optionalText(512).optional(),
  termsOfService: optionalText(10_000).optional(),
  inviteOnly: z.boolean().optional(),
  guestModeEnabled: z.boolean().optional(),
})
export type ServerSettingsUpdate = z.input<typeof serverSettingsUpdateSchema>

export const DEFAULT_SERVER_SETTINGS: ServerSettings = {
  name: 'Truss',
  description: 'A Speckle-compatible data hub',
  company: null,
  adminContact: null,
  termsOfService: null,
  inviteOnly: false,
  guestModeEnabled: false,
}

function fromRow(row: ServerSettingsRow | null, defaults: ServerSettings): ServerSettings {
  if (row === null) return defaults
  return {
    name: row.name ?? defaults.name,
    description: row.description,
    company: row.company,
    adminContact: row.admin_contact,
    termsOfService: row.terms_of_service,
    inviteOnly: row.invite_only,
    guestModeEnabled: row.guest_mode_enabled,
  }
}

export function createServerSettingsService(options: {
  sql: Sql
  /** Defaults before the first update; `name` usually comes from `SERVER_NAME`. */
  defaults?: Partial<ServerSettings>
}): ServerSettingsService {
  const { sql } = options
  const defaults: ServerSettings = { ...DEFAULT_SERVER_SETTINGS, ...options.defaults }
  return {
    async get() {
      return fromRow(await selectServerSettings(sql), defaults)
    },

    async update(patch) {
      const changes = serverSettingsUpdateSchema.parse(patch)
      return sql.transaction(async (tx) => {
        await lockServerSettings(tx)
        const current = fromRow(await selectServerSettings(tx), defaults)
        const next: ServerSettings = { ...current }
        for (const [key, value] of Object.entries(changes) as [keyof ServerSettings, unknown][]) {
          if (value !== undefined) Object.assign(next, { [key]: value })
        }
        await upsertServerSettings(tx, {
          name: next.name,
          description: next.description,
          company: next.company,
          admin_contact: next.adminContact,
          terms_of_service: next.termsOfService,
          invite_only: next.inviteOnly,
          guest_mode_enabled: next.guestModeEnabled,
        })
        return next
      })
    },
  }
}
