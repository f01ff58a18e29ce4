import * as SslSession from "@effect-openssl/core/SslSession"
import * as Effect from "effect/Effect"

/**
 * Client sessions by origin (`host:port`), bounded twice: the newest `perHost` sessions of an
 * origin, and the `hosts` origins used most recently. A session is taken out to be used: a TLS
 * 1.3 ticket is single-use (RFC 8446 §C.4), and each connection hands out the next one.
 *
 * The cache holds references owned by the scope the sessions were acquired in; whatever leaves
 * the cache (evicted, or taken and used) is released early by whoever holds it then.
 */
export interface SessionCache {
  /** The newest session of `origin`, now the caller's to release. */
  readonly take: (origin: string) => SslSession.SslSession | undefined
  /** Keep `session` for `origin`, releasing what falls out of the bounds. */
  readonly put: (origin: string, session: SslSession.SslSession) => Effect.Effect<void>
}

export interface Bounds {
  readonly hosts: number
  readonly perHost: number
}

export const make = (bounds: Bounds): SessionCache => {
  // Insertion order is recency: an origin moves to the end when a session is put.
  const origins = new Map<string, Array<SslSession.SslSession>>()
  return {
    take: (origin) => {
      const sessions = origins.get(origin)
      const session = sessions?.pop()
      if (sessions !== undefined && sessions.length === 0) origins.delete(origin)
      return session
    },
    put: (origin, session) =>
      Effect.suspend(() => {
        const sessions = origins.get(origin) ?? []
        origins.delete(origin)
        origins.set(origin, sessions)
        sessions.push(session)
        const evicted = sessions.splice(0, Math.max(0, sessions.length - bounds.perHost))
        for (const [oldest, dropped] of origins) {
          if (origins.size <= bounds.hosts) break
          origins.delete(oldest)
          evicted.push(...dropped)
        }
        return evicted.length === 0 ? Effect.void : Effect.forEach(evicted, SslSession.release, { discard: true })
      })
  }
}
