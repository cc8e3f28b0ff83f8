/**
 * The accounts `truss login` stores, one per server (as Speckle's desktop accounts are): a JSON file
 * `accounts.json` in the user data folder (`defaultDataPath('Truss', env)`, or `TRUSS_HOME` when set),
 * written atomically with mode 0600 because it holds tokens.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { defaultDataPath } from '@truss/core'

export interface AccountUser {
  id: string
  name: string
  email: string | null
}

export interface Account {
  server: string
  token: string
  user: AccountUser
  default: boolean
}

type Env = Record<string, string | undefined>

interface StoredAccount {
  token: string
  user: AccountUser
  default?: boolean
}

/** The CLI's own data folder: `TRUSS_HOME`, else the platform data folder for "Truss". */
export function cliDataPath(env: Env): string {
  return env.TRUSS_HOME && env.TRUSS_HOME.trim() !== '' ? env.TRUSS_HOME : defaultDataPath('Truss', env)
}

export function accountsFile(env: Env): string {
  return join(cliDataPath(env), 'accounts.json')
}

/** A server URL as accounts are keyed: origin plus path, no trailing slash. */
export function normalizeServer(url: string): string {
  return url.trim().replace(/\/+$/, '')
}

function readStore(env: Env): Record<string, StoredAccount> {
  let text: string
  try {
    text = readFileSync(accountsFile(env), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw err
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new Error(`${accountsFile(env)} is not valid JSON; fix or delete it and log in again`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {}
  const out: Record<string, StoredAccount> = {}
  for (const [server, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof value !== 'object' || value === null) continue
    const v = value as Partial<StoredAccount>
    if (typeof v.token !== 'string' || typeof v.user !== 'object' || v.user === null) continue
    out[server] = { token: v.token, user: v.user, default: v.default === true }
  }
  return out
}

function writeStore(env: Env, store: Record<string, StoredAccount>): void {
  const dir = cliDataPath(env)
  mkdirSync(dir, { recursive: true })
  const file = accountsFile(env)
  const temp = `${file}.${process.pid}.${Date.now().toString(36)}.tmp`
  writeFileSync(temp, `${JSON.stringify(store, null, 2)}\n`, { mode: 0o600 })
  chmodSync(temp, 0o600)
  renameSync(temp, file)
}

export function listAccounts(env: Env): Account[] {
  return Object.entries(readStore(env)).map(([server, a]) => ({
    server,
    token: a.token,
    user: a.user,
    default: a.default === true,
  }))
}

/** The account for `server`, or (without one) the default account, else the only one. */
export function findAccount(env: Env, server?: string): Account | undefined {
  const accounts = listAccounts(env)
  if (server !== undefined) return accounts.find((a) => a.server === normalizeServer(server))
  return accounts.find((a) => a.default) ?? (accounts.length === 1 ? accounts[0] : undefined)
}

/** Store (or replace) the account for its server; it becomes the default. */
export function saveAccount(env: Env, account: Omit<Account, 'default'>): Account {
  const store = readStore(env)
  for (const a of Object.values(store)) a.default = false
  const server = normalizeServer(account.server)
  store[server] = { token: account.token, user: account.user, default: true }
  writeStore(env, store)
  return { ...account, server, default: true }
}

/** Forget the account for `server`; returns whether there was one. Another account becomes the default. */
export function removeAccount(env: Env, server: string): boolean {
  const store = readStore(env)
  const key = normalizeServer(server)
  if (!Object.hasOwn(store, key)) return false
  const wasDefault = store[key]!.default === true
  delete store[key]
  const rest = Object.values(store)
  if (wasDefault && rest.length > 0 && !rest.some((a) => a.default)) rest[0]!.default = true
  writeStore(env, store)
  return true
}
