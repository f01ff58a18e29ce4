/**
 * The koffi binding: provides the `OpenSsl` service over real OpenSSL.
 *
 * - `layer` binds Node's own OpenSSL through the process's exported symbols
 *   (`koffi.load(null)`): exactly `process.versions.openssl`, nothing to install.
 * - `layerLibrary` loads an external OpenSSL 1.1.1 or 3.x with `RTLD_DEEPBIND`, so it binds to
 *   its own libcrypto instead of Node's copy.
 * - `layerConfig` picks between them from `EFFECT_OPENSSL_LIBSSL` / `EFFECT_OPENSSL_LIBCRYPTO`.
 *
 * @since 0.1.0
 */
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { makeBinding } from "./internal/binding.js"
import { isNodeOwn, load, LoadFailure, type LoadFailureReason, type Source } from "./internal/ffi/load.js"
import { readVersion } from "./internal/library.js"

/**
 * Binding OpenSSL failed: the library was not found, a required symbol is missing, the version
 * is older than 1.1.1, koffi has no callback slot left, or free observation was asked where it
 * cannot be had (in a worker, or on the OpenSSL Node itself uses). `tried` names what was
 * attempted.
 *
 * @since 0.1.0
 * @category errors
 */
export class OpenSslLoadError extends Data.TaggedError("OpenSslLoadError")<{
  readonly reason: LoadFailureReason
  readonly tried: ReadonlyArray<string>
  readonly detail: string
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  override get message(): string {
    return `cannot bind OpenSSL (${this.reason}): ${this.detail}; tried ${this.tried.join(", ")}`
  }
}

/**
 * Binding options.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Observe native frees through ex_data free callbacks (`OpenSsl.frees`), for tests and leak
   * hunts. OpenSSL calls the callback for every object of the class freed by that copy of the
   * library, so it needs a copy of the binding's own: an external library (`layerLibrary`, e.g.
   * the system's `libssl.so.3`). On the OpenSSL Node itself uses the layer fails with
   * `SharedWithNode`: Node frees its own TLS objects (node:tls, node:https) during garbage
   * collection, where no JavaScript may run, and the callback would abort the process. Main
   * thread only: in a worker the layer fails with `UnsupportedInWorker` (a free callback must
   * not outlive its thread).
   */
  readonly observeFrees?: boolean | undefined
}

/**
 * Options for an external library.
 *
 * @since 0.1.0
 * @category models
 */
export interface LibraryOptions extends Options {
  /** Path or soname of libssl, e.g. `"libssl.so.3"` or `"/usr/lib/x86_64-linux-gnu/libssl.so.3"`. */
  readonly libssl: string
  /** Path of libcrypto, when it is not found through libssl's own dependencies. */
  readonly libcrypto?: string | undefined
}

const MIN_VERSION = 0x10101000

const describe = (source: Source): Array<string> =>
  source._tag === "Process"
    ? ["the process's own symbols (koffi.load(null))"]
    : source.libcrypto === undefined
    ? [source.libssl]
    : [source.libcrypto, source.libssl]

/**
 * Bind OpenSSL from `source`, as a scoped service (the ex_data registrations are undone when
 * the scope closes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  source: Source,
  options?: Options
): Effect.Effect<OpenSsl, OpenSslLoadError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const loaded = load(source)
        const version = readVersion(loaded.native)
        if (version.number < MIN_VERSION) {
          throw new LoadFailure("UnsupportedVersion", `${version.text} is older than 1.1.1`)
        }
        if (options?.observeFrees === true && isNodeOwn(source, loaded)) {
          throw new LoadFailure(
            "SharedWithNode",
            "observeFrees needs an OpenSSL of the binding's own (NodeOpenSsl.layerLibrary, e.g. libssl.so.3): " +
              "Node frees its own TLS objects during garbage collection, where the free callback cannot run"
          )
        }
        return makeBinding(loaded, {
          implementation: source._tag === "Process" ? "node" : "library",
          observeFrees: options?.observeFrees ?? false
        })
      },
      catch: (e) =>
        e instanceof LoadFailure
          ? new OpenSslLoadError({ reason: e.reason, tried: describe(source), detail: e.detail, cause: e.cause })
          : new OpenSslLoadError({
            reason: e instanceof Error && /callbacks/i.test(e.message) ? "CallbackSlotsExhausted" : "LibraryNotFound",
            tried: describe(source),
            detail: String(e),
            cause: e
          })
    }),
    (binding) => Effect.sync(binding.close)
  ).pipe(Effect.map((binding) => binding.service))

/**
 * Node's own OpenSSL, through the symbols the `node` executable exports.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<OpenSsl, OpenSslLoadError> = Layer.scoped(OpenSsl, make({ _tag: "Process" }))

/**
 * An external OpenSSL (1.1.1 or 3.x), loaded with `RTLD_DEEPBIND`: a copy of its own, beside
 * Node's, so it can observe frees (`observeFrees: true`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLibrary = (options: LibraryOptions): Layer.Layer<OpenSsl, OpenSslLoadError> =>
  Layer.scoped(
    OpenSsl,
    make({ _tag: "Library", libssl: options.libssl, libcrypto: options.libcrypto }, options)
  )

/**
 * Reads `EFFECT_OPENSSL_LIBSSL` (and optionally `EFFECT_OPENSSL_LIBCRYPTO`): an external
 * library when set, Node's own OpenSSL otherwise.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options?: Options
): Layer.Layer<OpenSsl, OpenSslLoadError | ConfigError.ConfigError> =>
  Layer.scoped(
    OpenSsl,
    Effect.flatMap(
      Config.all([
        Config.option(Config.nonEmptyString("EFFECT_OPENSSL_LIBSSL")),
        Config.option(Config.nonEmptyString("EFFECT_OPENSSL_LIBCRYPTO"))
      ]),
      ([libssl, libcrypto]) =>
        make(
          Option.isNone(libssl)
            ? { _tag: "Process" }
            : { _tag: "Library", libssl: libssl.value, libcrypto: Option.getOrUndefined(libcrypto) },
          options
        )
    )
  )
