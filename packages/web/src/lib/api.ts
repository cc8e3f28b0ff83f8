/**
 * The web app's only way to the server: its public GraphQL and REST routes, same origin, with the `authn`
 * session cookie the sign-in routes set (never a token in the page).
 */

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | null = null,
    readonly status: number | null = null,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

interface GraphqlAnswer<T> {
  data?: T
  errors?: { message: string; extensions?: { code?: string } }[]
}

export async function gql<T = Record<string, unknown>>(
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  let res: Response
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    })
  } catch {
    throw new ApiError('The server cannot be reached. Check your connection and try again.')
  }
  let body: GraphqlAnswer<T>
  try {
    body = (await res.json()) as GraphqlAnswer<T>
  } catch {
    throw new ApiError(`The server answered ${res.status} without a readable body.`, null, res.status)
  }
  const first = body.errors?.[0]
  if (first) throw new ApiError(first.message, first.extensions?.code ?? null, res.status)
  if (!res.ok || body.data === undefined) throw new ApiError(`The server answered ${res.status}.`, null, res.status)
  return body.data
}

/** A random challenge: the sign-in routes want one (Speckle's app flow); the web app uses the cookie instead. */
const challenge = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16)).join('')

async function authPost(path: string, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    redirect: 'manual',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  // Success is a redirect carrying an access code (for Speckle's own frontend); the cookie is already set.
  if (res.type === 'opaqueredirect' || (res.status >= 200 && res.status < 400)) return
  let message = `The server answered ${res.status}.`
  try {
    const text = await res.text()
    const parsed = JSON.parse(text) as { err?: unknown; message?: unknown; error?: { message?: unknown } }
    const said = typeof parsed.err === 'string' ? parsed.err : (parsed.message ?? parsed.error?.message)
    if (typeof said === 'string') message = said
  } catch {
    // Plain text or nothing: keep the status line.
  }
  if (res.status === 429) message = 'Too many attempts. Wait a minute and try again.'
  throw new ApiError(message, null, res.status)
}

export const signIn = (email: string, password: string) =>
  authPost(`/auth/local/login?challenge=${challenge()}`, { email, password })

export const signUp = (input: { email: string; password: string; name: string; inviteToken?: string | null }) => {
  const invite = input.inviteToken ? `&token=${encodeURIComponent(input.inviteToken)}` : ''
  return authPost(`/auth/local/register?challenge=${challenge()}${invite}`, {
    email: input.email,
    password: input.password,
    name: input.name,
  })
}

export async function signOut(): Promise<void> {
  await fetch('/auth/logout', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  })
}

export async function requestPasswordReset(email: string): Promise<void> {
  await authPost('/auth/password-reset/request', { email })
}

export async function finishPasswordReset(token: string, password: string): Promise<void> {
  await authPost('/auth/password-reset/finalize', { token, password })
}

/** Upload a file for import into `modelName` (Speckle's route). Resolves with the upload's id. */
export function uploadForImport(
  projectId: string,
  modelName: string,
  file: File,
  onProgress: (fraction: number) => void,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const form = new FormData()
    form.append('file', file, file.name)
    const xhr = new XMLHttpRequest()
    xhr.open('POST', `/api/file/autodetect/${encodeURIComponent(projectId)}/${encodeURIComponent(modelName)}`)
    xhr.withCredentials = true
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total)
    xhr.onerror = () => reject(new ApiError('The upload was interrupted.'))
    xhr.onload = () => {
      let body: { uploadResults?: { blobId: string; uploadError?: string | null }[]; error?: { message?: string } }
      try {
        body = JSON.parse(xhr.responseText) as typeof body
      } catch {
        return reject(new ApiError(`The server answered ${xhr.status}.`, null, xhr.status))
      }
      const result = body.uploadResults?.[0]
      if (xhr.status >= 400 || !result) {
        return reject(new ApiError(body.error?.message ?? `The server answered ${xhr.status}.`, null, xhr.status))
      }
      if (result.uploadError) return reject(new ApiError(result.uploadError))
      resolve(result.blobId)
    }
    xhr.send(form)
  })
}
