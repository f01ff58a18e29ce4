import type { NativeRef, OpenSsl } from "../OpenSsl.js"
import type { NativeKind } from "../SslError.js"

/** One native object the library holds references to, with how many leases hold it. */
export interface Holding {
  readonly kind: NativeKind
  readonly id: number
  readonly address: bigint
  leases: number
  readonly acquiredAt: string | undefined
}

/**
 * The native objects held through one `OpenSsl` instance. Kept per instance (not per
 * process) so that a worker thread or a second binding owns its own.
 */
export class Registry {
  captureStacks = false
  readonly held = new Map<number, Holding>()

  hold(ref: NativeRef): void {
    const existing = this.held.get(ref.id)
    if (existing !== undefined) {
      existing.leases++
      return
    }
    this.held.set(ref.id, {
      kind: ref.kind,
      id: ref.id,
      address: ref.address,
      leases: 1,
      acquiredAt: this.captureStacks ? new Error("acquired here").stack : undefined
    })
  }

  drop(ref: NativeRef): void {
    const holding = this.held.get(ref.id)
    if (holding === undefined) return
    if (--holding.leases === 0) this.held.delete(ref.id)
  }
}

const registries = new WeakMap<OpenSsl, Registry>()

/** The registry of an `OpenSsl` instance, created on first use. */
export const registryOf = (openssl: OpenSsl): Registry => {
  let registry = registries.get(openssl)
  if (registry === undefined) {
    registry = new Registry()
    registries.set(openssl, registry)
  }
  return registry
}
