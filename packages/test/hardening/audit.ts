/**
 * A free audit: native frees (observed by the binding's ex_data free callback) checked against
 * the leases the library holds (`Diagnostics`), for the length of a scope. It finds:
 *
 * - `FreedWhileHeld`: an object freed while a lease still holds it (any later use through that
 *   lease touches freed memory);
 * - `FreedTwice`: an object freed more than once;
 * - `HeldAfterFree`: a lease on an object that was already freed (a reference taken on freed
 *   memory: the use-after-free of "read a pointer, up-ref it later"). Found when `checkHeld`
 *   polls, so callers poll after every operation;
 * - at `finish`: `StillHeld` (a lease not released) and `NeverFreed` (an object created during
 *   the audit and never freed, leased or not).
 *
 * Objects are told apart by the id the binding stamps on them. Ids come from one counter, so the
 * objects created during the audit are those with ids between two markers: a throwaway context
 * created (and freed) at the start and at the end. Needs `observeFrees` on.
 */
import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import { type FreeEvent, OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as SslContext from "@effect-openssl/core/SslContext"
import type { NativeKind, SslError } from "@effect-openssl/core/SslError"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

export type Violation =
  | { readonly _tag: "FreedWhileHeld"; readonly kind: NativeKind; readonly id: number; readonly leases: number }
  | { readonly _tag: "FreedTwice"; readonly kind: NativeKind; readonly id: number }
  | { readonly _tag: "HeldAfterFree"; readonly kind: NativeKind; readonly id: number }
  | { readonly _tag: "StillHeld"; readonly kind: NativeKind; readonly id: number; readonly leases: number }
  | { readonly _tag: "NeverFreed"; readonly id: number }

export const describeViolation = (v: Violation): string => {
  switch (v._tag) {
    case "FreedWhileHeld":
      return `${v.kind} #${v.id} freed while ${v.leases} lease(s) still held it`
    case "FreedTwice":
      return `${v.kind} #${v.id} freed twice`
    case "HeldAfterFree":
      return `${v.kind} #${v.id} leased after it was freed (a reference taken on freed memory)`
    case "StillHeld":
      return `${v.kind} #${v.id} still held by ${v.leases} lease(s) at the end`
    case "NeverFreed":
      return `object #${v.id} created during the run was never freed`
  }
}

export interface Audit {
  /** Violations found so far. */
  readonly violations: ReadonlyArray<Violation>
  /** Look for leases on freed objects now; true when none. */
  readonly checkHeld: Effect.Effect<boolean>
  /**
   * After the run released everything: look for leases still held and objects never freed.
   * Returns every violation of the audit.
   */
  readonly finish: Effect.Effect<ReadonlyArray<Violation>, SslError>
  /** Native frees observed so far. */
  readonly frees: () => number
}

/** The id of a throwaway context: ids are stamped in order, so it marks a point in time. */
const marker = (events: ReadonlyArray<FreeEvent>) =>
  Effect.gen(function*() {
    const seen = events.length
    yield* Effect.scoped(SslContext.make({ role: "server" }))
    const freed = events.slice(seen).filter((e) => e.kind === "SSL_CTX")
    if (freed.length !== 1) return yield* Effect.dieMessage("audit: the marker context was not observed freed")
    return freed[0]!.id
  })

/** Start auditing; the free listener is removed when the scope closes. */
export const start: Effect.Effect<Audit, SslError, OpenSsl | Scope.Scope> = Effect.gen(function*() {
  const openssl = yield* OpenSsl
  const frees = openssl.frees
  if (frees === undefined) {
    return yield* Effect.dieMessage(
      "audit: free observation is off (NodeOpenSsl.layerLibrary({ libssl: \"libssl.so.3\", observeFrees: true }))"
    )
  }
  const violations: Array<Violation> = []
  const events: Array<FreeEvent> = []
  const freed = new Map<number, NativeKind>()
  const reported = new Set<number>()
  // Read in the same synchronous step as the check: a snapshot taken an Effect operation earlier
  // may be stale by the time it is checked (the fiber can yield in between).
  const liveNow = () => Effect.runSync(Effect.provideService(Diagnostics.live, OpenSsl, openssl))
  const report = (v: Violation) => {
    // One report per object and kind of violation.
    const key = v.id * 8 + ["FreedWhileHeld", "FreedTwice", "HeldAfterFree", "StillHeld", "NeverFreed"].indexOf(v._tag)
    if (reported.has(key)) return
    reported.add(key)
    violations.push(v)
  }
  yield* Effect.acquireRelease(
    Effect.sync(() =>
      frees.observe((event) => {
        events.push(event)
        // Runs inside the native free: a lease released properly left the registry before it.
        const holding = liveNow().find((o) => o.id === event.id)
        if (holding !== undefined) {
          report({ _tag: "FreedWhileHeld", kind: event.kind, id: event.id, leases: holding.leases })
        }
        if (freed.has(event.id)) report({ _tag: "FreedTwice", kind: event.kind, id: event.id })
        freed.set(event.id, event.kind)
      })
    ),
    (stop) => Effect.sync(stop)
  )
  const first = yield* marker(events)

  const checkHeld = Effect.sync(() => {
    let clean = true
    for (const o of liveNow()) {
      if (freed.has(o.id)) {
        clean = false
        report({ _tag: "HeldAfterFree", kind: o.kind, id: o.id })
      }
    }
    return clean
  })

  const finish = Effect.gen(function*() {
    yield* checkHeld
    for (const o of liveNow()) {
      if (o.id > first) report({ _tag: "StillHeld", kind: o.kind, id: o.id, leases: o.leases })
    }
    const last = yield* Effect.provideService(marker(events), OpenSsl, openssl)
    const stillHeld = new Set(violations.flatMap((v) => v._tag === "StillHeld" ? [v.id] : []))
    for (let id = first + 1; id < last; id++) {
      if (!freed.has(id) && !stillHeld.has(id)) report({ _tag: "NeverFreed", id })
    }
    return violations.slice()
  })

  return { violations, checkHeld, finish, frees: () => events.length }
})
