/**
 * TLS 1.2 renegotiation against the `openssl` command: refused on both sides by default, accepted
 * with `allowRenegotiation: true`. For comparison (measured with OpenSSL 3.0): `openssl
 * s_client` and a node:tls client both follow a server's renegotiation; `openssl s_server` (3.0)
 * refuses a client's, a node:tls server accepts it (three per ten minutes).
 */
import * as SslContext from "@effect-openssl/core/SslContext"
import type * as TlsConnection from "@effect-openssl/core/TlsConnection"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import {
  acceptOn,
  bounded,
  bytes,
  connectTo,
  interopPki,
  listen,
  LiveOpenSsl,
  readLine,
  sClient,
  serverIdentity,
  sServer
} from "./peers.js"
import { alertsHeard, TlsAlert } from "./util.js"

/** The failure of a read that must fail (a success is a test failure). */
const readFailure = (conn: TlsConnection.TlsConnection) =>
  bounded(conn.read, "the read to fail").pipe(
    Effect.flatMap((chunk) =>
      Effect.dieMessage(
        `expected the read to fail, got ${Option.isNone(chunk) ? "the end" : JSON.stringify(chunk.value.length)}`
      )
    ),
    Effect.flip
  )

/** How many ClientHellos `s_server -state` read: one per handshake. */
const clientHellosRead = (output: string) => output.match(/SSL_accept:SSLv3\/TLS read client hello/g)?.length ?? 0

layer(LiveOpenSsl, { excludeTestServices: true })("Renegotiation (TLS 1.2)", (it) => {
  describe("our client ↔ openssl s_server (its `R` command)", () => {
    const start = (options: Partial<SslContext.Options>) =>
      Effect.gen(function*() {
        const pki = yield* interopPki
        // The default mode: s_server's stdin goes to the client, what it receives to its stdout.
        const server = yield* sServer([
          "-tls1_2",
          "-state",
          ...serverIdentity(pki.paths)
        ])
        const context = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust }, ...options })
        const conn = yield* connectTo(server.port, context)
        yield* server.write("before\n")
        assert.strictEqual(yield* readLine(conn), "before")
        // s_server sends a HelloRequest and blocks until the renegotiation ends; our next read answers.
        yield* server.write("R\n")
        // s_server takes a command only as a read of its own and drops the rest of that read: what the
        // test writes next must wait until the command was taken.
        yield* server.waitFor(/write hello request/)
        return { server, conn }
      })

    it.scoped("refused by default: we answer no_renegotiation, s_server gives up with handshake_failure", () =>
      Effect.gen(function*() {
        const { conn, server } = yield* start({})
        const error = yield* readFailure(conn)
        assert.strictEqual(error._tag, "TlsError", error.message)
        if (error._tag !== "TlsError") return
        assert.include(alertsHeard(error.entries), TlsAlert.handshakeFailure, error.message)
        yield* server.waitFor(/no renegotiation/)
      }))

    it.scoped("allowRenegotiation: the renegotiation completes and data keeps flowing both ways", () =>
      Effect.gen(function*() {
        const { conn, server } = yield* start({ allowRenegotiation: true })
        yield* server.write("after\n")
        assert.strictEqual(yield* readLine(conn), "after")
        yield* conn.write(bytes("ping\n"))
        yield* server.waitFor(/^ping$/m)
        yield* server.waitFor(/SSL_do_handshake -> 1/)
        assert.strictEqual(clientHellosRead(server.output()), 2, "the first handshake and the renegotiation")
      }))
  })

  describe("openssl s_client (its `R` command) ↔ our server", () => {
    const start = (options: Partial<SslContext.Options>) =>
      Effect.gen(function*() {
        const pki = yield* interopPki
        const listener = yield* listen
        const context = yield* SslContext.make({ role: "server", certificate: pki.server, ...options })
        const client = yield* sClient(listener.port, ["-tls1_2", "-CAfile", pki.paths.ca, "-verify_return_error"])
        const conn = yield* acceptOn(listener, context)
        yield* client.write("before\n")
        assert.strictEqual(yield* readLine(conn), "before")
        yield* client.write("R\n")
        yield* client.waitFor(/RENEGOTIATING/)
        return { client, conn }
      })

    it.scoped("refused by default: s_client hears no_renegotiation and gives up with handshake_failure", () =>
      Effect.gen(function*() {
        const { client, conn } = yield* start({})
        const error = yield* readFailure(conn)
        assert.strictEqual(error._tag, "TlsError", error.message)
        if (error._tag !== "TlsError") return
        assert.include(alertsHeard(error.entries), TlsAlert.handshakeFailure, error.message)
        yield* client.waitFor(/no renegotiation/)
      }))

    it.scoped("allowRenegotiation: the renegotiation completes and data keeps flowing both ways", () =>
      Effect.gen(function*() {
        const { client, conn } = yield* start({ allowRenegotiation: true })
        yield* client.write("after\n")
        assert.strictEqual(yield* readLine(conn), "after")
        yield* conn.write(bytes("pong\n"))
        yield* client.waitFor(/^pong$/m)
        // s_client verifies the server's chain again in the second handshake.
        assert.strictEqual(client.output().match(/depth=0 CN = localhost/g)?.length, 2)
      }))
  })
})
