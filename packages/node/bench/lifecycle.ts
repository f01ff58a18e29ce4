/**
 * Lifecycle benchmark: SSL_new + SSL_free, SSL_up_ref + SSL_free and SSL_dup + SSL_free, each
 * as C, raw koffi calls, and the library's Effects, in one process on one OpenSSL.
 */
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import { medianOf, nsPerOp, ratioTable, type Row } from "../src/internal/bench/measure.js"
import { load } from "../src/internal/ffi/load.js"
import * as NodeOpenSsl from "../src/NodeOpenSsl.js"
import { loadCReference } from "./cReference.js"

type Key = "newFree" | "upRefFree" | "dupFree"

export const runLifecycle = (iterations: number): { table: string; note: string } => {
  const { native } = load({ _tag: "Process" })
  const ctx = native.SSL_CTX_new(native.TLS_client_method())!
  const ssl = native.SSL_new(ctx)!

  // Each C function runs its own loop and returns ns per iteration.
  const c = loadCReference("lifecycle.c")
  const cTime = (name: string, arg: bigint): number | undefined => {
    if (c._tag !== "Loaded") return undefined
    const f = c.lib.func(`double ${name}(void *handle, long n)`)
    return medianOf(() => f(arg, iterations))
  }
  const C: Record<Key, number | undefined> = {
    newFree: cTime("c_new_free", ctx),
    upRefFree: cTime("c_up_ref_free", ssl),
    dupFree: cTime("c_dup_free", ssl)
  }

  const raw: Record<Key, number> = {
    newFree: nsPerOp((n) => {
      for (let i = 0; i < n; i++) native.SSL_free(native.SSL_new(ctx)!)
    }, iterations),
    upRefFree: nsPerOp((n) => {
      for (let i = 0; i < n; i++) {
        native.SSL_up_ref(ssl)
        native.SSL_free(ssl)
      }
    }, iterations),
    dupFree: nsPerOp((n) => {
      for (let i = 0; i < n; i++) native.SSL_free(native.SSL_dup(ssl)!)
    }, iterations)
  }
  native.SSL_free(ssl)
  native.SSL_CTX_free(ctx)

  // The library, two ways: handles released early inside one long-lived scope (what a server
  // does per connection), and a fresh Effect.scoped per handle (adds Effect's own Scope cost).
  const libraryIterations = Math.max(1_000, Math.floor(iterations / 4))
  const library = Effect.runSync(
    Effect.gen(function*() {
      const context = yield* SslContext.make({ role: "client", verify: { mode: "none" } })
      const handle = yield* Ssl.make(context)
      const scope = yield* Effect.scope
      const time = (body: Effect.Effect<unknown, unknown, Scope.Scope>) =>
        nsPerOp((n) => {
          const loop = Effect.gen(function*() {
            for (let i = 0; i < n; i++) yield* body
          })
          Effect.runSync(Scope.extend(loop, scope) as Effect.Effect<void>)
        }, libraryIterations)
      return {
        early: {
          newFree: time(Effect.flatMap(Ssl.make(context), Ssl.release)),
          upRefFree: time(Effect.flatMap(Ssl.upRef(handle), Ssl.release)),
          dupFree: time(Effect.flatMap(Ssl.dup(handle), (r) => Ssl.release(r.ssl)))
        } satisfies Record<Key, number>,
        scoped: {
          newFree: time(Effect.scoped(Ssl.make(context))),
          upRefFree: time(Effect.scoped(Ssl.upRef(handle))),
          dupFree: time(Effect.scoped(Ssl.dup(handle)))
        } satisfies Record<Key, number>
      }
    }).pipe(Effect.scoped, Effect.provide(NodeOpenSsl.layer))
  )

  const rows: Array<Row> = ([
    ["SSL_new + SSL_free (Ssl.make + Ssl.release)", "newFree"],
    ["SSL_up_ref + SSL_free (Ssl.upRef + Ssl.release)", "upRefFree"],
    ["SSL_dup + SSL_free (Ssl.dup + Ssl.release)", "dupFree"]
  ] as const).map(([name, key]) => ({
    name,
    unit: "ns",
    values: {
      "C": C[key],
      "raw koffi": raw[key],
      "library": library.early[key],
      "library, Effect.scoped each": library.scoped[key]
    }
  }))
  const table = ratioTable(
    `Lifecycle (time per create + release; OpenSSL ${process.versions.openssl}, Node ${process.versions.node})`,
    ["C", "raw koffi", "library", "library, Effect.scoped each"],
    "C",
    rows
  )
  return { table, note: c._tag === "Unavailable" ? `C column skipped: ${c.reason}` : `C: ${c.compiler}` }
}
