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
import { defaultCipherList, resolve } from "./internal/options.js"
import { callSite } from "./internal/registry.js"
import type {
  ContextConfig,
  NativeRef,
  ProtocolVersion,
  Role,
  SessionCacheMode,
  Settings,
  VerifyMode
} from "./OpenSsl.js"
import { OpenSsl } from "./OpenSsl.js"
import type * as OptionFlag from "./OptionFlag.js"
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
 * Context options. Defaults are secure (docs/defaults.md lists them): TLS 1.2 minimum; TLS 1.2
 * suites limited to ECDHE with AEAD ciphers, chosen by the server's order; renegotiation
 * refused; clients (and `"any"`) verify the peer; trust never wider than asked for (see `trust`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly role: Role
  /**
   * Lowest protocol version. Default `"TLSv1.2"`. TLS 1.0 and 1.1 have no AEAD suites: allowing
   * them needs a wider `ciphers` list too.
   */
  readonly minProtocol?: ProtocolVersion | undefined
  /** Highest protocol version. Default: the highest the library supports. */
  readonly maxProtocol?: ProtocolVersion | undefined
  /**
   * `SSL_OP_*` flags to set, by name, on top of OpenSSL's defaults and ours (`NO_RENEGOTIATION`
   * unless `allowRenegotiation`, `CIPHER_SERVER_PREFERENCE` for `"server"` and `"any"`).
   */
  readonly options?: ReadonlyArray<OptionFlag.OptionFlag> | undefined
  /**
   * Accept TLS 1.2 renegotiation started by the peer: a client answers a server's HelloRequest,
   * a server accepts a client's new ClientHello (with OpenSSL 3.0 and later this also sets
   * `ALLOW_CLIENT_RENEGOTIATION`). Default `false`: renegotiation is refused on both sides
   * (`NO_RENEGOTIATION`): we answer with a `no_renegotiation` warning, after which OpenSSL and
   * most peers end the connection with `handshake_failure`. node:tls, `openssl s_client` and
   * 1.1.1 servers accept it by default; a server that allows it accepts any number of them (node:tls
   * limits a client to three per ten minutes). TLS 1.3 has no renegotiation. Contradicts
   * `options: ["NO_RENEGOTIATION"]` (an `InvalidOptionError`).
   */
  readonly allowRenegotiation?: boolean | undefined
  readonly verify?: {
    /**
     * Default: `"peer"` for clients and `"any"`, `"none"` for servers. Anything but `"none"`
     * needs something to trust (see `trust`).
     */
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
  /**
   * What the context trusts to verify its peer. Trust is never widened silently:
   * - no `trust` at all: a `"client"` context that verifies trusts the system's CA store (as
   *   node:tls does); a `"server"` or `"any"` context that verifies fails with
   *   `InvalidOptionError` (option `"trust"`) rather than accept every client certificate a
   *   public CA issued;
   * - `trust` given: exactly `certificates`, plus the system's store only with
   *   `systemDefaults: true`; with neither, a context that verifies fails with
   *   `InvalidOptionError` (option `"trust"`);
   * - `verify.mode: "none"` needs no trust.
   */
  readonly trust?: {
    /**
     * Trusted CA certificates, PEM (one or more blocks per string). An empty list is an
     * `InvalidOptionError`, as is any damaged PEM block (named `trust.certificates[k]`, the k-th
     * block of the whole list): OpenSSL's reader would skip it silently.
     */
    readonly certificates?: string | ReadonlyArray<string> | undefined
    /**
     * Also trust the system's default CA paths (`SSL_CTX_set_default_verify_paths`, which reads
     * `SSL_CERT_FILE` / `SSL_CERT_DIR`). Default: false when `trust` is given; see `trust` for
     * a context given none.
     */
    readonly systemDefaults?: boolean | undefined
  } | undefined
  /**
   * This side's certificate chain (PEM, leaf first) and private key (PEM, `Redacted`). A damaged
   * PEM block anywhere in the chain is an `InvalidOptionError` naming it (`certificate.chain[k]`),
   * as is a block that is not a CERTIFICATE.
   */
  readonly certificate?: {
    readonly chain: string
    readonly key: Redacted.Redacted<string>
    /** Passphrase of an encrypted key. */
    readonly passphrase?: Redacted.Redacted<string> | undefined
  } | undefined
  /**
   * TLS ≤ 1.2 cipher list (`SSL_CTX_set_cipher_list`), e.g. `"ECDHE+AESGCM"`. Default:
   * `defaultCiphers` (ECDHE with AES-GCM or ChaCha20-Poly1305). A wider list is an opt-in, e.g.
   * `` `${SslContext.defaultCiphers}:ECDHE-RSA-AES128-SHA` `` for a peer without AEAD suites.
   */
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
 * The default TLS 1.2 cipher list: ECDHE key exchange with AES-GCM or ChaCha20-Poly1305, as in
 * Mozilla's "intermediate" configuration (without its finite-field DHE suites), AES-128-GCM
 * first. Servers choose by this order.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultCiphers: string = defaultCipherList

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
      () => openssl.handles.contextNew(config),
      (ref) => openssl.handles.contextFree(ref),
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
  leaseOf(self).use("SslContext.settings", (ref) => leaseOf(self).openssl.handles.contextSettings(ref))

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

/**
 * The binding's name for the native object (`OpenSsl.NativeRef`), for code that calls the
 * `OpenSsl` service directly. Valid only while this context's lease is live; throws
 * `ReleasedHandleError` on a released context.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const unsafeNativeRef = (self: SslContext): NativeRef => leaseOf(self).unsafeRef("SslContext.unsafeNativeRef")
