import type { Transport } from "@effect-openssl/core/Transport"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as MemoryTransport from "../src/MemoryTransport.js"

/** Everything the peer receives until end of stream, chunk by chunk. */
const receiveAll = (transport: Transport) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    while (true) {
      const next = yield* transport.receive
      if (Option.isNone(next)) return chunks
      chunks.push(next.value)
    }
  })

const concat = (chunks: ReadonlyArray<Uint8Array>) => Uint8Array.from(chunks.flatMap((c) => [...c]))

/** Send each write from `a`, end, and collect what `b` receives, with the fault log. */
const transfer = (options: MemoryTransport.Options, writes: ReadonlyArray<Uint8Array>) =>
  Effect.scoped(Effect.gen(function*() {
    const pair = yield* MemoryTransport.make(options)
    for (const w of writes) yield* pair.a.send(w)
    yield* pair.a.end
    return { received: yield* receiveAll(pair.b), faults: yield* pair.faults }
  }))

const writes = FastCheck.array(FastCheck.uint8Array({ minLength: 1, maxLength: 200 }), { maxLength: 12 })
const seed = FastCheck.integer()

describe("MemoryTransport", () => {
  it.effect.prop("without faults: every write arrives whole and in order", [writes], ([ws]) =>
    Effect.gen(function*() {
      const { faults, received } = yield* transfer({}, ws)
      assert.deepStrictEqual(received, ws)
      assert.deepStrictEqual(faults, [])
    }))

  it.effect.prop(
    "chunking alone preserves the byte stream, in chunks of at most maxChunk",
    [writes, seed, FastCheck.integer({ min: 1, max: 16 })],
    ([ws, s, maxChunk]) =>
      Effect.gen(function*() {
        const { faults, received } = yield* transfer({ aToB: { seed: s, maxChunk } }, ws)
        assert.deepStrictEqual(concat(received), concat(ws))
        assert.isTrue(received.every((c) => c.length >= 1 && c.length <= maxChunk))
        const splits = faults.filter((f) => f._tag === "Split")
        assert.strictEqual(received.length, ws.length + splits.reduce((n, f) => n + f.sizes.length - 1, 0))
      })
  )

  it.effect.prop(
    "the same seed gives the same faults and the same bytes; the log accounts for every change",
    [writes, seed],
    ([ws, s]) =>
      Effect.gen(function*() {
        const faults: MemoryTransport.Faults = {
          seed: s,
          maxChunk: 9,
          drop: 0.1,
          truncate: 0.1,
          corrupt: 0.2,
          duplicate: 0.1
        }
        const first = yield* transfer({ aToB: faults }, ws)
        const second = yield* transfer({ aToB: faults }, ws)
        assert.deepStrictEqual(second, first)
        // Undo what the log says happened and the stream comes back.
        const sent = concat(ws)
        const expected: Array<number> = []
        const sizes = new Map<number, number>()
        for (const f of first.faults) {
          if (f._tag === "Split") f.sizes.reduce((at, n) => (sizes.set(at, n), at + n), f.offset)
        }
        let offset = 0
        for (const w of ws) {
          if (!sizes.has(offset)) sizes.set(offset, w.length)
          offset += w.length
        }
        const at = (tag: string, o: number) => first.faults.find((f) => f._tag === tag && f.offset === o)
        for (const [start, size] of [...sizes].sort(([a], [b]) => a - b)) {
          if (at("Drop", start) !== undefined) continue
          const truncated = at("Truncate", start) as { readonly kept: number } | undefined
          const chunk = [...sent.subarray(start, start + (truncated?.kept ?? size))]
          for (const f of first.faults) {
            if (f._tag === "Corrupt" && f.offset >= start && f.offset < start + chunk.length) {
              chunk[f.offset - start]! ^= f.mask
            }
          }
          expected.push(...chunk)
          if (at("Duplicate", start) !== undefined) expected.push(...chunk)
        }
        assert.deepStrictEqual([...concat(first.received)], expected)
      })
  )

  it.effect("drop, duplicate, corrupt and truncate with certainty", () =>
    Effect.gen(function*() {
      const data = Uint8Array.from({ length: 40 }, (_, i) => i)
      const dropped = yield* transfer({ aToB: { seed: 1, maxChunk: 8, drop: 1 } }, [data])
      assert.deepStrictEqual(dropped.received, [])
      const drops = dropped.faults.flatMap((f) => f._tag === "Drop" ? [f.length] : [])
      assert.isAbove(drops.length, 4, "40 bytes in chunks of at most 8")
      assert.strictEqual(drops.reduce((n, length) => n + length, 0), 40)

      const doubled = yield* transfer({ aToB: { seed: 1, duplicate: 1 } }, [data])
      assert.deepStrictEqual(doubled.received, [data, data])

      const corrupted = yield* transfer({ aToB: { seed: 1, corrupt: 1 } }, [data])
      const [flip] = corrupted.faults
      assert.strictEqual(flip!._tag, "Corrupt")
      const changed = [...corrupted.received[0]!].flatMap((b, i) => b === data[i] ? [] : [i])
      assert.deepStrictEqual(changed, [(flip as { offset: number }).offset])

      const truncated = yield* transfer({ aToB: { seed: 1, truncate: 1 } }, [data])
      const [cut] = truncated.faults as ReadonlyArray<{ _tag: string; kept: number; dropped: number }>
      assert.strictEqual(cut!._tag, "Truncate")
      assert.strictEqual(cut!.kept + cut!.dropped, 40)
      assert.deepStrictEqual(concat(truncated.received), data.subarray(0, cut!.kept))
    }))

  it.effect("closes mid-stream after N bytes: the peer gets them, then end of stream; later sends fail", () =>
    Effect.gen(function*() {
      const pair = yield* MemoryTransport.make({ aToB: { seed: 7, closeAfter: 10 } })
      yield* pair.a.send(new Uint8Array(6).fill(1))
      const crossing = yield* Effect.flip(pair.a.send(new Uint8Array(6).fill(2)))
      assert.strictEqual(crossing.reason, "Closed")
      const later = yield* Effect.flip(pair.a.send(new Uint8Array(1)))
      assert.strictEqual(later.reason, "Closed")
      assert.deepStrictEqual(concat(yield* receiveAll(pair.b)), Uint8Array.from([1, 1, 1, 1, 1, 1, 2, 2, 2, 2]))
      assert.deepStrictEqual(yield* pair.faults, [{ _tag: "Close", direction: "aToB", offset: 10 }])
      // The other direction still works.
      yield* pair.b.send(Uint8Array.of(9))
      assert.deepStrictEqual(yield* pair.a.receive, Option.some(Uint8Array.of(9)))
    }).pipe(Effect.scoped))

  it.effect("a send that ends exactly at the limit succeeds, and the stream ends there", () =>
    Effect.gen(function*() {
      const { received } = yield* transfer({ aToB: { seed: 0, closeAfter: 4 } }, [Uint8Array.of(1, 2, 3, 4)])
      assert.deepStrictEqual(received, [Uint8Array.of(1, 2, 3, 4)])
    }))

  it.effect("delays sleep on the Effect clock, and the bytes still arrive in order", () =>
    Effect.gen(function*() {
      const pair = yield* MemoryTransport.make({
        aToB: { seed: 3, maxChunk: 4, delay: { probability: 1, max: "1 second" } }
      })
      const data = Uint8Array.from({ length: 20 }, (_, i) => i)
      const sending = yield* Effect.fork(Effect.zipRight(pair.a.send(data), pair.a.end))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(sending)
      assert.deepStrictEqual(concat(yield* receiveAll(pair.b)), data)
      const delays = (yield* pair.faults).filter((f) => f._tag === "Delay")
      assert.isAbove(delays.length, 1)
      assert.isTrue(delays.every((f) => f.millis >= 0 && f.millis <= 1000))
    }).pipe(Effect.scoped))

  it.effect("each direction has its own faults; one faulty direction leaves the other intact", () =>
    Effect.gen(function*() {
      const faults: MemoryTransport.Faults = { seed: 11, maxChunk: 3, corrupt: 0.5 }
      const pair = yield* MemoryTransport.make({ aToB: faults, bToA: faults })
      const data = Uint8Array.from({ length: 64 }, (_, i) => i)
      yield* pair.a.send(data)
      yield* pair.b.send(data)
      const log = yield* pair.faults
      const ab = log.filter((f) => f.direction === "aToB")
      const ba = log.filter((f) => f.direction === "bToA")
      assert.notDeepEqual(ab.map(({ direction: _, ...f }) => f), ba.map(({ direction: _, ...f }) => f))

      const clean = yield* MemoryTransport.make({ bToA: faults })
      yield* clean.a.send(data)
      yield* clean.a.end
      assert.deepStrictEqual(yield* receiveAll(clean.b), [data])
    }).pipe(Effect.scoped))
})
