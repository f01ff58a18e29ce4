/**
 * `@effect/platform`'s `HttpServer` over this library's TLS: an `HttpRouter` or `HttpApiBuilder`
 * app moves from `NodeHttpServer.layer(() => http.createServer(), { port })` to
 * `NodeTlsHttpServer.layer({ port })` (plus a `ServerContext`, the certificates) and nothing else
 * changes. Requests are served by `@effect/platform-node`'s own handler, WebSocket upgrades
 * included.
 *
 * HTTP/1.1, and HTTP/2 when ALPN selects `h2` (give the server context
 * `alpnProtocols: ["h2", "http/1.1"]`): each connection goes to a `node:http` or a cleartext
 * `node:http2` server by the protocol its handshake agreed on, and both hand their requests to
 * the app.
 *
 * ```ts
 * const HttpLive = HttpRouter.Default.serve().pipe(
 *   Layer.provide(NodeTlsHttpServer.layer({ port: 8443 })),
 *   Layer.provide(ServerContext.layer({
 *     certificate: { chainFile: "cert.pem", keyFile: "key.pem" },
 *     alpnProtocols: ["h2", "http/1.1"]
 *   }))
 * )
 * ```
 *
 * The limits of `NodeTlsSocketServer` apply (handshake and idle timeouts, connections and
 * handshakes at once), with `node:http`'s own request and header timeouts. Connections are
 * served from callbacks, with no fiber of their own (only the app's handler runs as an Effect,
 * per request). When the layer's scope closes the server stops accepting, closes the
 * connections still in their handshake and idle keep-alive connections (close_notify),
 * lets requests in flight finish (HTTP/2 sessions get a GOAWAY) for up to `drainTimeout`, then
 * closes the rest.
 *
 * @since 0.1.0
 */
import type { ServerContext } from "@effect-openssl/core/ServerContext"
import type * as TlsConnection from "@effect-openssl/core/TlsConnection"
import type * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as Etag from "@effect/platform/Etag"
import type * as HttpPlatform from "@effect/platform/HttpPlatform"
import * as HttpServer from "@effect/platform/HttpServer"
import { ServeError } from "@effect/platform/HttpServerError"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import * as http2 from "node:http2"
import type * as net from "node:net"
import { TlsDuplex } from "./internal/tlsDuplex.js"
import * as TlsServer from "./internal/tlsServer.js"

/**
 * Where to listen, limits, graceful shutdown, the callbacks of each connection, and the options
 * of the `node:http` server (request, header and keep-alive timeouts).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends TlsServer.ServeOptions {
  readonly http?: http.ServerOptions | undefined
  readonly http2?: http2.ServerOptions | undefined
}

/**
 * An `HttpServer` over TLS, bound at once (port 0 picks a free port; `address` reports it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<HttpServer.HttpServer, ServeError, ServerContext | Scope.Scope> =>
  Effect.gen(function*() {
    const tls = yield* Effect.mapError(TlsServer.make(options), (cause) => new ServeError({ cause }))
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const server = new TlsHttpServer(tls, options, runFork)
    return yield* NodeHttpServer.make(() => server, {})
  })

/**
 * The HTTPS server as a layer, with what `NodeHttpServer.layer` provides beside it (the HTTP
 * platform, ETags, the Node context); it needs a `ServerContext`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  HttpPlatform.HttpPlatform | Etag.Generator | NodeContext.NodeContext | HttpServer.HttpServer,
  ServeError,
  ServerContext
> =>
  Layer.mergeAll(
    Layer.scoped(HttpServerTag, make(options)),
    NodeHttpServer.layerContext
  )

const HttpServerTag = HttpServer.HttpServer

/**
 * A `node:http` server that never binds a port of its own: `listen` starts the TLS listener,
 * which hands it (or, for `h2`, the HTTP/2 server beside it) each connection as a Duplex;
 * `close` shuts the listener down gracefully. What `NodeHttpServer.make` drives unchanged.
 */
class TlsHttpServer extends http.Server {
  readonly #http2: http2.Http2Server
  readonly #sessions = new Set<http2.ServerHttp2Session>()
  #fiber: Fiber.RuntimeFiber<never, never> | undefined

  constructor(
    private readonly tls: TlsServer.TlsServer,
    options: Options,
    private readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>
  ) {
    super(options.http ?? {})
    // net.Server keeps `listening` as a property of its own; this server listens through `tls`.
    Object.defineProperty(this, "listening", { get: () => this.#fiber !== undefined })
    this.#http2 = http2.createServer(options.http2 ?? {})
    // HTTP/2 requests go to the same handlers (through node:http2's compatibility API).
    this.#http2.on("request", (request, response) => this.emit("request", request, response))
    this.#http2.on("session", (session) => {
      this.#sessions.add(session)
      session.once("close", () => this.#sessions.delete(session))
    })
  }

  override address(): net.AddressInfo {
    return this.tls.address
  }

  override listen(...args: Array<unknown>): this {
    const callback = args.find((arg) => typeof arg === "function") as (() => void) | undefined
    this.#fiber = this.runFork(this.tls.run({
      serve: (connection, done) => this.#serve(connection, done),
      drain: () => this.#drain(),
      force: () => this.#force()
    }))
    // node:http starts checking request and header timeouts when its server is listening.
    process.nextTick(() => {
      this.emit("listening")
      callback?.()
    })
    return this
  }

  override close(callback?: (error?: Error) => void): this {
    const fiber = this.#fiber
    this.#fiber = undefined
    if (fiber === undefined) {
      callback?.()
      return this
    }
    this.runFork(Fiber.interrupt(fiber)).addObserver(() => {
      this.#http2.close()
      this.emit("close")
      callback?.()
    })
    return this
  }

  /**
   * One connection: to HTTP/2 or HTTP/1.1 by its ALPN protocol, served until its stream closes,
   * all from callbacks (no fiber per connection).
   */
  #serve(connection: TlsConnection.TlsConnection, done: () => void): void {
    let alpnProtocol: string | undefined
    try {
      alpnProtocol = connection.unsafe.info().alpnProtocol
    } catch {
      return done() // released under us: nothing to serve
    }
    const duplex = new TlsDuplex(connection, {})
    duplex.once("close", done)
    try {
      ;(alpnProtocol === "h2" ? this.#http2 : this).emit("connection", duplex)
    } catch {
      duplex.destroy()
    }
  }

  /** Shutdown began: idle keep-alive connections close, HTTP/2 sessions get a GOAWAY. */
  #drain(): void {
    this.closeIdleConnections()
    for (const session of this.#sessions) session.close()
  }

  /** The drain timeout passed: close every connection still open. */
  #force(): void {
    this.closeAllConnections()
    for (const session of this.#sessions) session.destroy()
  }
}
