/**
 * Leak checks on top of `Diagnostics`: a test (or a whole suite) must give back every native
 * reference it took. Stack capture is turned on while a check runs, so each leak says where it
 * was acquired.
 *
 * ```ts
 * it.effect("pool returns every handle", () => LeakCheck.check(Effect.gen(function*() { ... })))
 * ```
 *
 * A check compares what the library holds before and after, through the current `OpenSsl`
 * service: tests sharing one service must not run concurrently with a check. An acquire records
 * its call site when its effect is built, so build the test's effects inside the check (the body
 * of an `Effect.gen` is) to get a stack for each leak.
 *
 * @since 0.1.0
 */
import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import type { NativeKind } from "@effect-openssl/core/SslError"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

/**
 * A native object that references taken during the check still hold.
 *
 * @since 0.1.0
 * @category models
 */
export interface Leak {
  readonly kind: NativeKind
  readonly id: number
  readonly address: bigint
  /** References taken during the check and still held. */
  readonly leases: number
  /** Stack of the object's first acquire (when it was acquired during the check). */
  readonly acquiredAt: string | undefined
}

/**
 * Native references taken during a check were still held at its end.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeakError extends Data.TaggedError("LeakError")<{
  readonly leaks: ReadonlyArray<Leak>
}> {
  /** @since 0.1.0 */
  override get message(): string {
    const lines = this.leaks.map((leak) =>
      `- ${leak.kind} #${leak.id}: ${leak.leases} reference${leak.leases === 1 ? "" : "s"} still held\n` +
      (leak.acquiredAt ?? "(acquired before the check, or without a stack)")
        .split("\n")
        .map((line) => `    ${line}`)
        .join("\n")
    )
    return `${this.leaks.length} native object${this.leaks.length === 1 ? "" : "s"} leaked:\n${lines.join("\n")}`
  }
}

/** Lease counts by object id. */
type Snapshot = ReadonlyMap<number, number>

// Checks may nest or overlap on one service: stack capture stays on while any of them runs.
const capturing = new WeakMap<OpenSsl, number>()

const start: Effect.Effect<Snapshot, never, OpenSsl> = Effect.gen(function*() {
  const openssl = yield* OpenSsl
  const running = capturing.get(openssl) ?? 0
  capturing.set(openssl, running + 1)
  if (running === 0) yield* Diagnostics.captureStacks(true)
  return new Map((yield* Diagnostics.live).map((o) => [o.id, o.leases]))
})

const stop: Effect.Effect<void, never, OpenSsl> = Effect.gen(function*() {
  const openssl = yield* OpenSsl
  const running = capturing.get(openssl)! - 1
  capturing.set(openssl, running)
  if (running === 0) yield* Diagnostics.captureStacks(false)
})

const leaksSince = (before: Snapshot): Effect.Effect<void, LeakError, OpenSsl> =>
  Effect.flatMap(Diagnostics.live, (live) => {
    const leaks = live.flatMap((o): Array<Leak> => {
      const extra = o.leases - (before.get(o.id) ?? 0)
      if (extra <= 0) return []
      return [{
        kind: o.kind,
        id: o.id,
        address: o.address,
        leases: extra,
        acquiredAt: before.has(o.id) ? undefined : o.acquiredAt
      }]
    })
    return leaks.length === 0 ? Effect.void : Effect.fail(new LeakError({ leaks }))
  })

/**
 * Run `self` in a scope of its own and fail with `LeakError` if any native reference it took
 * is still held once that scope closed (e.g. a handle acquired into a longer-lived scope, or a
 * scope that was never closed). A failure of `self` is reported as is.
 *
 * @since 0.1.0
 * @category combinators
 */
export const check = <A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E | LeakError, OpenSsl | Exclude<R, Scope.Scope>> =>
  Effect.acquireUseRelease(
    start,
    (before) => Effect.zipLeft(Effect.scoped(self), leaksSince(before)),
    () => stop
  )

/**
 * A suite-wide check for `@effect/vitest`'s `layer(...)`: what the suite's tests acquire must be
 * released by the time the layer is released, or releasing it dies with a `LeakError` (the suite
 * then fails in its `afterAll`). Build it on top of the `OpenSsl` layer:
 * `layer(Layer.provideMerge(LeakCheck.layer, NodeOpenSsl.layer))`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never, never, OpenSsl> = Layer.scopedDiscard(
  Effect.acquireRelease(start, (before) => Effect.ensuring(Effect.orDie(leaksSince(before)), stop))
)
