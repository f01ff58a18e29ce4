/**
 * The `OpenSsl` service: the interface every binding implements. `@effect-openssl/node`
 * provides it over the real library (koffi); `@effect-openssl/test` provides a pure model
 * of the handle lifecycle. The rest of the core is written against this interface only.
 *
 * The operations are synchronous and low level on purpose: they are called on hot paths
 * (one native call each, ~40 ns through koffi), so they do not allocate Effects. Each
 * operation either returns or throws one of the `SslError` values; the core turns them into
 * typed failures. Native objects are named by `NativeRef`: their address plus the id the
 * binding stamped on them (in an ex_data slot), so free events can be matched to objects.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Redacted from "effect/Redacted"
import type { DnsName, HostName } from "./HostName.js"
import type { OptionFlag } from "./OptionFlag.js"
import type { NativeKind } from "./SslError.js"
import { UnsupportedError } from "./SslError.js"
import type { CertificateInfo, ClientHelloInfo, ConnectionInfo, VerifyStep } from "./TlsInfo.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-openssl/core/OpenSsl")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Which side(s) of a connection a context serves; picks `TLS_client_method`,
 * `TLS_server_method` or `TLS_method`.
 *
 * @since 0.1.0
 * @category models
 */
export type Role = "client" | "server" | "any"

/**
 * @since 0.1.0
 * @category models
 */
export type ProtocolVersion = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3"

/**
 * Peer verification:
 * - `"none"`: do not verify (`SSL_VERIFY_NONE`); a server does not ask for a client certificate.
 * - `"peer"`: verify the peer's chain (`SSL_VERIFY_PEER`); a server asks for a client
 *   certificate but accepts a client without one.
 * - `"require"`: as `"peer"`, and a server rejects a client without a certificate
 *   (`SSL_VERIFY_FAIL_IF_NO_PEER_CERT`).
 *
 * @since 0.1.0
 * @category models
 */
export type VerifyMode = "none" | "peer" | "require"

/**
 * Session cache mode (`SSL_CTX_set_session_cache_mode`).
 *
 * @since 0.1.0
 * @category models
 */
export type SessionCacheMode = "off" | "client" | "server" | "both"

/**
 * A context configuration after validation: what the binding applies with
 * `SSL_CTX_new` and the `SSL_CTX_set_*` calls. Built by `SslContext.make` from the user's
 * options.
 *
 * @since 0.1.0
 * @category models
 */
export interface ContextConfig {
  readonly role: Role
  readonly minProtocol: ProtocolVersion | undefined
  readonly maxProtocol: ProtocolVersion | undefined
  /** The caller's flags plus the defaults (`NO_RENEGOTIATION`, `CIPHER_SERVER_PREFERENCE` for servers). */
  readonly options: ReadonlyArray<OptionFlag>
  /** Accept renegotiation: a server also sets `ALLOW_CLIENT_RENEGOTIATION` where the library has it (3.0+). */
  readonly allowRenegotiation: boolean
  readonly verifyMode: VerifyMode
  readonly verifyDepth: number | undefined
  readonly sessionTimeoutSeconds: number | undefined
  readonly sessionCacheMode: SessionCacheMode | undefined
  readonly trustedCertificates: ReadonlyArray<string>
  readonly trustSystemDefaults: boolean
  readonly certificate:
    | {
      /** The PEM CERTIFICATE blocks, leaf first, one per entry. */
      readonly chain: ReadonlyArray<string>
      readonly key: Redacted.Redacted<string>
      readonly passphrase: Redacted.Redacted<string> | undefined
    }
    | undefined
  /** TLS ≤ 1.2 cipher list: the caller's, or the default (ECDHE with AEAD suites). */
  readonly cipherList: string
  readonly ciphersuites: string | undefined
  readonly groups: string | undefined
  readonly alpnProtocols: ReadonlyArray<string> | undefined
  /** Report TLS secrets in NSS key log format to the connections' `keylog` callbacks. */
  readonly keylog: boolean
}

