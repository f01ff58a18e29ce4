/**
 * The servers of `effect-openssl serve`, built in one place: an echo server on
 * `NodeTransport.listen` + `TlsConnection.accept`, and an HTTP/1.1 server on
 * `NodeTlsDuplex.listen(http.createServer(...))` that answers every request with what the
 * connection negotiated.
 */
import type * as ServerContext from "@effect-openssl/core/ServerContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import type { TransportError } from "@effect-openssl/core/Transport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as http from "node:http"
import type * as net from "node:net"
import * as NodeTlsDuplex from "../../NodeTlsDuplex.js"
import * as NodeTransport from "../../NodeTransport.js"

export type Mode = "echo" | "http"

export interface ServerOptions {
  readonly mode: Mode
  readonly host: string
  readonly port: number
  /** The context and SNI selection of every connection, held while the server runs. */
  readonly accept: ServerContext.ConnectionOptions
  /** What a connection that failed (its handshake, or later) is given to. */
  readonly onConnectionError: (error: TlsConnection.TlsConnectionError) => Effect.Effect<void>
}

/** Start the server; it runs until the scope closes, which closes its connections. */
export const start = (options: ServerOptions): Effect.Effect<net.AddressInfo, TransportError, Scope.Scope> =>
  options.mode === "echo" ? echo(options) : https(options)

/** Each connection sends back what it receives, until the peer's close_notify. */
const echo = (options: ServerOptions) =>
  Effect.gen(function*() {
    const listener = yield* NodeTransport.listen({ host: options.host, port: options.port })
    const { context, sni } = options.accept
    yield* Effect.forkScoped(listener.run((transport) =>
      TlsConnection.accept(transport, context, { sni }).pipe(
        Effect.flatMap((conn) => Stream.run(conn.stream, conn.sink)),
        Effect.catchAll(options.onConnectionError)
      )
    ))
    return listener.address
  })

/** What a connection negotiated, as the HTTP mode's JSON body. */
export interface ConnectionDescription {
  readonly protocol: string
  readonly cipher: string
  readonly alpn: string | null
  readonly serverName: string | null
  readonly sessionReused: boolean
  readonly clientCertificate: string | null
}

/** Every HTTP/1.1 request gets 200 and a JSON description of its connection. */
const https = (options: ServerOptions) =>
  Effect.gen(function*() {
    const describe = (socket: unknown): ConnectionDescription | undefined =>
      Option.match(NodeTlsDuplex.connectionOf(socket), {
        onNone: () => undefined,
        onSome: (conn) => {
          const info = Effect.runSync(conn.info)
          return {
            protocol: info.protocol,
            cipher: info.cipher,
            alpn: info.alpnProtocol ?? null,
            serverName: info.serverName ?? null,
            sessionReused: info.sessionReused,
            clientCertificate: info.peerChain[0]?.subject ?? null
          }
        }
      })
    const app = http.createServer((req, res) => {
      const body = `${JSON.stringify(describe(req.socket) ?? { error: "not a connection of this server" })}\n`
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body)
    })
    return yield* NodeTlsDuplex.listen(app, options.accept.context, {
      host: options.host,
      port: options.port,
      accept: { sni: options.accept.sni },
      onConnectionError: options.onConnectionError
    })
  })
