import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import type { FreeEvent } from "@effect-openssl/core/OpenSsl"
import * as SslContext from "@effect-openssl/core/SslContext"
import type { OpenSslErrorEntry } from "@effect-openssl/core/SslError"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Transport from "@effect-openssl/core/Transport"
import { assert, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import { clientOptions, recordFrees, serverOptions, TestOpenSsl } from "./util.js"

type Version = "TLSv1.2" | "TLSv1.3"
type Outcome = TlsConnection.TlsConnectionError

const bytes = (s: string) => new TextEncoder().encode(s)

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.length
  }
  return out
}

/** Bound an effect in real time: a hang becomes a defect that names what hung. */
const bounded = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>, seconds = 5) =>
  Effect.raceFirst(effect, Effect.zipRight(Effect.sleep(`${seconds} seconds`), Effect.dieMessage(`${what}: hung`)))

/** The error an effect failed with (a success is a test failure). */
const failureOf = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>) =>
  Effect.flip(bounded(what, effect)).pipe(
    Effect.catchAll((value) => Effect.die(new Error(`${what}: expected a failure, got ${String(value)}`)))
  )

const reasons = (entries: ReadonlyArray<OpenSslErrorEntry> | undefined) =>
  (entries ?? []).map((e) => e.reasonText ?? e.message).join("; ")

/** A typed TLS failure: a `TlsError` of one of `allowed` reasons; a protocol error carries OpenSSL's reasons. */
const assertTlsError = (
  error: Outcome,
  allowed: ReadonlyArray<string>,
  reasonPattern?: RegExp
) => {
  assert.strictEqual(error._tag, "TlsError", `not a TlsError: ${String(error)}`)
  if (error._tag !== "TlsError") return
  assert.include(allowed, error.reason, error.message)
  if (error.reason === "Protocol") {
    assert.isAbove(error.entries?.length ?? 0, 0, `no OpenSSL reason drained: ${error.message}`)
    for (const e of error.entries!) assert.isString(e.message)
  }
  if (reasonPattern !== undefined) assert.match(reasons(error.entries), reasonPattern, error.message)
}

/** Nothing held any more, and each native object seen in `frees` was freed exactly once. */
const assertAllFreed = (frees: ReadonlyArray<FreeEvent>, expectedSsl: number) =>
  Effect.gen(function*() {
    const counts = yield* Diagnostics.counts
    assert.strictEqual(counts.SSL, 0, "an SSL is still held")
    const sslIds = frees.filter((e) => e.kind === "SSL").map((e) => e.id)
    assert.strictEqual(new Set(sslIds).size, sslIds.length, `an SSL was freed twice: ${sslIds.join(",")}`)
    assert.strictEqual(sslIds.length, expectedSsl, "not every SSL was freed")
  })

const contexts = (version: Version = "TLSv1.3") =>
  Effect.all([
    SslContext.make({ ...clientOptions, maxProtocol: version }),
    SslContext.make({ ...serverOptions, maxProtocol: version })
  ])

/** A client and a server over `[a, b]`, both handshakes run concurrently. */
const pairOver = (
  [a, b]: readonly [Transport.Transport, Transport.Transport],
  client: SslContext.SslContext,
  server: SslContext.SslContext
) =>
  Effect.all([
    TlsConnection.connect(a, client, { hostName: "localhost" }),
    TlsConnection.accept(b, server)
  ], { concurrency: 2 })

/** Read until `length` bytes arrived; returns them. */
const readExactly = (conn: TlsConnection.TlsConnection, length: number) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    let got = 0
    while (got < length) {
      const chunk = yield* conn.read
      if (Option.isNone(chunk)) return yield* Effect.die(new Error(`closed after ${got} of ${length} bytes`))
      chunks.push(chunk.value)
      got += chunk.value.length
    }
    return concat(chunks)
  })

/** A healthy connection on the same contexts: several exchanges both ways, then a clean close. */
const healthyExchange = (client: SslContext.SslContext, server: SslContext.SslContext, rounds: number) =>
  Effect.scoped(Effect.gen(function*() {
    const [c, s] = yield* pairOver(yield* Transport.memoryPair, client, server)
    for (let i = 0; i < rounds; i++) {
      const request = bytes(`request ${i} `.repeat(i + 1))
      yield* c.write(request)
      assert.deepStrictEqual(yield* readExactly(s, request.length), request)
      const response = bytes(`response ${i} `.repeat(2 * i + 1))
      yield* s.write(response)
      assert.deepStrictEqual(yield* readExactly(c, response.length), response)
      yield* Effect.yieldNow()
    }
    yield* Effect.all([c.close, s.close], { concurrency: 2 })
    assert.isTrue(Option.isNone(yield* s.read))
    assert.isTrue(Option.isNone(yield* c.read))
    return rounds
  }))