/**
 * Settings read back from a native object, for inspection and tests. `options` holds the
 * named flags that are set; `optionBits` the raw `SSL_OP_*` mask.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** The method's role: compared by identity with `TLS_{client,server,}_method()`. */
  readonly role: Role
  readonly minProtocol: ProtocolVersion | undefined
  readonly maxProtocol: ProtocolVersion | undefined
  readonly options: ReadonlyArray<OptionFlag>
  readonly optionBits: bigint
  /** The `SSL_MODE_*` mask. */
  readonly mode: number
  readonly verifyMode: VerifyMode
  /** The raw `SSL_VERIFY_*` mask (includes `CLIENT_ONCE` / `POST_HANDSHAKE` if set). */
  readonly verifyModeBits: number
  readonly verifyDepth: number
  /** The TLS ≤ 1.2 cipher names, in preference order (TLS 1.3 suites included, as OpenSSL lists them). */
  readonly ciphers: ReadonlyArray<string>
  /** Session lifetime in seconds, from the (session) context. */
  readonly sessionTimeoutSeconds: number
  readonly sessionCacheMode: SessionCacheMode
}

/**
 * Settings of an `SSL` handle: the context-level ones plus per-connection state.
 *
 * @since 0.1.0
 * @category models
 */
export interface SslSettings extends Settings {
  /** `SSL_is_server`: accept state (true) or connect state (false). */
  readonly isServer: boolean
  /** The SNI host name set on this handle (`SSL_get_servername`), if any. */
  readonly hostName: string | undefined
  /** `SSL_in_before`: true while the handshake has not started. */
  readonly inBefore: boolean
  /**
   * What the peer's certificate is checked against, as OpenSSL holds it: the DNS name, or the IP
   * address in OpenSSL's text form (IPv6 as eight upper-case hex groups). Undefined when none is
   * set, or on OpenSSL 1.1.1, which cannot read it back.
   */
  readonly verifyHost: string | undefined
}

/**
 * A native object as the binding names it: its address, the id stamped on it (unique in the
 * process), and the binding that made it. A binding refuses refs of another binding: two
 * OpenSSLs in one process must never see each other's objects.
 *
 * @since 0.1.0
 * @category models
 */
export interface NativeRef {
  readonly kind: NativeKind
  readonly address: bigint
  readonly id: number
  /** The binding (or model) that made this ref; compared by identity. */
  readonly owner: object
}

/**
 * A native object was freed (observed by an ex_data free callback, or by the model).
 *
 * @since 0.1.0
 * @category models
 */
