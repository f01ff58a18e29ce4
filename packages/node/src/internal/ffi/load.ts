import { globalValue } from "effect/GlobalValue"
import * as koffi from "koffi"
import { pkiTable } from "./pkiTable.js"
import { callbackTypes } from "./prototypes.js"
import { type Native, table } from "./table.js"

/**
 * Why binding failed: no library, a required symbol missing, a version older than 1.1.1, no
 * free callback slot left in koffi's fixed pool, an option this thread cannot have, or free
 * observation asked of the OpenSSL Node itself uses.
 */
export type LoadFailureReason =
  | "LibraryNotFound"
  | "SymbolMissing"
  | "UnsupportedVersion"
  | "CallbackSlotsExhausted"
  | "UnsupportedInWorker"
  | "SharedWithNode"

/** Why loading failed, before it becomes an `OpenSslLoadError`. */
export class LoadFailure {
  constructor(
    readonly reason: LoadFailureReason,
    readonly detail: string,
    readonly cause?: unknown
  ) {}
}

/** Where the symbols come from: the running process, or external libraries. */
export type Source =
  | { readonly _tag: "Process" }
  | { readonly _tag: "Library"; readonly libssl: string; readonly libcrypto: string | undefined }

export interface Loaded {
  readonly native: Native
}

const openLibrary = (path: string | null): koffi.LibraryHandle => {
  try {
    // RTLD_DEEPBIND: an external libssl must bind to its own libcrypto, not to the copy
    // Node exports (default flags silently cross-bind hundreds of symbols; see DESIGN.md).
    return path === null ? koffi.load(null) : koffi.load(path, { deep: true })
  } catch (cause) {
    throw new LoadFailure("LibraryNotFound", `cannot load ${path ?? "the process's own symbols"}`, cause)
  }
}

/** Per process (per thread: each has its own koffi): koffi declarations are costly and immutable. */
const cache = globalValue(Symbol.for("@effect-openssl/node/libraries"), () => new Map<string, Loaded>())

/**
 * Bind every table entry. A missing required symbol is a `LoadFailure` naming it; a missing
 * optional one is left `undefined` (feature detection). Bound tables are cached per source:
 * koffi declarations are costly and immutable.
 */
export const load = (source: Source): Loaded => {
  const key = source._tag === "Process" ? "process" : `${source.libssl}\0${source.libcrypto ?? ""}`
  const cached = cache.get(key)
  if (cached !== undefined) return cached
  // The prototypes name the callback types: they must be declared first.
  callbackTypes()
  let sslLib: koffi.LibraryHandle
  let cryptoLib: koffi.LibraryHandle
  if (source._tag === "Process") {
    sslLib = cryptoLib = openLibrary(null)
  } else {
    // libcrypto first, so libssl's DEEPBIND search finds the same copy the caller named.
    cryptoLib = source.libcrypto === undefined ? openLibrary(source.libssl) : openLibrary(source.libcrypto)
    sslLib = source.libcrypto === undefined ? cryptoLib : openLibrary(source.libssl)
  }
  const native: Record<string, unknown> = {}
  for (const [name, decl] of Object.entries({ ...table, ...pkiTable })) {
    const lib = decl.library === "ssl" ? sslLib : cryptoLib
    try {
      native[name] = lib.func(decl.proto)
    } catch (cause) {
      if (decl.optional) continue
      throw new LoadFailure("SymbolMissing", `${name} not found`, cause)
    }
  }
  const loaded: Loaded = { native: native as unknown as Native }
  cache.set(key, loaded)
  return loaded
}

/**
 * Whether `loaded` is the OpenSSL Node itself uses: the process's own symbols, or an external
 * library that resolved to the same copy (a Node linked against the system's libssl). Compared
 * by the address of a static object of libssl, so a copy under another name is found too.
 */
export const isNodeOwn = (source: Source, loaded: Loaded): boolean => {
  if (source._tag === "Process") return true
  let own: Loaded
  try {
    own = load({ _tag: "Process" })
  } catch {
    // A process that exports no OpenSSL shares none with an external library.
    return false
  }
  return own.native.TLS_method() === loaded.native.TLS_method()
}
