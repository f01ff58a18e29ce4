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
import type { NativeKind } from "./SslError.js"

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
 * Named `SSL_OP_*` flags. Flags that only exist from OpenSSL 3.0 on are rejected with a
 * typed error on older libraries.
 *
 * @since 0.1.0
 * @category models
 */
export type OptionFlag =
  | "NO_EXTENDED_MASTER_SECRET"
  | "CLEANSE_PLAINTEXT"
  | "LEGACY_SERVER_CONNECT"
  | "ENABLE_KTLS"
  | "TLSEXT_PADDING"
  | "SAFARI_ECDHE_ECDSA_BUG"
  | "IGNORE_UNEXPECTED_EOF"
  | "ALLOW_CLIENT_RENEGOTIATION"
  | "DISABLE_TLSEXT_CA_NAMES"
  | "ALLOW_NO_DHE_KEX"
  | "DONT_INSERT_EMPTY_FRAGMENTS"
  | "NO_QUERY_MTU"
  | "COOKIE_EXCHANGE"
  | "NO_TICKET"
  | "CISCO_ANYCONNECT"
  | "NO_SESSION_RESUMPTION_ON_RENEGOTIATION"
  | "NO_COMPRESSION"
  | "ALLOW_UNSAFE_LEGACY_RENEGOTIATION"
  | "NO_ENCRYPT_THEN_MAC"
  | "ENABLE_MIDDLEBOX_COMPAT"
  | "PRIORITIZE_CHACHA"
  | "CIPHER_SERVER_PREFERENCE"
  | "TLS_ROLLBACK_BUG"
  | "NO_ANTI_REPLAY"
  | "NO_SSLv3"
  | "NO_TLSv1"
  | "NO_TLSv1_2"
  | "NO_TLSv1_1"
  | "NO_TLSv1_3"
  | "NO_RENEGOTIATION"
  | "CRYPTOPRO_TLSEXT_BUG"

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
 * A native object as the binding names it: its address and the id stamped on it.
 *
 * @since 0.1.0
 * @category models
 */
export interface NativeRef {
  readonly kind: NativeKind
  readonly address: bigint
  readonly id: number
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
  /** Native frees are observed through an ex_data free callback. */
  readonly freeObservation: boolean
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
 * Statuses returned (as negative numbers) by `sslRead`, `sslWrite` and `sslShutdown` in place of
 * a byte count. A number keeps the data path free of allocations.
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
 * A parsed X.509 certificate.
 *
 * @since 0.1.0
 * @category models
 */
export interface CertificateInfo {
  readonly der: Uint8Array
  /** Distinguished names, one `KEY=value` per line (as OpenSSL prints them). */
  readonly subject: string
  readonly issuer: string
  /** e.g. `["DNS:localhost", "IP Address:127.0.0.1"]`. */
  readonly subjectAltNames: ReadonlyArray<string>
  readonly validFrom: Date
  readonly validTo: Date
  /** SHA-256 of the DER, upper-case hex with colons (as `openssl x509 -fingerprint -sha256`). */
  readonly fingerprint256: string
  readonly serialNumber: string
}

/**
 * What a connection negotiated.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionInfo {
  /** e.g. `"TLSv1.3"`. */
  readonly protocol: string
  /** e.g. `"TLS_AES_256_GCM_SHA384"`. */
  readonly cipher: string
  readonly alpnProtocol: string | undefined
  /** The SNI name (sent by a client, received by a server). */
  readonly serverName: string | undefined
  readonly sessionReused: boolean
  /** The peer's chain as DER, leaf first (a server's view of a client has the leaf alone when the chain is not sent). */
  readonly peerCertificates: ReadonlyArray<Uint8Array>
}

/**
 * The first certificate verification failure seen during a handshake (from the verify callback).
 *
 * @since 0.1.0
 * @category models
 */
export interface VerifyFailure {
  /** The X509 verification result code, e.g. 62 (`X509_V_ERR_HOSTNAME_MISMATCH`). */
  readonly code: number
  /** `X509_verify_cert_error_string(code)`. */
  readonly reason: string
  /** Depth in the chain (0: the peer's own certificate). */
  readonly depth: number
  /** Subject of the certificate that failed, if there was one. */
  readonly subject: string | undefined
}

/**
 * What the verify hook sees for each certificate of the peer's chain.
 *
 * @since 0.1.0
 * @category models
 */
export interface VerifyStep {
  /** OpenSSL's own verdict for this certificate. */
  readonly preverified: boolean
  readonly code: number
  readonly depth: number
  readonly subject: string | undefined
  /** DER of the certificate being checked. */
  readonly certificate: Uint8Array | undefined
}

/**
 * What a server sees in a ClientHello (from the client-hello callback).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientHelloInfo {
  readonly serverName: string | undefined
  readonly alpnProtocols: ReadonlyArray<string>
  /** Legacy version field of the ClientHello (e.g. 0x303). */
  readonly legacyVersion: number
}