/** The first flight of a real client (its ClientHello), captured off the wire. */
const realClientHello = (client: SslContext.SslContext) =>
  Effect.gen(function*() {
    const [a, b] = yield* Transport.memoryPair
    const attempt = yield* Effect.fork(Effect.scoped(TlsConnection.connect(a, client, { hostName: "localhost" })))
    const hello = Option.getOrThrow(yield* b.receive)
    yield* Fiber.interrupt(attempt)
    return hello
  })

/** Plaintext TLS records (content type, body), as far as `wire` holds whole records. */
const records = (wire: Uint8Array): Array<{ type: number; body: Uint8Array }> => {
  const out: Array<{ type: number; body: Uint8Array }> = []
  let offset = 0
  while (offset + 5 <= wire.length) {
    const length = (wire[offset + 3]! << 8) | wire[offset + 4]!
    if (offset + 5 + length > wire.length) break
    out.push({ type: wire[offset]!, body: wire.subarray(offset + 5, offset + 5 + length) })
    offset += 5 + length
  }
  return out
}

/**
 * Everything the peer sent so far. The connections under test have already failed (and flushed
 * any alert) by the time this runs; a failed connection does not end its transport, so stop
 * once nothing more comes.
 */
const sentSoFar = (transport: Transport.Transport) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    for (;;) {
      const chunk = yield* Effect.timeout(transport.receive, "50 millis").pipe(
        Effect.catchTag("TimeoutException", () => Effect.succeed(Option.none()))
      )
      if (Option.isNone(chunk)) return concat(chunks)
      chunks.push(chunk.value)
    }
  })

/** A server accepting over a transport whose other end we play by hand. */
const serverAgainst = (
  server: SslContext.SslContext,
  play: (peer: Transport.Transport) => Effect.Effect<void, Transport.TransportError>
) =>
  Effect.gen(function*() {
    const [a, b] = yield* Transport.memoryPair
    const [error] = yield* Effect.all([
      failureOf("accept", Effect.scoped(TlsConnection.accept(b, server))),
      play(a)
    ], { concurrency: 2 })
    return { error, peer: a }
  })

/** A hand-crafted ClientHello record. `legacyVersion` 0x0300 is SSLv3; no extensions at all. */
const legacyClientHello = (legacyVersion: number): Uint8Array => {
  const body = [
    legacyVersion >> 8,
    legacyVersion & 0xff,
    ...Array.from({ length: 32 }, (_, i) => i),
    0, // session id
    0,
    6,
    0x00,
    0x2f, // TLS_RSA_WITH_AES_128_CBC_SHA
    0x00,
    0x35, // TLS_RSA_WITH_AES_256_CBC_SHA
    0x00,
    0xff, // renegotiation SCSV
    1,
    0 // compression: null
  ]
  const handshake = [1, 0, body.length >> 8, body.length & 0xff, ...body]
  return new Uint8Array([0x16, 0x03, 0x00, handshake.length >> 8, handshake.length & 0xff, ...handshake])
}

/**
 * A man in the middle between two memory pairs: every chunk passes through `tamper`, in order.
 * Ends propagate.
 */
const relay = (tamper: (direction: "toServer" | "toClient", chunk: Uint8Array) => Uint8Array) =>
  Effect.gen(function*() {
    const [client, relayClient] = yield* Transport.memoryPair
    const [relayServer, server] = yield* Transport.memoryPair
    const pump = (from: Transport.Transport, to: Transport.Transport, direction: "toServer" | "toClient") =>
      Effect.gen(function*() {
        for (;;) {
          const chunk = yield* from.receive
          if (Option.isNone(chunk)) return yield* to.end
          yield* to.send(tamper(direction, chunk.value))
        }
      }).pipe(Effect.ignore)
    yield* Effect.forkScoped(pump(relayClient, relayServer, "toServer"))
    yield* Effect.forkScoped(pump(relayServer, relayClient, "toClient"))
    return [client, server] as const
  })

