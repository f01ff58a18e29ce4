/**
 * `SSL` handles as scoped resources, following `SSL_new(3)`:
 *
 * - `make` is an acquire (`SSL_new`), released with `SSL_free`;
 * - `upRef` is a scope fork: the extra reference (`SSL_up_ref`) is held by a child scope of
 *   the caller's scope, which can also be released early;
 * - `dup` (`SSL_dup`) returns `Duplicated` (a new, independent handle) while the handshake has
 *   not started, and `Shared` (the same native object, one more reference) once it has.
 *
 * The handshake state is tracked in the type (`Ssl<"Initial">`, `Ssl<"Started">`) and only
 * moves forward.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Pipeable } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import type * as HostName from "./HostName.js"
import * as internal from "./internal/handles.js"
import { SslImpl, sslLease as leaseOf } from "./internal/handles.js"
import { acquireLease, closeEarly, type Lease } from "./internal/lease.js"
import { callSite } from "./internal/registry.js"
import { sslAcquire } from "./internal/sslNew.js"
import type { NativeRef, OpenSsl, SslSettings } from "./OpenSsl.js"
import type * as SslContext from "./SslContext.js"
import type { SslError } from "./SslError.js"
import type * as SslSession from "./SslSession.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: typeof internal.SslTypeId = internal.SslTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Where a handle is in its life: `"Initial"` until the handshake starts, `"Started"`
 * afterwards. The state never goes back.
 *
 * @since 0.1.0
 * @category models
 */
export type HandshakeState = "Initial" | "Started"

/**
 * One reference to a native `SSL`. `S` is what is known statically about its handshake
 * state; `Ssl<"Initial">` may be stale when another reference started the handshake, which
 * is why `dup` of an `Ssl<"Initial">` can still return `Shared`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ssl<out S extends HandshakeState = HandshakeState> extends Pipeable {
  readonly [TypeId]: { readonly _S: S }
  /** The context the handle was made from. */
  readonly context: SslContext.SslContext
}

/**
 * `dup` of a handle whose handshake had not started: a new native object, independently
 * owned.
 *
 * @since 0.1.0
 * @category models
 */
export interface Duplicated {
  readonly _tag: "Duplicated"
  readonly ssl: Ssl<"Initial">
}

/**
 * `dup` of a handle whose handshake had started: OpenSSL took one more reference to the
 * same native object.
 *
 * @since 0.1.0
 * @category models
 */
export interface Shared {
  readonly _tag: "Shared"
  readonly ssl: Ssl<"Started">
}

/**
 * @since 0.1.0
 * @category models
 */
export type DupResult = Duplicated | Shared

/**
 * Per-handle options for `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  /** Put the handle in connect (`"client"`) or accept (`"server"`) state. */
  readonly role?: "client" | "server" | undefined
  /**
   * SNI host name to send (`SSL_set_tlsext_host_name`): a DNS name (SNI carries no addresses).
   * Anything `HostName.parse` refuses fails with `InvalidOptionError`.
   */
  readonly hostName?: string | HostName.DnsName | undefined
  /**
   * Host name or IP address the peer's certificate must match. Anything `HostName.parse`
   * refuses (NUL, ports, brackets, …) fails with `InvalidOptionError`.
   */
  readonly verifyHost?: string | HostName.HostName | undefined
  /**
   * Resume this session (`SSL_set_session`; the handle takes its own reference). It must belong
   * to the same context, or the acquire fails with `InvalidOptionError`.
   */
  readonly session?: SslSession.SslSession | undefined
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isSsl = (u: unknown): u is Ssl => u instanceof SslImpl

const wrap = (context: SslContext.SslContext) => (lease: Lease) => new SslImpl(lease, context) as Ssl<any>

/**
 * `SSL_new`: a handle inheriting the context's method, options, verification and timeout
 * settings, released with `SSL_free` when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  context: SslContext.SslContext,
  options?: MakeOptions
): Effect.Effect<Ssl<"Initial">, SslError, Scope.Scope> => {
  const { acquire, free, openssl } = sslAcquire(context, options, "Ssl.make")
  return acquireLease(openssl, "SSL_new", acquire, free, wrap(context), callSite())
}

/**
 * `SSL_up_ref`: another reference to the same native object, held by a child scope forked
 * from the caller's scope. The object is freed once, after the last holder released, in
 * whatever order the holders close.
 *
 * @since 0.1.0
 * @category references
 */
