import type { FreeEvent, Frees } from "@effect-openssl/core/OpenSsl"
import type { NativeKind } from "@effect-openssl/core/SslError"
import * as koffi from "koffi"
import { isMainThread } from "node:worker_threads"
import { CRYPTO_EX_INDEX } from "./ffi/constants.js"
import { LoadFailure } from "./ffi/load.js"
import { callbackTypes } from "./ffi/prototypes.js"
import type { Ptr } from "./ffi/table.js"
import type { Library } from "./library.js"

const kindOfClass: Record<number, NativeKind> = {
  [CRYPTO_EX_INDEX.SSL]: "SSL",
  [CRYPTO_EX_INDEX.SSL_CTX]: "SSL_CTX",
  [CRYPTO_EX_INDEX.SSL_SESSION]: "SSL_SESSION"
}

/** Free observation of one binding: its own ex_data slots, whose free callback reports each native free. */
export interface Observer {
  readonly frees: Frees
  /** Stamp the id in the observed slot too (objects of this binding are reported by it). */
  readonly stamp: (kind: NativeKind, address: Ptr<"SSL" | "SSL_CTX" | "SSL_SESSION">, id: number) => void
  /** Give the slots and callbacks back: OpenSSL calls them no more. */
  readonly close: () => void
}

/**
 * Observe native frees through ex_data free callbacks. The callback runs for every object of
 * the class freed in the process, Node's own TLS included, so it is opt-in. It is refused on
 * worker threads: OpenSSL would call it from whichever thread frees an object, and once the
 * worker ends (`worker.terminate()` included, which runs no finalizer) every later free in the
 * process would jump into a callback of a dead thread.
 */
export const observeFrees = (library: Library): Observer => {
  if (!isMainThread) {
    throw new LoadFailure(
      "UnsupportedInWorker",
      "observeFrees is only available on the main thread (a free callback must not outlive its thread)"
    )
  }
  const { errors, native } = library
  const listeners = new Set<(event: FreeEvent) => void>()
  const types = callbackTypes()
  let free: Ptr<"Callback">
  let dup: Ptr<"Callback">
  try {
    free = koffi.register(
      (_parent: unknown, data: bigint | null, _ad: unknown, _idx: number, argl: number) => {
        // A free callback returns nothing to C: it must simply never throw.
        try {
          if (data === null) return
          const event: FreeEvent = { kind: kindOfClass[argl]!, id: Number(data) }
          for (const listener of listeners) listener(event)
        } catch {
          // listeners are observers; one failing must not disturb the native free
        }
      },
      types.ExDataFree
    ) as Ptr<"Callback">
    // A copy of an object (ssl_session_dup for every TLS 1.3 ticket, SSL_dup for a fresh handle)
    // inherits the original's ex_data, so its id: copies start unstamped here, so that copies
    // OpenSSL makes and frees internally do not report their original's id.
    dup = koffi.register(
      (_to: unknown, _from: unknown, fromD: unknown) => {
        try {
          koffi.encode(fromD, "void *", null)
          return 1
        } catch {
          return 0
        }
      },
      types.ExDataDup
    ) as Ptr<"Callback">
  } catch (cause) {
    throw new LoadFailure("CallbackSlotsExhausted", "no koffi callback slot left for free observation", cause)
  }
  const slot = (classIndex: number) => {
    errors.clear()
    return errors.cvt(
      "CRYPTO_get_ex_new_index",
      native.CRYPTO_get_ex_new_index(classIndex, classIndex, null, null, dup, free),
      (i) => i >= 0
    )
  }
  const slots = {
    SSL: slot(CRYPTO_EX_INDEX.SSL),
    SSL_CTX: slot(CRYPTO_EX_INDEX.SSL_CTX),
    SSL_SESSION: slot(CRYPTO_EX_INDEX.SSL_SESSION)
  } as const
  return {
    frees: {
      observe: (listener) => {
        listeners.add(listener)
        return () => listeners.delete(listener)
      }
    },
    stamp: (kind, address, id) => {
      if (kind === "SSL") native.SSL_set_ex_data(address as Ptr<"SSL">, slots.SSL, BigInt(id))
      else if (kind === "SSL_CTX") native.SSL_CTX_set_ex_data(address as Ptr<"SSL_CTX">, slots.SSL_CTX, BigInt(id))
      else native.SSL_SESSION_set_ex_data(address as Ptr<"SSL_SESSION">, slots.SSL_SESSION, BigInt(id))
    },
    close: () => {
      native.CRYPTO_free_ex_index(CRYPTO_EX_INDEX.SSL, slots.SSL)
      native.CRYPTO_free_ex_index(CRYPTO_EX_INDEX.SSL_CTX, slots.SSL_CTX)
      native.CRYPTO_free_ex_index(CRYPTO_EX_INDEX.SSL_SESSION, slots.SSL_SESSION)
      // After CRYPTO_free_ex_index OpenSSL no longer calls the callbacks, so their slots can go.
      koffi.unregister(free)
      koffi.unregister(dup)
      listeners.clear()
    }
  }
}
