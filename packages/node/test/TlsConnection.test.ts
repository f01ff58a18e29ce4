import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as TlsEngine from "@effect-openssl/core/TlsEngine"
import * as Transport from "@effect-openssl/core/Transport"
import { assert, describe, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { X509Certificate } from "node:crypto"
import { acceptOn, connectTo, listen, readBytes } from "./peers.js"
import { clientOptions, connectedPair, fixture, recordFrees, serverOptions, TestOpenSsl } from "./util.js"

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const bytes = (s: string) => new TextEncoder().encode(s)

layer(TestOpenSsl)("TlsConnection", (it) => {
  for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
    it.scoped(`${version}: handshake, data both ways, close_notify both ways`, () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make({ ...serverOptions, maxProtocol: version })
        const client = yield* SslContext.make({ ...clientOptions, maxProtocol: version })
        const [c, s] = yield* connectedPair(client, server)
        yield* c.write(bytes("hello server"))
        assert.strictEqual(text(Option.getOrThrow(yield* s.read)), "hello server")
        yield* s.write(bytes("hello client"))
        assert.strictEqual(text(Option.getOrThrow(yield* c.read)), "hello client")
        const info = yield* c.info
        assert.strictEqual(info.protocol, version)
        assert.strictEqual(info.serverName, "localhost")
        assert.include(info.peerChain[0]!.subjectAltNames, "DNS:localhost")
        assert.match(info.peerChain[0]!.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
        const [ekmClient, ekmServer] = yield* Effect.all([
          c.exportKeyingMaterial("EXPERIMENTAL test", 32),
          s.exportKeyingMaterial("EXPERIMENTAL test", 32)
        ])
        assert.deepStrictEqual(ekmClient, ekmServer)
        yield* Effect.all([c.close, s.close], { concurrency: 2 })
        assert.isTrue(Option.isNone(yield* s.read))
      }))
  }

  it.scoped("exportKeyingMaterial: lengths other than 1 to 8160 whole bytes are refused before any allocation", () =>
    Effect.gen(function*() {
      const server = yield* SslContext.make(serverOptions)
      const client = yield* SslContext.make(clientOptions)
      const [c, s] = yield* connectedPair(client, server)
      const refused = (label: string, length: number, context?: Uint8Array) =>
        Effect.flatMap(
          Effect.either(c.exportKeyingMaterial(label, length, context)),
          (result) =>
            result._tag === "Left" && result.left._tag === "InvalidOptionError"
              ? Effect.succeed(result.left.option)
              : Effect.dieMessage(`${label}, ${length}: expected InvalidOptionError, got ${String(result)}`)
        )
      // 1.5 used to export 1 byte, NaN none, and 2 ** 31 allocated 2 GB before OpenSSL refused it.
      for (const length of [1.5, Number.NaN, 0, -1, 8161, 2 ** 31, Number.POSITIVE_INFINITY, "32" as never]) {
        assert.strictEqual(yield* refused("EXPERIMENTAL test", length), "length", String(length))
      }
      assert.strictEqual(yield* refused(42 as never, 32), "label")
      assert.strictEqual(yield* refused("EXPERIMENTAL test", 32, "context" as never), "context")
      for (const length of [1, 8160]) {
        const [a, b] = yield* Effect.all([
          c.exportKeyingMaterial("EXPERIMENTAL test", length, bytes("context")),
          s.exportKeyingMaterial("EXPERIMENTAL test", length, bytes("context"))
        ])
        assert.strictEqual(a.length, length)
        assert.deepStrictEqual(a, b)
      }
    }))

  it.scoped("ALPN: the server picks from its list in its own order", () =>
    Effect.gen(function*() {
      const server = yield* SslContext.make({ ...serverOptions, alpnProtocols: ["h2", "http/1.1"] })
      const client = yield* SslContext.make({ ...clientOptions, alpnProtocols: ["http/1.1", "h2"] })
      const [c, s] = yield* connectedPair(client, server)
      assert.strictEqual((yield* c.info).alpnProtocol, "h2")
      assert.strictEqual((yield* s.info).alpnProtocol, "h2")
    }))

  it.scoped("a wrong host name fails with a typed verification error", () =>
    Effect.gen(function*() {
      const server = yield* SslContext.make(serverOptions)
      const client = yield* SslContext.make(clientOptions)
      const error = yield* Effect.flip(connectedPair(client, server, { hostName: "wrong.example" }))
      assert.strictEqual(error._tag, "VerifyError")
      if (error._tag !== "VerifyError") return
      assert.strictEqual(error.code, 62) // X509_V_ERR_HOSTNAME_MISMATCH
      assert.strictEqual(error.depth, 0)
    }))

  it.scoped("TLS 1.3 resumption on a fresh handle, after the first connection was freed", () =>
    Effect.gen(function*() {
      const server = yield* SslContext.make(serverOptions)
      const client = yield* SslContext.make(clientOptions)
      const first = yield* Scope.make()
      const [c] = yield* Scope.extend(connectedPair(client, server), first)
      const session = yield* c.awaitSession("2 seconds")
      assert.isTrue(Option.isSome(session))
      yield* Scope.close(first, Exit.void)
      const kept = Option.getOrThrow(session)
      assert.isTrue(yield* SslSession.isResumable(kept))
      const [c2] = yield* connectedPair(client, server, { hostName: "localhost", session: kept })
      assert.isTrue((yield* c2.info).sessionReused)
    }))

  it.scoped("a second driver on the same native SSL is refused", () =>
    Effect.gen(function*() {
      const client = yield* SslContext.make(clientOptions)
      const ssl = yield* Ssl.make(client)
      yield* TlsEngine.make(ssl, { role: "client" })
      const ref = yield* Ssl.upRef(ssl)
      const error = yield* Effect.flip(TlsEngine.make(ref, { role: "client" }))
      assert.strictEqual(error._tag === "TlsError" && error.reason, "DriverConflict")
    }))

  it.scoped("a peer that vanishes mid-handshake: typed error, everything freed", () =>
    Effect.gen(function*() {
      const frees = yield* recordFrees
      const client = yield* SslContext.make(clientOptions)
      const [a, b] = yield* Transport.memoryPair
      const attempt = yield* Effect.fork(Effect.scoped(TlsConnection.connect(a, client, { hostName: "localhost" })))
      // The "server" reads the ClientHello and hangs up.
      yield* b.receive
      yield* b.end
      const error = yield* Effect.flip(Fiber.join(attempt))
      assert.strictEqual(error._tag === "TlsError" && error.reason, "UnexpectedEof")
      assert.strictEqual((yield* Diagnostics.counts).SSL, 0)
      assert.strictEqual(frees.filter((e) => e.kind === "SSL").length, 1)
    }))

  it.scoped("concurrent writes over TCP never interleave: each goes out whole, one after the other", () =>
    Effect.gen(function*() {
      const server = yield* SslContext.make(serverOptions)
      const client = yield* SslContext.make(clientOptions)
      const listener = yield* listen
      const [c, s] = yield* Effect.all([connectTo(listener.port, client), acceptOn(listener, server)], {
        concurrency: 2
      })
      const size = 1024 * 1024
      const letters = ["a", "b", "c"].map((letter) => new Uint8Array(size).fill(letter.charCodeAt(0)))
      yield* Effect.all(letters.map((data) => c.write(data)), { concurrency: "unbounded" })
      const received = Buffer.from(yield* readBytes(s, 3 * size))
      // Three runs of one letter each, in some order: no write was cut into by another.
      const runs = received.toString("latin1").match(/(.)\1*/g)!
      assert.deepStrictEqual(runs.map((run) => run.length), [size, size, size])
      assert.strictEqual(new Set(runs.map((run) => run[0])).size, 3)
    }))

  it.scoped("timeouts that are not finite durations above zero are refused, naming the option", () =>
    Effect.gen(function*() {
      const client = yield* SslContext.make(clientOptions)
      for (
        const [options, option] of [
          [{ handshakeTimeout: Number.NaN }, "handshakeTimeout"],
          [{ handshakeTimeout: -1 }, "handshakeTimeout"],
          [{ handshakeTimeout: Number.POSITIVE_INFINITY }, "handshakeTimeout"],
          [{ handshakeTimeout: "soon" }, "handshakeTimeout"],
          [{ closeTimeout: 0 }, "closeTimeout"],
          [{ idleTimeout: "-5 seconds" }, "idleTimeout"]
        ] as const
      ) {
        const [a] = yield* Transport.memoryPair
        const error = yield* Effect.flip(
          TlsConnection.connect(a, client, { hostName: "localhost", ...(options as TlsConnection.ConnectOptions) })
        )
        assert.strictEqual(error._tag === "InvalidOptionError" && error.option, option, String(error))
      }
    }))

  it.scoped("Stream and Sink forms carry the plaintext until close_notify", () =>
    Effect.gen(function*() {
      const server = yield* SslContext.make(serverOptions)
      const client = yield* SslContext.make(clientOptions)
      const [c, s] = yield* connectedPair(client, server)
      const chunks = Array.from({ length: 50 }, (_, i) => bytes(`chunk ${i};`))
      const received = yield* Effect.fork(Stream.runCollect(s.stream))
      yield* Stream.run(Stream.fromIterable(chunks), c.sink)
      yield* c.close.pipe(Effect.fork)
      const all = Chunk.toReadonlyArray(yield* Fiber.join(received)).map(text).join("")
      assert.strictEqual(all, chunks.map(text).join(""))
    }))

  it.scoped("info describes the peer's certificate chain", () =>
    Effect.gen(function*() {
      const server = yield* SslContext.make(serverOptions)
      const client = yield* SslContext.make(clientOptions)
      const [c, s] = yield* connectedPair(client, server)
      const [leaf] = (yield* c.info).peerChain
      const expected = new X509Certificate(fixture("server.pem"))
      assert.strictEqual(leaf!.subject, expected.subject)
      assert.strictEqual(leaf!.issuer, expected.issuer)
      assert.deepStrictEqual(leaf!.subjectAltNames, ["DNS:localhost", "IP Address:127.0.0.1"])
      assert.strictEqual(leaf!.fingerprint256, expected.fingerprint256)
      assert.strictEqual(leaf!.validTo.getTime(), new Date(expected.validTo).getTime())
      assert.isFalse((yield* c.info).sessionReused)
      // The server saw no client certificate.
      assert.deepStrictEqual((yield* s.info).peerChain, [])
    }))

  describe("fixtures", () => {
    it.effect("are readable", () => Effect.sync(() => assert.include(fixture("ca.pem"), "BEGIN CERTIFICATE")))
  })
})

