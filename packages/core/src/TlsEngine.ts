/**
 * The sans-IO TLS engine: memory BIOs attached to an `Ssl`, and you move the bytes. `feed`
 * ciphertext in, `takeOutput` ciphertext out, and step the handshake, reads, writes and
 * shutdown, each as one Effect operation. `TlsConnection` drives an engine over a transport;
 * use the engine directly for transports of your own that are not byte streams (datagrams,
 * message queues) or to measure.
 *
 * Attaching is exclusive: a second engine on the same native `SSL` (through an `upRef` or a
 * `Shared` dup) fails with `TlsError` `"DriverConflict"`.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { attach } from "./internal/engine.js"
import type { HandshakeStep } from "./OpenSsl.js"
import type * as Ssl from "./Ssl.js"
import type { SslContext } from "./SslContext.js"
import type { SslError } from "./SslError.js"
import type { SslSession } from "./SslSession.js"
import type { ClientHelloInfo, TlsInfo, VerifyStep } from "./TlsInfo.js"

/**
 * What a read step that produced no plaintext means: more ciphertext is needed, output must be
 * drained first, or the peer sent close_notify.
 *
 * @since 0.1.0
 * @category models
 */
export type ReadStatus = "want-read" | "want-write" | "closed"

/**
 * One `SSL_read`: plaintext, or a status.
 *
 * @since 0.1.0
 * @category models
 */
export type ReadStep = Uint8Array | ReadStatus

/**
 * One `SSL_write`: bytes accepted (partial writes allowed), or a want.
 *
 * @since 0.1.0
 * @category models
 */
export type WriteStep = number | "want-read" | "want-write"

/**
 * What `feedAndReadInto` read: the byte count, and why it stopped (`"full"`: the buffer is full
 * and more plaintext may be waiting).
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadResult {
  readonly read: number
  readonly status: ReadStatus | "full"
}

/**
 * What `writeAndTakeInto` did: plaintext bytes accepted, ciphertext bytes drained into the
 * buffer, and whether all of the data was taken (`"done"`) or the engine wants input first.
 *
 * @since 0.1.0
 * @category models
 */
export interface WriteResult {
  readonly written: number
  readonly output: number
  readonly status: "done" | "want-read" | "want-write"
}

/**
 * What a server's `sni` option chooses for a name: a context (`Some`), the context the
 * connection was made with (`None`), or `"refuse"`: the handshake ends with the
 * `unrecognized_name` alert (112).
 *
 * @since 0.1.0
 * @category models
 */
export type SniChoice = Option.Option<SslContext> | "refuse"

/**
 * Callbacks and role of an engine. Each callback is named as in every other layer
 * (`TlsConnection.AcceptOptions`, the binding's trampolines). A callback that throws or fails
 * fails closed: the handshake is refused, the peer gets an alert, and the error surfaces as
 * `TlsError` `"Callback"` with the cause.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly role: "client" | "server"
  /** Custom verification per certificate; return false to reject (fails closed if it throws). */
  readonly verify?: ((step: VerifyStep) => boolean) | undefined
  /** NSS key log lines (needs `keylog: true` on the context). */
  readonly keylog?: ((line: string) => void) | undefined
  /**
   * Server: accept or reject from the ClientHello. A plain answer is used at once; an Effect
   * pauses the handshake while it runs (`"want-client-hello"`, then `awaitClientHello`).
   */
  readonly clientHello?: ((hello: ClientHelloInfo) => boolean | Effect.Effect<boolean, unknown>) | undefined
  /**
   * Server: the context for the SNI name (a certificate per host). A plain answer is used at
   * once; an Effect pauses the handshake while it runs.
   */
  readonly sni?: ((serverName: string | undefined) => SniChoice | Effect.Effect<SniChoice, unknown>) | undefined
  /**
   * Server: the ALPN protocol among the client's offers; `undefined` when none suits. Default:
   * the context's `alpnProtocols`, in the server's order.
   */
  readonly alpnSelect?: ((offered: ReadonlyArray<string>) => string | undefined) | undefined
  /**
   * Server: when the client offers ALPN protocols and none suits, `"refuse"` (the default)
   * ends the handshake with `no_application_protocol` (120), as RFC 7301 §3.2 requires;
   * `"continue"` goes on without ALPN. A client that offers none is always accepted.
   */
  readonly alpnMismatch?: "refuse" | "continue" | undefined
}