const END = Symbol("end")

/**
 * A connected pair that re-chunks both byte streams: every send is split into pieces whose
 * sizes cycle through `sizes` (1-byte pieces included), and every receive merges whatever has
 * arrived and splits it again. Bytes and their order are kept; boundaries are not.
 */
const rechunkingPair = (sizes: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const aToB = yield* Effect.acquireRelease(Queue.unbounded<Uint8Array | typeof END>(), Queue.shutdown)
    const bToA = yield* Effect.acquireRelease(Queue.unbounded<Uint8Array | typeof END>(), Queue.shutdown)
    const side = (incoming: typeof aToB, outgoing: typeof aToB, start: number): Transport.Transport => {
      let cursor = start
      let ended = false
      let peerEnded = false
      const pending: Array<Uint8Array> = []
      const split = (data: Uint8Array): Array<Uint8Array> => {
        const pieces: Array<Uint8Array> = []
        for (let offset = 0; offset < data.length;) {
          const size = sizes[cursor++ % sizes.length]!
          pieces.push(data.slice(offset, offset + size))
          offset += size
        }
        return pieces
      }
      return {
        send: (data) =>
          Effect.suspend(() =>
            ended
              ? Effect.fail(new Transport.TransportError({ reason: "Closed" }))
              : Queue.offerAll(outgoing, split(data))
          ).pipe(Effect.asVoid),
        receive: Effect.gen(function*() {
          if (pending.length > 0) return Option.some(pending.shift()!)
          if (peerEnded) return Option.none()
          const first = yield* Queue.take(incoming)
          const rest = yield* Queue.takeAll(incoming)
          const items = [first, ...rest]
          const endAt = items.indexOf(END)
          if (endAt >= 0) peerEnded = true
          const data = (endAt >= 0 ? items.slice(0, endAt) : items) as Array<Uint8Array>
          pending.push(...split(concat(data)))
          return pending.length > 0 ? Option.some(pending.shift()!) : Option.none()
        }),
        end: Effect.suspend(() => {
          if (ended) return Effect.void
          ended = true
          return Queue.offer(outgoing, END)
        }).pipe(Effect.asVoid)
      }
    }
    return [side(bToA, aToB, 0), side(aToB, bToA, 1)] as const
  })

/** The id a throwaway context gets: ids are stamped in order, so it marks a point in time. */
const idMarker = Effect.gen(function*() {
  const frees = yield* recordFrees
  yield* Effect.scoped(SslContext.make({ role: "server" }))
  const freed = frees.filter((e) => e.kind === "SSL_CTX")
  assert.strictEqual(freed.length, 1)
  return freed[0]!.id
}).pipe(Effect.scoped)

