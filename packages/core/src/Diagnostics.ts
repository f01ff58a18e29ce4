/**
 * Live-object diagnostics: which native objects the library holds references to right now,
 * and where they were acquired. Leak checks are built on this.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { registryOf } from "./internal/registry.js"
import { OpenSsl } from "./OpenSsl.js"
import type { NativeKind } from "./SslError.js"

/**
 * A native object held by at least one live lease.
 *
 * @since 0.1.0
 * @category models
 */
export interface LiveObject {
  readonly kind: NativeKind
  /** The id the binding stamped on the object. */
  readonly id: number
  readonly address: bigint
  /** How many live leases (this library's references) hold it. */
  readonly leases: number
  /** Stack of the first acquire, when stack capture was enabled. */
  readonly acquiredAt: string | undefined
}

/**
 * The objects held right now through the current `OpenSsl` service, oldest first.
 *
 * @since 0.1.0
 * @category accessors
 */
export const live: Effect.Effect<ReadonlyArray<LiveObject>, never, OpenSsl> = Effect.map(
  OpenSsl,
  (openssl) => Array.from(registryOf(openssl).held.values(), (h) => ({ ...h }))
)

/**
 * Count of held objects by kind.
 *
 * @since 0.1.0
 * @category accessors
 */
export const counts: Effect.Effect<Readonly<Record<NativeKind, number>>, never, OpenSsl> = Effect.map(
  live,
  (objects) => {
    const result: Record<NativeKind, number> = { SSL_CTX: 0, SSL: 0, SSL_SESSION: 0 }
    for (const o of objects) result[o.kind]++
    return result
  }
)

/**
 * Record the acquiring stack of every object acquired from now on (costs a stack capture per
 * acquire; meant for tests and debugging).
 *
 * @since 0.1.0
 * @category configuration
 */
export const captureStacks = (enabled: boolean): Effect.Effect<void, never, OpenSsl> =>
  Effect.map(OpenSsl, (openssl) => {
    registryOf(openssl).captureStacks = enabled
  })