/**
 * Per-connection callbacks. The binding registers one native trampoline per kind (koffi has no
 * user-data pointer) and dispatches by the object id it stamped on the `SSL`. Every trampoline
 * catches what a handler throws and returns a fail-closed value; the thrown value is recorded
 * and taken back with `sslTakeCallbackFailure` after the native call returns.
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
  /** Server: choose a context for the SNI name; undefined keeps the current one. */
  readonly serverName?: ((name: string | undefined) => NativeRef | undefined | "reject") | undefined
  /** Server: choose an ALPN protocol among the client's; undefined declines (no ALPN). */
  readonly alpnSelect?: ((offered: ReadonlyArray<string>) => string | undefined) | undefined
}

/**
 * Key types for test certificates.
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
 * The binding's interface. Methods throw `SslError` values (never anything else) when a
 * native call fails; a failing constructor has released whatever it allocated.
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
  /**
   * A buffer of `size` bytes for a native call to fill, left uninitialized where the platform
   * allows (it is written before it is read): the data path allocates one per record. A plain
   * `Uint8Array`, whose `slice` copies (a Node `Buffer`'s would share memory).
   */
  readonly allocate: (size: number) => Uint8Array

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

  /** Attach a fresh pair of memory BIOs (`SSL_set_bio` takes them): ciphertext in and out. */
  readonly sslAttachMemory: (ssl: NativeRef) => void
  /** Feed ciphertext received from the peer into the input BIO. */
  readonly sslFeed: (ssl: NativeRef, bytes: Uint8Array) => void
  /** Drain ciphertext for the peer from the output BIO into `into`; returns the byte count (0: nothing yet). */
  readonly sslDrain: (ssl: NativeRef, into: Uint8Array) => number
  /** Bytes waiting in the output BIO. */
  readonly sslPendingOutput: (ssl: NativeRef) => number
  /** One `SSL_do_handshake` call. */
  readonly sslHandshake: (ssl: NativeRef) => HandshakeStep
  /** The transport reached end of stream: the input BIO reports EOF once drained. */
  readonly sslInputEnded: (ssl: NativeRef) => void
  /** `SSL_read` into `into`: plaintext bytes read (> 0), or an `IoStatus`. Throws a `TlsError`. */
  readonly sslRead: (ssl: NativeRef, into: Uint8Array) => number
  /** `SSL_write` of `data`: bytes accepted (> 0; partial writes enabled), or an `IoStatus`. */
  readonly sslWrite: (ssl: NativeRef, data: Uint8Array) => number
  /** One `SSL_shutdown` call. */
  readonly sslShutdown: (ssl: NativeRef) => ShutdownStep
  /**
   * What the peer's certificate must match: a DNS name (`X509_VERIFY_PARAM_set1_host`, given its
   * length so that OpenSSL itself refuses an embedded NUL) or an IP address
   * (`X509_VERIFY_PARAM_set1_ip_asc`), as parsed by `HostName.parse`.
   */
  readonly sslSetVerifyHost: (ssl: NativeRef, host: HostName) => void
  /** Per-connection callbacks (undefined clears them). */
  readonly sslSetCallbacks: (ssl: NativeRef, callbacks: SslCallbacks | undefined) => void
  /** What a callback threw during the last native call on this handle, if anything (then cleared). */
  readonly sslTakeCallbackFailure: (ssl: NativeRef) => { readonly cause: unknown } | undefined
  /** The first verification failure of the handshake, if any. */
  readonly sslVerifyFailure: (ssl: NativeRef) => VerifyFailure | undefined
  readonly sslInfo: (ssl: NativeRef) => ConnectionInfo
  /** `SSL_export_keying_material` (RFC 5705 / 8446 exporter). */
  readonly sslExportKeyingMaterial: (
    ssl: NativeRef,
    label: string,
    length: number,
    context: Uint8Array | undefined
  ) => Uint8Array
  /** `SSL_set_session`: the handle takes its own reference. */
  readonly sslSetSession: (ssl: NativeRef, session: NativeRef) => void
  /** `SSL_get1_session`: one new reference to the current session, if there is one. */
  readonly sslGetSession: (ssl: NativeRef) => NativeRef | undefined

  /** `SSL_SESSION_up_ref`. */
  readonly sessionUpRef: (session: NativeRef) => void
  /** `SSL_SESSION_free`. */
  readonly sessionFree: (session: NativeRef) => void
  /** `i2d_SSL_SESSION`. */
  readonly sessionToBytes: (session: NativeRef) => Uint8Array
  /** `d2i_SSL_SESSION`: a new session with one reference. Throws on malformed input. */
  readonly sessionFromBytes: (bytes: Uint8Array) => NativeRef
  /** `SSL_SESSION_is_resumable`. */
  readonly sessionIsResumable: (session: NativeRef) => boolean

  /** Parse a DER certificate. */
  readonly parseCertificate: (der: Uint8Array) => CertificateInfo
  /** Generate a private key, PEM (PKCS#8). */
  readonly pkiGenerateKey: (type: KeyType) => Redacted.Redacted<string>
  /** Issue (sign) a certificate, PEM. */
  readonly pkiIssueCertificate: (request: CertificateRequest) => string

  /**
   * Subscribe to native free events. Returns the unsubscribe function. Only meaningful when
   * `features.freeObservation` is true.
   */
  readonly observeFrees: (listener: (event: FreeEvent) => void) => () => void
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const OpenSsl: Context.Tag<OpenSsl, OpenSsl> = Context.GenericTag<OpenSsl>("@effect-openssl/core/OpenSsl")
