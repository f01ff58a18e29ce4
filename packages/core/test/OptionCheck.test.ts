import * as OptionCheck from "@effect-openssl/core/OptionCheck"
import { InvalidOptionError } from "@effect-openssl/core/SslError"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"

/** What `f` throws, as the option and reason it names; undefined when it returns. */
const refusal = (f: () => unknown) => {
  try {
    f()
    return undefined
  } catch (e) {
    assert.instanceOf(e, InvalidOptionError)
    return { option: e.option, reason: e.reason }
  }
}

describe("OptionCheck", () => {
  it("duration: the fallback when absent; finite durations above zero as given", () => {
    assert.deepStrictEqual(OptionCheck.duration("t", undefined, "10 seconds"), Duration.seconds(10))
    assert.deepStrictEqual(OptionCheck.duration("t", "250 millis", "10 seconds"), Duration.millis(250))
    assert.deepStrictEqual(OptionCheck.duration("t", 1500, "10 seconds"), Duration.millis(1500))
    assert.deepStrictEqual(OptionCheck.duration("t", Duration.minutes(2), 1), Duration.minutes(2))
  })

  it("duration: zero, negative, NaN, infinite and garbage are refused naming the option", () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "0 seconds", "forever", Duration.infinity, null]) {
      const refused = refusal(() => OptionCheck.duration("handshakeTimeout", bad as Duration.DurationInput, 1))
      assert.strictEqual(refused?.option, "handshakeTimeout", String(bad))
    }
    assert.deepStrictEqual(refusal(() => OptionCheck.duration("t", "forever" as Duration.DurationInput, 1)), {
      option: "t",
      reason: "expected a duration, got \"forever\""
    })
  })

  it.prop(
    "describeValue: a string for any value, whatever its toString, toJSON or kind",
    [FastCheck.anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withTypedArray: true,
      withSparseArray: true
    })],
    ([value]) => typeof OptionCheck.describeValue(value) === "string"
  )

  it("describeValue: strings quoted, primitives as written, objects by kind", () => {
    const shown = ["x", 1.5, 10n, null, undefined, true, Symbol("s"), [1], { toString: 0 }, () => 1].map(
      OptionCheck.describeValue
    )
    assert.deepStrictEqual(shown, [
      "\"x\"",
      "1.5",
      "10n",
      "null",
      "undefined",
      "true",
      "a symbol",
      "an array",
      "an object",
      "a function"
    ])
  })

  it.prop(
    "duration: anything is a duration or refused naming the option, never another error",
    [FastCheck.anything({ withBigInt: true, withNullPrototype: true, withObjectString: true })],
    ([value]) => {
      let outcome: unknown
      try {
        outcome = OptionCheck.duration("idleTimeout", value as Duration.DurationInput, 1)
      } catch (e) {
        outcome = e
      }
      return Duration.isDuration(outcome) ||
        (outcome instanceof InvalidOptionError && outcome.option === "idleTimeout")
    }
  )

  it.prop(
    "count: whole numbers of at least 1 pass as they are; anything else is refused",
    [FastCheck.anything()],
    ([value]) => {
      const refused = refusal(() => OptionCheck.count("maxConnections", value as number, 7))
      const valid = value === undefined || (typeof value === "number" && Number.isSafeInteger(value) && value >= 1)
      if (valid) return refused === undefined && OptionCheck.count("m", value as number, 7) === (value ?? 7)
      return refused?.option === "maxConnections" && refused.reason.startsWith("expected a whole number of at least 1")
    }
  )

  it.effect("check: InvalidOptionError is the failure, anything else a defect", () =>
    Effect.gen(function*() {
      const failed = yield* Effect.flip(OptionCheck.check(() => OptionCheck.count("n", 0, 1)))
      assert.strictEqual(failed.option, "n")
      const died = yield* Effect.exit(OptionCheck.check(() => {
        throw new TypeError("a bug")
      }))
      assert.isTrue(Exit.isFailure(died) && Cause.isDie(died.cause))
      assert.strictEqual(yield* OptionCheck.check(() => 3), 3)
    }))
})