/**
 * A sans-IO engine: one driven `SSL` over memory BIOs.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsEngine {
  readonly ssl: Ssl.Ssl
  readonly role: "client" | "server"
  /** One `SSL_do_handshake`. `"want-client-hello"`: ClientHello work is pending (see `awaitClientHello`). */
  readonly handshakeStep: Effect.Effect<HandshakeStep, SslError>
  /** Wait for pending ClientHello work; then step the handshake again. */
  readonly awaitClientHello: Effect.Effect<void, SslError>
  /** Ciphertext received from the peer. */
  readonly feed: (bytes: Uint8Array) => Effect.Effect<void, SslError>
  /** The transport ended: reads then fail with `UnexpectedEof` unless close_notify came first. */
  readonly endInput: Effect.Effect<void, SslError>
  /**
   * All the ciphertext waiting for the peer, if any, in a buffer nobody else writes to (yours to
   * keep). Outputs up to one record (16.5 KiB) are views into shared 64 KiB slabs, as small Node
   * `Buffer`s are views into a pool: its `byteOffset` may be non-zero, and one kept for long
   * keeps its slab alive.
   */
  readonly takeOutput: Effect.Effect<Option.Option<Uint8Array>, SslError>
  /**
   * `takeOutput` into a buffer of yours, reused from call to call (no allocation per record):
   * up to `into.length` bytes, the count returned (0: nothing waiting). For transports that
   * copy what they are given, such as another engine's `feed`.
   */
  readonly takeOutputInto: (into: Uint8Array) => Effect.Effect<number, SslError>
  /** One `SSL_read`: plaintext, a want, or `"closed"` (close_notify received). */
  readonly readStep: Effect.Effect<ReadStep, SslError>
  /**
   * `readStep` into a buffer of yours: the plaintext byte count (at most one record, 16 KiB),
   * a want, or `"closed"`. The bytes are yours until the next call with the same buffer.
   */
  readonly readInto: (into: Uint8Array) => Effect.Effect<number | ReadStatus, SslError>
  /** One `SSL_write`: bytes accepted (partial writes allowed), or a want. */
  readonly writeStep: (data: Uint8Array) => Effect.Effect<WriteStep, SslError>
  /**
   * `feed` and then `readInto` until `into` is full or no plaintext is left: one operation for
   * what a receiving transport does with each chunk.
   */
  readonly feedAndReadInto: (bytes: Uint8Array, into: Uint8Array) => Effect.Effect<ReadResult, SslError>
  /**
   * `writeStep` until all of `data` is taken (or the engine wants input), then `takeOutputInto`:
   * one operation for what a sending transport does with each write.
   */
  readonly writeAndTakeInto: (data: Uint8Array, into: Uint8Array) => Effect.Effect<WriteResult, SslError>
  /** One `SSL_shutdown`. */
  readonly shutdownStep: Effect.Effect<"sent" | "done", SslError>
  readonly info: Effect.Effect<TlsInfo, SslError>
  /**
   * RFC 5705 / RFC 8446 keying material exporter: `length` bytes, a whole number from 1 to 8160
   * (255 × 32, what every TLS 1.3 suite can export); anything else fails with
   * `InvalidOptionError` before any allocation.
   */
  readonly exportKeyingMaterial: (
    label: string,
    length: number,
    context?: Uint8Array
  ) => Effect.Effect<Uint8Array, SslError>
  /** The latest session received (client) or created, as a new reference in the caller's scope. */
  readonly session: Effect.Effect<Option.Option<SslSession>, SslError, Scope.Scope>
  /** How many sessions the new-session callback delivered so far. */
  readonly sessionsSeen: number
}

/**
 * Attach memory BIOs to `ssl` and drive it sans-IO. Released (callbacks unbound, retained
 * session freed) when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (ssl: Ssl.Ssl, options: Options): Effect.Effect<TlsEngine, SslError, Scope.Scope> =>
  attach(ssl, options)
