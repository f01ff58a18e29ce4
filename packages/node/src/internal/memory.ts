import * as koffi from "koffi"
import type { ErrorQueue } from "./errorQueue.js"
import type { Native, Ptr } from "./ffi/table.js"

const utf8 = new TextEncoder()

/** A NUL-terminated copy of a string, for `void *` parameters that take C strings. */
export const cString = (text: string): Uint8Array => {
  const bytes = new Uint8Array(Buffer.byteLength(text) + 1)
  utf8.encodeInto(text, bytes)
  return bytes
}

/**
 * Run `f` with a read-only memory BIO holding `bytes` (copied in with `BIO_write`: a
 * `BIO_new_mem_buf` would keep a pointer into JS memory past the call).
 */
export const withMemoryBio = <A>(
  native: Native,
  errors: ErrorQueue,
  bytes: Uint8Array,
  f: (bio: Ptr<"BIO">) => A
): A => {
  const bio = native.BIO_new(native.BIO_s_mem())
  if (bio === null) throw errors.error("BIO_new")
  try {
    if (native.BIO_write(bio, bytes, bytes.length) !== bytes.length) throw errors.error("BIO_write")
    return f(bio)
  } finally {
    native.BIO_free(bio)
  }
}

/** A C string OpenSSL returned (not freed here). */
export const decodeString = (pointer: Ptr): string => koffi.decode(pointer, "char", -1) as string
