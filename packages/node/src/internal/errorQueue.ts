import type { OpenSslErrorEntry } from "@effect-openssl/core/SslError"
import { OpenSslError } from "@effect-openssl/core/SslError"
import type { Native, Ptr, PtrKind, PtrOrNull } from "./ffi/table.js"

const isOne = (n: number) => n === 1

const ERR_SYSTEM_FLAG = 0x80000000
const ERR_LIB_SYS = 2

/**
 * OpenSSL's per-thread error queue. `clear` runs before each fallible call so that a
 * failure reports only its own entries; `fail` drains the queue into an `OpenSslError`.
 */
export class ErrorQueue {
  readonly #text = new Uint8Array(256)
  readonly #v3: boolean

  constructor(readonly native: Native, versionNumber: number) {
    this.#v3 = versionNumber >= 0x30000000
  }

  clear(): void {
    this.native.ERR_clear_error()
  }

  drain(): Array<OpenSslErrorEntry> {
    const entries: Array<OpenSslErrorEntry> = []
    for (let code = this.native.ERR_get_error(); code !== 0; code = this.native.ERR_get_error()) {
      entries.push(this.entry(code))
    }
    return entries
  }

  error(operation: string, cause?: unknown): OpenSslError {
    return new OpenSslError({ operation, entries: this.drain(), cause })
  }

  /**
   * A native call's status, checked as rust-openssl's `cvt` does: `ok` (by default, a result
   * of 1) or an `OpenSslError` carrying what the call left in the queue. The queue is cleared
   * where each binding operation starts (see `cleared`), so the entries are this call's.
   */
  cvt(operation: string, result: number | bigint, ok: (result: number) => boolean = isOne): number {
    const n = Number(result)
    if (!ok(n)) throw this.error(operation)
    return n
  }

  /** A native call's pointer result, checked as rust-openssl's `cvt_p` does: NULL is an `OpenSslError`. */
  cvtPtr<K extends PtrKind>(operation: string, result: PtrOrNull<K>): Ptr<K> {
    if (result === null) throw this.error(operation)
    return result
  }

  /**
   * `f` as a binding operation: OpenSSL's (per-thread) error queue is cleared before it runs, so
   * a failure inside reports only its own entries.
   */
  cleared<Args extends ReadonlyArray<unknown>, R>(f: (...args: Args) => R): (...args: Args) => R {
    return (...args) => {
      this.native.ERR_clear_error()
      return f(...args)
    }
  }

  private entry(code: number): OpenSslErrorEntry {
    const text = this.#text
    this.native.ERR_error_string_n(code, text, text.length)
    const end = text.indexOf(0)
    const message = new TextDecoder().decode(text.subarray(0, end < 0 ? text.length : end))
    const { library, reason } = this.split(code)
    return {
      code,
      library,
      libraryName: this.native.ERR_lib_error_string(code) ?? undefined,
      reason,
      reasonText: this.native.ERR_reason_error_string(code) ?? undefined,
      message
    }
  }

  /** `ERR_GET_LIB` / `ERR_GET_REASON`, whose packing changed in 3.0. */
  private split(code: number): { library: number; reason: number } {
    if (!this.#v3) return { library: (code >>> 24) & 0xff, reason: code & 0xfff }
    if ((code & ERR_SYSTEM_FLAG) !== 0) return { library: ERR_LIB_SYS, reason: code & 0x7fffffff }
    return { library: (code >>> 23) & 0xff, reason: code & 0x7fffff }
  }
}
