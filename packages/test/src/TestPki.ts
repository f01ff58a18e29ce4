/**
 * Test certificates, issued in-process through the core's `Pki` module (the binding's `pki`
 * capability): a complete test PKI in one call (`make`), or a root CA, intermediates, server and
 * client leaves, self-signed certificates, with P-256, Ed25519 or RSA-2048 keys, chosen subject
 * alternative names (right or wrong host names) and chosen validity (valid, expired, not yet
 * valid). Everything comes out as PEM, keys as `Redacted`; `files` writes them to a temporary
 * directory for command-line peers such as `openssl s_server`, removed when the scope closes.
 *
 * ```ts
 * const pki = yield* TestPki.make()
 * const server = yield* SslContext.make({ role: "server", certificate: pki.server })
 * const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
 * ```
 *
 * @since 0.1.0
 */
import type * as OpenSsl from "@effect-openssl/core/OpenSsl"
import * as CorePki from "@effect-openssl/core/Pki"
import type { SslError } from "@effect-openssl/core/SslError"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"

/**
 * @since 0.1.0
 * @category models
 */
export type KeyType = CorePki.KeyType

/**
 * When a certificate is valid (see `Pki.Validity` in the core): `"valid"`, `"expired"`,
 * `"notYetValid"` or explicit dates.
 *
 * @since 0.1.0
 * @category models
 */
export type Validity = CorePki.Validity

/**
 * An issued certificate and its key (see `Pki.Issued` in the core): pass it as
 * `certificate: issued`.
 *
 * @since 0.1.0
 * @category models
 */
export type Issued = CorePki.Issued

/**
 * @since 0.1.0
 * @category models
 */
export type CertificateOptions = CorePki.CertificateOptions

/**
 * @since 0.1.0
 * @category models
 */
export type CaOptions = CorePki.CaOptions

/**
 * @since 0.1.0
 * @category models
 */
export type LeafOptions = CorePki.LeafOptions

/**
 * @since 0.1.0
 * @category models
 */
export type IssueOptions = CorePki.IssueOptions

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
export const defaultHostNames: ReadonlyArray<string> = CorePki.defaultHostNames

/**
 * Generate a private key (PEM, PKCS#8).
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateKey: (keyType: KeyType) => Effect.Effect<Redacted.Redacted<string>, SslError, OpenSsl.OpenSsl> =
  CorePki.generateKey

/**
 * Issue a certificate with a fresh key: signed by `issuer`, or self-signed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const issue: (options: IssueOptions) => Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> = CorePki.issue

/**
 * A self-signed root CA. Default common name `"effect-openssl test root CA"`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rootCa = (options?: CaOptions): Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> =>
  CorePki.rootCa({ ...options, commonName: options?.commonName ?? "effect-openssl test root CA" })

/**
 * An intermediate CA signed by `issuer`. Default common name
 * `"effect-openssl test intermediate CA"`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const intermediateCa = (issuer: Issued, options?: CaOptions): Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> =>
  CorePki.intermediateCa(issuer, {
    ...options,
    commonName: options?.commonName ?? "effect-openssl test intermediate CA"
  })

/**
 * A server certificate signed by `issuer`, for `defaultHostNames` unless `hostNames` says
 * otherwise (e.g. `[TestPki.wrongHostName]`). Default common name: the first host name.
 *
 * @since 0.1.0
 * @category constructors
 */
export const server: (issuer: Issued, options?: LeafOptions) => Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> =
  CorePki.server

/**
 * A client certificate signed by `issuer`. Default common name `"client"`, no host names.
 *
 * @since 0.1.0
 * @category constructors
 */
export const client: (issuer: Issued, options?: LeafOptions) => Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> =
  CorePki.client

/**
 * A self-signed server certificate (not a CA): a peer trusts it only when told to trust this
 * very certificate.
 *
 * @since 0.1.0
 * @category constructors
 */
export const selfSigned: (options?: LeafOptions) => Effect.Effect<Issued, SslError, OpenSsl.OpenSsl> =
  CorePki.selfSigned

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
