/**
 * Certificates, private keys and trust anchors as options of `ServerContext` and
 * `ClientContext`: PEM given inline, or files read through `@effect/platform`'s `FileSystem`
 * (so the same options work on any platform, and from `Config`). Keys given inline are
 * `Redacted`; a key file's content is kept `Redacted` once read.
 *
 * ```ts
 * // files, as a deployment has them
 * const fromFiles: Credentials.Certificate = { chainFile: "/etc/tls/fullchain.pem", keyFile: "/etc/tls/key.pem" }
 * // PEM, e.g. from a secret store (a TestPki certificate has this shape too)
 * const inline: Credentials.Certificate = { chain: chainPem, key: Redacted.make(keyPem) }
 * ```
 *
 * @since 0.1.0
 */
import type * as Redacted from "effect/Redacted"

/**
 * A certificate chain and its private key: each one inline or from a file, never both.
 *
 * @since 0.1.0
 * @category models
 */
export interface Certificate {
  /** The chain, PEM, leaf first. */
  readonly chain?: string | undefined
  /** A file holding the chain (PEM, leaf first), instead of `chain`. */
  readonly chainFile?: string | undefined
  /** The private key, PEM. */
  readonly key?: Redacted.Redacted<string> | undefined
  /** A file holding the private key (PEM), instead of `key`. */
  readonly keyFile?: string | undefined
  /** Passphrase of an encrypted key. */
  readonly passphrase?: Redacted.Redacted<string> | undefined
}

/**
 * What to trust when verifying the peer: CA certificates inline and from files, and
 * OpenSSL's default system store (`SSL_CTX_set_default_verify_paths`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Trust {
  /** CA certificates, PEM (one or more blocks per string). */
  readonly certificates?: string | ReadonlyArray<string> | undefined
  /** Files of CA certificates, PEM (one or more blocks per file). */
  readonly files?: string | ReadonlyArray<string> | undefined
  /**
   * Also trust the system's default store. Default: true when verifying and no certificates
   * or files are given.
   */
  readonly systemDefaults?: boolean | undefined
}
