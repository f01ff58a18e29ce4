/**
 * `Transport`s over Node streams: a `net.Socket` (TCP), or any `Duplex`. The push form is the
 * stream itself: each `data` event goes to the driver as it is (no copy, no fiber), each send is
 * one `write`, and backpressure is the stream's own (`pause`/`resume`, `write` returning false
 * until `drain`).
 *
 * When the scope closes the stream is closed as `openssl s_server` closes a connection: what was
 * written is flushed and the sending side shut down (`end`, a FIN after the close_notify or the
 * alert), input is read and dropped for a short while, and only then is the stream destroyed.
 * Destroying at once would make the kernel answer a peer that still sends with a reset, and the
 * peer could lose the alert or the tickets sent before it.
 *
 * @since 0.1.0
 */
import type { InvalidOptionError } from "@effect-openssl/core/SslError"
import type { Transport } from "@effect-openssl/core/Transport"
import { TransportError } from "@effect-openssl/core/Transport"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import type { Duplex } from "node:stream"
import { acquireSyncRelease } from "./internal/scoped.js"
import { checkLinger, closeGracefully, streamTransport } from "./internal/streamTransport.js"
import { listenTcp } from "./internal/tcpListener.js"

/**
 * Options of a stream transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * How long a closed transport keeps reading (and dropping) what the peer still sends before it
   * is destroyed. Default 2 seconds; anything but a positive duration is an `InvalidOptionError`
   * before any stream is touched.
   */
  readonly linger?: Duration.DurationInput | undefined
}

/**
 * A transport over a Duplex stream, closed gracefully when the scope closes (see the module
 * note). A `net.Socket` gets `setNoDelay(true)`: output is already gathered into one write per
 * step, and Nagle's algorithm would hold back small records such as an alert. An invalid
 * `linger` fails with `InvalidOptionError` and leaves the stream as it was.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDuplex = (
  stream: Duplex,
  options: Options = {}
): Effect.Effect<Transport, InvalidOptionError, Scope.Scope> =>
  Effect.flatMap(checkLinger(options.linger), (linger) => duplexTransport(stream, linger))

/** `fromDuplex` with the linger already checked: what a listener runs per connection. */
const duplexTransport = (stream: Duplex, linger: Duration.Duration): Effect.Effect<Transport, never, Scope.Scope> =>
  acquireSyncRelease(
    () => {
      if (stream instanceof net.Socket) stream.setNoDelay(true)
      return streamTransport(stream)
    },
    () => Effect.sync(() => closeGracefully(stream, linger))
  )

/**
 * Connect over TCP and give the socket as a transport (closed with the scope).
 *
 * @since 0.1.0
 * @category constructors
 */
export const connectTcp = (
  options: { readonly host: string; readonly port: number } & Options
): Effect.Effect<Transport, TransportError | InvalidOptionError, Scope.Scope> =>
  Effect.flatMap(checkLinger(options.linger), (linger) =>
    Effect.flatMap(
      Effect.async<net.Socket, TransportError>((resume) => {
        const socket = net.connect({ host: options.host, port: options.port })
        const onError = (cause: Error) => resume(Effect.fail(new TransportError({ reason: "Failed", cause })))
        socket.once("error", onError)
        socket.once("connect", () => {
          socket.off("error", onError)
          resume(Effect.succeed(socket))
        })
        return Effect.sync(() => socket.destroy())
      }),
      (socket) => duplexTransport(socket, linger)
    ))

/**
 * A TCP listener whose connections are transports.
 *
 * @since 0.1.0
 * @category models
 */
export interface Listener {
  /** The bound address (port 0 picks a free one). */
  readonly address: net.AddressInfo
  /**
   * Handle every connection: `handler` gets its transport in a scope of its own, closed (the
   * transport gracefully, see the module note) when the handler ends. Runs until interrupted;
   * connections that arrived before are handled first. A handler's failure ends its connection
   * only (it is logged at debug level).
   */
  readonly run: <A, E, R>(
    handler: (transport: Transport) => Effect.Effect<A, E, R | Scope.Scope>
  ) => Effect.Effect<never, never, R>
  /** Stop accepting connections (the port is released); connections being handled go on. */
  readonly stop: Effect.Effect<void>
}

/**
 * Options of `listen`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListenOptions extends Options {
  /** Default: every interface, as `net.Server#listen`. */
  readonly host?: string | undefined
  /** Default 0: a free port (see `address`). */
  readonly port?: number | undefined
  /** The kernel's queue of connections not yet accepted. */
  readonly backlog?: number | undefined
  /**
   * Most connections open at once; beyond, new ones are closed as soon as they are accepted
   * (`net.Server#maxConnections`). Default: no limit.
   */
  readonly maxConnections?: number | undefined
  /** Told of each connection refused by `maxConnections`. */
  readonly onRefused?: (() => void) | undefined
}

/**
 * Listen on TCP, for `TlsConnection.accept`:
 *
 * ```ts
 * const listener = yield* NodeTransport.listen({ port: 8443 })
 * yield* listener.run((transport) =>
 *   Effect.flatMap(TlsConnection.accept(transport, context), (conn) => conn.stream.pipe(Stream.run(conn.sink))))
 * ```
 *
 * Listening stops when the scope closes, after the connections being handled were closed. A
 * failure to listen (a busy port) is a `TransportError`; an invalid `linger`, an
 * `InvalidOptionError` before anything listens.
 *
 * @since 0.1.0
 * @category constructors
 */
export const listen = (
  options: ListenOptions = {}
): Effect.Effect<Listener, TransportError | InvalidOptionError, Scope.Scope> =>
  Effect.flatMap(checkLinger(options.linger), (linger) =>
    Effect.map(listenTcp(options), (tcp) => ({
      address: tcp.address,
      run: <A, E, R>(
        handler: (transport: Transport) => Effect.Effect<A, E, R | Scope.Scope>
      ): Effect.Effect<never, never, R> =>
        Effect.scoped(Effect.gen(function*() {
          const connections = yield* FiberSet.make()
          const runFork = yield* FiberSet.runtime(connections)<R>()
          return yield* Effect.async<never>(() => {
            tcp.serve((socket) => {
              runFork(
                Effect.flatMap(duplexTransport(socket, linger), handler).pipe(
                  Effect.scoped,
                  Effect.catchAllCause((cause) => Effect.logDebug("connection ended with a failure", cause))
                )
              )
            })
            return Effect.sync(() => tcp.serve(undefined))
          })
        })),
      stop: tcp.stop
    })))
