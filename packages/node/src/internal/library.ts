import type { NativeRef, Version } from "@effect-openssl/core/OpenSsl"
import { InvalidOptionError, type NativeKind } from "@effect-openssl/core/SslError"
import { globalValue } from "effect/GlobalValue"
import { registerTrampolines, type SslState, type Trampolines } from "./callbacks.js"
import { makeDerOf, makeSubjectOf } from "./certificate.js"
import { ErrorQueue } from "./errorQueue.js"
import { CRYPTO_EX_INDEX, OPENSSL_VERSION_TEXT } from "./ffi/constants.js"
import { type Loaded, LoadFailure } from "./ffi/load.js"
import { callbackTypes } from "./ffi/prototypes.js"
import type { Native, Ptr } from "./ffi/table.js"

/**
 * What every binding over one loaded OpenSSL shares, made once per library and kept for the
 * life of the process (thread): the ex_data slots that carry object ids, the callback
 * trampolines, and the per-connection callback state. Building a binding again and again (a
 * layer provided per run) therefore costs no koffi callback slot and no ex_data index.
 */
export interface Library {
  readonly native: Native
  readonly version: Version
  readonly errors: ErrorQueue
  readonly trampolines: Trampolines
  /** Per-connection callback state, by object id. */
  readonly states: Map<number, SslState>
  /** Stamp a process-unique id on an object (in the library's slot), as `owner`'s. */
  readonly stamp: (kind: NativeKind, address: Ptr<"SSL" | "SSL_CTX" | "SSL_SESSION">, owner: object) => NativeRef
  /** The id stamped on an `SSL*`, if it is one of ours. */
  readonly sslId: (ssl: Ptr<"SSL">) => number | undefined
  /** The id stamped on an `SSL_SESSION*`, if any. */
  readonly sessionId: (session: Ptr<"SSL_SESSION">) => number | undefined
  readonly derOf: (x509: Ptr<"X509">) => Uint8Array
  readonly subjectOf: (x509: Ptr<"X509"> | null) => string | undefined
}

/** Ids are unique in the process, across libraries and bindings. */
const ids = globalValue(Symbol.for("@effect-openssl/node/ids"), () => ({ next: 1 }))

const libraries = globalValue(Symbol.for("@effect-openssl/node/shared"), () => new WeakMap<Loaded, Library>())

export const readVersion = (native: Native): Version => {
  const number = native.OpenSSL_version_num()
  const text = native.OpenSSL_version(OPENSSL_VERSION_TEXT)
  return number >= 0x30000000
    ? { text, number, major: number >>> 28, minor: (number >>> 20) & 0xff, patch: (number >>> 4) & 0xff }
    : { text, number, major: number >>> 28, minor: (number >>> 20) & 0xff, patch: (number >>> 12) & 0xff }
}

/** The shared part of `loaded`, made on first use. */
export const libraryOf = (loaded: Loaded): Library => {
  let library = libraries.get(loaded)
  if (library === undefined) {
    library = makeLibrary(loaded.native)
    libraries.set(loaded, library)
  }
  return library
}

const makeLibrary = (native: Native): Library => {
  const errors = new ErrorQueue(native, readVersion(native).number)
  const slot = (classIndex: number) => {
    errors.clear()
    return errors.cvt(
      "CRYPTO_get_ex_new_index",
      native.CRYPTO_get_ex_new_index(classIndex, 0, null, null, null, null),
      (i) => i >= 0
    )
  }
  const slots = {
    SSL: slot(CRYPTO_EX_INDEX.SSL),
    SSL_CTX: slot(CRYPTO_EX_INDEX.SSL_CTX),
    SSL_SESSION: slot(CRYPTO_EX_INDEX.SSL_SESSION)
  } as const
  const states = new Map<number, SslState>()

  const stamp: Library["stamp"] = (kind, address, owner) => {
    const id = ids.next++
    if (kind === "SSL") native.SSL_set_ex_data(address as Ptr<"SSL">, slots.SSL, BigInt(id))
    else if (kind === "SSL_CTX") native.SSL_CTX_set_ex_data(address as Ptr<"SSL_CTX">, slots.SSL_CTX, BigInt(id))
    else native.SSL_SESSION_set_ex_data(address as Ptr<"SSL_SESSION">, slots.SSL_SESSION, BigInt(id))
    return { kind, address, id, owner }
  }
  const sslId = (ssl: Ptr<"SSL">) => {
    const data = native.SSL_get_ex_data(ssl, slots.SSL)
    return data === null ? undefined : Number(data)
  }
  const sessionId = (session: Ptr<"SSL_SESSION">) => {
    const data = native.SSL_SESSION_get_ex_data(session, slots.SSL_SESSION)
    return data === null ? undefined : Number(data)
  }
  const derOf = makeDerOf(native, errors)
  const subjectOf = makeSubjectOf(native)

  let trampolines: Trampolines
  try {
    trampolines = registerTrampolines({
      native,
      storeCtxIndex: native.SSL_get_ex_data_X509_STORE_CTX_idx(),
      stateOf: (ssl) => {
        if (ssl === null) return undefined
        const id = sslId(ssl)
        return id === undefined ? undefined : states.get(id)
      },
      subjectOf,
      derOf
    }, callbackTypes())
  } catch (cause) {
    throw new LoadFailure("CallbackSlotsExhausted", "no koffi callback slot left for the connection callbacks", cause)
  }
  return {
    native,
    version: readVersion(native),
    errors,
    trampolines,
    states,
    stamp,
    sslId,
    sessionId,
    derOf,
    subjectOf
  }
}

/** The address of a ref, checked to be `owner`'s and of `kind`: one binding never sees another's objects. */
export const pointerOf = <K extends NativeKind>(ref: NativeRef, kind: K, owner: object, operation: string): Ptr<K> => {
  if (ref.owner !== owner || ref.kind !== kind) throw foreign(ref, kind, operation)
  return ref.address as Ptr<K>
}

const foreign = (ref: NativeRef, kind: NativeKind, operation: string) =>
  new InvalidOptionError({
    option: kind,
    reason: `${operation}: ${
      ref.kind !== kind ? `expected an ${kind}, got an ${ref.kind}` : `this ${kind} belongs to another OpenSsl binding`
    }`
  })
