/**
 * Example: property-testing your own TLS code with `@effect-openssl/test`.
 *
 * `ask` below stands for the code under test: a client that sends one line over TLS and returns
 * the server's one-line reply. The tests run it against an echo server through a
 * `MemoryTransport` that splits, delays, corrupts and cuts the byte stream, with certificates
 * from `TestPki`, and wrap every run in `LeakCheck.check`. The properties:
 *
 * - however the network chunks and delays the bytes, the answer is right;
 * - whatever a hostile network does, the answer is never wrong: it is right or a typed failure,
 *   and nothing native leaks either way.
 */
import type * as SslContext from "@effect-openssl/core/SslContext"
import * as SslContextModule from "@effect-openssl/core/SslContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import type { Transport } from "@effect-openssl/core/Transport"
import * as NodeOpenSsl from "@effect-openssl/node/NodeOpenSsl"
import { LeakCheck, MemoryTransport, TestPki } from "@effect-openssl/test"
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

// ---- The code under test ---------------------------------------------------------------

/** The peer closed before a whole line came. */
class NoReply extends Data.TaggedError("NoReply")<{ readonly partial: string }> {}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const readLine = (tls: TlsConnection.TlsConnection) =>
  Effect.gen(function*() {
    let line = ""
    while (!line.includes("\n")) {
      const chunk = yield* tls.read
      if (Option.isNone(chunk)) return yield* new NoReply({ partial: line })
      line += decoder.decode(chunk.value, { stream: true })
    }
    return line.slice(0, line.indexOf("\n"))
  })

/** Send `question`, return the reply line. Closes the transport when done, as a socket would be. */
const ask = (transport: Transport, context: SslContext.SslContext, question: string) =>
  Effect.scoped(Effect.gen(function*() {
    const tls = yield* TlsConnection.connect(transport, context, {
      hostName: "localhost",
      handshakeTimeout: "2 seconds"
    })
    yield* tls.write(encoder.encode(`${question}\n`))
    const reply = yield* readLine(tls)
    yield* tls.close
    return reply
  })).pipe(Effect.ensuring(transport.end))

// ---- The test harness --------------------------------------------------------------------

/** The peer: answers one line with `echo: <line>`. */
const echoServer = (transport: Transport, context: SslContext.SslContext) =>
  Effect.scoped(Effect.gen(function*() {
    const tls = yield* TlsConnection.accept(transport, context, { handshakeTimeout: "2 seconds" })
    const line = yield* readLine(tls)
    yield* tls.write(encoder.encode(`echo: ${line}\n`))
    yield* tls.close
  })).pipe(Effect.ensuring(transport.end))

/** One server and one client context for the whole suite, from a fresh test PKI. */
class Contexts extends Context.Tag("examples/Contexts")<Contexts, {
  readonly client: SslContext.SslContext
  readonly server: SslContext.SslContext
}>() {}

const ContextsLive = Layer.scoped(
  Contexts,
  Effect.gen(function*() {
    const pki = yield* TestPki.make()
    return {
      server: yield* SslContextModule.make({ role: "server", certificate: pki.server }),
      client: yield* SslContextModule.make({ role: "client", trust: { certificates: pki.trust } })
    }
  })
)

const question = FastCheck.stringMatching(/^[ -~]{0,120}$/)

// Live services: the transport's delays and the handshake timeouts run on the real clock.
layer(Layer.provideMerge(ContextsLive, NodeOpenSsl.layer), { excludeTestServices: true })("ask", (it) => {
  it.effect.prop(
    "however the bytes are chunked and delayed, the answer is right",
    { question, seed: FastCheck.integer(), maxChunk: FastCheck.integer({ min: 1, max: 64 }) },
    ({ maxChunk, question, seed }) =>
      LeakCheck.check(Effect.gen(function*() {
        const { client, server } = yield* Contexts
        const network = yield* MemoryTransport.make({
          aToB: { seed, maxChunk, delay: { probability: 0.05, max: "2 millis" } },
          bToA: { seed: seed + 1, maxChunk }
        })
        const [answer] = yield* Effect.all([ask(network.a, client, question), echoServer(network.b, server)], {
          concurrency: 2
        })
        assert.strictEqual(answer, `echo: ${question}`)
      })),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "whatever a hostile network does, the answer is never wrong, and nothing leaks",
    {
      question,
      seed: FastCheck.integer(),
      corrupt: FastCheck.double({ min: 0, max: 0.1, noNaN: true }),
      closeAfter: FastCheck.option(FastCheck.nat(3_000), { nil: undefined })
    },
    ({ closeAfter, corrupt, question, seed }) =>
      LeakCheck.check(Effect.gen(function*() {
        const { client, server } = yield* Contexts
        const network = yield* MemoryTransport.make({
          aToB: { seed, maxChunk: 100, corrupt, closeAfter },
          bToA: { seed: ~seed, maxChunk: 100, corrupt }
        })
        const [answer] = yield* Effect.all([
          Effect.either(ask(network.a, client, question)),
          Effect.either(echoServer(network.b, server))
        ], { concurrency: 2 })
        const faults = yield* network.faults
        const hostile = faults.some((f) => f._tag === "Corrupt" || f._tag === "Close")
        if (answer._tag === "Right") assert.strictEqual(answer.right, `echo: ${question}`)
        else {
          assert.isTrue(hostile, `failed without a hostile fault: ${answer.left.message}`)
          assert.include(["TlsError", "VerifyError", "TransportError", "NoReply"], answer.left._tag)
        }
      })),
    { fastCheck: { numRuns: 60 } }
  )
})
