import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsEngine from "@effect-openssl/core/TlsEngine"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import { clientOptions, LiveOpenSsl, serverOptions } from "./util.js"

type Engine = TlsEngine.TlsEngine

/** Two engines over memory, bytes moved through one reused wire buffer. */
const enginePair = Effect.gen(function*() {
  const client = yield* SslContext.make(clientOptions)
  const server = yield* SslContext.make(serverOptions)
  const c = yield* TlsEngine.make(
    yield* Ssl.make(client, { hostName: "localhost", verifyHost: "localhost" }),
    { role: "client" }
  )
  const s = yield* TlsEngine.make(yield* Ssl.make(server), { role: "server" })
  const wire = new Uint8Array(64 * 1024)
  const move = (from: Engine, to: Engine) =>
    Effect.flatMap(from.takeOutputInto(wire), (n) => n === 0 ? Effect.void : to.feed(wire.subarray(0, n)))
  let clientDone = false
  let serverDone = false
  for (let flights = 0; !clientDone || !serverDone; flights++) {
    assert.isBelow(flights, 10)
    if (!clientDone) clientDone = (yield* c.handshakeStep) === "done"
    yield* move(c, s)
    if (!serverDone) serverDone = (yield* s.handshakeStep) === "done"
    yield* move(s, c)
  }
  return { c, s, move }
})

const record = (fill: number) => new Uint8Array(16 * 1024).fill(fill)

layer(LiveOpenSsl)("engine buffers", (it) => {
  it.scoped("a chunk from readStep stays the caller's: later reads do not overwrite it", () =>
    Effect.gen(function*() {
      const { c, move, s } = yield* enginePair
      const chunks: Array<Uint8Array> = []
      for (const fill of [1, 2, 3]) {
        assert.strictEqual(yield* c.writeStep(record(fill)), 16 * 1024)
        yield* move(c, s)
        for (;;) {
          const step = yield* s.readStep
          if (!(step instanceof Uint8Array)) break
          chunks.push(step)
        }
      }
      // A short read too (copied out of the reused buffer).
      yield* c.writeStep(new Uint8Array([9, 9, 9]))
      yield* move(c, s)
      const short = yield* s.readStep
      assert.deepStrictEqual(short, new Uint8Array([9, 9, 9]))
      const received = chunks.flatMap((chunk) => Array.from(new Set(chunk)))
      assert.deepStrictEqual(received, [1, 2, 3])
      assert.deepStrictEqual(chunks.map((chunk) => chunk.length), [16384, 16384, 16384])
    }))

  // Reads of every engine go through one shared buffer, and small outputs share slabs: what one
  // connection handed out must survive any later read or output of another.
  it.scoped.prop(
    "chunks from two connections' reads and outputs, interleaved, stay intact",
    [FastCheck.array(FastCheck.tuple(FastCheck.boolean(), FastCheck.integer({ min: 1, max: 16 * 1024 })), {
      minLength: 1,
      maxLength: 24
    })],
    ([steps]) =>
      Effect.gen(function*() {
        const pairs = [yield* enginePair, yield* enginePair]
        // Each chunk handed out, with a copy taken when it was handed out.
        const handedOut: Array<readonly [Uint8Array, Uint8Array]> = []
        let fill = 0
        for (const [second, size] of steps) {
          const { c, s } = pairs[second ? 1 : 0]!
          fill = (fill % 250) + 1
          assert.strictEqual(yield* c.writeStep(new Uint8Array(size).fill(fill)), size)
          const output = Option.getOrThrow(yield* c.takeOutput)
          handedOut.push([output, output.slice()])
          yield* s.feed(output)
          let read = 0
          for (;;) {
            const step = yield* s.readStep
            if (!(step instanceof Uint8Array)) break
            assert.isTrue(step.every((byte) => byte === fill))
            handedOut.push([step, step.slice()])
            read += step.length
          }
          assert.strictEqual(read, size)
        }
        for (const [chunk, copy] of handedOut) assert.deepStrictEqual(chunk, copy)
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: 25 } }
  )

  it.scoped("takeOutput returns everything at once; readInto and takeOutputInto carry a transfer", () =>
    Effect.gen(function*() {
      const { c, move, s } = yield* enginePair
      yield* c.writeStep(record(5))
      yield* c.writeStep(record(6))
      const all = Option.getOrThrow(yield* c.takeOutput)
      assert.isAbove(all.length, 2 * 16 * 1024)
      assert.isTrue(Option.isNone(yield* c.takeOutput))
      yield* s.feed(all)
      const into = new Uint8Array(16 * 1024)
      const seen: Array<number> = []
      for (;;) {
        const step = yield* s.readInto(into)
        if (typeof step !== "number") {
          assert.strictEqual(step, "want-read")
          break
        }
        seen.push(step, into[0]!, into[step - 1]!)
      }
      assert.deepStrictEqual(seen, [16384, 5, 5, 16384, 6, 6])
      // close_notify through the same forms.
      yield* c.shutdownStep
      yield* move(c, s)
      assert.strictEqual(yield* s.readInto(into), "closed")
    }))
})
