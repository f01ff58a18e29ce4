import type { NativeRef } from "@effect-openssl/core/OpenSsl"
import type { NativeKind } from "@effect-openssl/core/SslError"
import type { ErrorQueue } from "./errorQueue.js"
import type { Native, Ptr } from "./ffi/table.js"
import { type Library, pointerOf } from "./library.js"

/** What each capability record of one binding is built from. */
export interface Kit {
  readonly library: Library
  readonly native: Native
  readonly errors: ErrorQueue
  /** This binding's identity: the `owner` of every ref it makes. */
  readonly owner: object
  /** Name a new object: a process-unique id stamped on it, this binding as owner. */
  readonly stamp: (kind: NativeKind, address: Ptr<"SSL" | "SSL_CTX" | "SSL_SESSION">) => NativeRef
  /** The address of a ref given to this binding: `InvalidOptionError` unless it is this binding's and of `kind`. */
  readonly pointer: <K extends NativeKind>(ref: NativeRef, kind: K, operation: string) => Ptr<K>
}

export const makeKit = (
  library: Library,
  owner: object,
  alsoStamp: (kind: NativeKind, address: Ptr<"SSL" | "SSL_CTX" | "SSL_SESSION">, id: number) => void
): Kit => ({
  library,
  native: library.native,
  errors: library.errors,
  owner,
  stamp: (kind, address) => {
    const ref = library.stamp(kind, address, owner)
    alsoStamp(kind, address, ref.id)
    return ref
  },
  pointer: (ref, kind, operation) => pointerOf(ref, kind, owner, operation)
})
