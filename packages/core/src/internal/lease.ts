import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type { NativeRef, OpenSsl } from "../OpenSsl.js"
import type { SslError } from "../SslError.js"
import { ReleasedHandleError } from "../SslError.js"
import { toSslError } from "./native.js"
import { type Registry, registryOf } from "./registry.js"

/**
 * The leases held in one Effect `Scope`. The scope gets a single finalizer that releases them
 * all, newest first; a lease released earlier leaves the list. This is the lightweight child
 * scope of each reference: it closes with its parent or earlier, and costs a list insertion
 * instead of an Effect `Scope` fork (measured at ~8–17 µs per fork+close, against ~1 µs for
 * `SSL_new`). Native releases are order-independent (OpenSSL counts references), so one
 * finalizer per scope is safe. The list is intrusive (each entry links its neighbours): adding
 * and removing cost no hashing, on the path of every `upRef`.
 */
class ScopeLeases {
  /** The newest entry. */
  #head: Held | undefined
  closed = false

  releaseAll(): void {
    this.closed = true
    let held = this.#head
    this.#head = undefined
    while (held !== undefined) {
      const next = held.next
      held.prev = held.next = undefined
      held.release()
      held = next
    }
  }

  /** Hold `held` until the scope closes; a scope that already closed releases it at once. */
  add(held: Held): void {
    if (this.closed) return held.release()
    held.next = this.#head
    if (this.#head !== undefined) this.#head.prev = held
    this.#head = held
  }

  /** Take `held` off the list (released early); a no-op once it is off. */
  remove(held: Held): void {
    if (held.prev !== undefined) held.prev.next = held.next
    else if (this.#head === held) this.#head = held.next
    else return
    if (held.next !== undefined) held.next.prev = held.prev
    held.prev = held.next = undefined
  }
}

/** An entry of a scope's list: leases, and the engines attached to them. */
abstract class Held {
  prev: Held | undefined = undefined
  next: Held | undefined = undefined
  abstract release(): void
}

/** A synchronous release held in a scope's list (see `acquireSync`). */
class HeldRelease extends Held {
  #done = false
  constructor(private readonly run: () => void) {
    super()
  }
  release(): void {
    if (this.#done) return
    this.#done = true
    this.run()
  }
}

/** Per scope, process-wide: two copies of this module in one process share the lists. */
const groups = globalValue(
  Symbol.for("@effect-openssl/core/lease/groups"),
  () => new WeakMap<Scope.Scope, ScopeLeases>()
)

/**
 * One reference to a native object, owned by exactly one scope. Every use checks that the
 * lease is still live, so a handle that escaped its scope fails with `ReleasedHandleError`
 * instead of touching freed memory.
 */
export class Lease extends Held {
  #released = false
  readonly #registry: Registry

  constructor(
    readonly openssl: OpenSsl,
    readonly ref: NativeRef,
    private readonly free: (ref: NativeRef) => void,
    private readonly group: ScopeLeases,
    site: string | undefined
  ) {
    super()
    this.#registry = registryOf(openssl)
    this.#registry.hold(ref, site)
  }

  get released(): boolean {
    return this.#released
  }

  /** Drop the reference. Idempotent: the scope's finalizer and an early release may both run. */
  release(): void {
    if (this.#released) return
    this.#released = true
    this.group.remove(this)
    this.#registry.drop(this.ref)
    this.free(this.ref)
  }

  /** Run one native operation on the live object. */
  use<A>(operation: string, f: (ref: NativeRef) => A): Effect.Effect<A, SslError> {
    // One suspend for the check and the call: this sits on the data path of every record.
    return Effect.suspend(() => {
      if (this.#released) return Effect.fail(new ReleasedHandleError({ kind: this.ref.kind, operation }))
      try {
        return Effect.succeed(f(this.ref))
      } catch (e) {
        return Effect.fail(toSslError(operation, e))
      }
    })
  }

  unsafeRef(operation: string): NativeRef {
    if (this.#released) throw new ReleasedHandleError({ kind: this.ref.kind, operation })
    return this.ref
  }
}

/**
 * Acquire one native reference as a lease of the caller's scope: released when the scope
 * closes, or earlier through `Lease.release`, exactly once either way. The native acquire and
 * the registration happen in one synchronous step, so interruption cannot separate them; it is
 * one Effect operation (reading the scope from the fiber) on the common path, because every
 * operation costs about as much as `SSL_up_ref` itself. `site` is the caller's stack (see
 * `callSite`), kept when stack capture is on.
 */
export const acquireLease = <A>(
  openssl: OpenSsl,
  operation: string,
  acquire: () => NativeRef,
  free: (ref: NativeRef) => void,
  wrap: (lease: Lease) => A,
  site: string | undefined
): Effect.Effect<A, SslError, Scope.Scope> =>
  withGroup((group) => {
    const held = hold(group, openssl, operation, acquire, free, site)
    return held instanceof Lease ? Effect.succeed(wrap(held)) : Effect.fail(held)
  })

/**
 * As `acquireLease`, for a reference that may not exist (`acquire` returns undefined): a
 * pointer read from a field someone else may free (the latest session) is read and up-ref'd
 * inside `acquire`, in one synchronous step, so no fiber can free it in between.
 */
export const acquireLeaseIfAny = <A>(
  openssl: OpenSsl,
  operation: string,
  acquire: () => NativeRef | undefined,
  free: (ref: NativeRef) => void,
  wrap: (lease: Lease) => A,
  site: string | undefined
): Effect.Effect<Option.Option<A>, SslError, Scope.Scope> =>
  withGroup((group) => {
    const held = hold(group, openssl, operation, acquire, free, site)
    return held instanceof Lease
      ? Effect.succeed(Option.some(wrap(held)))
      : held === undefined
      ? Effect.succeed(Option.none())
      : Effect.fail(held)
  })

/**
 * Run `f` with the leases group of the caller's scope. The first use in a scope registers the
 * scope's one finalizer, uninterruptibly together with `f`, so nothing acquired is left
 * without a release.
 */
const withGroup = <A>(
  f: (group: ScopeLeases) => Effect.Effect<A, SslError>
): Effect.Effect<A, SslError, Scope.Scope> =>
  Effect.withFiberRuntime((fiber) => {
    const scope = Context.unsafeGet(fiber.getFiberRef(FiberRef.currentContext), Scope.Scope)
    const existing = groups.get(scope)
    if (existing !== undefined) return f(existing)
    const group = new ScopeLeases()
    groups.set(scope, group)
    return Effect.uninterruptible(
      Effect.zipRight(
        Scope.addFinalizer(scope, Effect.sync(() => group.releaseAll())),
        Effect.suspend(() => f(group))
      )
    )
  })

/**
 * Acquire something synchronously and release it synchronously when the caller's scope closes,
 * in the scope's one finalizer (in reverse order with the leases there). Costs a list insertion
 * where `Effect.acquireRelease` costs a finalizer registration and an uninterruptible region
 * (measured at ~30 µs per acquire+release, on the path of every connection).
 */
export const acquireSync = <A>(
  operation: string,
  acquire: () => A,
  release: (a: A) => void
): Effect.Effect<A, SslError, Scope.Scope> =>
  withGroup((group) => {
    let value: A
    try {
      value = acquire()
    } catch (e) {
      return Effect.fail(toSslError(operation, e))
    }
    group.add(new HeldRelease(() => release(value)))
    return Effect.succeed(value)
  })

/**
 * The synchronous acquire-and-register step (top level: no closure per acquire): the new lease,
 * undefined when there was nothing to acquire, or the failure.
 */
const hold = <R extends NativeRef | undefined>(
  group: ScopeLeases,
  openssl: OpenSsl,
  operation: string,
  acquire: () => R,
  free: (ref: NativeRef) => void,
  site: string | undefined
): Lease | Exclude<R, NativeRef> | SslError => {
  let ref: R
  try {
    ref = acquire()
  } catch (e) {
    return toSslError(operation, e)
  }
  if (ref === undefined) return undefined as Exclude<R, NativeRef>
  const lease = new Lease(openssl, ref, free, group, site)
  group.add(lease)
  return lease
}

/**
 * A leases list of its own, for a connection served from callbacks (no fiber, no scope): what
 * is held in it is released, in reverse order, by `releaseAll`, once.
 */
export type LeaseGroup = Pick<ScopeLeases, "releaseAll">

export const unsafeLeaseGroup = (): LeaseGroup => new ScopeLeases()

/** `acquireLease`'s synchronous step into `group`: the new lease, or a thrown `SslError`. */
export const unsafeHold = (
  group: LeaseGroup,
  openssl: OpenSsl,
  operation: string,
  acquire: () => NativeRef,
  free: (ref: NativeRef) => void,
  site: string | undefined
): Lease => {
  const held = hold(group as ScopeLeases, openssl, operation, acquire, free, site)
  if (!(held instanceof Lease)) throw held
  return held
}

/** `acquireSync`'s registration step: `release` runs when `group` is released. */
export const unsafeAddRelease = (group: LeaseGroup, release: () => void): void =>
  (group as ScopeLeases).add(new HeldRelease(release))

/** Release a lease now (a no-op when already released). */
export const closeEarly = (lease: Lease): Effect.Effect<void> => Effect.sync(() => lease.release())
