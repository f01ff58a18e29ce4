import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Transport from "@effect-openssl/core/Transport"
import { assert, describe, layer } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { clientOptions, recordFrees, serverOptions, TestOpenSsl } from "./util.js"

const bytes = (s: string) => new TextEncoder().encode(s)

/** A transport whose sends never complete once `stuck` is set (a peer that stopped reading). */
const stalling = (transport: Transport.Transport) => {
  let stuck = false
  return {
    stall: () => (stuck = true),
    transport: {
      ...transport,
      send: (data: Uint8Array) => Effect.suspend(() => stuck ? Effect.never : transport.send(data))
    } satisfies Transport.Transport
  }
}

const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = Date.now()
    const result = yield* effect
    return [result, Duration.millis(Date.now() - start)] as const
  })

// Real time: these tests are about timeouts.
layer(TestOpenSsl, { excludeTestServices: true })("connection lifetime", (it) => {
  describe("scope close", () => {
    it.scoped("an established connection sends close_notify before its release: the peer sees a clean end", () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const client = yield* SslContext.make(clientOptions)
        const server = yield* SslContext.make(serverOptions)
        const [a, b] = yield* Transport.memoryPair
        const clientScope = yield* Scope.make()
        const [c, s] = yield* Effect.all([
          Scope.extend(TlsConnection.connect(a, client, { hostName: "localhost" }), clientScope),
          TlsConnection.accept(b, server)
        ], { concurrency: 2 })
        yield* c.write(bytes("last words"))
        yield* Scope.close(clientScope, Exit.void)
        assert.strictEqual(frees.filter((e) => e.kind === "SSL").length, 1)
        // The data, then close_notify (None), not UnexpectedEof.
        assert.deepStrictEqual(Option.getOrThrow(yield* s.read), bytes("last words"))
        assert.isTrue(Option.isNone(yield* s.read))
      }))

    it.scoped("closing waits for a stalled transport no longer than closeTimeout, then releases everything", () =>
      Effect.gen(function*() {
        const client = yield* SslContext.make(clientOptions)
        const server = yield* SslContext.make(serverOptions)
        const [a, b] = yield* Transport.memoryPair
        const { stall, transport } = stalling(a)
        const clientScope = yield* Scope.make()
        yield* Effect.all([
          Scope.extend(
            TlsConnection.connect(transport, client, { hostName: "localhost", closeTimeout: "200 millis" }),
            clientScope
          ),
          TlsConnection.accept(b, server)
        ], { concurrency: 2 })
        stall()
        const [, took] = yield* elapsed(Scope.close(clientScope, Exit.void))
        assert.isAtLeast(Duration.toMillis(took), 150)
        assert.isBelow(Duration.toMillis(took), 2000)
        // Only the server's SSL is still held.
        assert.strictEqual((yield* Diagnostics.counts).SSL, 1)
      }))

    it.scoped("close waits for the peer's close_notify no longer than closeTimeout", () =>
      Effect.gen(function*() {
        const client = yield* SslContext.make(clientOptions)
        const server = yield* SslContext.make(serverOptions)
        const [a, b] = yield* Transport.memoryPair
        const [c] = yield* Effect.all([
          TlsConnection.connect(a, client, { hostName: "localhost", closeTimeout: "200 millis" }),
          TlsConnection.accept(b, server)
        ], { concurrency: 2 })
        // The server never reads, so it never answers our close_notify.
        const [error, took] = yield* elapsed(Effect.flip(c.close))
        assert.strictEqual(error._tag === "TlsError" && error.reason, "Timeout")
        assert.isBelow(Duration.toMillis(took), 2000)
      }))
  })

  describe("handshake", () => {
    it.scoped("a server that never answers: TlsError Timeout after handshakeTimeout, nothing held", () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const client = yield* SslContext.make(clientOptions)
        const [a] = yield* Transport.memoryPair
        const [error, took] = yield* elapsed(
          Effect.flip(Effect.scoped(
            TlsConnection.connect(a, client, { hostName: "localhost", handshakeTimeout: "150 millis" })
          ))
        )
        assert.strictEqual(error._tag === "TlsError" && error.reason, "Timeout")
        assert.isAtLeast(Duration.toMillis(took), 100)
        assert.isBelow(Duration.toMillis(took), 2000)
        assert.strictEqual((yield* Diagnostics.counts).SSL, 0)
        assert.strictEqual(frees.filter((e) => e.kind === "SSL").length, 1)
      }))

    it.scoped("interrupting a handshake in progress releases everything", () =>
      Effect.gen(function*() {
        const client = yield* SslContext.make(clientOptions)
        const [a] = yield* Transport.memoryPair
        const fiber = yield* Effect.fork(Effect.scoped(TlsConnection.connect(a, client, { hostName: "localhost" })))
        yield* Effect.sleep("20 millis")
        assert.strictEqual((yield* Diagnostics.counts).SSL, 1)
        const exit = yield* Fiber.interrupt(fiber)
        assert.isTrue(Exit.isInterrupted(exit))
        assert.strictEqual((yield* Diagnostics.counts).SSL, 0)
      }))
  })
})
