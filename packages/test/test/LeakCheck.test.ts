import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import { assert, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { ObservedOpenSsl } from "../hardening/peers.js"
import * as LeakCheck from "../src/LeakCheck.js"

/**
 * Whether stack capture is on: an object acquired now records where. Suspended, because the
 * call site is taken when the acquiring effect is built.
 */
const capturing = Effect.suspend(() =>
  Effect.scoped(
    Effect.map(Effect.zipRight(SslContext.make({ role: "server" }), Diagnostics.live), (live) =>
      live.at(-1)!.acquiredAt !== undefined)
  )
)

/** The LeakError a check must fail with. */
const leakOf = <A, E extends { readonly _tag: string }, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Effect.flip(LeakCheck.check(self)),
    (error) => error._tag === "LeakError" ? Effect.succeed(error as LeakCheck.LeakError) : Effect.die(error)
  )

layer(ObservedOpenSsl)(
  "LeakCheck against real OpenSSL",
  (it) => {
    it.effect("a test that releases everything passes, with its value", () =>
      Effect.gen(function*() {
        const result = yield* LeakCheck.check(Effect.gen(function*() {
          const ctx = yield* SslContext.make({ role: "client" })
          const ssl = yield* Ssl.make(ctx)
          yield* Ssl.upRef(ssl)
          const dup = yield* Ssl.dup(ssl)
          yield* Ssl.release(dup.ssl)
          return "done"
        }))
        assert.strictEqual(result, "done")
      }))

    it.effect("a handle acquired into a scope that outlives the test is a leak, with where it was acquired", () =>
      Effect.gen(function*() {
        const outlives = yield* Scope.make()
        const error = yield* leakOf(Effect.gen(function*() {
          const ctx = yield* SslContext.make({ role: "client" })
          yield* Scope.extend(Ssl.make(ctx), outlives)
        }))
        assert.deepStrictEqual(error.leaks.map((l) => [l.kind, l.leases]), [["SSL", 1]])
        assert.include(error.leaks[0]!.acquiredAt, "LeakCheck.test.ts")
        assert.include(error.message, `SSL #${error.leaks[0]!.id}: 1 reference still held`)
        assert.include(error.message, "LeakCheck.test.ts")
        yield* Scope.close(outlives, Exit.void)
        assert.deepStrictEqual(yield* Diagnostics.counts, { SSL_CTX: 0, SSL: 0, SSL_SESSION: 0 })
      }))

    it.effect("a scope that is never closed leaks everything acquired in it", () =>
      Effect.gen(function*() {
        let forgotten: Scope.CloseableScope | undefined
        const error = yield* leakOf(Effect.gen(function*() {
          forgotten = yield* Scope.make()
          const ctx = yield* Scope.extend(SslContext.make({ role: "server" }), forgotten)
          yield* Scope.extend(Ssl.make(ctx), forgotten)
        }))
        assert.deepStrictEqual(error.leaks.map((l) => l.kind), ["SSL_CTX", "SSL"])
        yield* Scope.close(forgotten!, Exit.void)
      }))

    it.effect("an extra reference to an object that existed before is counted, without a stack", () =>
      Effect.gen(function*() {
        const outer = yield* Scope.make()
        const ssl = yield* Scope.extend(
          Effect.flatMap(SslContext.make({ role: "client" }), (ctx) => Ssl.make(ctx)),
          outer
        )
        const error = yield* leakOf(Scope.extend(Ssl.upRef(ssl), outer))
        assert.deepStrictEqual(error.leaks.map((l) => [l.id, l.leases, l.acquiredAt]), [
          [Ssl.unsafeNativeRef(ssl).id, 1, undefined]
        ])
        assert.include(error.message, "acquired before the check")
        yield* Scope.close(outer, Exit.void)
      }))

    it.effect("a failing test fails with its own error; stack capture is off again afterwards", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* LeakCheck.check(capturing))
        const error = yield* Effect.flip(LeakCheck.check(Effect.fail("boom" as const)))
        assert.strictEqual(error, "boom")
        assert.isFalse(yield* capturing)
      }))

    it.effect("nested checks keep stacks on until the outermost ends", () =>
      Effect.gen(function*() {
        const inner = yield* LeakCheck.check(LeakCheck.check(Effect.void).pipe(Effect.zipRight(capturing)))
        assert.isTrue(inner)
        assert.isFalse(yield* capturing)
      }))

    it.effect("LeakCheck.layer: releasing it dies with a LeakError when the suite leaked, and succeeds otherwise", () =>
      Effect.gen(function*() {
        const suite = (leak: boolean) =>
          Effect.gen(function*() {
            const layerScope = yield* Scope.make()
            yield* Layer.buildWithScope(LeakCheck.layer, layerScope)
            const outlives = yield* Scope.make()
            const ctx = yield* Scope.extend(SslContext.make({ role: "client" }), leak ? outlives : layerScope)
            const exit = yield* Effect.exit(Scope.close(layerScope, Exit.void))
            yield* Scope.close(outlives, Exit.void)
            return { exit, ctx }
          })
        const leaked = yield* suite(true)
        const defect = Exit.isFailure(leaked.exit)
          ? Option.getOrUndefined(Cause.dieOption(leaked.exit.cause))
          : undefined
        assert.instanceOf(defect, LeakCheck.LeakError)
        assert.deepStrictEqual((defect as LeakCheck.LeakError).leaks.map((l) => l.kind), ["SSL_CTX"])
        const clean = yield* suite(false)
        assert.isTrue(Exit.isSuccess(clean.exit))
        assert.isFalse(yield* capturing)
      }))
  }
)