layer(TestOpenSsl, { excludeTestServices: true })("bad input", (it) => {
  it.scoped.prop(
    "random bytes as the ClientHello: a typed error, never a hang, all freed; a good connection next to it completes",
    [FastCheck.uint8Array({ minLength: 1, maxLength: 2048 }), FastCheck.boolean()],
    ([garbage, likeARecord]) =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const [client, server] = yield* contexts()
        // Half the runs get past the record header check, to reach the handshake parser.
        const input = likeARecord
          ? concat([new Uint8Array([0x16, 0x03, 0x01, garbage.length >> 8, garbage.length & 0xff]), garbage])
          : garbage
        const [{ error }, rounds] = yield* Effect.all([
          serverAgainst(server, (peer) => Effect.zipRight(peer.send(input), peer.end)),
          healthyExchange(client, server, 2)
        ], { concurrency: 2 })
        assertTlsError(error, ["Protocol", "UnexpectedEof"])
        assert.strictEqual(rounds, 2)
        yield* assertAllFreed(frees, 3)
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.scoped.prop(
    "random bytes as the ServerHello: a typed error on the client, never a hang, all freed",
    [FastCheck.uint8Array({ minLength: 1, maxLength: 2048 }), FastCheck.boolean()],
    ([garbage, likeARecord]) =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const [client] = yield* contexts()
        const input = likeARecord
          ? concat([new Uint8Array([0x16, 0x03, 0x03, garbage.length >> 8, garbage.length & 0xff]), garbage])
          : garbage
        const [a, b] = yield* Transport.memoryPair
        const [error, hello] = yield* Effect.all([
          failureOf("connect", Effect.scoped(TlsConnection.connect(a, client, { hostName: "localhost" }))),
          Effect.gen(function*() {
            const hello = yield* b.receive
            yield* b.send(input)
            yield* b.end
            return hello
          })
        ], { concurrency: 2 })
        // The client did send a real ClientHello before hearing garbage.
        assert.strictEqual(Option.getOrThrow(hello)[0], 0x16)
        assertTlsError(error, ["Protocol", "UnexpectedEof"])
        yield* assertAllFreed(frees, 1)
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.scoped("a truncated record (half a real ClientHello, then the end): UnexpectedEof on the server", () =>
    Effect.gen(function*() {
      const frees = yield* recordFrees
      const [client, server] = yield* contexts()
      const hello = yield* realClientHello(client)
      assert.isAbove(hello.length, 100)
      const half = hello.slice(0, hello.length >> 1)
      const { error, peer } = yield* serverAgainst(server, (peer) => Effect.zipRight(peer.send(half), peer.end))
      assertTlsError(error, ["UnexpectedEof"])
      // The server answered nothing but (at most) its fatal alert.
      const answer = records(yield* sentSoFar(peer))
      assert.isAtMost(answer.length, 1)
      for (const r of answer) assert.deepStrictEqual([r.type, r.body[0]], [21, 2])
      // The client whose hello we took, and the server.
      yield* assertAllFreed(frees, 2)
    }))

  it.scoped("an oversized record: a typed error naming the record length; the peer hears record_overflow", () =>
    Effect.gen(function*() {
      const frees = yield* recordFrees
      const [, server] = yield* contexts()
      const length = 16384 + 2048 + 1
      const record = new Uint8Array(5 + length)
      record.set([0x16, 0x03, 0x01, length >> 8, length & 0xff])
      const { error, peer } = yield* serverAgainst(server, (peer) => peer.send(record))
      assertTlsError(error, ["Protocol"], /length too long|record.*(length|overflow)/i)
      const alerts = records(yield* sentSoFar(peer)).filter((r) => r.type === 21)
      assert.deepStrictEqual(alerts.map((r) => Array.from(r.body)), [[2, 22]]) // fatal record_overflow
      yield* assertAllFreed(frees, 1)
    }))

  it.scoped("an SSLv3 ClientHello (legacy_version 0x0300, no supported_versions): unsupported protocol", () =>
    Effect.gen(function*() {
      const frees = yield* recordFrees
      const [, server] = yield* contexts()
      const { error, peer } = yield* serverAgainst(server, (peer) => peer.send(legacyClientHello(0x0300)))
      assertTlsError(error, ["Protocol"], /unsupported protocol|version too low/i)
      const alerts = records(yield* sentSoFar(peer)).filter((r) => r.type === 21)
      // A fatal alert: protocol_version, or handshake_failure as OpenSSL 3.0 answers.
      assert.strictEqual(alerts.length, 1)
      assert.strictEqual(alerts[0]!.body[0], 2)
      assert.include([70, 40], alerts[0]!.body[1])
      yield* assertAllFreed(frees, 1)
    }))

  it.scoped("a TLS 1.2-only client against a TLS 1.3-only server: typed errors on both sides", () =>
    Effect.gen(function*() {
      const frees = yield* recordFrees
      const client = yield* SslContext.make({ ...clientOptions, maxProtocol: "TLSv1.2" })
      const server = yield* SslContext.make({ ...serverOptions, minProtocol: "TLSv1.3" })
      const [a, b] = yield* Transport.memoryPair
      const [clientError, serverError] = yield* Effect.all([
        failureOf("connect", Effect.scoped(TlsConnection.connect(a, client, { hostName: "localhost" }))),
        failureOf("accept", Effect.scoped(TlsConnection.accept(b, server)))
      ], { concurrency: 2 })
      assertTlsError(serverError, ["Protocol"], /unsupported protocol/i)
      // The client heard the server's protocol_version alert.
      assertTlsError(clientError, ["Protocol"], /alert protocol version/i)
      yield* assertAllFreed(frees, 2)
    }))

  for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
    it.scoped(`${version}: a client that vanishes after its hello: UnexpectedEof on the server, all freed`, () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const [client, server] = yield* contexts(version)
        const hello = yield* realClientHello(client)
        const { error, peer } = yield* serverAgainst(server, (peer) => Effect.zipRight(peer.send(hello), peer.end))
        assertTlsError(error, ["UnexpectedEof"])
        // The server had answered with its first flight before finding the client gone.
        const answer = records(yield* sentSoFar(peer))
        assert.strictEqual(answer[0]?.type, 22)
        assert.strictEqual(answer[0]?.body[0], 2) // ServerHello
        yield* assertAllFreed(frees, 2)
      }))

    it.scoped(`${version}: a server that vanishes after its first flight: UnexpectedEof on the client, all freed`, () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const [client, server] = yield* contexts(version)
        const [a, b] = yield* Transport.memoryPair
        const serverAttempt = yield* Effect.fork(Effect.scoped(TlsConnection.accept(b, server)))
        // The client hears the real server's first flight, then the end of the transport. TLS 1.3
        // completes the client's handshake with the first flight alone: there, cut its last byte.
        let delivered = false
        const gone: Transport.Transport = {
          send: a.send,
          end: a.end,
          receive: Effect.suspend(() => {
            if (delivered) return Effect.succeed(Option.none())
            delivered = true
            return Effect.map(
              a.receive,
              Option.map((flight) => version === "TLSv1.3" ? flight.subarray(0, flight.length - 1) : flight)
            )
          })
        }
        const error = yield* failureOf(
          "connect",
          Effect.scoped(TlsConnection.connect(gone, client, { hostName: "localhost" }))
        )
        assertTlsError(error, ["UnexpectedEof"])
        yield* Fiber.interrupt(serverAttempt)
        yield* assertAllFreed(frees, 2)
      }))
  }

  for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
    it.scoped(
      `${version}: a corrupted application-data record: bad record mac, the peer hears the alert, a concurrent connection is unaffected`,
      () =>
        Effect.gen(function*() {
          const frees = yield* recordFrees
          const [client, server] = yield* contexts(version)
          const outcome = yield* Effect.scoped(Effect.gen(function*() {
            // Flip one ciphertext byte of the first application-data record sent after the handshake.
            let armed = false
            let corrupted = 0
            const [a, b] = yield* relay((direction, chunk) => {
              if (!armed || direction !== "toServer" || chunk[0] !== 23 || chunk.length < 30) return chunk
              armed = false
              corrupted++
              const copy = chunk.slice()
              copy[20] ^= 0x40
              return copy
            })
            const [c, s] = yield* pairOver([a, b], client, server)
            const broken = Effect.gen(function*() {
              armed = true
              yield* c.write(bytes("this record will not survive the trip"))
              const readError = yield* failureOf("server read", s.read)
              // The failed connection stays failed, with typed errors, and does not hang.
              const writeAfter = yield* failureOf("server write after the failure", s.write(bytes("more")))
              const readAfter = yield* failureOf("server read after the failure", s.read)
              const clientError = yield* failureOf("client read", c.read)
              const clientReadAfter = yield* failureOf("client read after the alert", c.read)
              return { readError, writeAfter, readAfter, clientError, clientReadAfter }
            })
            const [errors, rounds] = yield* Effect.all([broken, healthyExchange(client, server, 20)], {
              concurrency: 2
            })
            return { ...errors, rounds, corrupted }
          }))
          assert.strictEqual(outcome.corrupted, 1)
          assertTlsError(outcome.readError, ["Protocol"], /bad record mac|decryption failed/i)
          // Later operations on the failed connection say so, with the original failure as the cause.
          assertTlsError(outcome.writeAfter, ["Closed"])
          assert.strictEqual(outcome.writeAfter._tag === "TlsError" && outcome.writeAfter.cause, outcome.readError)
          assertTlsError(outcome.readAfter, ["Closed"])
          assert.strictEqual(outcome.readAfter._tag === "TlsError" && outcome.readAfter.cause, outcome.readError)
          // The client heard the server's bad_record_mac alert, and its connection stays failed too.
          assertTlsError(outcome.clientError, ["Protocol"], /alert bad record mac/i)
          assertTlsError(outcome.clientReadAfter, ["Closed"])
          assert.strictEqual(
            outcome.clientReadAfter._tag === "TlsError" && outcome.clientReadAfter.cause,
            outcome.clientError
          )
          assert.strictEqual(outcome.rounds, 20)
          yield* assertAllFreed(frees, 4)
        })
    )
  }

  it.scoped.prop(
    "random re-chunking of both streams: the handshake completes and every message arrives intact, in order",
    [
      FastCheck.constantFrom<ReadonlyArray<Version>>(["TLSv1.2"], ["TLSv1.3"]),
      FastCheck.array(
        FastCheck.oneof(
          FastCheck.constant(1),
          FastCheck.integer({ min: 1, max: 40 }),
          FastCheck.integer({ min: 1, max: 3000 })
        ),
        { minLength: 1, maxLength: 12 }
      ),
      FastCheck.array(FastCheck.uint8Array({ minLength: 1, maxLength: 2500 }), { minLength: 1, maxLength: 5 }),
      FastCheck.array(FastCheck.uint8Array({ minLength: 1, maxLength: 2500 }), { minLength: 1, maxLength: 5 })
    ],
    ([[version], sizes, requests, responses]) =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const [client, server] = yield* contexts(version)
        const received = yield* bounded(
          "re-chunked exchange",
          Effect.scoped(Effect.gen(function*() {
            const [c, s] = yield* pairOver(yield* rechunkingPair(sizes), client, server)
            assert.strictEqual((yield* c.info).protocol, version)
            const sent = concat(requests)
            const [, atServer] = yield* Effect.all([
              Effect.forEach(requests, (m) => c.write(m)),
              readExactly(s, sent.length)
            ], { concurrency: 2 })
            const answered = concat(responses)
            const [, atClient] = yield* Effect.all([
              Effect.forEach(responses, (m) => s.write(m)),
              readExactly(c, answered.length)
            ], { concurrency: 2 })
            yield* Effect.all([c.close, s.close], { concurrency: 2 })
            assert.isTrue(Option.isNone(yield* s.read))
            return { atServer, atClient }
          })),
          10
        )
        assert.deepStrictEqual(received.atServer, concat(requests))
        assert.deepStrictEqual(received.atClient, concat(responses))
        yield* assertAllFreed(frees, 2)
      }),
    { fastCheck: { numRuns: 30 } }
  )

  it.scoped.prop(
    "interruption at a random point of a handshake or transfer: nothing leaked, every native object freed once",
    [
      FastCheck.constantFrom<ReadonlyArray<Version>>(["TLSv1.2"], ["TLSv1.3"]),
      // About 40 scheduler steps take the pair through the handshake, 10 more each round of transfer.
      FastCheck.oneof(FastCheck.integer({ min: 0, max: 45 }), FastCheck.integer({ min: 0, max: 230 }))
    ],
    ([[version], steps]) =>
      Effect.gen(function*() {
        const before = yield* idMarker
        const frees = yield* recordFrees
        let progress = 0
        const work = Effect.scoped(Effect.gen(function*() {
          const [client, server] = yield* contexts(version)
          const [c, s] = yield* pairOver(yield* Transport.memoryPair, client, server)
          progress = 1
          for (let i = 0; i < 20; i++) {
            const message = bytes(`message ${i} `.repeat(50 * i + 1))
            yield* Effect.all([c.write(message), readExactly(s, message.length)], { concurrency: 2 })
            yield* Effect.all([s.write(message), readExactly(c, message.length)], { concurrency: 2 })
            progress = 2 + i
          }
          yield* Effect.all([c.close, s.close], { concurrency: 2 })
          progress = 100
        }))
        const fiber = yield* Effect.fork(work)
        for (let i = 0; i < steps; i++) yield* Effect.yieldNow()
        const exit = yield* bounded("interruption", Fiber.interrupt(fiber))
        // Either it was interrupted, or it finished first; it never failed.
        assert.isTrue(exit._tag === "Success" || (exit._tag === "Failure" && progress < 100), String(exit))
        if (exit._tag === "Failure") assert.isTrue(Cause.isInterruptedOnly(exit.cause), Cause.pretty(exit.cause))
        const counts = yield* Diagnostics.counts
        assert.deepStrictEqual(counts, { SSL_CTX: 0, SSL: 0, SSL_SESSION: 0 })
        const after = yield* idMarker
        // Every object stamped in between (contexts, handles, sessions) was freed, exactly once.
        const ids = frees.map((e) => e.id).filter((id) => id > before && id < after).sort((x, y) => x - y)
        assert.deepStrictEqual(ids, Array.from({ length: after - before - 1 }, (_, i) => before + 1 + i))
      }),
    { fastCheck: { numRuns: 60 } }
  )
})
