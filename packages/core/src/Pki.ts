/**
 * Certificates issued in-process through the binding's `pki` capability (libcrypto): keys of
 * the usual types, root and intermediate CAs, server and client leaves, self-signed
 * certificates, with chosen subject alternative names and validity. Everything comes out as
 * PEM, keys as `Redacted`; an `Issued` is a `SslContext` certificate option as it is.
 *
 * ```ts
 * const ca = yield* Pki.rootCa({ commonName: "dev CA" })
 * const server = yield* Pki.server(ca, { hostNames: ["localhost", "127.0.0.1"] })
 * const context = yield* SslContext.make({ role: "server", certificate: server })
 * ```
 *
 * `@effect-openssl/test`'s `TestPki` and the `effect-openssl cert` command issue through this
 * module.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Redacted from "effect/Redacted"
import * as HostName from "./HostName.js"
import * as OpenSsl from "./OpenSsl.js"
import type { SslError } from "./SslError.js"
import { isSslError, OpenSslError } from "./SslError.js"

/**
 * @since 0.1.0
 * @category models
 */
export type KeyType = OpenSsl.KeyType

/**
 * When a certificate is valid, relative to the wall clock at the time it is issued:
 * - `"valid"`: from an hour ago (clock skew) to 30 days from now;
 * - `"expired"`: from 30 days ago to yesterday;
 * - `"notYetValid"`: from tomorrow to 30 days from now;
 * - or explicit dates.
 *
 * @since 0.1.0
 * @category models
 */
export type Validity =
  | "valid"
  | "expired"
  | "notYetValid"
  | { readonly notBefore: Date; readonly notAfter: Date }

/**
 * An issued certificate and its key.
 *
 * Structurally a `SslContext` certificate option (`chain` + `key`): pass it as
 * `certificate: issued`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Issued {
  readonly commonName: string
  readonly keyType: KeyType
  /** This certificate alone, PEM. */
  readonly certificate: string
  /** The private key, PEM (PKCS#8). */
  readonly key: Redacted.Redacted<string>
  /**
   * This certificate followed by its issuers up to, not including, the root: what a peer
   * sends in its handshake.
   */
  readonly chain: string
  /** The self-signed certificate at the top of this certificate's hierarchy: what peers trust. */
  readonly root: string
  readonly selfSigned: boolean
}

/**
 * Options common to every certificate.
 *
 * @since 0.1.0
 * @category models
 */
export interface CertificateOptions {
  readonly commonName?: string | undefined
  readonly organization?: string | undefined
  /** Default `"P-256"`. */
  readonly keyType?: KeyType | undefined
  /** Default `"valid"`. */
  readonly validity?: Validity | undefined
  /** Default: 128 random bits. */
  readonly serialNumber?: bigint | undefined
}

/**
 * Options of a CA certificate.
 *
 * @since 0.1.0
 * @category models
 */
export interface CaOptions extends CertificateOptions {
  /** How many intermediates may follow (`basicConstraints` pathlen); default: no limit. */
  readonly pathLength?: number | undefined
}

/**
 * Options of a leaf (end-entity) certificate.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeafOptions extends CertificateOptions {
  /**
   * Host names and IP addresses the certificate is valid for (subject alternative names;
   * addresses become `IP:` entries, anything else a `DNS:` entry, wildcards such as
   * `*.example.org` included). Servers default to `defaultHostNames`, clients to none.
   */
  readonly hostNames?: ReadonlyArray<string> | undefined
  /** Default: `["serverAuth"]` for servers, `["clientAuth"]` for clients. */
  readonly extendedKeyUsage?: ReadonlyArray<"serverAuth" | "clientAuth"> | undefined
}

/**
 * Everything `issue` can set.
 *
 * @since 0.1.0
 * @category models
 */
export interface IssueOptions extends CertificateOptions {
  readonly commonName: string
  readonly isCa: boolean
  readonly pathLength?: number | undefined
  /** Raw subject alternative names, e.g. `["DNS:localhost", "IP:127.0.0.1"]`. */
  readonly subjectAltNames?: ReadonlyArray<string> | undefined
  readonly extendedKeyUsage?: ReadonlyArray<"serverAuth" | "clientAuth"> | undefined
  /** The issuing CA; self-signed when absent. */
  readonly issuer?: Issued | undefined
}

/**
 * The host names a server certificate is made for unless told otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultHostNames: ReadonlyArray<string> = ["localhost", "127.0.0.1", "::1"]

const hour = 3_600_000
const day = 24 * hour

const resolveValidity = (validity: Validity, now: number): { readonly notBefore: Date; readonly notAfter: Date } => {
  switch (validity) {
    case "valid":
      return { notBefore: new Date(now - hour), notAfter: new Date(now + 30 * day) }
    case "expired":
      return { notBefore: new Date(now - 30 * day), notAfter: new Date(now - day) }
    case "notYetValid":
      return { notBefore: new Date(now + day), notAfter: new Date(now + 30 * day) }
    default:
      return validity
  }
}

/** `IP:` for addresses, `DNS:` for anything else (the binding refuses entries it cannot encode). */
const subjectAltNames = (hostNames: ReadonlyArray<string>): Array<string> =>
  hostNames.map((name) => {
    const host = HostName.parse(name)
    return Either.isRight(host) && host.right._tag === "IpAddress" ? `IP:${name}` : `DNS:${name}`
  })

