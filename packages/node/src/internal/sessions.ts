import type { NativeRef, OpenSsl } from "@effect-openssl/core/OpenSsl"
import { InvalidOptionError } from "@effect-openssl/core/SslError"
import * as koffi from "koffi"
import type { ErrorQueue } from "./errorQueue.js"
import type { Native, Ptr } from "./ffi/table.js"

type SessionOps = Pick<
  OpenSsl,
  | "sslSetSession"
  | "sslGetSession"
  | "sessionUpRef"
  | "sessionFree"
  | "sessionToBytes"
  | "sessionFromBytes"
  | "sessionIsResumable"
>

/** An 8-byte cell holding the address of `buffer`: the `unsigned char **` of i2d/d2i. */
const addressCell = (buffer: Uint8Array): Buffer => {
  const cell = Buffer.alloc(8)
  cell.writeBigUInt64LE(koffi.address(buffer))
  return cell
}

/** `SSL_SESSION` operations; `sessionRef` names a session by the id stamped on it. */
export const makeSessionOps = (
  native: Native,
  errors: ErrorQueue,
  sessionRef: (session: Ptr) => NativeRef
): SessionOps => ({
  sslSetSession: (ssl, session) => {
    errors.clear()
    if (native.SSL_set_session(ssl.address, session.address) !== 1) throw errors.error("SSL_set_session")
  },
  sslGetSession: (ssl) => {
    const session = native.SSL_get1_session(ssl.address)
    return session === null ? undefined : sessionRef(session)
  },
  sessionUpRef: (session) => {
    errors.clear()
    if (native.SSL_SESSION_up_ref(session.address) !== 1) throw errors.error("SSL_SESSION_up_ref")
  },
  sessionFree: (session) => native.SSL_SESSION_free(session.address),
  sessionToBytes: (session) => {
    errors.clear()
    const length = native.i2d_SSL_SESSION(session.address, null)
    if (length <= 0) throw errors.error("i2d_SSL_SESSION")
    const out = new Uint8Array(length)
    // i2d advances the pointer in the cell; passing the cell (not NULL) keeps OpenSSL from allocating.
    if (native.i2d_SSL_SESSION(session.address, addressCell(out)) !== length) throw errors.error("i2d_SSL_SESSION")
    return out
  },
  sessionFromBytes: (bytes) => {
    errors.clear()
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
    return sessionRef(session)
  },
  sessionIsResumable: (session) => native.SSL_SESSION_is_resumable(session.address) === 1
})
