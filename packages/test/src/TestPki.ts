/**
 * Test certificates, issued in-process through the `OpenSsl` service (`pkiGenerateKey`,
 * `pkiIssueCertificate`): a root CA, intermediates, server and client leaves, self-signed
 * certificates, with P-256, Ed25519 or RSA-2048 keys, chosen subject alternative names (right
 * or wrong host names) and chosen validity (valid, expired, not yet valid). Everything comes
 * out as PEM, keys as `Redacted`; `files` writes them to a temporary directory for
 * command-line peers such as `openssl s_server`, removed when the scope closes.
 *
 * ```ts
 * const pki = yield* TestPki.make()
 * const server = yield* SslContext.make({ role: "server", certificate: pki.server })
 * const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
 * ```
 *
 * @since 0.1.0
 */
import * as HostName from "@effect-openssl/core/HostName"
import * as OpenSsl from "@effect-openssl/core/OpenSsl"
import type { SslError } from "@effect-openssl/core/SslError"
import { isSslError, OpenSslError } from "@effect-openssl/core/SslError"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"

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
   * addresses become `IP:` entries). Servers default to `["localhost", "127.0.0.1", "::1"]`,
   * clients to none. Give other names (e.g. `[TestPki.wrongHostName]`) for a certificate that
   * does not match the host a client connects to.
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
 * A host name under the reserved `.invalid` top-level domain: a server certificate made for it
 * never matches the host a client connects to.
 *
 * @since 0.1.0
 * @category constants
 */
export const wrongHostName = "wrong-host.invalid"

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

/** `DNS:` for names, `IP:` for addresses, as `subjectAltName` wants them. */
const subjectAltNames = (hostNames: ReadonlyArray<string>): Array<string> =>
  // Names may be wildcards (`*.example.org`), which are not host names: only addresses are told apart.
  hostNames.map((name) =>
    Either.getOrUndefined(HostName.parse(name))?._tag === "IpAddress" ? `IP:${name}` : `DNS:${name}`
  )

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
 * A self-signed root CA. Default common name `"effect-openssl test root CA"`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rootCa = (options?: CaOptions): Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> =>
  issue({ ...options, commonName: options?.commonName ?? "effect-openssl test root CA", isCa: true })

/**
 * An intermediate CA signed by `issuer`. Default common name
 * `"effect-openssl test intermediate CA"`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const intermediateCa = (issuer: Issued, options?: CaOptions): Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> =>
  issue({ ...options, commonName: options?.commonName ?? "effect-openssl test intermediate CA", isCa: true, issuer })

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

/**
 * A complete test PKI: root → intermediate → server and client.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pki {
  /** The self-signed root CA. */
  readonly ca: Issued
  /** Signed by `ca`; signs `server` and `client`. */
  readonly intermediate: Issued
  /** `chain` is the server certificate and the intermediate. */
  readonly server: Issued
  /** `chain` is the client certificate and the intermediate. */
  readonly client: Issued
  /** The root certificate, PEM: what both sides trust. */
  readonly trust: string
}

/**
 * Options of `make`: a key type for every certificate, and per-certificate overrides.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  /** Key type of every certificate unless overridden; default `"P-256"`. */
  readonly keyType?: KeyType | undefined
  readonly ca?: CaOptions | undefined
  readonly intermediate?: CaOptions | undefined
  readonly server?: LeafOptions | undefined
  readonly client?: LeafOptions | undefined
}

