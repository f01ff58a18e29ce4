/**
 * A server's certificates as a service: a default certificate, more certificates chosen by
 * SNI name, and reloads without restart. Server layers require it and call `acceptOptions`
 * (or `accept`, or, serving from callbacks, `unsafeAcceptOptions`) once per connection.
 *
 * - **Built at layer build time.** Every certificate, key and trust file is read and every
 *   context made before the layer is up: a missing certificate, an unreadable file, a key that
 *   does not match, an expired certificate or any bad option fails the layer with
 *   `InvalidOptionError` naming the option as given (`sni.certificates[1].keyFile`).
 * - **SNI.** Each certificate is chosen for its names (`serverNames`, by default its DNS
 *   subject alternative names): exact names, and wildcards `*.example.org` standing for one
 *   label (RFC 6125), case-insensitive; an exact name wins over a wildcard. Names nothing
 *   claims get the default certificate, or are refused with the `unrecognized_name` alert.
 * - **Rotation.** `reload` (or `reload.schedule`, or `reload.watch` on the files) reads
 *   everything again and builds a new set beside the one in service; new handshakes get it,
 *   connections keep the set they started with, and the old set's contexts are released when
 *   its last connection closes. A set that fails to build is refused with the same typed
 *   errors, and the old one stays in service. A reload that reads what is in service changes
 *   nothing (sessions and tickets stay valid).
 *
 * ```ts
 * const ServerContextLive = ServerContext.layer({
 *   certificate: { chainFile: "/etc/tls/example.org/fullchain.pem", keyFile: "/etc/tls/example.org/key.pem" },
 *   sni: {
 *     certificates: [{ chainFile: "/etc/tls/api/fullchain.pem", keyFile: "/etc/tls/api/key.pem" }],
 *     unknownName: "refuse"
 *   },
 *   reload: { watch: true },
 *   alpnProtocols: ["h2", "http/1.1"]
 * })
 *
 * // per connection, in a server loop
 * const conn = yield* ServerContext.accept(transport, { handshakeTimeout: "10 seconds" })
 * ```
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Credentials from "./Credentials.js"
import { build, filesOf, loadMaterial, type Plan } from "./internal/certificateSet.js"
import { CertificateStore } from "./internal/certificateStore.js"
import { describeValue } from "./internal/describeValue.js"
import { acquireSync } from "./internal/lease.js"
import type { OpenSsl } from "./OpenSsl.js"
import type * as SslContext from "./SslContext.js"
import { InvalidOptionError, type SslError } from "./SslError.js"
import * as TlsConnection from "./TlsConnection.js"
import type { CertificateInfo } from "./TlsInfo.js"
import type { Transport } from "./Transport.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-openssl/core/ServerContext")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The service.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerContext {
  readonly [TypeId]: TypeId
  /**
   * The certificate set new handshakes get. Its contexts are released once a reload replaced it
   * and its connections closed: accept connections through `acceptOptions`, which holds the set.
   */
  readonly current: Effect.Effect<CertificateSet>
  /**
   * What `TlsConnection.accept` needs for one connection, from the current set, which the
   * caller's scope then holds: a reload does not release what a connection started with.
   * One call per connection.
   */
  readonly acceptOptions: Effect.Effect<ConnectionOptions, never, Scope.Scope>
  /**
   * `acceptOptions` for a server that accepts from callbacks, with no scope per connection
   * (`TlsConnection.unsafeAccept`): the current set, held until `release` is called. Call it
   * once the connection is done with, whichever way it ended.
   */
  readonly unsafeAcceptOptions: () => HeldConnectionOptions
  /**
   * Read the certificates, keys and trust again and put the new set in service (or keep the
   * current one when nothing changed). A set that fails to build fails with its typed error
   * and the current one stays in service.
   */
  readonly reload: Effect.Effect<CertificateSet, SslError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const ServerContext: Context.Tag<ServerContext, ServerContext> = Context.GenericTag<ServerContext>(
  "@effect-openssl/core/ServerContext"
)

