import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"

/**
 * `Effect.acquireRelease` for a synchronous acquire, at a fraction of its cost: the release is
 * registered with the caller's scope first (so no interruption can come between the acquire and
 * the registration), then `acquire` runs. `Effect.acquireRelease` costs an uninterruptible
 * region and two fiber-ref diffs at every close, on the path of every connection.
 */
export const acquireSyncRelease = <A>(
  acquire: () => A,
  release: (a: A) => Effect.Effect<void>
): Effect.Effect<A, never, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) => {
    let acquired: { readonly value: A } | undefined
    return Effect.zipRight(
      Scope.addFinalizer(scope, Effect.suspend(() => acquired === undefined ? Effect.void : release(acquired.value))),
      Effect.sync(() => (acquired = { value: acquire() }).value)
    )
  })
