/**
 * `SSL_CTX` as a scoped resource. A context is fully configured when it is acquired and
 * immutable afterwards; per-connection settings go on the `Ssl`.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/handles.js"
import { contextLease as leaseOf, SslContextImpl } from "./internal/handles.js"
import { acquireLease, closeEarly } from "./internal/lease.js"
import { resolve } from "./internal/options.js"
import { callSite } from "./internal/registry.js"
import type {
  ContextConfig,
  OptionFlag,
  ProtocolVersion,
  Role,
  SessionCacheMode,
  Settings,
  VerifyMode
} from "./OpenSsl.js"
import { OpenSsl } from "./OpenSsl.js"
import type { SslError } from "./SslError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: typeof internal.ContextTypeId = internal.ContextTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A configured `SSL_CTX`, held by one lease.
 *
 * @since 0.1.0
 * @category models
 */
export interface SslContext extends Pipeable {
  readonly [TypeId]: TypeId
  readonly role: Role
  /** The validated configuration the context was built from (secrets stay `Redacted`). */
  readonly config: ContextConfig
}

/**
 * Context options. Defaults are secure: TLS 1.2 minimum; clients (and `"any"`) verify the
 * peer against the system's trust store unless `trust` says otherwise.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly role: Role
  /** Lowest protocol version. Default `"TLSv1.2"`. */
  readonly minProtocol?: ProtocolVersion | undefined
  /** Highest protocol version. Default: the highest the library supports. */
  readonly maxProtocol?: ProtocolVersion | undefined
  /** `SSL_OP_*` flags to set, by name, on top of OpenSSL's defaults. */
  readonly options?: ReadonlyArray<OptionFlag> | undefined
  readonly verify?: {
    /** Default: `"peer"` for clients and `"any"`, `"none"` for servers. */
    readonly mode?: VerifyMode | undefined
    /** Maximum chain depth (`SSL_CTX_set_verify_depth`), 0 to 100. */
    readonly depth?: number | undefined
  } | undefined
  /** Lifetime of sessions this context creates (`SSL_CTX_set_timeout`), rounded up to whole seconds. */
  readonly sessionTimeout?: Duration.DurationInput | undefined
  /**
   * `SSL_CTX_set_session_cache_mode`. Default: `"client"` for client contexts (new sessions reach
   * the connection, which hands them out as `SslSession`s; a client keeps none in the context's
   * internal cache, since it only ever resumes the session it is given), OpenSSL's `"server"`
   * otherwise.
   */
  readonly sessionCacheMode?: SessionCacheMode | undefined
  readonly trust?: {
    /** Trusted CA certificates, PEM (one or more blocks per string). */
    readonly certificates?: string | ReadonlyArray<string> | undefined
    /**
     * Also trust the system's default CA paths (`SSL_CTX_set_default_verify_paths`).
     * Default: true when verifying and no certificates are given.
     */
    readonly systemDefaults?: boolean | undefined
  } | undefined
  /** This side's certificate chain (PEM, leaf first) and private key (PEM, `Redacted`). */
  readonly certificate?: {
    readonly chain: string
    readonly key: Redacted.Redacted<string>
    /** Passphrase of an encrypted key. */
    readonly passphrase?: Redacted.Redacted<string> | undefined
  } | undefined
  /** TLS ≤ 1.2 cipher list (`SSL_CTX_set_cipher_list`), e.g. `"ECDHE+AESGCM"`. */
  readonly ciphers?: string | undefined
  /** TLS 1.3 suites (`SSL_CTX_set_ciphersuites`), e.g. `"TLS_AES_256_GCM_SHA384"`. */
  readonly ciphersuites?: string | undefined
  /** Key exchange groups in preference order, e.g. `["X25519", "P-256"]`. */
  readonly groups?: string | ReadonlyArray<string> | undefined
  /** ALPN protocols in preference order; clients offer them, servers select from them. */
  readonly alpnProtocols?: ReadonlyArray<string> | undefined
  /**
   * Produce NSS key log lines (for Wireshark) for connections that ask for them. Off by default:
   * the native callback costs a few calls per handshake.
   */
  readonly keylog?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isSslContext = (u: unknown): u is SslContext => Predicate.hasProperty(u, TypeId)

/**
 * Create and configure an `SSL_CTX` (`SSL_CTX_new`), released with `SSL_CTX_free` when the
 * scope closes. Invalid options fail with `InvalidOptionError` (carrying OpenSSL's reasons
 * where the library rejected a value) and leave nothing allocated.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<SslContext, SslError, OpenSsl | Scope.Scope> => {
  const site = callSite()
  return Effect.flatMap(Effect.zip(OpenSsl, resolve(options)), ([openssl, config]) =>
    acquireLease(
      openssl,
      "SSL_CTX_new",
      () => openssl.contextNew(config),
      (ref) => openssl.contextFree(ref),
      (lease) => new SslContextImpl(lease, config),
      site
    ))
}

/**
 * Read the context's settings back from the native object.
 *
 * @since 0.1.0
 * @category accessors
 */
export const settings = (self: SslContext): Effect.Effect<Settings, SslError> =>
  leaseOf(self).use("SslContext.settings", (ref) => leaseOf(self).openssl.contextSettings(ref))

/**
 * Release this context's reference now instead of at scope close. Handles made from it keep
 * the native context alive (`SSL_new` holds its own reference).
 *
 * @since 0.1.0
 * @category destructors
 */
export const release = (self: SslContext): Effect.Effect<void> => closeEarly(leaseOf(self))

/**
 * Whether the lease was released.
 *
 * @since 0.1.0
 * @category accessors
 */
export const isReleased = (self: SslContext): boolean => leaseOf(self).released

/**
 * The native `SSL_CTX*` address. An escape hatch for calling OpenSSL directly: the address is
 * only valid while the context's scope is open. Throws `ReleasedHandleError` on a released
 * context.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const unsafePointer = (self: SslContext): bigint => leaseOf(self).unsafeRef("SslContext.unsafePointer").address
