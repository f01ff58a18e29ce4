import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as RandomScheduler from "../src/RandomScheduler.js"

/** Three fibers taking turns through ten steps each; the order the steps ran in. */
const interleaving = Effect.gen(function*() {
  const order: Array<string> = []
  const worker = (name: string) =>
    Effect.forEach(Array.from({ length: 10 }, (_, i) => i), (i) =>
      Effect.sync(() => {
        order.push(`${name}${i}`)
      }), { discard: true })
  yield* Effect.all([worker("a"), worker("b"), worker("c")], { concurrency: "unbounded" })
  return order.join(" ")
})

/**
 * Two fibers, each reading a shared value and writing it back incremented a few operations later:
 * a lost update means the gap between the read and the write was split by the other fiber.
 */
const lostUpdates = Effect.gen(function*() {
  let shared = 0
  const increment = Effect.suspend(() => {
    const seen = shared
    return Effect.map(Effect.sync(() => seen + 1), (next) => {
      shared = next
    })
  })
  const worker = Effect.repeatN(increment, 199)
  yield* Effect.all([worker, worker], { concurrency: 2 })
  return 400 - shared
})

describe("RandomScheduler", () => {
  it.live("the same seed gives the same interleaving; other seeds give others", () =>
    Effect.gen(function*() {
      const run = (seed: number) => interleaving.pipe(RandomScheduler.shuffled({ seed, yieldProbability: 0.3 }))
      const first = yield* run(1)
      assert.strictEqual(yield* run(1), first)
      const others = new Set([first])
      for (let seed = 2; seed < 10; seed++) others.add(yield* run(seed))
      assert.isAtLeast(others.size, 5)
    }))

  it.live("splits a gap of a few operations that the default scheduler never splits", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* lostUpdates, 0)
      const lost = yield* lostUpdates.pipe(RandomScheduler.shuffled({ seed: 7, yieldProbability: 0.3 }))
      assert.isAbove(lost, 0)
    }))

  it.live("a MaxOpsBeforeYield below the minimum is raised to it, so fibers still progress", () =>
    Effect.gen(function*() {
      const order = yield* interleaving.pipe(RandomScheduler.shuffled({ seed: 3, maxOpsBeforeYield: 1 }))
      assert.strictEqual(order.split(" ").length, 30)
    }))

  it.live("counts the yields it forced and the tasks it ran", () =>
    Effect.gen(function*() {
      const scheduler = new RandomScheduler.RandomScheduler(5, 0.5)
      yield* Effect.withScheduler(interleaving, scheduler)
      assert.isAbove(scheduler.yields, 0)
      assert.isAbove(scheduler.tasks, scheduler.yields)
    }))
})
