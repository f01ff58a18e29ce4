import type { ConnectionInfo, HandshakeStep, NativeRef, OpenSsl, ShutdownStep } from "@effect-openssl/core/OpenSsl"
import { IoStatus } from "@effect-openssl/core/OpenSsl"
import { InvalidOptionError, TlsError, VerifyError } from "@effect-openssl/core/SslError"
import * as koffi from "koffi"
import type { SslState } from "./callbacks.js"
import type { ErrorQueue } from "./errorQueue.js"
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
import { cString } from "./memory.js"

type ConnectionOps = Pick<
  OpenSsl,
  | "sslAttachMemory"
  | "sslFeed"
  | "sslDrain"
  | "sslPendingOutput"
  | "sslHandshake"
  | "sslInputEnded"
  | "sslRead"
  | "sslWrite"
  | "sslShutdown"
  | "sslSetVerifyHost"
  | "sslInfo"
  | "sslExportKeyingMaterial"
>

/**
 * The sans-IO operations over memory BIOs, with `SSL_get_error` mapped to statuses (want-read,
 * want-write, closed) and typed failures (`TlsError`, `VerifyError`).
 */
export const makeConnectionOps = (
  native: Native,
  errors: ErrorQueue,
  states: Map<number, SslState>,
  derOf: (x509: Ptr) => Uint8Array
): ConnectionOps => {
  /**
   * The memory BIOs attached here, per handle: looked up on every record, and a koffi call costs
   * more than a map lookup. Attached BIOs stay with their SSL until it is freed (and the handle's
   * ref, the key, with it).
   */
  const attached = new WeakMap<NativeRef, { readonly read: Ptr; readonly write: Ptr }>()
  const bioOf = (ref: NativeRef, which: "read" | "write", operation: string): Ptr => {
    const bio = attached.get(ref)?.[which] ??
      (which === "read" ? native.SSL_get_rbio(ref.address) : native.SSL_get_wbio(ref.address))
    if (bio === null) throw new InvalidOptionError({ option: "bio", reason: `${operation}: no memory BIOs attached` })
    return bio
  }

  /** Turn a failed call's `SSL_get_error` into a typed error (a callback's own failure first). */
  const failure = (ref: NativeRef, code: number, operation: string): TlsError | VerifyError => {
    const entries = errors.drain()
    const state = states.get(ref.id)
    const callbackFailure = state?.callbackFailure
    if (callbackFailure !== undefined) {
      state!.callbackFailure = undefined
      return new TlsError({ reason: "Callback", operation, entries, cause: callbackFailure.cause })
    }
    const verifyResult = Number(native.SSL_get_verify_result(ref.address))
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
    return new TlsError({
      reason: "Protocol",
      operation: `${operation} (${SSL_ERROR_NAMES[code] ?? code})`,
      entries
    })
  }

  const io = (ref: NativeRef, ret: number, operation: string): number => {
    if (ret > 0) return ret
    const code = native.SSL_get_error(ref.address, ret)
    if (code === SSL_ERROR.WANT_READ) return IoStatus.WantRead
    if (code === SSL_ERROR.WANT_WRITE) return IoStatus.WantWrite
    if (code === SSL_ERROR.ZERO_RETURN) return IoStatus.Closed
    throw failure(ref, code, operation)
  }

  const alpnData = Buffer.alloc(8)
  const alpnLength = Buffer.alloc(4)

  return {
    sslAttachMemory: (ref) => {
      errors.clear()
      if (native.SSL_get_rbio(ref.address) !== null) {
        throw new TlsError({ reason: "DriverConflict", operation: "attach: BIOs are already attached to this SSL" })
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
      native.SSL_set_bio(ref.address, rbio, wbio) // takes both BIOs
      attached.set(ref, { read: rbio, write: wbio })
      // SSL_write may return after part of the data, and the retry may pass a moved buffer.
      native.SSL_ctrl(
        ref.address,
        SSL_CTRL.MODE,
        SSL_MODE.ENABLE_PARTIAL_WRITE | SSL_MODE.ACCEPT_MOVING_WRITE_BUFFER,
        null
      )
    },
    sslFeed: (ref, bytes) => {
      errors.clear()
      const rbio = bioOf(ref, "read", "sslFeed")
      if (bytes.length > 0 && native.BIO_write(rbio, bytes, bytes.length) !== bytes.length) {
        throw errors.error("BIO_write")
      }
    },
    sslDrain: (ref, into) => {
      const n = native.BIO_read(bioOf(ref, "write", "sslDrain"), into, into.length)
      return n > 0 ? n : 0
    },
    sslPendingOutput: (ref) => Number(native.BIO_ctrl_pending(bioOf(ref, "write", "sslPendingOutput"))),
    sslHandshake: (ref): HandshakeStep => {
      errors.clear()
      const r = native.SSL_do_handshake(ref.address)
      if (r === 1) return "done"
      const code = native.SSL_get_error(ref.address, r)
      if (code === SSL_ERROR.WANT_READ) return "want-read"
      if (code === SSL_ERROR.WANT_WRITE) return "want-write"
      if (code === SSL_ERROR.WANT_CLIENT_HELLO_CB) return "want-client-hello"
      throw failure(ref, code, "SSL_do_handshake")
    },
    sslInputEnded: (ref) => {
      native.BIO_ctrl(bioOf(ref, "read", "sslInputEnded"), BIO_C_SET_BUF_MEM_EOF_RETURN, 0, null)
    },
    sslRead: (ref, into) => {
      errors.clear()
      return io(ref, native.SSL_read(ref.address, into, into.length), "SSL_read")
    },
    sslWrite: (ref, data) => {
      if (data.length === 0) return 0
      errors.clear()
      return io(ref, native.SSL_write(ref.address, data, data.length), "SSL_write")
    },
    sslShutdown: (ref): ShutdownStep => {
      errors.clear()
      const r = native.SSL_shutdown(ref.address)
      if (r === 1) return "done"
      if (r === 0) return "sent"
      const code = native.SSL_get_error(ref.address, r)
      if (code === SSL_ERROR.WANT_READ || code === SSL_ERROR.WANT_WRITE) return "sent"
      throw failure(ref, code, "SSL_shutdown")
    },
    sslSetVerifyHost: (ref, host) => {
      errors.clear()
      const param = native.SSL_get0_param(ref.address)
      // With its length, not as a C string: OpenSSL refuses a name with an embedded NUL instead
      // of checking the part before it.
      let ok: boolean
      if (host._tag === "IpAddress") {
        // A C string again: refuse a NUL rather than let it cut the address short.
        ok = !host.address.includes("\0") && native.X509_VERIFY_PARAM_set1_ip_asc(param, host.address) === 1
      } else {
        const name = Buffer.from(host.name, "utf8")
        ok = name.length > 0 && native.X509_VERIFY_PARAM_set1_host(param, name, name.length) === 1
      }
      if (!ok) {
        throw new InvalidOptionError({ option: "verifyHost", reason: "rejected", cause: errors.error("set1_host") })
      }
    },
    sslInfo: (ref): ConnectionInfo => {
      const s = ref.address
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
        peerCertificates: peerChain(native, s, derOf)
      }
    },
    sslExportKeyingMaterial: (ref, label, length, context) => {
      errors.clear()
      const out = new Uint8Array(length)
      const labelBytes = cString(label)
      const ok = native.SSL_export_keying_material(
        ref.address,
        out,
        length,
        labelBytes,
        labelBytes.length - 1,
        context ?? null,
        context?.length ?? 0,
        context === undefined ? 0 : 1
      )
      if (ok !== 1) throw errors.error("SSL_export_keying_material")
      return out
    }
  }
}

/** The peer's chain, leaf first. A server's `SSL_get_peer_cert_chain` omits the client's leaf. */
const peerChain = (native: Native, ssl: Ptr, derOf: (x509: Ptr) => Uint8Array): Array<Uint8Array> => {
  const get1 = native.SSL_get1_peer_certificate ?? native.SSL_get_peer_certificate
  const leaf = get1?.(ssl) ?? null
  if (leaf === null) return []
  try {
    const chain = [derOf(leaf)]
    const stack = native.SSL_get_peer_cert_chain(ssl)
    const n = stack === null ? 0 : native.OPENSSL_sk_num(stack)
    for (let i = 0; i < n; i++) {
      const x509 = native.OPENSSL_sk_value(stack!, i)
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
