/**
 * A client's TLS context as a service: built once from options or `Config` (trust as PEM,
 * files or the system store; an optional client certificate), and required by whatever
 * connects: `ClientContext.connect` here, client layers elsewhere.
 *
 * ```ts
 * const ClientLive = ClientContext.layerConfig({
 *   trust: { files: Config.string("TLS_CA_FILE") },
 *   alpnProtocols: Config.succeed(["h2", "http/1.1"])
 * })
 *
 * const program = Effect.gen(function*() {
 *   const transport = yield* NodeTransport.connectTcp({ host: "example.org", port: 443 })
 *   const conn = yield* ClientContext.connect(transport, { hostName: "example.org" })
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Credentials from "./Credentials.js"
import { contextOptions, loadCertificate, loadTrust, renameOption } from "./internal/credentials.js"
import type { OpenSsl } from "./OpenSsl.js"
import * as SslContext from "./SslContext.js"
import { InvalidOptionError, type SslError } from "./SslError.js"
import * as TlsConnection from "./TlsConnection.js"
import type { Transport } from "./Transport.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-openssl/core/ClientContext")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The service: a client `SslContext`, alive as long as the layer.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientContext {
  readonly [TypeId]: TypeId
  readonly context: SslContext.SslContext
}

/**
 * @since 0.1.0
 * @category tags
 */
export const ClientContext: Context.Tag<ClientContext, ClientContext> = Context.GenericTag<ClientContext>(
  "@effect-openssl/core/ClientContext"
)

/**
 * Client options: those of `SslContext` (verification on by default), with trust and an
 * optional client certificate as `Credentials` (PEM or files).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Omit<SslContext.Options, "role" | "certificate" | "trust"> {
  /** Default: the system's store. */
  readonly trust?: Credentials.Trust | undefined
  /** A client certificate, for servers that ask for one. */
  readonly certificate?: Credentials.Certificate | undefined
}

/**
 * Build the client context: files are read, then `SslContext.make`. A bad option fails with
 * `InvalidOptionError` naming it as given (e.g. `trust.files[1]`, `certificate.keyFile`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<ClientContext, SslError, OpenSsl | FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    if (typeof options !== "object" || options === null) {
      return yield* new InvalidOptionError({ option: "options", reason: "expected an object" })
    }
    const { certificate: certificateOption, trust: trustOption, ...common } = options
    const trust = yield* loadTrust(trustOption)
    const certificate = certificateOption === undefined
      ? undefined
      : yield* loadCertificate("certificate", certificateOption)
    const context = yield* SslContext.make(contextOptions({ ...common, role: "client" }, certificate, trust)).pipe(
      Effect.mapError(renameOption(certificate, trust))
    )
    return { [TypeId]: TypeId, context }
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<ClientContext, SslError, OpenSsl | FileSystem.FileSystem> =>
  Layer.scoped(ClientContext, make(options))

/**
 * The options from `Config`, e.g. `trust: { files: Config.string("TLS_CA_FILE") }`, a client
 * certificate as `chainFile`/`keyFile` paths or as PEM with `key: Config.redacted("TLS_KEY")`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<ClientContext, ConfigError.ConfigError | SslError, OpenSsl | FileSystem.FileSystem> =>
  Layer.scoped(ClientContext, Effect.flatMap(Config.unwrap(config), make))

/**
 * Connect over `transport` with the service's context (see `TlsConnection.connect`: the chain
 * and the host name are verified).
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (
  transport: Transport,
  options: TlsConnection.ConnectOptions
): Effect.Effect<TlsConnection.TlsConnection, TlsConnection.TlsConnectionError, ClientContext | Scope.Scope> =>
  Effect.flatMap(ClientContext, (client) => TlsConnection.connect(transport, client.context, options))