/**
 * A certificate and the names it is chosen for.
 *
 * @since 0.1.0
 * @category models
 */
export interface CertificateOptions extends Credentials.Certificate {
  /**
   * The SNI names this certificate serves: exact (`api.example.org`) or wildcards for one label
   * (`*.example.org`). Default: the certificate's DNS subject alternative names.
   */
  readonly serverNames?: ReadonlyArray<string> | undefined
}

/**
 * What a ClientHello gets when no certificate claims its name: the default certificate, or
 * the `unrecognized_name` alert (112) and no handshake.
 *
 * @since 0.1.0
 * @category models
 */
export type UnknownNamePolicy = "default" | "refuse"

/**
 * Certificates chosen by SNI name.
 *
 * @since 0.1.0
 * @category models
 */
export interface SniOptions {
  /** Checked in order, before the default certificate: the first to claim a name serves it. */
  readonly certificates?: ReadonlyArray<CertificateOptions> | undefined
  /** A name no certificate claims. Default `"default"`. */
  readonly unknownName?: UnknownNamePolicy | undefined
  /** A ClientHello without a name (e.g. a client connecting to an IP address). Default `"default"`. */
  readonly missingName?: UnknownNamePolicy | undefined
}

/**
 * When to reload besides explicit `reload` calls. Failed background reloads are logged (at
 * warning level) and the set in service stays; successful ones are logged at info level.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReloadOptions {
  /** Reload on this schedule, e.g. `Schedule.spaced("1 hour")` (the first run after the first delay). */
  readonly schedule?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * Reload when something changes in the directories of the certificate, key and trust files
   * (which also sees symbolic links swapped, as certbot and Kubernetes secrets do).
   */
  readonly watch?: boolean | undefined
  /** Quiet time after the last change before reloading, so files written one after the other load together. Default 500 millis. */
  readonly debounce?: Duration.DurationInput | undefined
}

/**
 * Server options: those of `SslContext` (shared by every certificate's context), a default
 * certificate, SNI certificates, trust for client certificates, and reloads.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Omit<SslContext.Options, "role" | "certificate" | "trust"> {
  /** The default certificate: served without SNI, and for names no SNI certificate claims. */
  readonly certificate: CertificateOptions
  readonly sni?: SniOptions | undefined
  /** CAs to verify client certificates against (with `verify.mode` `"peer"` or `"require"`). */
  readonly trust?: Credentials.Trust | undefined
  readonly reload?: ReloadOptions | undefined
}

/**
 * A certificate in service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Certificate {
  readonly context: SslContext.SslContext
  /** The names it is chosen for, lower case. */
  readonly serverNames: ReadonlyArray<string>
  /** The leaf certificate: subject, names, validity, SHA-256 fingerprint. */
  readonly info: CertificateInfo
}

/**
 * The certificates in service at one time.
 *
 * @since 0.1.0
 * @category models
 */
export interface CertificateSet {
  /** 1 for the set the layer was built with, one more for each reload that changed something. */
  readonly generation: number
  readonly default: Certificate
  /** The SNI certificates, in the order given. */
  readonly named: ReadonlyArray<Certificate>
  /** The certificate a ClientHello with this name gets, or `"refuse"` (`unrecognized_name`). */
  readonly select: (serverName: string | undefined) => Certificate | "refuse"
}

/**
 * The arguments of `TlsConnection.accept` for one connection: pass `context` and `sni` on.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  /** The default certificate's context, to make the connection's `SSL` with. */
  readonly context: SslContext.SslContext
  /** Chooses the certificate by name; undefined when there is nothing to choose. */
  readonly sni: TlsConnection.AcceptOptions["sni"]
  /** The set the connection holds. */
  readonly set: CertificateSet
}

/**
 * `ConnectionOptions` held by a caller without a scope (`unsafeAcceptOptions`).
 *
 * @since 0.1.0
 * @category models
 */
