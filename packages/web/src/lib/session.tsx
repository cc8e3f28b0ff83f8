/** Who is signed in: `activeUser` read once, and again after signing in or out. */
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react'
import { gql } from './api'

export interface Me {
  id: string
  name: string
  email: string | null
  avatar: string | null
  role: string | null
  verified: boolean | null
}

interface Session {
  me: Me | null
  loading: boolean
  refresh(): Promise<Me | null>
}

const SessionContext = createContext<Session>({ me: null, loading: true, refresh: async () => null })

export const ME_QUERY = 'query Me { activeUser { id name email avatar role verified } }'

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null)
  const [loading, setLoading] = useState(true)
  const refresh = useCallback(async () => {
    try {
      const data = await gql<{ activeUser: Me | null }>(ME_QUERY)
      setMe(data.activeUser)
      return data.activeUser
    } catch {
      setMe(null)
      return null
    } finally {
      setLoading(false)
    }
  }, [])
  useEffect(() => void refresh(), [refresh])
  return <SessionContext.Provider value={{ me, loading, refresh }}>{children}</SessionContext.Provider>
}

export const useSession = () => useContext(SessionContext)

/** Load something once per change of `deps`, with loading and error state and a way to load again. */
export function useQuery<T>(load: () => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data: T | null; error: Error | null; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  })
  const [tick, setTick] = useState(0)
  useEffect(() => {
    let live = true
    setState((s) => ({ ...s, loading: true }))
    load().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: unknown) =>
        live &&
        setState({ data: null, error: error instanceof Error ? error : new Error(String(error)), loading: false }),
    )
    return () => {
      live = false
    }
  }, [...deps, tick])
  return { ...state, reload: useCallback(() => setTick((t) => t + 1), []) }
}
