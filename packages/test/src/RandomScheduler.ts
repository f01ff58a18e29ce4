/**
 * A seeded scheduler that shuffles fibers, for race properties. It makes a fiber yield at random
 * operation boundaries (as well as after `MaxOpsBeforeYield` operations) and resumes whatever is
 * ready in a random order.
 *
 * Effect's default scheduler yields a fiber every 2048 operations and resumes ready fibers in
 * order, so a gap of a few operations between two steps that must not be separated (reading a
 * native pointer, then taking a reference on it) is almost never split in a test. Under this
 * scheduler such gaps are split often, and a failing order replays from its seed (as far as
 * timers and I/O, which still run in real time, allow).
 *
 * ```ts
 * const program = myConcurrentCode.pipe(RandomScheduler.shuffled({ seed, maxOpsBeforeYield: 2 }))
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import type * as Scheduler from "effect/Scheduler"
import { Prng } from "./internal/prng.js"

/** Tasks run per macrotask before timers and I/O get a turn. */
const BATCH = 512

/**
 * Operations a resumed fiber runs before it may be made to yield again. Resuming a fiber costs
 * Effect 3.22 about nine operations of its own: with a smaller budget a fiber yields again before
 * it makes any progress, for ever (measured: `Effect.withMaxOpsBeforeYield(9)` never completes a
 * three-step `Effect.gen` on the default scheduler; 10 does).
 *
 * @since 0.1.0
 * @category constants
 */
export const minOpsBeforeYield = 10

/**
 * A `Scheduler` that yields fibers at random and resumes ready fibers in a random order, both
 * drawn from one seeded generator.
 *
 * @since 0.1.0
 * @category models
 */
export class RandomScheduler implements Scheduler.Scheduler {
  readonly #prng: Prng
  readonly #ready: Array<Scheduler.Task> = []
  #draining = false
  #yields = 0
  #tasks = 0

  constructor(
    seed: number,
    /**
     * The chance that a fiber yields at any operation boundary (once it ran `minOpsBeforeYield`
     * operations since it resumed), on top of `MaxOpsBeforeYield`.
     */
    readonly yieldProbability: number
  ) {
    this.#prng = new Prng(seed)
  }

  /** How many times a fiber was made to yield so far. */
  get yields(): number {
    return this.#yields
  }

  /** How many tasks (fiber resumptions) ran so far. */
  get tasks(): number {
    return this.#tasks
  }

  shouldYield(fiber: Fiber.RuntimeFiber<unknown, unknown>): number | false {
    const ops = fiber.currentOpCount
    if (
      ops > fiber.getFiberRef(FiberRef.currentMaxOpsBeforeYield) ||
      (ops >= minOpsBeforeYield && this.#prng.chance(this.yieldProbability))
    ) {
      this.#yields++
      return fiber.getFiberRef(FiberRef.currentSchedulingPriority)
    }
    return false
  }

  scheduleTask(task: Scheduler.Task): void {
    this.#ready.push(task)
    if (!this.#draining) {
      this.#draining = true
      setImmediate(this.#drain)
    }
  }

  readonly #drain = (): void => {
    for (let n = 0; n < BATCH && this.#ready.length > 0; n++) {
      // A random ready task, swap-removed: the order fibers resume in is the seed's.
      const at = this.#prng.int(0, this.#ready.length - 1)
      const task = this.#ready[at]!
      this.#ready[at] = this.#ready[this.#ready.length - 1]!
      this.#ready.pop()
      this.#tasks++
      task()
    }
    if (this.#ready.length > 0) setImmediate(this.#drain)
    else this.#draining = false
  }
}

/**
 * Options of `shuffled`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly seed: number
  /**
   * Yield after this many operations (Effect's default is 2048). Default 2048; at least
   * `minOpsBeforeYield`, or fibers never progress.
   */
  readonly maxOpsBeforeYield?: number | undefined
  /** The chance of a yield at any operation boundary. Default 0.05. */
  readonly yieldProbability?: number | undefined
}

/**
 * Run an effect, and every fiber it forks, under a fresh `RandomScheduler` and the given
 * `MaxOpsBeforeYield`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const shuffled = (options: Options) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  self.pipe(
    Effect.withMaxOpsBeforeYield(Math.max(minOpsBeforeYield, options.maxOpsBeforeYield ?? 2048)),
    Effect.withScheduler(new RandomScheduler(options.seed, options.yieldProbability ?? 0.05))
  )
