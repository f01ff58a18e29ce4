import type { Handshake, HandshakeStep, Io, NativeRef, ShutdownStep } from "@effect-openssl/core/OpenSsl"
import { IoStatus } from "@effect-openssl/core/OpenSsl"
import { driverConflict, TlsError, VerifyError } from "@effect-openssl/core/SslError"
import type { ConnectionInfo } from "@effect-openssl/core/TlsInfo"
import * as koffi from "koffi"
import {
  BIO_C_SET_BUF_MEM_EOF_RETURN,
  SSL_CTRL,
  SSL_ERROR,
  SSL_ERROR_NAMES,
  SSL_MODE,
  SSL_R_UNEXPECTED_EOF_WHILE_READING,
  X509_V_OK
} from "./ffi/constants.js"
import type { Native, Ptr } from "./ffi/table.js"
import type { Kit } from "./kit.js"
import { cString } from "./memory.js"

/**
 * The start of a handshake and the data path over memory BIOs, with `SSL_get_error` mapped to
 * statuses (want-read, want-write, closed) and typed failures (`TlsError`, `VerifyError`).
 */
export const makeIo = (kit: Kit): { readonly handshake: Handshake; readonly io: Io } => {
  const { errors, library, native, pointer } = kit
  const states = library.states

  /**
   * The memory BIOs attached here, per handle: looked up on every record, and a koffi call costs
   * more than a map lookup. Attached BIOs stay with their SSL until it is freed (and the handle's
   * ref, the key, with it).
   */
  const attached = new WeakMap<NativeRef, { readonly read: Ptr<"BIO">; readonly write: Ptr<"BIO"> }>()
  const bioOf = (ref: NativeRef, which: "read" | "write", operation: string): Ptr<"BIO"> => {
    const bio = attached.get(ref)?.[which]
    if (bio !== undefined) return bio
    const ssl = pointer(ref, "SSL", operation)
    const found = which === "read" ? native.SSL_get_rbio(ssl) : native.SSL_get_wbio(ssl)
    if (found === null) {
      throw new TlsError({ reason: "Closed", operation: `${operation}: no memory BIOs attached` })
    }
    return found
  }

  /** Turn a failed call's `SSL_get_error` into a typed error (a callback's own failure first). */
  const failure = (ref: NativeRef, ssl: Ptr<"SSL">, code: number, operation: string): TlsError | VerifyError => {
    const entries = errors.drain()
    const state = states.get(ref.id)
    const callbackFailure = state?.callbackFailure
    if (state !== undefined && callbackFailure !== undefined) {
      state.callbackFailure = undefined
      return new TlsError({ reason: "Callback", operation, entries, cause: callbackFailure.cause })
    }
    const verifyResult = Number(native.SSL_get_verify_result(ssl))
    const recorded = state?.verifyFailure
    if (code === SSL_ERROR.SSL && (recorded !== undefined || verifyResult !== X509_V_OK)) {
      const verifyCode = recorded?.code ?? verifyResult
      return new VerifyError({
        code: verifyCode,
        reason: recorded?.reason ?? native.X509_verify_cert_error_string(verifyCode),
        depth: recorded?.depth ?? 0,
        subject: recorded?.subject,
        entries
      })
    }
    if (entries.some((e) => e.reason === SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
      return new TlsError({ reason: "UnexpectedEof", operation, entries })
    }
    if (code === SSL_ERROR.SYSCALL) {
      // OpenSSL 1.1.1 reports EOF without close_notify as SYSCALL with an empty queue.
      return new TlsError({ reason: entries.length === 0 ? "UnexpectedEof" : "Syscall", operation, entries })
    }
    return new TlsError({ reason: "Protocol", operation: `${operation} (${SSL_ERROR_NAMES[code] ?? code})`, entries })
  }

  const status = (ref: NativeRef, ssl: Ptr<"SSL">, ret: number, operation: string): number => {
    if (ret > 0) return ret
    const code = native.SSL_get_error(ssl, ret)
    if (code === SSL_ERROR.WANT_READ) return IoStatus.WantRead
    if (code === SSL_ERROR.WANT_WRITE) return IoStatus.WantWrite
    if (code === SSL_ERROR.ZERO_RETURN) return IoStatus.Closed
    throw failure(ref, ssl, code, operation)
  }

  const alpnData = Buffer.alloc(8)
  const alpnLength = Buffer.alloc(4)

  const handshake: Handshake = {
    attachMemory: errors.cleared((ref) => {
      const ssl = pointer(ref, "SSL", "attach")
      if (native.SSL_get_rbio(ssl) !== null) {
        throw driverConflict("attach")
      }
      const rbio = native.BIO_new(native.BIO_s_mem())
      const wbio = native.BIO_new(native.BIO_s_mem())
      if (rbio === null || wbio === null) {
        if (rbio !== null) native.BIO_free(rbio)
        if (wbio !== null) native.BIO_free(wbio)
        throw errors.error("BIO_new")
      }
      // An empty input BIO means "no data yet" (retry), not end of stream.
      native.BIO_ctrl(rbio, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, null)
      native.SSL_set_bio(ssl, rbio, wbio) // takes both BIOs
      attached.set(ref, { read: rbio, write: wbio })
      // SSL_write may return after part of the data, and the retry may pass a moved buffer.
      native.SSL_ctrl(ssl, SSL_CTRL.MODE, SSL_MODE.ENABLE_PARTIAL_WRITE | SSL_MODE.ACCEPT_MOVING_WRITE_BUFFER, null)
    }),
    step: errors.cleared((ref): HandshakeStep => {
      const ssl = pointer(ref, "SSL", "SSL_do_handshake")
      const r = native.SSL_do_handshake(ssl)
      if (r === 1) return "done"
      const code = native.SSL_get_error(ssl, r)
      if (code === SSL_ERROR.WANT_READ) return "want-read"
      if (code === SSL_ERROR.WANT_WRITE) return "want-write"
      if (code === SSL_ERROR.WANT_CLIENT_HELLO_CB) return "want-client-hello"
      throw failure(ref, ssl, code, "SSL_do_handshake")
    })
  }

  const io: Io = {
    // A plain Uint8Array over unpooled, uninitialized memory: no zero-fill, and no shared pool a
    // caller's chunk would keep alive.
    allocate: (size) => new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size),
    // The data path clears the error queue by hand: no wrapper between the caller and the call.
    feed: (ref, bytes) => {
      if (bytes.length === 0) return
      native.ERR_clear_error()
      if (native.BIO_write(bioOf(ref, "read", "feed"), bytes, bytes.length) !== bytes.length) {
        throw errors.error("BIO_write")
      }
    },
    drain: (ref, into) => {
      const n = native.BIO_read(bioOf(ref, "write", "drain"), into, into.length)
      return n > 0 ? n : 0
    },
    pendingOutput: (ref) => Number(native.BIO_ctrl_pending(bioOf(ref, "write", "pendingOutput"))),
    inputEnded: (ref) => {
      native.BIO_ctrl(bioOf(ref, "read", "inputEnded"), BIO_C_SET_BUF_MEM_EOF_RETURN, 0, null)
    },
    read: (ref, into) => {
      native.ERR_clear_error()
      const ssl = pointer(ref, "SSL", "SSL_read")
      return status(ref, ssl, native.SSL_read(ssl, into, into.length), "SSL_read")
    },
    write: (ref, data) => {
      if (data.length === 0) return 0
      native.ERR_clear_error()
      const ssl = pointer(ref, "SSL", "SSL_write")
      return status(ref, ssl, native.SSL_write(ssl, data, data.length), "SSL_write")
    },
    shutdown: errors.cleared((ref): ShutdownStep => {
      const ssl = pointer(ref, "SSL", "SSL_shutdown")
      const r = native.SSL_shutdown(ssl)
      if (r === 1) return "done"
      if (r === 0) return "sent"
      const code = native.SSL_get_error(ssl, r)
      if (code === SSL_ERROR.WANT_READ || code === SSL_ERROR.WANT_WRITE) return "sent"
      throw failure(ref, ssl, code, "SSL_shutdown")
    }),
    setCallbacks: (ref, callbacks) => {
      if (callbacks === undefined) return void states.delete(ref.id)
      pointer(ref, "SSL", "setCallbacks")
      states.set(ref.id, {
        callbacks,
        owner: kit.owner,
        stamp: kit.stamp,
        verifyFailure: undefined,
        callbackFailure: undefined
      })
    },
    takeCallbackFailure: (ref) => {
      const state = states.get(ref.id)
      const failure = state?.callbackFailure
      if (state !== undefined) state.callbackFailure = undefined
      return failure
    },
    info: (ref): ConnectionInfo => {
      const s = pointer(ref, "SSL", "info")
      const cipher = native.SSL_get_current_cipher(s)
      native.SSL_get0_alpn_selected(s, alpnData, alpnLength)
      const alpnSize = alpnLength.readUInt32LE(0)
      return {
        protocol: native.SSL_get_version(s),
        cipher: cipher === null ? "" : native.SSL_CIPHER_get_name(cipher),
        alpnProtocol: alpnSize === 0
          ? undefined
          : new TextDecoder().decode(koffi.view(alpnData.readBigUInt64LE(0), alpnSize)),
        serverName: native.SSL_get_servername(s, 0) ?? undefined,
        sessionReused: native.SSL_session_reused(s) === 1,
        peerCertificates: peerChain(native, s, library.derOf)
      }
    },
    exportKeyingMaterial: errors.cleared((ref, label, length, context) => {
      const out = new Uint8Array(length)
      const labelBytes = cString(label)
      errors.cvt(
        "SSL_export_keying_material",
        native.SSL_export_keying_material(
          pointer(ref, "SSL", "SSL_export_keying_material"),
          out,
          length,
          labelBytes,
          labelBytes.length - 1,
          context ?? null,
          context?.length ?? 0,
          context === undefined ? 0 : 1
        )
      )
      return out
    })
  }
  return { handshake, io }
}

/** The peer's chain, leaf first. A server's `SSL_get_peer_cert_chain` omits the client's leaf. */
const peerChain = (native: Native, ssl: Ptr<"SSL">, derOf: (x509: Ptr<"X509">) => Uint8Array): Array<Uint8Array> => {
  const get1 = native.SSL_get1_peer_certificate ?? native.SSL_get_peer_certificate
  const leaf = get1?.(ssl) ?? null
  if (leaf === null) return []
  try {
    const chain = [derOf(leaf)]
    const stack = native.SSL_get_peer_cert_chain(ssl)
    const n = stack === null ? 0 : native.OPENSSL_sk_num(stack)
    for (let i = 0; i < n; i++) {
      const x509 = native.OPENSSL_sk_value(stack!, i) as Ptr<"X509"> | null
      if (x509 === null) continue
      const der = derOf(x509)
      if (i === 0 && Buffer.compare(der, chain[0]!) === 0) continue
      chain.push(der)
    }
    return chain
  } finally {
    native.X509_free(leaf)
  }
}