export interface HeldConnectionOptions extends ConnectionOptions {
  /** Let go of the set: its contexts are released once nothing holds it. Idempotent. */
  readonly release: () => void
}

const policies: ReadonlyArray<UnknownNamePolicy> = ["default", "refuse"]

/** Whether any certificate, key or trust option names a file. */
const namesFiles = (options: Options): boolean =>
  [options.certificate, ...(options.sni?.certificates ?? [])].some((c) =>
    c?.chainFile !== undefined || c?.keyFile !== undefined
  ) || options.trust?.files !== undefined

/** Checks the options that need no I/O, before any file is read. */
const plan = (options: Options): Effect.Effect<Plan, InvalidOptionError> =>
  Effect.suspend(() => {
    const invalid = (option: string, reason: string) => Effect.fail(new InvalidOptionError({ option, reason }))
    if (typeof options !== "object" || options === null) return invalid("options", "expected an object")
    if (options.certificate === undefined) {
      return invalid("certificate", "a server needs a certificate and its key (chain or chainFile, key or keyFile)")
    }
    const sni = options.sni ?? {}
    if (typeof sni !== "object" || sni === null) return invalid("sni", "expected an object")
    if (sni.certificates !== undefined && !Array.isArray(sni.certificates)) {
      return invalid("sni.certificates", "expected a list of certificates")
    }
    const unknownName = sni.unknownName ?? "default"
    const missingName = sni.missingName ?? "default"
    for (const [option, value] of [["sni.unknownName", unknownName], ["sni.missingName", missingName]] as const) {
      if (!policies.includes(value)) {
        return invalid(option, `expected one of ${policies.join(", ")}, got ${describeValue(value)}`)
      }
    }
    const reload = options.reload ?? {}
    if (typeof reload !== "object" || reload === null) return invalid("reload", "expected an object")
    if (reload.schedule !== undefined && !Schedule.isSchedule(reload.schedule)) {
      return invalid("reload.schedule", "expected a Schedule")
    }
    if (reload.watch !== undefined && typeof reload.watch !== "boolean") {
      return invalid("reload.watch", "expected a boolean")
    }
    if (reload.debounce !== undefined && Duration.decodeUnknown(reload.debounce)._tag === "None") {
      return invalid("reload.debounce", "expected a duration")
    }
    if (reload.watch === true && !namesFiles(options)) {
      return invalid("reload.watch", "nothing to watch: no certificate, key or trust option is a file")
    }
    return Effect.succeed({ options, unknownName, missingName })
  })

/**
 * Build the service in the caller's scope: read and check everything, make the contexts, and
 * start the background reloads asked for. The scope holds the contexts and the reloads.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<ServerContext, SslError, OpenSsl | FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function*() {
    const checked = yield* plan(options)
    // Reloads run later, from any fiber: they read files with this FileSystem and acquire the
    // new contexts into this (the layer's) scope.
    const services = yield* Effect.context<OpenSsl | FileSystem.FileSystem | Scope.Scope>()
    const load = Effect.provide(loadMaterial(options), services)
    const material = yield* load
    const store = new CertificateStore(
      yield* build(checked, material, 1),
      load,
      (material, generation) => Effect.provide(build(checked, material, generation), services)
    )
    yield* Effect.addFinalizer(() => store.close)

    const reload = options.reload ?? {}
    const inBackground = (trigger: string) => logged(store, trigger)
    if (reload.schedule !== undefined) {
      yield* Effect.forkScoped(Effect.schedule(inBackground("schedule"), reload.schedule))
    }
    if (reload.watch === true) {
      const debounce = Duration.decode(reload.debounce ?? "500 millis")
      yield* Effect.forkScoped(watch(filesOf(material), debounce, inBackground("watch")))
    }

    const unsafeAcceptOptions = (): HeldConnectionOptions => {
      const held = store.hold()
      let released = false
      return {
        context: held.context,
        sni: held.sni,
        set: held.set,
        release: () => {
          if (released) return
          released = true
          held.release()
        }
      }
    }
    const acceptOptions: Effect.Effect<ConnectionOptions, never, Scope.Scope> = Effect.orDie(
      acquireSync("ServerContext.acceptOptions", unsafeAcceptOptions, (held) => held.release())
    )
    return {
      [TypeId]: TypeId,
      current: Effect.sync(() => store.current.set),
      acceptOptions,
      unsafeAcceptOptions,
      reload: store.reload
    }
  })

/** A background reload: logged, never failing. */
const logged = (store: CertificateStore, trigger: string): Effect.Effect<void> =>
  Effect.suspend(() => {
    const before = store.current.set.generation
    return store.reload.pipe(
      Effect.flatMap((set) =>
        set.generation === before ? Effect.void : Effect.logInfo("certificates reloaded").pipe(
          Effect.annotateLogs({
            generation: set.generation,
            fingerprints: [set.default, ...set.named].map((c) => c.info.fingerprint256).join(", ")
          })
        )
      ),
      Effect.catchAll((error) =>
        Effect.logWarning(`certificate reload refused, the certificates in service stay: ${error.message}`)
      ),
      Effect.annotateLogs({ module: "ServerContext", trigger })
    )
  })

