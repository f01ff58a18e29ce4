import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import { assert, layer } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as net from "node:net"
import { PassThrough } from "node:stream"
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

  it.scoped("an invalid linger is an InvalidOptionError before any stream or socket is touched", () =>
    Effect.gen(function*() {
      const lingerError = (error: { readonly _tag: string; readonly option?: string }) => {
        assert.strictEqual(error._tag, "InvalidOptionError")
        assert.strictEqual(error.option, "linger")
      }
      // fromDuplex: the stream is left as it was (not ended, not destroyed, no listener added).
      const stream = new PassThrough()
      // As a program without types could pass them.
      const invalid = [-1, 0, "soon", Infinity] as ReadonlyArray<Duration.DurationInput>
      for (const linger of invalid) {
        lingerError(yield* Effect.flip(NodeTransport.fromDuplex(stream, { linger })))
      }
      assert.isFalse(stream.destroyed)
      assert.isFalse(stream.writableEnded)
      assert.strictEqual(stream.listenerCount("data"), 0)
      // connectTcp: no connection is made (the server sees none).
      const server = yield* nodeTlsEcho
      let accepted = 0
      server.on("connection", () => accepted++)
      lingerError(yield* Effect.flip(NodeTransport.connectTcp({ host: "127.0.0.1", port: server.port, linger: -1 })))
      // listen: nothing is bound, so no listener's run ever fails per connection instead.
      lingerError(
        yield* Effect.flip(NodeTransport.listen({ host: "127.0.0.1", linger: "never" as Duration.DurationInput }))
      )
      yield* Effect.sleep("50 millis")
      assert.strictEqual(accepted, 0)
      // A valid one still works end to end.
      const transport = yield* NodeTransport.connectTcp({ host: "127.0.0.1", port: server.port, linger: "100 millis" })
      const context = yield* SslContext.make(clientOptions)
      const conn = yield* TlsConnection.connect(transport, context, { hostName: "localhost" })
      assert.strictEqual((yield* conn.info).protocol, "TLSv1.3")
    }))

  it.scoped("concurrent receives each take a chunk of their own: none lost, none replaced, all see the end", () =>
    Effect.gen(function*() {
      const stream = new PassThrough()
      const transport = yield* NodeTransport.fromDuplex(stream)
      const receivers = yield* Effect.forkAll(Array.from({ length: 3 }, () => transport.receive))
      // All three wait before anything arrives; each chunk is a data event of its own.
      yield* Effect.sleep("20 millis")
      for (const letter of ["a", "b", "c"]) {
        stream.write(letter)
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      }
      const got = yield* Fiber.join(receivers)
      assert.deepStrictEqual(got.map((chunk) => new TextDecoder().decode(Option.getOrThrow(chunk))).sort(), [
        "a",
        "b",
        "c"
      ])
      // Two more waiting when the stream ends: both hear the end.
      const late = yield* Effect.forkAll([transport.receive, transport.receive])
      yield* Effect.sleep("20 millis")
      stream.end()
      assert.deepStrictEqual(yield* Fiber.join(late), [Option.none(), Option.none()])
    }))
})
