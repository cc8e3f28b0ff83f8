/** Profile and personal access tokens (created with scopes, shown once, revocable). */
import { useState, type FormEvent } from 'react'
import { Ago, Empty, ErrorBox, Loading, Shell } from '../components/ui'
import { gql } from '../lib/api'
import { useQuery, useSession } from '../lib/session'

interface Token {
  id: string
  name: string
  lastChars: string
  scopes: string[]
  createdAt: string
  lastUsed: string
}

const SCOPES = [
  'streams:read',
  'streams:write',
  'profile:read',
  'profile:email',
  'users:read',
  'tokens:read',
  'tokens:write',
]

export function Profile() {
  const { me, refresh } = useSession()
  const tokens = useQuery(
    () =>
      gql<{ activeUser: { apiTokens: Token[] } }>(
        '{ activeUser { apiTokens { id name lastChars scopes createdAt lastUsed } } }',
      ),
    [],
  )
  const [name, setName] = useState(me?.name ?? '')
  const [saved, setSaved] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [tokenName, setTokenName] = useState('')
  const [scopes, setScopes] = useState<string[]>(['streams:read', 'streams:write', 'profile:read'])
  const [shown, setShown] = useState<string | null>(null)

  if (!me)
    return (
      <Shell>
        <Loading />
      </Shell>
    )
  const save = async (e: FormEvent) => {
    e.preventDefault()
    try {
      await gql('mutation($u: UserUpdateInput!) { activeUserMutations { update(user: $u) { id } } }', { u: { name } })
      await refresh()
      setSaved('Saved.')
    } catch (err) {
      setError((err as Error).message)
    }
  }
  const create = async (e: FormEvent) => {
    e.preventDefault()
    setError(null)
    try {
      const data = await gql<{ apiTokenCreate: string }>(
        'mutation($t: ApiTokenCreateInput!) { apiTokenCreate(token: $t) }',
        {
          t: { name: tokenName, scopes },
        },
      )
      setShown(data.apiTokenCreate)
      setTokenName('')
      tokens.reload()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  const revoke = async (id: string) => {
    if (!confirm('Revoke this token? Anything using it stops working.')) return
    try {
      await gql('mutation($t: String!) { apiTokenRevoke(token: $t) }', { t: id })
      tokens.reload()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  return (
    <Shell>
      <h1>Your profile</h1>
      {error && <ErrorBox error={error} />}
      <form className="card" onSubmit={save} aria-label="Profile">
        <label>
          Name
          <input required value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <p className="muted">
          {me.email} {me.verified === false && <>· not verified yet</>}
        </p>
        <button type="submit">Save</button> {saved && <span role="status">{saved}</span>}
      </form>
      <section className="card" aria-label="Access tokens">
        <h2>Personal access tokens</h2>
        <p className="muted">For scripts, connectors and the SDK. A token is shown once, when it is created.</p>
        {shown && (
          <div className="notice" role="status">
            New token (copy it now, it will not be shown again): <code data-testid="new-token">{shown}</code>
          </div>
        )}
        <form onSubmit={create} className="inline-form" aria-label="New token">
          <label>
            Name
            <input required value={tokenName} onChange={(e) => setTokenName(e.target.value)} />
          </label>
          <fieldset>
            <legend>Scopes</legend>
            {SCOPES.map((s) => (
              <label key={s} className="check">
                <input
                  type="checkbox"
                  checked={scopes.includes(s)}
                  onChange={(e) => setScopes(e.target.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
                />
                {s}
              </label>
            ))}
          </fieldset>
          <button type="submit" disabled={scopes.length === 0}>
            Create token
          </button>
        </form>
        {tokens.loading && !tokens.data ? (
          <Loading />
        ) : tokens.data?.activeUser.apiTokens.length ? (
          <table className="list">
            <thead>
              <tr>
                <th>Name</th>
                <th>Ends in</th>
                <th>Scopes</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {tokens.data.activeUser.apiTokens.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td>
                  <td>
                    <code>…{t.lastChars}</code>
                  </td>
                  <td>{t.scopes.join(', ')}</td>
                  <td>
                    <Ago date={t.createdAt} />
                  </td>
                  <td>
                    <button type="button" className="danger" onClick={() => void revoke(t.id)}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <Empty>No tokens yet.</Empty>
        )}
      </section>
    </Shell>
  )
}
