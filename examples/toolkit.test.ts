import { SslContext, TlsConnection, type Transport } from "@effect-openssl/core"
import { NodeOpenSsl } from "@effect-openssl/node"
import { LeakCheck, MemoryTransport, TestPki } from "@effect-openssl/test"
import { assert, layer } from "@effect/vitest"
import { Effect, FastCheck, Option } from "effect"

/** The code under test: a client that reads one line from the server. */
const myClient = (transport: Transport.Transport, context: SslContext.SslContext) =>
  Effect.gen(function*() {
    const conn = yield* TlsConnection.connect(transport, context, { hostName: "localhost" })
    let text = ""
    while (!text.includes("\n")) {
      const chunk = yield* conn.read
      if (Option.isNone(chunk)) break
      text += new TextDecoder().decode(chunk.value)
    }
    return text.trim()
  })

layer(NodeOpenSsl.layer, { excludeTestServices: true })("my client", (it) => {
  it.effect.prop(
    "the reply arrives whole however the network chunks the bytes",
    { seed: FastCheck.integer(), maxChunk: FastCheck.integer({ min: 1, max: 64 }) },
    ({ maxChunk, seed }) =>
      LeakCheck.check(Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const server = yield* SslContext.make({ role: "server", certificate: pki.server })
        const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const net = yield* MemoryTransport.make({ aToB: { seed, maxChunk }, bToA: { seed: seed + 1, maxChunk } })
        const [reply] = yield* Effect.all([
          myClient(net.a, client),
          Effect.flatMap(TlsConnection.accept(net.b, server), (conn) => conn.write(new TextEncoder().encode("hi\n")))
        ], { concurrency: 2 })
        assert.strictEqual(reply, "hi")
      }))
  )
})
