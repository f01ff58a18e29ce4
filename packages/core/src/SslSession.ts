/**
 * `SSL_SESSION` as a scoped resource. Sessions come from a connection (for TLS 1.3, through the
 * new-session callback once the ticket arrived after the handshake) or from bytes, and are pinned
 * to the context they belong to: resuming one on a handle of another context is a typed error.
 *
 * The path `SSL_new(3)` recommends is the easy one here: keep the session, make a fresh handle
 * with `Ssl.make(ctx, { session })`.
 *
 * A TLS 1.3 ticket resumes once with OpenSSL's defaults (measured: the second use of the same
 * session does a full handshake). A resumed connection receives a renewed ticket: take it
 * (`TlsConnection.awaitSession`) for the next resumption.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/handles.js"
import { contextLease, sessionLease } from "./internal/handles.js"
import { acquireLease, closeEarly } from "./internal/lease.js"
import { callSite } from "./internal/registry.js"
import { takeSession } from "./internal/sessions.js"
import { capability } from "./OpenSsl.js"
import type { SslContext } from "./SslContext.js"
import type { SslError } from "./SslError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: typeof internal.SessionTypeId = internal.SessionTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * One reference to a native `SSL_SESSION`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SslSession extends Pipeable {
  readonly [TypeId]: TypeId
  /** The context the session belongs to. */
  readonly context: SslContext
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isSslSession = (u: unknown): u is SslSession => u instanceof internal.SslSessionImpl

/**
 * Serialize (`i2d_SSL_SESSION`), e.g. to store it across processes.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toBytes = (self: SslSession): Effect.Effect<Uint8Array, SslError> =>
  sessionLease(self).use(
    "SslSession.toBytes",
    (ref) => capability(sessionLease(self).openssl, "sessions", "SslSession.toBytes").toBytes(ref)
  )

/**
 * Deserialize (`d2i_SSL_SESSION`) a session for `context`. Malformed bytes fail with
 * `InvalidOptionError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromBytes = (context: SslContext, bytes: Uint8Array): Effect.Effect<SslSession, SslError, Scope.Scope> => {
  const ctx = contextLease(context)
  const openssl = ctx.openssl
  const site = callSite()
  return acquireLease(
    openssl,
    "d2i_SSL_SESSION",
    () => {
      ctx.unsafeRef("SslSession.fromBytes")
      return capability(openssl, "sessions", "SslSession.fromBytes").fromBytes(bytes)
    },
    (ref) => capability(openssl, "sessions", "SSL_SESSION_free").free(ref),
    (lease) => new internal.SslSessionImpl(lease, context),
    site
  )
}

/**
 * Whether the session can be used to resume (`SSL_SESSION_is_resumable`).
 *
 * @since 0.1.0
 * @category accessors
 */
export const isResumable = (self: SslSession): Effect.Effect<boolean, SslError> =>
  sessionLease(self).use(
    "SslSession.isResumable",
    (ref) => capability(sessionLease(self).openssl, "sessions", "SslSession.isResumable").isResumable(ref)
  )

/**
 * Release this reference now instead of at scope close.
 *
 * @since 0.1.0
 * @category destructors
 */
export const release = (self: SslSession): Effect.Effect<void> => closeEarly(sessionLease(self))

/**
 * Another reference to the same session in the caller's scope (`SSL_SESSION_up_ref`).
 *
 * @since 0.1.0
 * @category references
 */
export const upRef = (self: SslSession): Effect.Effect<SslSession, SslError, Scope.Scope> => {
  const lease = sessionLease(self)
  return Effect.map(
    takeSession(lease.openssl, self.context, () => lease.unsafeRef("SslSession.upRef"), callSite()),
    Option.getOrThrow // read never gives undefined: a released lease throws instead
  )
}
