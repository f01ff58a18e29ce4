/**
 * `@effect/platform`'s `SocketServer` over TCP and this library's TLS: the handler of `run`
 * gets each connection's plaintext `Socket` once its handshake is done (and, with the server
 * context's verify mode, the client's certificate verified). The socket is a `TlsSocket`:
 * `socket.connection.info` tells the protocol, cipher, SNI name, ALPN protocol, the peer's
 * chain and whether the session was resumed.
 *
 * ```ts
 * const EchoLive = Layer.scopedDiscard(Effect.gen(function*() {
 *   const server = yield* SocketServer.SocketServer
 *   yield* Effect.forkScoped(server.run((socket) => Effect.gen(function*() {
 *     const write = yield* socket.writer
 *     yield* socket.run(write)
 *   })))
 * })).pipe(
 *   Layer.provide(NodeTlsSocketServer.layer({ port: 8443 })),
 *   Layer.provide(ServerContext.layer({ certificate: { chainFile: "cert.pem", keyFile: "key.pem" } }))
 * )
 * ```
 *
 * Limits are on by default (handshake and idle timeouts, connections and handshakes at once,
 * see `ServeOptions`), handshakes and connections are counted in `TlsMetrics`, and each accept
 * runs in an `effect_openssl.accept` span. A connection gets a fiber (its handler's) only once
 * its handshake is done: until then it is served from its socket's callbacks. When the layer's
 * scope closes the server stops accepting, closes the connections still in their handshake,
 * sends close_notify on every other connection, waits up to `drainTimeout` for them to end,
 * then closes the rest (their handlers are interrupted).
 *
 * @since 0.1.0
 */
import type { ServerContext } from "@effect-openssl/core/ServerContext"
import type { InvalidOptionError } from "@effect-openssl/core/SslError"
import * as TlsSocket from "@effect-openssl/core/TlsSocket"
import type { TransportError } from "@effect-openssl/core/Transport"
import type * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as TlsServer from "./internal/tlsServer.js"

/**
 * Where to listen, limits, graceful shutdown, and the callbacks of each connection.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = TlsServer.ServeOptions

/**
 * A TLS `SocketServer`, bound at once (port 0 picks a free port; `address` reports it).
 * Connections that arrive before `run` wait for it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<SocketServer.SocketServer["Type"], TransportError | InvalidOptionError, ServerContext | Scope.Scope> =>
  Effect.map(TlsServer.make(options), (server) =>
    SocketServer.SocketServer.of({
      address: { _tag: "TcpAddress", hostname: server.address.address, port: server.address.port },
      run: <R, E, _>(handler: (socket: Socket.Socket) => Effect.Effect<_, E, R>) =>
        Effect.scoped(Effect.flatMap(FiberSet.makeRuntime<R>(), (runFork) =>
          // Each connection's handler is a fiber of the run, from its handshake on; fibers
          // still running once the server has shut down (see `drainTimeout`) are interrupted.
          server.run({
            serve: (connection, done) => {
              runFork(
                Effect.scoped(handler(TlsSocket.fromConnection(connection))).pipe(
                  Effect.catchAllCause((cause) => Effect.logDebug("connection ended with a failure", cause)),
                  Effect.ensuring(Effect.sync(done))
                )
              )
            }
          })))
    }))

/**
 * The TLS `SocketServer` as a layer; it needs a `ServerContext` (the certificates).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError, ServerContext> =>
  Layer.scoped(
    SocketServer.SocketServer,
    Effect.mapError(make(options), (cause) => new SocketServer.SocketServerError({ reason: "Open", cause }))
  )
