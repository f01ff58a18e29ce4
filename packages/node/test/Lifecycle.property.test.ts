/**
 * Random lifecycle programs against the real library: make / upRef / dup / start-handshake /
 * close in random order. A reference count kept here predicts when each native SSL must be
 * freed; the ex_data free callback reports when it really was.
 */
import type { FreeEvent } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Scope from "effect/Scope"
import { clientOptions, recordFrees, startHandshake, TestOpenSsl } from "./util.js"

type Op =
  | { readonly _tag: "make" }
  | { readonly _tag: "upRef" | "dup" | "start" | "close"; readonly pick: number }

const op: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  { arbitrary: FastCheck.constant({ _tag: "make" as const }), weight: 2 },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constantFrom("upRef" as const, "dup" as const, "start" as const, "close" as const),
      pick: FastCheck.nat(1_000)
    }),
    weight: 8
  }
)

interface Holder {
  readonly ssl: Ssl.Ssl
  readonly scope: Scope.CloseableScope
  readonly id: number
}

const run = (ops: ReadonlyArray<Op>, closeOrder: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const frees: Array<FreeEvent> = yield* recordFrees
    const ctx = yield* SslContext.make(clientOptions)
    const holders: Array<Holder> = []
    const refs = new Map<number, number>() // object id -> holders alive
    const started = new Set<number>()
    const sslFrees = () => frees.filter((e) => e.kind === "SSL")

    const check = (step: string) => {
      const freed = sslFrees().map((e) => e.id)
      assert.strictEqual(new Set(freed).size, freed.length, `${step}: an object was freed twice`)
      const expected = [...refs].filter(([, n]) => n === 0).map(([id]) => id).sort()
      assert.deepStrictEqual([...freed].sort(), expected, `${step}: freed objects are exactly those with no holder`)
    }
    const hold = (ssl: Ssl.Ssl, scope: Scope.CloseableScope) => {
      const id = Ssl.unsafeNativeRef(ssl).id
      holders.push({ ssl, scope, id })
      refs.set(id, (refs.get(id) ?? 0) + 1)
    }
    const close = (index: number) =>
      Effect.gen(function*() {
        const [holder] = holders.splice(index, 1)
        yield* Scope.close(holder!.scope, Exit.void)
        refs.set(holder!.id, refs.get(holder!.id)! - 1)
      })

    for (const [i, o] of ops.entries()) {
      const step = `step ${i} (${o._tag})`
      if (o._tag === "make") {
        const scope = yield* Scope.make()
        hold(yield* Scope.extend(Ssl.make(ctx), scope), scope)
      } else if (holders.length > 0) {
        const holder = holders[o.pick % holders.length]!
        if (o._tag === "upRef") {
          const scope = yield* Scope.make()
          const ref = yield* Scope.extend(Ssl.upRef(holder.ssl), scope)
          assert.isTrue(Ssl.sameObject(ref, holder.ssl))
          hold(ref, scope)
        } else if (o._tag === "dup") {
          const scope = yield* Scope.make()
          const result = yield* Scope.extend(Ssl.dup(holder.ssl), scope)
          assert.strictEqual(result._tag === "Shared", started.has(holder.id), `${step}: dup tag == handshake started`)
          assert.strictEqual(Ssl.sameObject(result.ssl, holder.ssl), result._tag === "Shared")
          hold(result.ssl, scope)
        } else if (o._tag === "start") {
          if (!started.has(holder.id)) {
            yield* startHandshake(holder.ssl)
            started.add(holder.id)
          }
          assert.isTrue(yield* Ssl.handshakeStarted(holder.ssl))
        } else {
          yield* close(o.pick % holders.length)
        }
      }
      check(step)
    }
    for (const pick of closeOrder) {
      if (holders.length === 0) break
      yield* close(pick % holders.length)
      check("closing")
    }
    while (holders.length > 0) yield* close(0)
    check("end")
    // Every object made was freed exactly once.
    assert.strictEqual(sslFrees().length, refs.size)
  })

layer(TestOpenSsl)("lifecycle properties (real OpenSSL)", (it) => {
  it.scoped.prop(
    "each native SSL is freed exactly once, never before its last holder closed; dup tag == started",
    [FastCheck.array(op, { minLength: 1, maxLength: 40 }), FastCheck.array(FastCheck.nat(1_000), { maxLength: 40 })],
    ([ops, closeOrder]) => run(ops, closeOrder),
    { fastCheck: { numRuns: 300 } }
  )
})
