/**
 * A `TlsConnection` as a Node `stream.Duplex` of plaintext, so `node:http`, `node:https` and
 * other stream-based code run over this library's TLS:
 *
 * ```ts
 * // an HTTP server over connections accepted here
 * const conn = yield* TlsConnection.accept(yield* NodeTransport.fromDuplex(socket), context)
 * const duplex = yield* NodeTlsDuplex.make(conn)
 * httpServer.emit("connection", duplex)
 * yield* NodeTlsDuplex.awaitClose(duplex)
 *
 * // an HTTP client
 * http.request({ createConnection: () => duplex, path: "/" })
 * ```
 *
 * The stream runs on the connection's callback forms (`TlsConnection.unsafe`), with no fiber or
 * promise per chunk: plaintext is pushed in the same synchronous step that read it from the
 * engine (a `push` that returns false pauses delivery, and the transport, until the next
 * `_read`), and the peer's close_notify ends the readable side. A write completes once its
 * ciphertext was handed to the transport, so Node's own write backpressure applies. `end()`
 * sends close_notify. A TLS failure destroys the stream with the typed error. The connection
 * itself belongs to its scope, whose closing sends close_notify if `end()` did not.
 *
 * @since 0.1.0
 */
import type { SslContext } from "@effect-openssl/core/SslContext"
import type { InvalidOptionError } from "@effect-openssl/core/SslError"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import type { TransportError } from "@effect-openssl/core/Transport"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as net from "node:net"
import type { Duplex } from "node:stream"
import { acquireSyncRelease } from "./internal/scoped.js"
import { checkLinger, closeGracefully, streamPushTransport } from "./internal/streamTransport.js"
import { listenTcp } from "./internal/tcpListener.js"
import { TlsDuplex } from "./internal/tlsDuplex.js"
import type * as NodeTransport from "./NodeTransport.js"

/**
 * Stream options.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Keep the writable side open after the peer's close_notify. Default false, as for a
   * `net.Socket`: the stream then ends its side (sending close_notify) when the peer ends.
   */
  readonly allowHalfOpen?: boolean | undefined
  /** Plaintext bytes buffered on the readable side before reading from the connection pauses. */
  readonly readableHighWaterMark?: number | undefined
  /** Plaintext bytes buffered on the writable side before `write()` returns false. */
  readonly writableHighWaterMark?: number | undefined
}

/**
 * A Duplex over `connection`, running its effects with the runtime of the calling fiber.
 * Destroyed when the scope closes (the release waits for the stream's `close`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  connection: TlsConnection.TlsConnection,
  options: Options = {}
): Effect.Effect<Duplex, never, Scope.Scope> =>
  acquireSyncRelease(
    () => new TlsDuplex(connection, options),
    (duplex) => Effect.zipRight(Effect.sync(() => duplex.destroy()), awaitClose(duplex))
  )

/**
 * Wait until a stream emitted `close` (at once if it already did). A per-connection scope
 * that hands its Duplex to a server can wait on this before it closes.
 *
 * @since 0.1.0
 * @category combinators
 */
export const awaitClose = (stream: Duplex): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (stream.closed) return resume(Effect.void)
    const onClose = () => resume(Effect.void)
    stream.once("close", onClose)
    return Effect.sync(() => stream.off("close", onClose))
  })

/**
 * Options of `listen`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListenOptions extends NodeTransport.ListenOptions {
  /** Server options of each connection (callbacks, timeouts). */
  readonly accept?: TlsConnection.AcceptOptions | undefined
  /** Options of each connection's Duplex. */
  readonly duplex?: Options | undefined
  /** What a connection that failed (its handshake, or later) is given to; default: nothing. */
  readonly onConnectionError?: ((error: TlsConnection.TlsConnectionError) => Effect.Effect<void>) | undefined
}

/**
 * Serve `server` over this library's TLS: listen on TCP, accept each connection, and hand
 * `server` its Duplex through the `"connection"` event once the handshake completed, as a
 * `net.Server` hands sockets to a non-listening `http.Server`:
 *
 * ```ts
 * const address = yield* NodeTlsDuplex.listen(http.createServer(app), context, { port: 8443 })
 * ```
 *
 * Connections are served from callbacks, with no fiber or scope of their own (see
 * `TlsConnection.unsafeAccept`): a connection lives until its Duplex closes, and then its
 * close_notify goes out, its handle is freed and its socket closed gracefully. When the scope
 * closes, listening stops and the open connections are closed (their Duplexes destroyed); the
 * close waits for them. The bound address is returned; a failure to listen is a
 * `TransportError`, an invalid `linger` an `InvalidOptionError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const listen = (
  server: { emit(event: "connection", socket: Duplex): boolean },
  context: SslContext,
  options: ListenOptions = {}
): Effect.Effect<net.AddressInfo, TransportError | InvalidOptionError, Scope.Scope> =>
  Effect.gen(function*() {
    const accept = options.accept ?? {}
    const duplexOptions = options.duplex ?? {}
    const linger = yield* checkLinger(options.linger)
    const tcp = yield* listenTcp(options)
    const runtime = yield* Effect.runtime<never>()
    // What runs as an Effect (onConnectionError, a report of a defect): fibers of the scope.
    const runFork = yield* FiberSet.makeRuntime<never>()
    const onConnectionError = options.onConnectionError

    /** How to close each open connection, and who waits for the last one to go. */
    const open = new Set<() => void>()
    let onEmpty: (() => void) | undefined

    // Sockets come with no-delay set: the listener's server sets it on every accepted socket.
    const serveSocket = (socket: net.Socket) => {
      let duplex: TlsDuplex | undefined
      // Known once `unsafeAccept` returned: `finish` may run before, from within it.
      let accepted: TlsConnection.UnsafeAccepted | undefined = undefined
      let finished = false
      /** Release everything the connection holds, once: close_notify, handle, socket. */
      const finish = () => {
        if (finished) return
        finished = true
        open.delete(close)
        accepted?.release()
        closeGracefully(socket, linger)
        if (open.size === 0) onEmpty?.()
      }
      const close = () => duplex === undefined ? finish() : void duplex.destroy()
      open.add(close)
      accepted = TlsConnection.unsafeAccept(streamPushTransport(socket), context, accept, runtime, (result) => {
        if (Either.isLeft(result)) {
          if (onConnectionError !== undefined) runFork(onConnectionError(result.left))
          return finish()
        }
        duplex = new TlsDuplex(result.right, duplexOptions)
        duplex.once("close", finish)
        try {
          server.emit("connection", duplex)
        } catch (defect) {
          runFork(Effect.logDebug("connection ended with a failure", Cause.die(defect)))
          duplex.destroy()
        }
      })
      // Failed at once, before `accepted` was known.
      if (finished) accepted.release()
    }
    tcp.serve(serveSocket)

    // Runs before the listener's own release (registered after it): connections first.
    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        tcp.serve(undefined)
        for (const close of Array.from(open)) close()
        if (open.size === 0) return resume(Effect.void)
        onEmpty = () => resume(Effect.void)
      })
    )
    return tcp.address
  })

/**
 * The connection under a stream made by `make` (or `listen`), e.g. `req.socket` in a `node:http`
 * handler, to read what it negotiated (`info`); `None` for any other stream.
 *
 * ```ts
 * http.createServer((req, res) => {
 *   const conn = NodeTlsDuplex.connectionOf(req.socket)
 * })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const connectionOf = (stream: unknown): Option.Option<TlsConnection.TlsConnection> =>
  stream instanceof TlsDuplex ? Option.some(stream.connection) : Option.none()
