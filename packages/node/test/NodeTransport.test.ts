import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as net from "node:net"
import * as tls from "node:tls"
import * as NodeTransport from "../src/NodeTransport.js"
import { clientOptions, fixture, LiveOpenSsl } from "./util.js"

/** A node:tls echo server on loopback, closed with the scope. */
const nodeTlsEcho = Effect.acquireRelease(
  Effect.async<tls.Server & { port: number }>((resume) => {
    const server = tls.createServer({ cert: fixture("server.pem"), key: fixture("server.key") }, (socket) => {
      socket.pipe(socket)
    })
    server.listen(
      0,
      "127.0.0.1",
      () => resume(Effect.succeed(Object.assign(server, { port: (server.address() as net.AddressInfo).port })))
    )
  }),
  (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
)

// Real sockets need the live clock.
layer(LiveOpenSsl, { excludeTestServices: true })("NodeTransport", (it) => {
  it.scoped("a client over TCP talks to a node:tls server", () =>
    Effect.gen(function*() {
      const server = yield* nodeTlsEcho
      const context = yield* SslContext.make(clientOptions)
      const transport = yield* NodeTransport.connectTcp({ host: "127.0.0.1", port: server.port })
      const conn = yield* TlsConnection.connect(transport, context, { hostName: "localhost" })
      const payload = new Uint8Array(200_000).map((_, i) => i % 251)
      yield* conn.write(payload)
      let received = 0
      while (received < payload.length) {
        const chunk = yield* conn.read
        received += Option.getOrThrow(chunk).length
      }
      assert.strictEqual(received, payload.length)
      assert.strictEqual((yield* conn.info).protocol, "TLSv1.3")
    }))

  it.scoped("a connection refused is a typed transport error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(NodeTransport.connectTcp({ host: "127.0.0.1", port: 1 }))
      assert.strictEqual(error._tag, "TransportError")
    }))
})