export const upRef = <S extends HandshakeState>(self: Ssl<S>): Effect.Effect<Ssl<S>, SslError, Scope.Scope> => {
  const lease = leaseOf(self)
  const openssl = lease.openssl
  const site = callSite()
  const acquire = () => {
    const ref = lease.unsafeRef("Ssl.upRef")
    openssl.handles.sslUpRef(ref)
    return ref
  }
  return acquireLease(openssl, "SSL_up_ref", acquire, (r) => openssl.handles.sslFree(r), wrap(self.context), site)
}

/**
 * `SSL_dup`. Decided by pointer identity of what OpenSSL returned: a new object is
 * `Duplicated` (settings copied as `SSL_dup(3)` lists; the SNI host name is not copied, and
 * the library's own ex_data is reset), the same object is `Shared`. The new reference is held
 * by a child scope of the caller's scope. A handle known to be `Started` can only be `Shared`.
 *
 * @since 0.1.0
 * @category references
 */
export const dup: {
  (self: Ssl<"Started">): Effect.Effect<Shared, SslError, Scope.Scope>
  (self: Ssl<HandshakeState>): Effect.Effect<DupResult, SslError, Scope.Scope>
} = (self: Ssl<HandshakeState>): Effect.Effect<any, SslError, Scope.Scope> => {
  const lease = leaseOf(self)
  const openssl = lease.openssl
  const site = callSite()
  const acquire = () => openssl.handles.sslDup(lease.unsafeRef("Ssl.dup"))
  return acquireLease(openssl, "SSL_dup", acquire, (r) => openssl.handles.sslFree(r), (copy): DupResult => {
    const ssl = new SslImpl(copy, self.context) as Ssl<any>
    // Pointer identity decides: SSL_dup returns its argument once the handshake started.
    return copy.ref.address === lease.ref.address ? { _tag: "Shared", ssl } : { _tag: "Duplicated", ssl }
  }, site)
}

/**
 * Release this reference now instead of at scope close (a no-op when already released).
 *
 * @since 0.1.0
 * @category destructors
 */
export const release = (self: Ssl): Effect.Effect<void> => closeEarly(leaseOf(self))

/**
 * Whether this reference was released.
 *
 * @since 0.1.0
 * @category accessors
 */
export const isReleased = (self: Ssl): boolean => leaseOf(self).released

/**
 * Whether the handshake has started (`!SSL_in_before`).
 *
 * @since 0.1.0
 * @category accessors
 */
export const handshakeStarted = (self: Ssl): Effect.Effect<boolean, SslError> =>
  leaseOf(self).use("Ssl.handshakeStarted", (ref) => !leaseOf(self).openssl.handles.sslInBefore(ref))

/**
 * Refine a handle to `Ssl<"Started">` when its handshake has started.
 *
 * @since 0.1.0
 * @category refinements
 */
export const whenStarted = <S extends HandshakeState>(
  self: Ssl<S>
): Effect.Effect<Option.Option<Ssl<"Started">>, SslError> =>
  Effect.map(handshakeStarted(self), (started) => started ? Option.some(self as Ssl<any>) : Option.none())

/**
 * Read the handle's settings back from the native `SSL`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const settings = (self: Ssl): Effect.Effect<SslSettings, SslError> =>
  leaseOf(self).use("Ssl.settings", (ref) => leaseOf(self).openssl.handles.sslSettings(ref))

/**
 * Whether two handles name the same native object (e.g. after `upRef`, or a `Shared` dup).
 *
 * @since 0.1.0
 * @category accessors
 */
export const sameObject = (self: Ssl, that: Ssl): boolean =>
  leaseOf(self).ref.id === leaseOf(that).ref.id && leaseOf(self).openssl === leaseOf(that).openssl

/**
 * The native `SSL*` address: an escape hatch for calling OpenSSL directly. The address is
 * only valid while this reference's scope is open. Throws `ReleasedHandleError` on a released
 * handle.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const unsafePointer = (self: Ssl): bigint => leaseOf(self).unsafeRef("Ssl.unsafePointer").address

/**
 * The binding's name for the native object (`OpenSsl.NativeRef`), for code that drives the
 * `OpenSsl` service directly (engines, test harnesses). Valid only while this reference is
 * live; throws `ReleasedHandleError` on a released handle.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const unsafeNativeRef = (self: Ssl): NativeRef => leaseOf(self).unsafeRef("Ssl.unsafeNativeRef")

/**
 * The `OpenSsl` service the handle was made with.
 *
 * @since 0.1.0
 * @category accessors
 */
export const openSslOf = (self: Ssl): OpenSsl => leaseOf(self).openssl