/** One call of the binding's `pki` capability, its throw a typed failure. */
const binding = <A>(
  operation: string,
  f: (pki: OpenSsl.Pki) => A
): Effect.Effect<A, SslError, OpenSsl.OpenSsl> =>
  Effect.flatMap(OpenSsl.OpenSsl, (openssl) =>
    Effect.try({
      try: () => f(OpenSsl.capability(openssl, "pki", operation)),
      // The binding throws SslError values only; anything else is a binding bug, kept as the cause.
      catch: (e) => isSslError(e) ? e : new OpenSslError({ operation, entries: [], cause: e })
    }))

/**
 * Generate a private key (PEM, PKCS#8).
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateKey = (keyType: KeyType): Effect.Effect<Redacted.Redacted<string>, SslError, OpenSsl.OpenSsl> =>
  binding("generateKey", (pki) => pki.generateKey(keyType))

/**
 * Issue a certificate with a fresh key: signed by `issuer`, or self-signed. The building block
 * of the presets below.
 *
 * @since 0.1.0
 * @category constructors
 */
export const issue = (options: IssueOptions): Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> => {
  const keyType = options.keyType ?? "P-256"
  return Effect.gen(function*() {
    const key = yield* generateKey(keyType)
    // The wall clock, not Effect's Clock: OpenSSL checks validity against the real time, and a
    // TestClock (which starts at 0) would issue certificates that expired decades ago.
    const { notAfter, notBefore } = resolveValidity(options.validity ?? "valid", Date.now())
    const issuer = options.issuer
    const certificate = yield* binding("issueCertificate", (pki) =>
      pki.issueCertificate({
        subject: { commonName: options.commonName, organization: options.organization },
        key,
        subjectAltNames: options.subjectAltNames,
        notBefore,
        notAfter,
        isCa: options.isCa,
        pathLength: options.pathLength,
        extendedKeyUsage: options.extendedKeyUsage,
        issuer: issuer === undefined ? undefined : { certificate: issuer.certificate, key: issuer.key },
        serialNumber: options.serialNumber
      }))
    const issued: Issued = {
      commonName: options.commonName,
      keyType,
      certificate,
      key,
      chain: issuer === undefined || issuer.selfSigned ? certificate : certificate + issuer.chain,
      root: issuer === undefined ? certificate : issuer.root,
      selfSigned: issuer === undefined
    }
    return issued
  })
}

/**
 * A self-signed root CA. Default common name `"effect-openssl root CA"`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rootCa = (options?: CaOptions): Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> =>
  issue({ ...options, commonName: options?.commonName ?? "effect-openssl root CA", isCa: true })

/**
 * An intermediate CA signed by `issuer`. Default common name `"effect-openssl intermediate CA"`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const intermediateCa = (issuer: Issued, options?: CaOptions): Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> =>
  issue({ ...options, commonName: options?.commonName ?? "effect-openssl intermediate CA", isCa: true, issuer })

const leaf = (
  options: LeafOptions | undefined,
  defaults: {
    readonly commonName: string
    readonly hostNames: ReadonlyArray<string>
    readonly usage: "serverAuth" | "clientAuth"
  },
  issuer: Issued | undefined
): Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> =>
  issue({
    commonName: options?.commonName ?? defaults.commonName,
    organization: options?.organization,
    keyType: options?.keyType,
    validity: options?.validity,
    serialNumber: options?.serialNumber,
    isCa: false,
    subjectAltNames: subjectAltNames(options?.hostNames ?? defaults.hostNames),
    extendedKeyUsage: options?.extendedKeyUsage ?? [defaults.usage],
    issuer
  })

/**
 * A server certificate signed by `issuer`, for `defaultHostNames` unless `hostNames` says
 * otherwise. Default common name: the first host name.
 *
 * @since 0.1.0
 * @category constructors
 */
export const server = (issuer: Issued, options?: LeafOptions): Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> => {
  const hostNames = options?.hostNames ?? defaultHostNames
  return leaf(options, { commonName: hostNames[0] ?? "server", hostNames, usage: "serverAuth" }, issuer)
}

/**
 * A client certificate signed by `issuer`. Default common name `"client"`, no host names.
 *
 * @since 0.1.0
 * @category constructors
 */
export const client = (issuer: Issued, options?: LeafOptions): Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> =>
  leaf(options, { commonName: "client", hostNames: [], usage: "clientAuth" }, issuer)

/**
 * A self-signed server certificate (not a CA): a peer trusts it only when told to trust this
 * very certificate.
 *
 * @since 0.1.0
 * @category constructors
 */
export const selfSigned = (options?: LeafOptions): Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> => {
  const hostNames = options?.hostNames ?? defaultHostNames
  return leaf(options, { commonName: hostNames[0] ?? "self-signed", hostNames, usage: "serverAuth" }, undefined)
}