/**
 * Issue a root CA, an intermediate CA under it (path length 0), and a server and a client
 * certificate under the intermediate.
 *
 * ```ts
 * // an expired server certificate with Ed25519 keys throughout
 * const pki = yield* TestPki.make({ keyType: "Ed25519", server: { validity: "expired" } })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: MakeOptions): Effect.Effect<Pki, SslError, OpenSsl.OpenSsl> => {
  const keyType = options?.keyType ?? "P-256"
  const withKeyType = <O extends CertificateOptions>(overrides: O | undefined) => ({
    ...overrides,
    keyType: overrides?.keyType ?? keyType
  })
  return Effect.gen(function*() {
    const ca = yield* rootCa(withKeyType(options?.ca))
    const intermediate = yield* intermediateCa(ca, {
      ...withKeyType(options?.intermediate),
      pathLength: options?.intermediate?.pathLength ?? 0
    })
    const serverCert = yield* server(intermediate, withKeyType(options?.server))
    const clientCert = yield* client(intermediate, withKeyType(options?.client))
    return { ca, intermediate, server: serverCert, client: clientCert, trust: ca.certificate }
  })
}

/**
 * Writing the temporary files failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class PkiFileError extends Data.TaggedError("PkiFileError")<{
  readonly path: string
  readonly cause: unknown
}> {
  /** @since 0.1.0 */
  override get message(): string {
    return `cannot write ${this.path}: ${String(this.cause)}`
  }
}

/**
 * PEM files in a temporary directory, one per name.
 *
 * @since 0.1.0
 * @category models
 */
export interface TemporaryFiles<K extends string> {
  readonly directory: string
  /** The path of each file, `<directory>/<name>.pem`. */
  readonly paths: { readonly [P in K]: string }
}

const fileName = /^[A-Za-z0-9_-]+$/

/**
 * Write PEM texts to a fresh temporary directory, removed with its contents when the scope
 * closes. Keys (`Redacted` values) are written readable by the owner only.
 *
 * @since 0.1.0
 * @category files
 */
export const writeFiles = <const K extends string>(
  contents: { readonly [P in K]: string | Redacted.Redacted<string> }
): Effect.Effect<TemporaryFiles<K>, PkiFileError, FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function*() {
    const entries = Object.entries(contents) as Array<[K, string | Redacted.Redacted<string>]>
    for (const [name] of entries) {
      if (!fileName.test(name)) {
        return yield* new PkiFileError({ path: name, cause: "a file name is letters, digits, _ and -" })
      }
    }
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const directory = yield* fs.makeTempDirectoryScoped({ prefix: "effect-openssl-pki-" }).pipe(
      Effect.mapError((cause) => new PkiFileError({ path: "a temporary directory", cause }))
    )
    const paths: Record<string, string> = {}
    for (const [name, content] of entries) {
      const file = path.join(directory, `${name}.pem`)
      const secret = Redacted.isRedacted(content)
      yield* fs.writeFileString(file, secret ? Redacted.value(content) : content, {
        mode: secret ? 0o600 : 0o644,
        flag: "wx"
      }).pipe(Effect.mapError((cause) => new PkiFileError({ path: file, cause })))
      paths[name] = file
    }
    return { directory, paths: paths as { readonly [P in K]: string } }
  })

/**
 * The files of a `Pki`.
 *
 * @since 0.1.0
 * @category models
 */
export type PkiFiles = TemporaryFiles<
  | "ca"
  | "caKey"
  | "intermediate"
  | "intermediateKey"
  | "server"
  | "serverKey"
  | "serverChain"
  | "client"
  | "clientKey"
  | "clientChain"
>

/**
 * Write a `Pki` to a temporary directory for command-line peers, removed when the scope
 * closes:
 *
 * ```sh
 * openssl s_server -cert $server -cert_chain $intermediate -key $serverKey -CAfile $ca
 * openssl s_client -connect localhost:4433 -CAfile $ca -verify_hostname localhost
 * ```
 *
 * @since 0.1.0
 * @category files
 */
export const files = (
  pki: Pki
): Effect.Effect<PkiFiles, PkiFileError, FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  writeFiles({
    ca: pki.ca.certificate,
    caKey: pki.ca.key,
    intermediate: pki.intermediate.certificate,
    intermediateKey: pki.intermediate.key,
    server: pki.server.certificate,
    serverKey: pki.server.key,
    serverChain: pki.server.chain,
    client: pki.client.certificate,
    clientKey: pki.client.key,
    clientChain: pki.client.chain
  })
