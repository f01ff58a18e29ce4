/**
 * `SslSession` over in-memory pairs, TLS 1.2 and 1.3: sessions captured from a connection
 * (`awaitSession`), serialized and read back, resumed on fresh handles after the original
 * connection was freed, pinned to their context, freed exactly once; TLS 1.3 tickets are
 * single-use and a resumed connection hands out the next one.
 */
import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import * as SslContext from "@effect-openssl/core/SslContext"
import { type InvalidOptionError, ReleasedHandleError } from "@effect-openssl/core/SslError"
import * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Transport from "@effect-openssl/core/Transport"
import { assert, describe, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestPki from "../../test/src/TestPki.js"
import * as NodeOpenSsl from "../src/NodeOpenSsl.js"
import { clientOptions, connectedPair, recordFrees, serverOptions, TestOpenSsl } from "./util.js"

const versions = ["TLSv1.2", "TLSv1.3"] as const
type Version = typeof versions[number]

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

const contexts = (version: Version) =>
  Effect.all({
    server: SslContext.make({ ...serverOptions, maxProtocol: version }),
    client: SslContext.make({ ...clientOptions, maxProtocol: version })
  })

/**
 * One connection in a scope of its own (closed with close_notify before returning): exchanges a
 * message, and returns whether it resumed and the session it received, kept in the caller's scope.
 */
const connection = (
  client: SslContext.SslContext,
  server: SslContext.SslContext,
  session?: SslSession.SslSession
) =>
  Effect.gen(function*() {
    const outer = yield* Effect.scope
    // Sequential: the connection's close_notify goes before its handle is freed (SSL_free of a
    // connection not shut down marks its session not resumable).
    const inner = yield* Scope.make()
    const result = yield* Effect.gen(function*() {
      const [c, s] = yield* connectedPair(client, server, { hostName: "localhost", session })
      yield* s.write(bytes("hello"))
      // Reading processes TLS 1.3 tickets sent before the data.
      assert.strictEqual(text(Option.getOrThrow(yield* c.read)), "hello")
      const info = yield* c.info
      const serverInfo = yield* s.info
      assert.strictEqual(info.sessionReused, serverInfo.sessionReused)
      // A resumed TLS 1.2 connection gets no new session: nothing to wait for.
      const received = yield* Scope.extend(
        info.sessionReused && info.protocol === "TLSv1.2" ? c.session : c.awaitSession("2 seconds"),
        outer
      )
      return {
        reused: info.sessionReused,
        protocol: info.protocol,
        session: received,
        sessionsSeen: c.engine.sessionsSeen
      }
    }).pipe(Scope.extend(inner))
    yield* Scope.close(inner, Exit.void)
    return result
  })

const isInvalidOption = (error: unknown, option: string) => {
  assert.strictEqual((error as InvalidOptionError)._tag, "InvalidOptionError", String(error))
  assert.strictEqual((error as InvalidOptionError).option, option)
}

// Real time: a bounded wait for a ticket must be able to end.
layer(TestOpenSsl, { excludeTestServices: true })("SslSession", (it) => {
  for (const version of versions) {
    describe(version, () => {
      it.scoped("captured from the connection; resumes on a fresh handle after the first connection was freed", () =>
        Effect.gen(function*() {
          const { client, server } = yield* contexts(version)
          const frees = yield* recordFrees
          const first = yield* connection(client, server)
          assert.strictEqual(first.protocol, version)
          assert.isFalse(first.reused)
          const session = Option.getOrThrow(first.session)
          // The first connection's handles are gone; the session outlives them.
          assert.strictEqual((yield* Diagnostics.counts).SSL, 0)
          assert.strictEqual(frees.filter((e) => e.kind === "SSL").length, 2)
          assert.isTrue(yield* SslSession.isResumable(session))
          assert.strictEqual(session.context, client)
          const second = yield* connection(client, server, session)
          assert.isTrue(second.reused)
          assert.strictEqual(second.protocol, version)
        }))

      it.scoped("toBytes / fromBytes round trip; the bytes resume after every reference was released", () =>
        Effect.gen(function*() {
          const { client, server } = yield* contexts(version)
          const stored = yield* Effect.scoped(Effect.gen(function*() {
            const first = yield* connection(client, server)
            return yield* SslSession.toBytes(Option.getOrThrow(first.session))
          }))
          assert.isAbove(stored.length, 0)
          const restored = yield* SslSession.fromBytes(client, stored)
          assert.deepStrictEqual(yield* SslSession.toBytes(restored), stored)
          assert.isTrue(yield* SslSession.isResumable(restored))
          assert.strictEqual(restored.context, client)
          const resumed = yield* connection(client, server, restored)
          assert.isTrue(resumed.reused)
        }))

      it.scoped("a session from another context is refused with a typed error, before any handshake", () =>
        Effect.gen(function*() {
          const { client, server } = yield* contexts(version)
          const twin = yield* SslContext.make({ ...clientOptions, maxProtocol: version })
          const first = yield* connection(client, server)
          const session = Option.getOrThrow(first.session)
          const [a] = yield* Transport.memoryPair
          const error = yield* Effect.flip(TlsConnection.connect(a, twin, { hostName: "localhost", session }))
          isInvalidOption(error, "session")
          assert.strictEqual((yield* Diagnostics.counts).SSL, 0)
          // Its bytes can be read back for the other context; whether they resume is the server's call.
          const moved = yield* SslSession.fromBytes(twin, yield* SslSession.toBytes(session))
          assert.strictEqual(moved.context, twin)
          assert.isTrue((yield* connection(twin, server, moved)).reused)
        }))

      it.scoped("a server that requires client certificates resumes: its session id context is set", () =>
        Effect.gen(function*() {
          // OpenSSL ends the handshake ("session id context uninitialized") when a verifying
          // server without a session id context is offered a session.
          const pki = yield* TestPki.make()
          const server = yield* SslContext.make({
            role: "server",
            certificate: pki.server,
            trust: { certificates: pki.trust },
            verify: { mode: "require" },
            maxProtocol: version
          })
          const client = yield* SslContext.make({
            role: "client",
            certificate: pki.client,
            trust: { certificates: pki.trust },
            maxProtocol: version
          })
          const first = yield* connection(client, server)
          assert.isFalse(first.reused)
          const second = yield* connection(client, server, Option.getOrThrow(first.session))
          assert.isTrue(second.reused)
          assert.strictEqual(second.protocol, version)
        }))

      it.scoped("a fatal alert after the handshake makes the session not resumable; resuming it is a full handshake", () =>
        Effect.gen(function*() {
          const { client, server } = yield* contexts(version)
          const outer = yield* Effect.scope
          const broken = yield* Effect.scoped(Effect.gen(function*() {
            const [c, s] = yield* connectedPair(client, server)
            const session = Option.getOrThrow(yield* Scope.extend(c.awaitSession("2 seconds"), outer))
            assert.isTrue(yield* SslSession.isResumable(session))
            // A forged application data record (bad record MAC, fatal alert), read by the driver
            // when the server's next record arrives behind it.
            yield* c.engine.feed(new Uint8Array([0x17, 0x03, 0x03, 0x00, 0x20, ...new Uint8Array(32).fill(7)]))
            yield* s.write(new TextEncoder().encode("behind the forged record"))
            const error = yield* Effect.flip(c.read)
            assert.strictEqual(error._tag, "TlsError")
            return session
          }))
          assert.isFalse(yield* SslSession.isResumable(broken))
          assert.isFalse((yield* connection(client, server, broken)).reused)
        }))
    })
  }

  it.scoped("TLSv1.3 tickets are single-use: each resumption hands out the next one", () =>
    Effect.gen(function*() {
      const { client, server } = yield* contexts("TLSv1.3")
      const first = yield* connection(client, server)
      const ticket1 = Option.getOrThrow(first.session)

      assert.isTrue(yield* SslSession.isResumable(ticket1))
      const second = yield* connection(client, server, ticket1)
      assert.isTrue(second.reused)
      // Used once, the ticket says so itself.
      assert.isFalse(yield* SslSession.isResumable(ticket1))
      const ticket2 = Option.getOrThrow(second.session)
      assert.isTrue(yield* SslSession.isResumable(ticket2))
      assert.notStrictEqual(ticket2, ticket1)
      assert.notDeepEqual(yield* SslSession.toBytes(ticket2), yield* SslSession.toBytes(ticket1))

      // The same ticket again: no resumption, a full handshake.
      const replay = yield* connection(client, server, ticket1)
      assert.isFalse(replay.reused)

      // The renewed ticket resumes, and the chain goes on.
      const third = yield* connection(client, server, ticket2)
      assert.isTrue(third.reused)
      const fourth = yield* connection(client, server, Option.getOrThrow(third.session))
      assert.isTrue(fourth.reused)
    }))

  it.scoped("TLSv1.2: the same session resumes again and again", () =>
    Effect.gen(function*() {
      const { client, server } = yield* contexts("TLSv1.2")
      const session = Option.getOrThrow((yield* connection(client, server)).session)
      for (let i = 0; i < 3; i++) {
        const resumed = yield* connection(client, server, session)
        assert.isTrue(resumed.reused)
        // The abbreviated handshake brings no new session: the old one stays the one to use.
        assert.strictEqual(resumed.sessionsSeen, 0)
        assert.isTrue(yield* SslSession.isResumable(session))
      }
    }))

  it.scoped("garbage, empty and truncated bytes are refused with a typed error, nothing held", () =>
    Effect.gen(function*() {
      const { client, server } = yield* contexts("TLSv1.3")
      const before = (yield* Diagnostics.counts).SSL_SESSION
      const stored = yield* Effect.scoped(Effect.gen(function*() {
        const first = yield* connection(client, server)
        return yield* SslSession.toBytes(Option.getOrThrow(first.session))
      }))
      for (
        const bad of [
          bytes("not a session"),
          new Uint8Array(0),
          stored.subarray(0, stored.length >> 1),
          new Uint8Array(64).fill(0x30)
        ]
      ) {
        isInvalidOption(yield* Effect.flip(SslSession.fromBytes(client, bad)), "bytes")
      }
      assert.strictEqual((yield* Diagnostics.counts).SSL_SESSION, before)
    }))

  it.scoped("bytes with anything after the session are refused with a typed error, nothing held", () =>
    Effect.gen(function*() {
      const { client, server } = yield* contexts("TLSv1.3")
      const stored = yield* Effect.scoped(Effect.gen(function*() {
        const first = yield* connection(client, server)
        return yield* SslSession.toBytes(Option.getOrThrow(first.session))
      }))
      const before = (yield* Diagnostics.counts).SSL_SESSION
      const followedBy = (tail: Uint8Array) => {
        const out = new Uint8Array(stored.length + tail.length)
        out.set(stored)
        out.set(tail, stored.length)
        return out
      }
      for (const tail of [new Uint8Array([0]), bytes("junk"), stored]) {
        const error = yield* Effect.flip(SslSession.fromBytes(client, followedBy(tail)))
        isInvalidOption(error, "bytes")
        assert.include(error.message, `${tail.length} trailing byte`)
      }
      assert.strictEqual((yield* Diagnostics.counts).SSL_SESSION, before)
      // The session alone still reads back.
      assert.isTrue(yield* SslSession.isResumable(yield* SslSession.fromBytes(client, stored)))
    }))

  it.scoped("every reference is released at scope close and each native session freed exactly once", () =>
    Effect.gen(function*() {
      const frees = yield* recordFrees
      const held = yield* Effect.scoped(Effect.gen(function*() {
        // The contexts too: the client's session cache holds references until its context goes.
        const { client, server } = yield* contexts("TLSv1.3")
        const first = yield* connection(client, server)
        const session = Option.getOrThrow(first.session)
        const extra = yield* SslSession.upRef(session)
        const restored = yield* SslSession.fromBytes(client, yield* SslSession.toBytes(extra))
        // A session released early is unusable, with a typed error; the others are not affected.
        const early = yield* SslSession.upRef(session)
        yield* SslSession.release(early)
        const released = yield* Effect.flip(SslSession.toBytes(early))
        assert.strictEqual(released._tag, "ReleasedHandleError")
        assert.isTrue(yield* SslSession.isResumable(session))
        assert.isTrue((yield* connection(client, server, restored)).reused)
        // The captured session and the one read back from bytes (and the resumed connection's
        // renewed ticket) are distinct native objects.
        return (yield* Diagnostics.live).filter((o) => o.kind === "SSL_SESSION")
      }))
      assert.isAtLeast(held.length, 2)
      const counts = yield* Diagnostics.counts
      assert.deepStrictEqual(counts, { SSL_CTX: 0, SSL: 0, SSL_SESSION: 0 })
      const sessionFrees = frees.filter((e) => e.kind === "SSL_SESSION").map((e) => e.id)
      for (const object of held) {
        assert.strictEqual(sessionFrees.filter((id) => id === object.id).length, 1, `session #${object.id}`)
      }
      // No native session was freed twice, held by us or not.
      assert.strictEqual(new Set(sessionFrees).size, sessionFrees.length)
    }))

  // Taking a reference reads the engine's latest session and up-refs it. A fiber may yield
  // between any two Effect operations (every 2048 by default), and the connection's scope
  // closing frees that session: the read and the up-ref must be one synchronous step. Here the
  // taking fiber yields after 10 to 80 operations (below about 10, yielding itself takes more
  // than the budget and the fiber never finishes), so the yield falls on every operation of
  // taking a reference in turn, and another fiber closes the connection meanwhile.
  it.scoped("a reference taken while the connection closes is taken whole or refused, never on freed memory", () =>
    Effect.gen(function*() {
      const frees = yield* recordFrees
      const { client, server } = yield* contexts("TLSv1.3")
      const outcomes = { taken: 0, refused: 0 }
      for (let budget = 10; budget <= 80; budget++) {
        const connectionScope = yield* Scope.make()
        const [c, s] = yield* Scope.extend(connectedPair(client, server), connectionScope)
        assert.isTrue(Option.isSome(yield* Scope.extend(c.awaitSession("2 seconds"), connectionScope)))
        // Closed for writing first, both ways: closing the scope then sends nothing and runs
        // without waiting, so it can fall entirely within one yield of the taking fiber.
        yield* Effect.all([c.closeWrite, s.closeWrite])
        const holder = yield* Scope.make()
        const [taken] = yield* Effect.all([
          Effect.withMaxOpsBeforeYield(Effect.exit(Scope.extend(c.session, holder)), budget),
          Scope.close(connectionScope, Exit.void)
        ], { concurrency: "unbounded" })
        if (Exit.isSuccess(taken)) {
          outcomes.taken++
          assert.isTrue(Option.isSome(taken.value), `budget ${budget}: the session read as absent`)
          // The only session still held is the one just taken: its native free must not have
          // been observed (a reference taken on freed memory would be).
          const [held, ...others] = (yield* Diagnostics.live).filter((o) => o.kind === "SSL_SESSION")
          assert.deepStrictEqual(others, [])
          assert.notInclude(frees.map((e) => e.id), held!.id, `budget ${budget}: a reference to a freed session`)
          assert.isAbove((yield* SslSession.toBytes(Option.getOrThrow(taken.value))).length, 0)
        } else {
          outcomes.refused++
          // Not OpenSslError: SSL_SESSION_up_ref on freed memory refuses when it counts 0 → 1.
          assert.isTrue(Cause.squash(taken.cause) instanceof ReleasedHandleError, `budget ${budget}: ${taken.cause}`)
        }
        yield* Scope.close(holder, Exit.void)
      }
      // Both orders happened, and every native session was freed exactly once.
      assert.isAbove(outcomes.taken, 0)
      assert.isAbove(outcomes.refused, 0)
      const sessionFrees = frees.filter((e) => e.kind === "SSL_SESSION").map((e) => e.id)
      assert.strictEqual(new Set(sessionFrees).size, sessionFrees.length, "a session was freed twice")
      assert.deepStrictEqual(yield* Diagnostics.counts, { SSL_CTX: 2, SSL: 0, SSL_SESSION: 0 })
    }))
})

// Without free observation there is no ex_data dup callback: copies are told apart otherwise.
layer(NodeOpenSsl.layer, { excludeTestServices: true })("SslSession ids without free observation", (it) => {
  it.scoped("TLSv1.3: the ticket of a resumed connection (a copy of the resumed session) gets its own id", () =>
    Effect.gen(function*() {
      const { client, server } = yield* contexts("TLSv1.3")
      const first = Option.getOrThrow((yield* connection(client, server)).session)
      const second = yield* connection(client, server, first)
      assert.isTrue(second.reused)
      const renewed = Option.getOrThrow(second.session)
      const sessions = (yield* Diagnostics.live).filter((o) => o.kind === "SSL_SESSION")
      assert.strictEqual(sessions.length, 2)
      assert.notStrictEqual(sessions[0]!.id, sessions[1]!.id)
      assert.notStrictEqual(sessions[0]!.address, sessions[1]!.address)
      assert.isTrue(yield* SslSession.isResumable(renewed))
    }))
})