/**
 * Watch the files' directories (a file replaced by a rename, or a symbolic link swapped, is
 * only seen there) and run `onChange` after each quiet `debounce`. A watch that fails or ends
 * is started again, backing off up to a minute.
 */
const watch = (
  files: ReadonlyArray<string>,
  debounce: Duration.Duration,
  onChange: Effect.Effect<void>
): Effect.Effect<void, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const fs = yield* FileSystem.FileSystem
    const directories = Array.from(new Set(files.map((file) => path.dirname(path.resolve(file)))))
    const once = Stream.mergeAll(directories.map((directory) => fs.watch(directory)), { concurrency: "unbounded" })
      .pipe(
        Stream.debounce(debounce),
        Stream.runForEach(() => onChange),
        Effect.catchAllCause((cause) => Effect.logWarning("watching the certificate files failed", cause)),
        Effect.annotateLogs({ module: "ServerContext" })
      )
    yield* Effect.repeat(once, Schedule.union(Schedule.exponential("1 second"), Schedule.spaced("1 minute")))
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<ServerContext, SslError, OpenSsl | FileSystem.FileSystem | Path.Path> =>
  Layer.scoped(ServerContext, make(options))

/**
 * The options from `Config`: certificates and keys as file paths
 * (`chainFile: Config.string("TLS_CERTIFICATE_FILE")`) or PEM
 * (`chain: Config.string("TLS_CERTIFICATE")`, `key: Config.redacted("TLS_KEY")`), trust as
 * files or PEM.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<ServerContext, ConfigError.ConfigError | SslError, OpenSsl | FileSystem.FileSystem | Path.Path> =>
  Layer.scoped(ServerContext, Effect.flatMap(Config.unwrap(config), make))

/**
 * Accept a connection over `transport` with the current certificate set (held for the rest of
 * the scope) and complete the handshake.
 *
 * @since 0.1.0
 * @category constructors
 */
export const accept = (
  transport: Transport,
  options: Omit<TlsConnection.AcceptOptions, "sni"> = {}
): Effect.Effect<TlsConnection.TlsConnection, TlsConnection.TlsConnectionError, ServerContext | Scope.Scope> =>
  Effect.flatMap(ServerContext, (server) =>
    Effect.flatMap(
      server.acceptOptions,
      ({ context, sni }) => TlsConnection.accept(transport, context, { ...options, sni })
    ))

/**
 * Reload the service's certificates (see `ServerContext.reload`), e.g. on a signal.
 *
 * @since 0.1.0
 * @category accessors
 */
export const reload: Effect.Effect<CertificateSet, SslError, ServerContext> = Effect.flatMap(
  ServerContext,
  (server) => server.reload
)

/**
 * The certificate set in service.
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<CertificateSet, never, ServerContext> = Effect.flatMap(
  ServerContext,
  (server) => server.current
)