export interface FreeEvent {
  readonly kind: NativeKind
  readonly id: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Version {
  /** e.g. `"OpenSSL 3.0.19 27 Jan 2026"`. */
  readonly text: string
  /** `OpenSSL_version_num()`, e.g. `0x30000130`. */
  readonly number: number
  readonly major: number
  readonly minor: number
  readonly patch: number
}

/**
 * What the library in use can do, detected by symbol and version.
 *
 * @since 0.1.0
 * @category models
 */
export interface Features {
  /** Named `SSL_OP_*` flags this library knows. */
  readonly optionFlags: ReadonlyArray<OptionFlag>
  /** Hybrid post-quantum key exchange groups (`X25519MLKEM768`, OpenSSL ≥ 3.5). */
  readonly postQuantumGroups: boolean
  /** `SSL_CTX_set_keylog_callback`. */
  readonly keylog: boolean
  /** `SSL_CTX_set_client_hello_cb`. */
  readonly clientHelloCallback: boolean
  /** RFC 8879 certificate compression (`SSL_CTX_compress_certs`, OpenSSL ≥ 3.2). */
  readonly certificateCompression: boolean
}

/**
 * What one step of `SSL_do_handshake` left to do, from `SSL_get_error`. `"want-client-hello"`:
 * the client-hello callback paused the handshake (asynchronous work is pending); call again.
 *
 * @since 0.1.0
 * @category models
 */
export type HandshakeStep = "done" | "want-read" | "want-write" | "want-client-hello"

/**
 * Statuses returned (as negative numbers) by `Io.read`, `Io.write` in place of a byte count. A
 * number keeps the data path free of allocations.
 *
 * @since 0.1.0
 * @category models
 */
export const IoStatus = {
  /** More ciphertext from the peer is needed. */
  WantRead: -1,
  /** Ciphertext must be drained to the peer first. */
  WantWrite: -2,
  /** The peer sent close_notify: no more plaintext will come. */
  Closed: -3
} as const

/**
 * Progress of `SSL_shutdown`: `"sent"` our close_notify is queued, `"done"` both directions
 * are closed.
 *
 * @since 0.1.0
 * @category models
 */
export type ShutdownStep = "sent" | "done"

/**
 * Per-connection callbacks, named as the options that set them (`TlsEngine.Options`). The binding
 * registers one native trampoline per kind, once per process (koffi has no user-data pointer),
 * and dispatches by the object id stamped on the `SSL`. Every trampoline catches what a handler
 * throws and returns that callback's fail-closed value; the thrown value is kept for
 * `Io.takeCallbackFailure` after the native call returns.
 *
 * @since 0.1.0
 * @category models
 */
export interface SslCallbacks {
  /** Override verification per certificate; return false to reject. */
  readonly verify?: ((step: VerifyStep) => boolean) | undefined
  /** NSS key log lines (`SSLKEYLOGFILE` format). */
  readonly keylog?: ((line: string) => void) | undefined
  /** A new session for this connection: return true to keep it (ownership of one reference passes to the handler). */
  readonly newSession?: ((session: NativeRef) => boolean) | undefined
  /**
   * Server: a ClientHello arrived. `"retry"` pauses the handshake (`"want-client-hello"`) so
   * async work can run; the callback is called again on the next handshake step.
   */
  readonly clientHello?: ((hello: ClientHelloInfo) => "accept" | "retry" | "reject") | undefined
  /** Server: the context for the SNI name; undefined keeps the current one, `"reject"` sends `unrecognized_name`. */
  readonly sni?: ((name: string | undefined) => NativeRef | undefined | "reject") | undefined
  /**
   * Server: choose an ALPN protocol among the client's: a name, `false` to refuse the handshake
   * with `no_application_protocol` (RFC 7301 §3.2), or `undefined` to go on without ALPN.
   */
  readonly alpnSelect?: ((offered: ReadonlyArray<string>) => string | false | undefined) | undefined
}

/**
 * Key types for certificates issued through libcrypto.
 *
 * @since 0.1.0
 * @category models
 */
export type KeyType = "P-256" | "Ed25519" | "RSA-2048"

/**
 * A certificate to issue (through libcrypto).
 *
 * @since 0.1.0
 * @category models
 */
export interface CertificateRequest {
  readonly subject: { readonly commonName: string; readonly organization?: string | undefined }
  /** The subject's private key (PEM, PKCS#8). */
  readonly key: Redacted.Redacted<string>
  /** `DNS:` names and `IP:` addresses, e.g. `["DNS:localhost", "IP:127.0.0.1"]`. */
  readonly subjectAltNames?: ReadonlyArray<string> | undefined
  readonly notBefore: Date
  readonly notAfter: Date
  /** A CA certificate (basicConstraints CA:TRUE, keyCertSign). */
  readonly isCa: boolean
  readonly pathLength?: number | undefined
  readonly extendedKeyUsage?: ReadonlyArray<"serverAuth" | "clientAuth"> | undefined
  /** The issuer; self-signed when absent. */
  readonly issuer?: { readonly certificate: string; readonly key: Redacted.Redacted<string> } | undefined
  readonly serialNumber?: bigint | undefined
}

/**
 * Contexts and handles: their lifecycle and settings. What the lifecycle model implements in
 * full.
 *
 * @since 0.1.0
 * @category capabilities
 */
export interface Handles {
  /** `SSL_CTX_new` and configuration; the returned object has one reference. */
  readonly contextNew: (config: ContextConfig) => NativeRef
  /** `SSL_CTX_free`: drops one reference. */
  readonly contextFree: (ctx: NativeRef) => void
  readonly contextSettings: (ctx: NativeRef) => Settings
  /** `SSL_new`: a handle with one reference, inheriting the context's settings. */
  readonly sslNew: (ctx: NativeRef) => NativeRef
  /** `SSL_up_ref`. */
  readonly sslUpRef: (ssl: NativeRef) => void
  /** `SSL_free`: drops one reference. */
  readonly sslFree: (ssl: NativeRef) => void
  /**
   * `SSL_dup`. A new object (fresh id, library-owned ex_data reset) while `ssl` is in its
   * initial state; otherwise the same object with one more reference.
   */
  readonly sslDup: (ssl: NativeRef) => NativeRef
  /** `SSL_in_before`. */
  readonly sslInBefore: (ssl: NativeRef) => boolean
  readonly sslSettings: (ssl: NativeRef) => SslSettings
  /** `SSL_set_connect_state` / `SSL_set_accept_state`. */
  readonly sslSetRole: (ssl: NativeRef, role: "client" | "server") => void
  /** `SSL_set_tlsext_host_name` (SNI): a name parsed by `HostName.parse`. */
  readonly sslSetHostName: (ssl: NativeRef, hostName: DnsName) => void
  /**
   * What the peer's certificate must match: a DNS name (`X509_VERIFY_PARAM_set1_host`, given its
   * length so that OpenSSL itself refuses an embedded NUL) or an IP address
   * (`X509_VERIFY_PARAM_set1_ip_asc`), as parsed by `HostName.parse`.
   */
  readonly sslSetVerifyHost: (ssl: NativeRef, host: HostName) => void
}

/**
 * The start of a handshake over memory BIOs: what decides whether `SSL_dup` copies or shares,
 * and what the lifecycle model also implements (the first steps, before any record is
 * exchanged).
 *
 * @since 0.1.0
 * @category capabilities
 */
export interface Handshake {
  /**
   * Attach a fresh pair of memory BIOs (`SSL_set_bio` takes them): ciphertext in and out. A
   * handle that already has BIOs has a driver: `TlsError` `"DriverConflict"`.
   */
  readonly attachMemory: (ssl: NativeRef) => void
  /** One `SSL_do_handshake` call. */
  readonly step: (ssl: NativeRef) => HandshakeStep
}

/**
 * Records over the memory BIOs, and what a connection can tell or be asked once it runs: the
 * engine's data path. Each operation is one native call or a few (~40 ns each through koffi).
 *
 * @since 0.1.0
 * @category capabilities
 */
export interface Io {
  /**
   * A buffer of `size` bytes for a native call to fill, left uninitialized where the platform
   * allows (it is written before it is read): the data path allocates its read buffers and the
   * slabs its outputs are carved from with it. A plain `Uint8Array`, whose `slice` copies (a Node
   * `Buffer`'s would share memory).
   */
  readonly allocate: (size: number) => Uint8Array
  /** Feed ciphertext received from the peer into the input BIO. */
  readonly feed: (ssl: NativeRef, bytes: Uint8Array) => void
  /** Drain ciphertext for the peer from the output BIO into `into`; returns the byte count (0: nothing yet). */
  readonly drain: (ssl: NativeRef, into: Uint8Array) => number
  /** Bytes waiting in the output BIO. */
  readonly pendingOutput: (ssl: NativeRef) => number
  /** The transport reached end of stream: the input BIO reports EOF once drained. */
  readonly inputEnded: (ssl: NativeRef) => void
  /** `SSL_read` into `into`: plaintext bytes read (> 0), or an `IoStatus`. Throws a `TlsError`. */
  readonly read: (ssl: NativeRef, into: Uint8Array) => number
  /** `SSL_write` of `data`: bytes accepted (> 0; partial writes enabled), or an `IoStatus`. */
  readonly write: (ssl: NativeRef, data: Uint8Array) => number
  /** One `SSL_shutdown` call. */
  readonly shutdown: (ssl: NativeRef) => ShutdownStep
  /** Per-connection callbacks (undefined clears them). */
  readonly setCallbacks: (ssl: NativeRef, callbacks: SslCallbacks | undefined) => void
  /** What a callback threw during the last native call on this handle, if anything (then cleared). */
  readonly takeCallbackFailure: (ssl: NativeRef) => { readonly cause: unknown } | undefined
  /** What the connection negotiated, the peer's chain copied out as DER. */
  readonly info: (ssl: NativeRef) => ConnectionInfo
  /** `SSL_export_keying_material` (RFC 5705 / 8446 exporter). */
  readonly exportKeyingMaterial: (
    ssl: NativeRef,
    label: string,
    length: number,
    context: Uint8Array | undefined
  ) => Uint8Array
}

/**
 * `SSL_SESSION` objects.
 *
 * @since 0.1.0
 * @category capabilities
 */
export interface Sessions {
  /** `SSL_set_session`: the handle takes its own reference. */
  readonly set: (ssl: NativeRef, session: NativeRef) => void
  /** `SSL_SESSION_up_ref`. */
  readonly upRef: (session: NativeRef) => void
  /** `SSL_SESSION_free`. */
  readonly free: (session: NativeRef) => void
  /** `i2d_SSL_SESSION`. */
  readonly toBytes: (session: NativeRef) => Uint8Array
  /** `d2i_SSL_SESSION`: a new session with one reference. Throws on malformed input or trailing bytes. */
  readonly fromBytes: (bytes: Uint8Array) => NativeRef
  /** `SSL_SESSION_is_resumable`. */
  readonly isResumable: (session: NativeRef) => boolean
}

/**
 * Certificates and keys through libcrypto.
 *
 * @since 0.1.0
 * @category capabilities
 */
export interface Pki {
  /** Parse a DER certificate. */
  readonly parseCertificate: (der: Uint8Array) => CertificateInfo
  /** Generate a private key, PEM (PKCS#8). */
  readonly generateKey: (type: KeyType) => Redacted.Redacted<string>
  /** Issue (sign) a certificate, PEM. */
  readonly issueCertificate: (request: CertificateRequest) => string
}

/**
 * Native frees, as they happen (an ex_data free callback, or the model's own events).
 *
 * @since 0.1.0
 * @category capabilities
 */
export interface Frees {
  /** Subscribe; returns the unsubscribe function. */
  readonly observe: (listener: (event: FreeEvent) => void) => () => void
}

/**
 * The binding's interface, in capability records: `handles` and `handshake` (which the
 * lifecycle model implements), and, where the implementation has them, `io`, `sessions`, `pki`
 * and `frees`. Operations throw `SslError` values (never anything else) when a native call
 * fails; a failing constructor has released whatever it allocated.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenSsl {
  readonly [TypeId]: TypeId
  /** Where the implementation comes from: Node's own OpenSSL, an external library, or a model. */
  readonly implementation: "node" | "library" | "model"
  readonly version: Version
  readonly features: Features
  readonly handles: Handles
  readonly handshake: Handshake
  /** The data path; absent from the lifecycle model. */
  readonly io: Io | undefined
  readonly sessions: Sessions | undefined
  readonly pki: Pki | undefined
  /** Present when native frees are observed (`NodeOpenSsl.layerLibrary({ libssl, observeFrees: true })`, the model). */
  readonly frees: Frees | undefined
}

/**
 * The capability records an implementation may leave out.
 *
 * @since 0.1.0
 * @category models
 */
export type Capability = "io" | "sessions" | "pki" | "frees"

/**
 * A capability record, or `UnsupportedError` naming the operation that needed it.
 *
 * @since 0.1.0
 * @category accessors
 */
export const capability = <K extends Capability>(
  openssl: OpenSsl,
  name: K,
  operation: string
): NonNullable<OpenSsl[K]> => {
  const record = openssl[name]
  if (record === undefined) {
    throw new UnsupportedError({
      operation,
      reason: `this OpenSsl (${openssl.implementation}) has no ${name}: run it against a real binding (NodeOpenSsl)`
    })
  }
  return record as NonNullable<OpenSsl[K]>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const OpenSsl: Context.Tag<OpenSsl, OpenSsl> = Context.GenericTag<OpenSsl>("@effect-openssl/core/OpenSsl")