/** `TlsConnection.unsafeAccept` over the push form of a memory transport: its result and its handle. */
const unsafeAccepted = (
  transport: Transport.Transport,
  server: SslContext.SslContext,
  options: TlsConnection.AcceptOptions = {}
) =>
  Effect.gen(function*() {
    const push = yield* Transport.push(transport)
    const runtime = yield* Effect.runtime<never>()
    const result = yield* Deferred.make<TlsConnection.TlsConnection, TlsConnection.TlsConnectionError>()
    let calledBeforeReturn = false
    let returned = false
    const accepted = TlsConnection.unsafeAccept(push, server, options, runtime, (outcome) => {
      if (!returned) calledBeforeReturn = true
      Deferred.unsafeDone(result, Either.isRight(outcome) ? Exit.succeed(outcome.right) : Exit.fail(outcome.left))
    })
    returned = true
    return { accepted, result: Deferred.await(result), calledBeforeReturn: () => calledBeforeReturn }
  })

layer(TestOpenSsl, { excludeTestServices: true })("TlsConnection.unsafeAccept", (it) => {
  it.scoped("a connection accepted from callbacks: data both ways; release sends close_notify and frees everything", () =>
    Effect.gen(function*() {
      const frees = yield* recordFrees
      const server = yield* SslContext.make(serverOptions)
      const client = yield* SslContext.make(clientOptions)
      const [a, b] = yield* Transport.memoryPair
      const { accepted, result } = yield* unsafeAccepted(b, server)
      const c = yield* TlsConnection.connect(a, client, { hostName: "localhost" })
      const s = yield* result
      yield* c.write(bytes("ping"))
      assert.strictEqual(text(Option.getOrThrow(yield* s.read)), "ping")
      yield* s.write(bytes("pong"))
      assert.strictEqual(text(Option.getOrThrow(yield* c.read)), "pong")
      const serverSsl = (yield* Diagnostics.counts).SSL
      assert.strictEqual(serverSsl, 2)
      accepted.release()
      accepted.release() // a second release is a no-op
      // The client sees a clean end (close_notify), not a truncation.
      assert.isTrue(Option.isNone(yield* c.read))
      assert.strictEqual((yield* Diagnostics.counts).SSL, 1)
      assert.strictEqual(frees.filter((e) => e.kind === "SSL").length, 1)
      // The released connection refuses work with a typed error.
      const error = yield* Effect.flip(s.write(bytes("late")))
      assert.strictEqual(error._tag, "TlsError")
    }))

  it.scoped("a client that never speaks: the handshake timeout fails it with TlsError Timeout; release frees", () =>
    Effect.gen(function*() {
      const server = yield* SslContext.make(serverOptions)
      const [, b] = yield* Transport.memoryPair
      const { accepted, result } = yield* unsafeAccepted(b, server, { handshakeTimeout: "100 millis" })
      const error = yield* Effect.flip(result)
      assert.strictEqual(error._tag === "TlsError" && error.reason, "Timeout")
      assert.strictEqual((yield* Diagnostics.counts).SSL, 1)
      accepted.release()
      assert.strictEqual((yield* Diagnostics.counts).SSL, 0)
    }))

  it.scoped("released mid-handshake: done is never called, and the handshake timer stops with it", () =>
    Effect.gen(function*() {
      const server = yield* SslContext.make(serverOptions)
      const [, b] = yield* Transport.memoryPair
      const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length
      const before = timers()
      const { accepted, result } = yield* unsafeAccepted(b, server, { handshakeTimeout: "10 seconds" })
      assert.strictEqual(timers(), before + 1)
      accepted.release()
      assert.strictEqual(timers(), before)
      assert.strictEqual((yield* Diagnostics.counts).SSL, 0)
      const outcome = yield* Effect.timeout(result, "200 millis").pipe(Effect.flip)
      assert.strictEqual(outcome._tag, "TimeoutException")
    }))

  it.scoped("invalid options fail at once, before it returns, holding nothing", () =>
    Effect.gen(function*() {
      const server = yield* SslContext.make(serverOptions)
      const [, b] = yield* Transport.memoryPair
      const { calledBeforeReturn, result } = yield* unsafeAccepted(b, server, { handshakeTimeout: 0 })
      const error = yield* Effect.flip(result)
      assert.strictEqual(error._tag === "InvalidOptionError" && error.option, "handshakeTimeout")
      assert.isTrue(calledBeforeReturn())
      assert.strictEqual((yield* Diagnostics.counts).SSL, 0)
    }))
})
