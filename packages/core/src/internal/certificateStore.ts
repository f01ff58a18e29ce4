import * as Effect from "effect/Effect"
import type { CertificateSet } from "../ServerContext.js"
import type { SslError } from "../SslError.js"
import { ReleasedHandleError } from "../SslError.js"
import { type Generation, type Material, sameMaterial } from "./certificateSet.js"

/**
 * The certificate set in service, and reloads. A reload reads the material again; if nothing
 * changed the set in service stays (its session cache and ticket keys with it); otherwise the
 * new set is built completely, and only then swapped in, in one synchronous step: a failed
 * build leaves the old set in service and nothing allocated. The store's hold on the old set
 * goes; connections that hold it keep it until they close.
 */
export class CertificateStore {
  #current: Generation
  #closed = false
  readonly #lock = Effect.unsafeMakeSemaphore(1)

  constructor(
    initial: Generation,
    private readonly load: Effect.Effect<Material, SslError>,
    private readonly build: (material: Material, generation: number) => Effect.Effect<Generation, SslError>
  ) {
    this.#current = initial
  }

  get current(): Generation {
    return this.#current
  }

  /** The current set, held by the caller until it calls `release` on it. */
  hold(): Generation {
    return this.#current.hold()
  }

  readonly reload: Effect.Effect<CertificateSet, SslError> = this.#lock.withPermits(1)(
    Effect.gen(this, function*() {
      if (this.#closed) return yield* this.closedError
      const material = yield* this.load
      if (sameMaterial(material, this.#current.material)) return this.#current.set
      // Built and swapped without interruption in between: an interrupted swap would leak the set.
      return yield* Effect.uninterruptible(
        Effect.flatMap(this.build(material, this.#current.set.generation + 1), (next) => {
          if (this.#closed) {
            next.release()
            return Effect.fail(this.closedError)
          }
          const previous = this.#current
          this.#current = next
          previous.release()
          return Effect.succeed(next.set)
        })
      )
    })
  )

  readonly close: Effect.Effect<void> = Effect.sync(() => {
    if (this.#closed) return
    this.#closed = true
    this.#current.release()
  })

  private get closedError() {
    return new ReleasedHandleError({ kind: "SSL_CTX", operation: "ServerContext.reload after the layer closed" })
  }
}
