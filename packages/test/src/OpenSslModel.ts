/**
 * A pure TypeScript model of OpenSSL's handle lifecycle, providing the `OpenSsl` service
 * (`implementation: "model"`). Code written against `SslContext` and `Ssl` runs on it unchanged,
 * with no native library, so lifecycle properties (every reference released, nothing freed
 * twice, `dup` tags) can be checked fast and in any environment.
 *
 * What it models, as OpenSSL 3.0 behaves (a differential property test holds it to the real
 * library):
 *
 * - `SSL_CTX_new` (the configuration is taken as the core validated it; settings are computed
 *   from it), reference counts, and `SSL_CTX_free`: an `SSL` holds a reference to its context, so
 *   a context is freed after its last `SSL`.
 * - `SSL_new` (settings inherited from the context, one reference), `SSL_up_ref`, `SSL_free`.
 * - `SSL_dup`: a new object with a fresh id while the handle is before its handshake (role and
 *   mode copied; SNI host name and BIOs not), otherwise the same object with one more reference.
 * - `SSL_in_before`, connect/accept state (setting it puts the handle back before the
 *   handshake, as OpenSSL does), the SNI host name (validated like the binding), the host name to
 *   verify (accepted; only a handshake would use it), attaching memory BIOs once (a second attach is a
 *   `TlsError` `"DriverConflict"`), and the first steps of `SSL_do_handshake`: with a role and
 *   BIOs both sides start and want to read; without them the call fails as OpenSSL's does, with
 *   the `TlsError` the binding makes of it.
 * - Ids stamped from one counter for every kind, and free events in the real order (an `SSL`
 *   before the context it released).
 *
 * Where the real library would crash the process the model fails instead: a use after free or a
 * double free throws `ReleasedHandleError`; a server handshake step after a fatal error without
 * BIOs (a NULL dereference inside OpenSSL 3.0 and 3.5) throws `OpenSslError` caused by
 * `WouldCrash`. Everything that needs a TLS engine or cryptography (records, reads and writes,
 * sessions, callbacks, certificates, keying material) is absent: the model provides the
 * `handles`, `handshake` and `frees` capability records only, and the core fails with
 * `UnsupportedError` naming the operation that needed another. `Settings.ciphers` is always empty: the model does not expand cipher strings.
 *
 * @since 0.1.0
 */
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as internal from "./internal/model.js"

/**
 * A fresh model: its own objects, id counter and free listeners.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<OpenSsl> = Effect.sync(internal.makeModel)

/**
 * The `OpenSsl` service backed by a fresh model.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<OpenSsl> = Layer.effect(OpenSsl, make)

/**
 * The cause of the `OpenSslError` the model throws where the real library would crash the
 * process.
 *
 * @since 0.1.0
 * @category errors
 */
export const WouldCrash: typeof internal.WouldCrash = internal.WouldCrash

/**
 * @since 0.1.0
 * @category errors
 */
export type WouldCrash = internal.WouldCrash

/**
 * The capability records the model provides: `handles`, `handshake` and `frees`. It has no
 * `io`, `sessions` or `pki` (they are `undefined`); the core fails with `UnsupportedError`
 * naming the operation that needed one.
 *
 * @since 0.1.0
 * @category models
 */
export const capabilities: ReadonlyArray<keyof OpenSsl> = internal.capabilities
