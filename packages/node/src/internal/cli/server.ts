/**
 * The servers of `effect-openssl serve`, on the library's server layers (so the command has
 * their limits, metrics and graceful shutdown): an echo server on `NodeTlsSocketServer`, and an
 * HTTP/1.1 server on `NodeTlsHttpServer` that answers every request with what the connection
 * negotiated.
 */
import type { ServerContext } from "@effect-openssl/core/ServerContext"
import { isSslError } from "@effect-openssl/core/SslError"
import { TransportError } from "@effect-openssl/core/Transport"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Socket from "@effect/platform/Socket"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as NodeTlsDuplex from "../../NodeTlsDuplex.js"
import * as NodeTlsHttpServer from "../../NodeTlsHttpServer.js"
import * as NodeTlsSocketServer from "../../NodeTlsSocketServer.js"

export type Mode = "echo" | "http"

export interface ServerOptions {
  readonly mode: Mode
  readonly host: string
  readonly port: number
  /** What a connection that failed (its handshake, or later) is told to, in one line. */
  readonly onConnectionError: (message: string) => Effect.Effect<void>
}

/** Where the server listens. */
export interface Bound {
  readonly host: string
  readonly port: number
}

/**
 * Start the server on the `ServerContext`'s certificates; it runs until the scope closes, which
 * shuts it down gracefully.
 */
export const start = (options: ServerOptions): Effect.Effect<Bound, TransportError, ServerContext | Scope.Scope> =>
  options.mode === "echo" ? echo(options) : https(options)

/** The layers' options: the command's address, the default limits. */
const serveOptions = (options: ServerOptions): NodeTlsSocketServer.Options => ({
  host: options.host,
  port: options.port,
  onHandshakeError: (error) => options.onConnectionError(error.message)
})

/** Each connection sends back what it receives, until the peer's close_notify. */
const echo = (options: ServerOptions) =>
  Effect.gen(function*() {
    const server = yield* NodeTlsSocketServer.make(serveOptions(options)).pipe(
      // The command's options are fixed and valid: a refusal would be a bug.
      Effect.catchTag("InvalidOptionError", Effect.die)
    )
    yield* Effect.forkScoped(server.run((socket) =>
      Effect.flatMap(socket.writer, (write) => socket.run(write)).pipe(
        Effect.scoped,
        Effect.catchAll((error) => options.onConnectionError(socketFailure(error)))
      )
    ))
    return boundOf(server.address)
  })

/** A socket's failure in one line: the TLS error under it when there is one. */
const socketFailure = (error: Socket.SocketError): string =>
  Socket.isSocketError(error) && isSslError(error.cause) ? error.cause.message : error.message

/** What a connection negotiated, as the HTTP mode's JSON body. */
export interface ConnectionDescription {
  readonly protocol: string
  readonly cipher: string
  readonly alpn: string | null
  readonly serverName: string | null
  readonly sessionReused: boolean
  readonly clientCertificate: string | null
}

/** The TLS connection under a request, described. */
const describe = (request: HttpServerRequest.HttpServerRequest) =>
  Option.match(NodeTlsDuplex.connectionOf(NodeHttpServerRequest.toIncomingMessage(request).socket), {
    onNone: () => Effect.succeed(undefined),
    onSome: (connection) =>
      Effect.map(connection.info, (info): ConnectionDescription => ({
        protocol: info.protocol,
        cipher: info.cipher,
        alpn: info.alpnProtocol ?? null,
        serverName: info.serverName ?? null,
        sessionReused: info.sessionReused,
        clientCertificate: info.peerChain[0]?.subject ?? null
      }))
  })

/** Every HTTP/1.1 request gets 200 and a JSON description of its connection. */
const app = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
  Effect.map(
    describe(request),
    (description) => HttpServerResponse.unsafeJson(description ?? { error: "not a connection of this server" })
  ))

const https = (options: ServerOptions) =>
  Effect.gen(function*() {
    const server = yield* NodeTlsHttpServer.make(serveOptions(options)).pipe(
      // Binding fails with a TransportError; anything else would be a bug (the options are valid).
      Effect.catchAll((error) => error.cause instanceof TransportError ? Effect.fail(error.cause) : Effect.die(error))
    )
    yield* server.serve(app)
    return boundOf(server.address)
  })

const boundOf = (address: HttpServer.Address): Bound =>
  address._tag === "TcpAddress" ? { host: address.hostname, port: address.port } : { host: address.path, port: 0 }
