/**
 * What every server program of the loopback table shares: the TLS settings, the HTTP app, and
 * `serve`, which tells the parent process (over the IPC channel `fork` opened) the port the
 * program listens on and answers its requests for this process's CPU time.
 *
 * Every server presents the bench's certificate (P-256 ECDSA), allows TLS 1.3 only with one
 * cipher, and resumes no session: tickets are stateful (`NO_TICKET`) and no server keeps a
 * session cache, so every new connection is a full handshake. With default settings the HTTP
 * load generator would resume on some servers and not on others (OpenSSL renews a ticket on
 * resumption, Node's servers do not), and they would not do the same work per connection.
 */
import type { OpenSsl } from "@effect-openssl/core/OpenSsl"
import type * as ServerContext from "@effect-openssl/core/ServerContext"
import type * as SslContext from "@effect-openssl/core/SslContext"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { constants } from "node:crypto"
import type * as http from "node:http"
import type * as net from "node:net"
import type * as tls from "node:tls"
import * as NodeOpenSsl from "../../src/NodeOpenSsl.js"
import { loadTlsFixture } from "../fixture.js"

const fixture = loadTlsFixture()

const certificate = { chain: fixture.certPem, key: Redacted.make(fixture.keyPem) }
const settings = {
  minProtocol: "TLSv1.3",
  ciphersuites: fixture.cipher,
  options: ["NO_TICKET"],
  sessionCacheMode: "off"
} as const

/** The server context of our programs... */
export const ourContext: SslContext.Options = { role: "server", certificate, ...settings }

/** ...and the same as a `ServerContext` (for the server layers). */
export const ourServerContext: ServerContext.Options = { certificate, ...settings }

/** The same settings for `node:tls` and `node:https` servers. */
export const nodeOptions: tls.TlsOptions = {
  cert: fixture.certPem,
  key: fixture.keyPem,
  minVersion: "TLSv1.3",
  maxVersion: "TLSv1.3",
  ciphers: fixture.cipher,
  secureOptions: constants.SSL_OP_NO_TICKET
}

/** The HTTP app of both HTTPS servers: a small response. */
export const hello: http.RequestListener = (_req, res) => {
  res.end("hello\n")
}

/** The same app for the `@effect/platform` servers. */
export const helloApp = Effect.succeed(HttpServerResponse.text("hello\n"))

/** Listen on a free loopback port. */
export const listen = (server: net.Server): Promise<net.AddressInfo> =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve(server.address() as net.AddressInfo))
  })

/** The message a server program answers with its CPU time. */
export interface CpuReport {
  /** User + system CPU time of the whole process so far (every thread), in microseconds. */
  readonly cpuMicros: number
}

/** Report `address` to the parent, answer its CPU requests, and exit when it goes away. */
export const serve = (address: net.AddressInfo): void => {
  process.send!({ port: address.port })
  process.on("message", () => {
    const { system, user } = process.cpuUsage()
    process.send!({ cpuMicros: user + system } satisfies CpuReport)
  })
  process.on("disconnect", () => process.exit(0))
}

/** Run an Effect server program (with Node's OpenSSL) and `serve` the address it listens on. */
export const serveEffect = <E>(program: Effect.Effect<net.AddressInfo, E, OpenSsl | Scope.Scope>): void => {
  Effect.runFork(
    program.pipe(
      Effect.tap((address) => Effect.sync(() => serve(address))),
      Effect.zipRight(Effect.never),
      Effect.scoped,
      Effect.provide(NodeOpenSsl.layer)
    )
  ).addObserver((exit) => {
    if (Exit.isFailure(exit)) console.error(Cause.pretty(exit.cause))
    process.exit(1)
  })
}

/** Where an `@effect/platform` server (`HttpServer`, `SocketServer`) listens. */
type PlatformAddress =
  | { readonly _tag: "TcpAddress"; readonly hostname: string; readonly port: number }
  | { readonly _tag: "UnixAddress"; readonly path: string }

/** `serveEffect` for a program that starts an `@effect/platform` server on TCP. */
export const servePlatform = <E>(
  program: Effect.Effect<{ readonly address: PlatformAddress }, E, OpenSsl | Scope.Scope>
): void =>
  serveEffect(Effect.flatMap(program, ({ address }) =>
    address._tag === "TcpAddress"
      ? Effect.succeed({ address: address.hostname, family: "IPv4", port: address.port } satisfies net.AddressInfo)
      : Effect.dieMessage("the server listens on a Unix socket, not TCP")))
