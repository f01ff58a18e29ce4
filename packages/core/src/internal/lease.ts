import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { NativeRef, OpenSsl } from "../OpenSsl.js"
import type { SslError } from "../SslError.js"
import { ReleasedHandleError } from "../SslError.js"
import { native } from "./native.js"
import { registryOf } from "./registry.js"

/**
 * One reference to a native object, owned by exactly one scope. Every use checks that the
 * lease is still live, so a handle that escaped its scope fails with
 * `ReleasedHandleError` instead of touching freed memory.
 */
export class Lease {
  #released = false

  constructor(
    readonly openssl: OpenSsl,
    readonly ref: NativeRef,
    private readonly free: (ref: NativeRef) => void,
    /** The child scope holding this lease's finalizer; closing it releases early. */
    readonly scope: Scope.CloseableScope,
    site: string | undefined
  ) {
    registryOf(openssl).hold(ref, site)
  }

  get released(): boolean {
    return this.#released
  }

  /** Drop the reference. Idempotent: the finalizer and an early release may both run. */
  release(): void {
    if (this.#released) return
    this.#released = true
    registryOf(this.openssl).drop(this.ref)
    this.free(this.ref)
  }

  /** The ref, or a typed failure when released. */
  check(operation: string): Effect.Effect<NativeRef, ReleasedHandleError> {
    return this.#released
      ? Effect.fail(new ReleasedHandleError({ kind: this.ref.kind, operation }))
      : Effect.succeed(this.ref)
  }

  /** Run one native operation on the live object. */
  use<A>(operation: string, f: (ref: NativeRef) => A): Effect.Effect<A, SslError> {
    return Effect.suspend(() =>
      this.#released
        ? Effect.fail(new ReleasedHandleError({ kind: this.ref.kind, operation }))
        : native(operation, () => f(this.ref))
    )
  }

  unsafeRef(operation: string): NativeRef {
    if (this.#released) throw new ReleasedHandleError({ kind: this.ref.kind, operation })
    return this.ref
  }
}

/**
 * Acquire one native reference into a child scope forked from the caller's scope. The
 * child closes with its parent, or earlier through `closeEarly`; either way the native
 * release runs exactly once.
 */
export const acquireLease = <A>(
  openssl: OpenSsl,
  operation: string,
  acquire: () => NativeRef,
  free: (ref: NativeRef) => void,
  wrap: (lease: Lease) => A,
  site: string | undefined
): Effect.Effect<A, SslError, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (parent) =>
    Effect.uninterruptible(
      Effect.flatMap(Scope.fork(parent, ExecutionStrategy.sequential), (child) =>
        Effect.matchEffect(native(operation, acquire), {
          onFailure: (error) => Effect.zipRight(Scope.close(child, Exit.void), Effect.fail(error)),
          onSuccess: (ref) => {
            const lease = new Lease(openssl, ref, free, child, site)
            return Effect.as(Scope.addFinalizer(child, Effect.sync(() => lease.release())), wrap(lease))
          }
        }))
    ))

/** Release a lease now by closing its scope (a no-op when already released). */
export const closeEarly = (lease: Lease): Effect.Effect<void> => Scope.close(lease.scope, Exit.void)
