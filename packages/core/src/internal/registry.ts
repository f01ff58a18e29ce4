import { globalValue } from "effect/GlobalValue"
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
  #captureStacks = false
  readonly held = new Map<number, Holding>()

  get captureStacks(): boolean {
    return this.#captureStacks
  }

  set captureStacks(enabled: boolean) {
    if (enabled !== this.#captureStacks) shared.capturing += enabled ? 1 : -1
    this.#captureStacks = enabled
  }

  hold(ref: NativeRef, site: string | undefined): void {
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
      acquiredAt: this.#captureStacks ? site : undefined
    })
  }

  drop(ref: NativeRef): void {
    const holding = this.held.get(ref.id)
    if (holding === undefined) return
    if (--holding.leases === 0) this.held.delete(ref.id)
  }
}

/**
 * Process-wide (two copies of this module in one process share it): how many registries
 * capture stacks (call sites are only captured while one does), and each binding's registry.
 */
const shared = globalValue(Symbol.for("@effect-openssl/core/registry"), () => ({
  capturing: 0,
  registries: new WeakMap<OpenSsl, Registry>()
}))

const libraryFrame = /[\\/](node_modules|packages[\\/]core[\\/]src)[\\/]|node:internal/

/**
 * The caller's stack, without this library's and Effect's frames. Called where the user
 * builds the acquiring effect, since at run time only the fiber runtime is on the stack.
 */
export const callSite = (): string | undefined => {
  if (shared.capturing === 0) return undefined
  const lines = (new Error("acquired here").stack ?? "").split("\n")
  return [lines[0], ...lines.slice(1).filter((line) => !libraryFrame.test(line))].join("\n")
}

/** The registry of an `OpenSsl` instance, created on first use. */
export const registryOf = (openssl: OpenSsl): Registry => {
  let registry = shared.registries.get(openssl)
  if (registry === undefined) {
    registry = new Registry()
    shared.registries.set(openssl, registry)
  }
  return registry
}
