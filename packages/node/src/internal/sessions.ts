import type { Sessions } from "@effect-openssl/core/OpenSsl"
import { InvalidOptionError } from "@effect-openssl/core/SslError"
import * as koffi from "koffi"
import type { Kit } from "./kit.js"

/** An 8-byte cell holding the address of `buffer`: the `unsigned char **` of i2d/d2i. */
const addressCell = (buffer: Uint8Array): Buffer => {
  const cell = Buffer.alloc(8)
  cell.writeBigUInt64LE(koffi.address(buffer))
  return cell
}

/** `SSL_SESSION` operations. */
export const makeSessions = ({ errors, native, pointer, stamp }: Kit): Sessions => ({
  set: errors.cleared((ssl, session) => {
    errors.cvt(
      "SSL_set_session",
      native.SSL_set_session(pointer(ssl, "SSL", "SSL_set_session"), pointer(session, "SSL_SESSION", "SSL_set_session"))
    )
  }),
  upRef: errors.cleared((session) => {
    errors.cvt("SSL_SESSION_up_ref", native.SSL_SESSION_up_ref(pointer(session, "SSL_SESSION", "SSL_SESSION_up_ref")))
  }),
  free: (session) => native.SSL_SESSION_free(pointer(session, "SSL_SESSION", "SSL_SESSION_free")),
  toBytes: errors.cleared((ref) => {
    const session = pointer(ref, "SSL_SESSION", "i2d_SSL_SESSION")
    const length = errors.cvt("i2d_SSL_SESSION", native.i2d_SSL_SESSION(session, null), (n) => n > 0)
    const out = new Uint8Array(length)
    // i2d advances the pointer in the cell; passing the cell (not NULL) keeps OpenSSL from allocating.
    errors.cvt("i2d_SSL_SESSION", native.i2d_SSL_SESSION(session, addressCell(out)), (n) => n === length)
    return out
  }),
  fromBytes: errors.cleared((bytes) => {
    const copy = new Uint8Array(bytes)
    const cell = addressCell(copy)
    const session = copy.length === 0 ? null : native.d2i_SSL_SESSION(null, cell, copy.length)
    if (session === null) {
      throw new InvalidOptionError({
        option: "bytes",
        reason: "not a DER-encoded SSL session",
        cause: errors.error("d2i_SSL_SESSION")
      })
    }
    // d2i reads one DER value and advances the pointer past it; bytes left over mean the input
    // was not one session (two concatenated, or a session with something appended).
    const trailing = copy.length - Number(cell.readBigUInt64LE(0) - koffi.address(copy))
    if (trailing !== 0) {
      native.SSL_SESSION_free(session)
      throw new InvalidOptionError({
        option: "bytes",
        reason: `${trailing} trailing byte${trailing === 1 ? "" : "s"} after the DER-encoded SSL session`
      })
    }
    return stamp("SSL_SESSION", session)
  }),
  isResumable: (session) =>
    native.SSL_SESSION_is_resumable(pointer(session, "SSL_SESSION", "SSL_SESSION_is_resumable")) === 1
})
