import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Arbitraries from "../src/Arbitraries.js"
import * as Mutation from "../src/Mutation.js"

const concat = (chunks: ReadonlyArray<Uint8Array>) => Uint8Array.from(chunks.flatMap((c) => [...c]))
const bytes = FastCheck.uint8Array({ maxLength: 300 })
const nonEmptyBytes = FastCheck.uint8Array({ minLength: 1, maxLength: 300 })

describe("Mutation.apply", () => {
  it.prop("never returns empty chunks and never modifies its input", [Arbitraries.mutation, bytes], ([m, input]) => {
    const copy = input.slice()
    const chunks = Mutation.apply(m, input)
    assert.isTrue(chunks.every((c) => c.length > 0))
    assert.deepStrictEqual(input, copy)
  })

  it.prop(
    "a stream-preserving mutation only rechunks; every other one changes a non-empty stream",
    [Arbitraries.mutation, nonEmptyBytes],
    ([m, input]) => {
      const output = concat(Mutation.apply(m, input))
      if (Mutation.preservesStream(m)) assert.deepStrictEqual(output, input)
      else assert.notDeepEqual(output, input)
    }
  )

  it.prop(
    "Split cuts at the given positions",
    [FastCheck.array(FastCheck.nat(), { maxLength: 8 }), bytes],
    ([cuts, input]) => {
      const chunks = Mutation.apply({ _tag: "Split", cuts }, input)
      const expectedBounds = new Set(cuts.map((c) => c % (input.length + 1)).filter((c) => c > 0 && c < input.length))
      assert.strictEqual(chunks.length, input.length === 0 ? 0 : expectedBounds.size + 1)
      let at = 0
      for (const chunk of chunks.slice(0, -1)) {
        at += chunk.length
        assert.isTrue(expectedBounds.has(at))
      }
    }
  )

  it.prop(
    "FlipBits XORs exactly one byte with the mask",
    [nonEmptyBytes, FastCheck.nat(), FastCheck.integer({ min: 1, max: 255 })],
    ([input, at, mask]) => {
      const [output] = Mutation.apply({ _tag: "FlipBits", at, mask }, input)
      const changed = [...output!].flatMap((b, i) => b === input[i] ? [] : [i])
      assert.deepStrictEqual(changed, [at % input.length])
      assert.strictEqual(output![at % input.length]! ^ input[at % input.length]!, mask)
    }
  )

  it.prop("Truncate keeps a strict prefix", [nonEmptyBytes, FastCheck.nat()], ([input, keep]) => {
    const output = concat(Mutation.apply({ _tag: "Truncate", keep }, input))
    assert.strictEqual(output.length, keep % input.length)
    assert.deepStrictEqual(output, input.subarray(0, output.length))
  })

  it.prop(
    "Duplicate repeats a segment right after itself",
    [nonEmptyBytes, FastCheck.nat(), FastCheck.integer({ min: 1, max: 64 })],
    ([input, at, length]) => {
      const output = concat(Mutation.apply({ _tag: "Duplicate", at, length }, input))
      const start = at % input.length
      const repeated = Math.min(length, input.length - start)
      assert.strictEqual(output.length, input.length + repeated)
      const segment = input.subarray(start, start + repeated)
      assert.deepStrictEqual(output.subarray(start, start + repeated), segment)
      assert.deepStrictEqual(output.subarray(start + repeated, start + 2 * repeated), segment)
      assert.deepStrictEqual(
        Uint8Array.from([...output.subarray(0, start), ...output.subarray(start + repeated)]),
        input
      )
    }
  )

  it.prop(
    "InsertGarbage inserts the garbage at the position",
    [bytes, FastCheck.nat(), FastCheck.uint8Array({ minLength: 1, maxLength: 32 })],
    ([input, at, garbage]) => {
      const output = concat(Mutation.apply({ _tag: "InsertGarbage", at, garbage }, input))
      const i = at % (input.length + 1)
      assert.deepStrictEqual(output.subarray(i, i + garbage.length), garbage)
      assert.deepStrictEqual(Uint8Array.from([...output.subarray(0, i), ...output.subarray(i + garbage.length)]), input)
    }
  )

  it("Arbitraries.mutation generates every kind", () => {
    const kinds = new Set(FastCheck.sample(Arbitraries.mutation, { numRuns: 200, seed: 5 }).map((m) => m._tag))
    assert.deepStrictEqual([...kinds].sort(), ["Duplicate", "FlipBits", "InsertGarbage", "Split", "Truncate"])
  })
})
