import type { NativeRef, SslCallbacks, VerifyFailure } from "@effect-openssl/core/OpenSsl"
import * as koffi from "koffi"
import {
  SSL_CLIENT_HELLO,
  SSL_TLSEXT_ERR,
  TLS_ALERT,
  TLSEXT_TYPE,
  X509_V_ERR_APPLICATION_VERIFICATION
} from "./ffi/constants.js"
import { callbackTypes } from "./ffi/prototypes.js"
import type { Native, Ptr } from "./ffi/table.js"

/** What the binding keeps per driven `SSL` (by the id stamped on it). */
export interface SslState {
  callbacks: SslCallbacks
  verifyFailure: VerifyFailure | undefined
  callbackFailure: { readonly cause: unknown } | undefined
}

/** Reads the library's id off an `SSL*`; undefined for objects the binding did not create. */
export type IdOf = (ssl: Ptr) => number | undefined

export interface Trampolines {
  readonly verify: Ptr
  readonly keylog: Ptr
  readonly newSession: Ptr
  readonly clientHello: Ptr
  readonly serverName: Ptr
  readonly alpnSelect: Ptr
}

const pointerBuffer = () => Buffer.alloc(8)
const readPointer = (buffer: Buffer): bigint => buffer.readBigUInt64LE(0)

/**
 * Register one trampoline per callback kind (koffi has a fixed pool of slots and no user-data
 * pointer). Each looks up the connection's handlers and, when a handler throws, records the
 * failure for the driver and returns the fail-closed value for that callback: a thrown JS
 * exception would otherwise reach C as 0, which means "OK" for the SNI callback.
 */
export const registerTrampolines = (
  native: Native,
  states: Map<number, SslState>,
  idOf: IdOf,
  sessionRef: (session: Ptr) => NativeRef,
  contextRef: (ctx: NativeRef) => Ptr,
  subjectOf: (x509: Ptr | null) => string | undefined,
  derOf: (x509: Ptr) => Uint8Array
): Trampolines => {
  const types = callbackTypes()
  const stateOf = (ssl: Ptr | null): SslState | undefined => {
    if (ssl === null) return undefined
    const id = idOf(ssl)
    return id === undefined ? undefined : states.get(id)
  }
  const fail = (state: SslState, cause: unknown) => {
    state.callbackFailure ??= { cause }
  }
  const storeCtxIndex = native.SSL_get_ex_data_X509_STORE_CTX_idx()

  const verify = (preverified: number, storeCtx: Ptr): number => {
    const ssl = native.X509_STORE_CTX_get_ex_data(storeCtx, storeCtxIndex)
    const state = stateOf(ssl)
    if (state === undefined) return preverified
    try {
      const code = native.X509_STORE_CTX_get_error(storeCtx)
      const depth = native.X509_STORE_CTX_get_error_depth(storeCtx)
      const cert = native.X509_STORE_CTX_get_current_cert(storeCtx)
      let ok = preverified === 1
      let finalCode = code
      const hook = state.callbacks.verify
      if (hook !== undefined) {
        const accepted = hook({
          preverified: ok,
          code,
          depth,
          subject: subjectOf(cert),
          certificate: cert === null ? undefined : derOf(cert)
        })
        if (!accepted && ok) {
          finalCode = X509_V_ERR_APPLICATION_VERIFICATION
          native.X509_STORE_CTX_set_error(storeCtx, finalCode)
        }
        ok = accepted
      }
      if (!ok && state.verifyFailure === undefined) {
        state.verifyFailure = {
          code: finalCode,
          reason: native.X509_verify_cert_error_string(finalCode),
          depth,
          subject: subjectOf(cert)
        }
      }
      return ok ? 1 : 0
    } catch (cause) {
      fail(state, cause)
      return 0
    }
  }

  const keylog = (ssl: Ptr, line: string): void => {
    const state = stateOf(ssl)
    if (state?.callbacks.keylog === undefined) return
    try {
      state.callbacks.keylog(line)
    } catch (cause) {
      fail(state, cause)
    }
  }

  const newSession = (ssl: Ptr, session: Ptr): number => {
    const state = stateOf(ssl)
    if (state?.callbacks.newSession === undefined) return 0
    try {
      // Returning 1 hands our caller the reference OpenSSL passed in.
      return state.callbacks.newSession(sessionRef(session)) ? 1 : 0
    } catch (cause) {
      fail(state, cause)
      return 0
    }
  }

  const extension = (ssl: Ptr, type: number): Uint8Array | undefined => {
    if (native.SSL_client_hello_get0_ext === undefined) return undefined
    const out = pointerBuffer()
    const length = pointerBuffer()
    if (native.SSL_client_hello_get0_ext(ssl, type, out, length) !== 1) return undefined
    const n = Number(length.readBigUInt64LE(0))
    return n === 0 ? new Uint8Array(0) : new Uint8Array(koffi.view(readPointer(out), n).slice(0))
  }

  const clientHello = (ssl: Ptr, alert: Ptr): number => {
    const state = stateOf(ssl)
    if (state?.callbacks.clientHello === undefined) return SSL_CLIENT_HELLO.SUCCESS
    try {
      const sni = extension(ssl, TLSEXT_TYPE.server_name)
      const alpn = extension(ssl, TLSEXT_TYPE.alpn)
      const verdict = state.callbacks.clientHello({
        serverName: sni === undefined ? undefined : parseServerName(sni),
        alpnProtocols: alpn === undefined ? [] : parseAlpn(alpn.subarray(2)),
        legacyVersion: native.SSL_client_hello_get0_legacy_version?.(ssl) ?? 0
      })
      if (verdict === "accept") return SSL_CLIENT_HELLO.SUCCESS
      if (verdict === "retry") return SSL_CLIENT_HELLO.RETRY
      koffi.encode(alert, "int", TLS_ALERT.handshake_failure)
      return SSL_CLIENT_HELLO.ERROR
    } catch (cause) {
      fail(state, cause)
      koffi.encode(alert, "int", TLS_ALERT.handshake_failure)
      return SSL_CLIENT_HELLO.ERROR
    }
  }

  const serverName = (ssl: Ptr, alert: Ptr): number => {
    const state = stateOf(ssl)
    if (state?.callbacks.serverName === undefined) return SSL_TLSEXT_ERR.OK
    try {
      const name = native.SSL_get_servername(ssl, 0) ?? undefined
      const choice = state.callbacks.serverName(name)
      if (choice === "reject") {
        koffi.encode(alert, "int", TLS_ALERT.unrecognized_name)
        return SSL_TLSEXT_ERR.ALERT_FATAL
      }
      if (choice !== undefined && native.SSL_set_SSL_CTX(ssl, contextRef(choice)) === null) {
        koffi.encode(alert, "int", TLS_ALERT.handshake_failure)
        return SSL_TLSEXT_ERR.ALERT_FATAL
      }
      return SSL_TLSEXT_ERR.OK
    } catch (cause) {
      // 0 would mean SSL_TLSEXT_ERR_OK: fail closed with a fatal alert instead.
      fail(state, cause)
      koffi.encode(alert, "int", TLS_ALERT.handshake_failure)
      return SSL_TLSEXT_ERR.ALERT_FATAL
    }
  }

  const alpnSelect = (ssl: Ptr, out: Ptr, outLength: Ptr, input: Ptr, inputLength: number): number => {
    const state = stateOf(ssl)
    if (state?.callbacks.alpnSelect === undefined) return SSL_TLSEXT_ERR.NOACK
    try {
      const wire = new Uint8Array(koffi.view(input, inputLength).slice(0))
      const offered = parseAlpn(wire)
      const chosen = state.callbacks.alpnSelect(offered)
      if (chosen === undefined) return SSL_TLSEXT_ERR.NOACK
      // *out must point into OpenSSL's own buffer (valid after we return): find the name there.
      let at = 0
      for (const name of offered) {
        if (name === chosen) {
          koffi.encode(out, "uint64_t", input + BigInt(at + 1))
          koffi.encode(outLength, "uint8_t", wire[at]!)
          return SSL_TLSEXT_ERR.OK
        }
        at += wire[at]! + 1
      }
      // A protocol the client did not offer: refuse the handshake (RFC 7301 §3.2).
      return SSL_TLSEXT_ERR.ALERT_FATAL
    } catch (cause) {
      fail(state, cause)
      return SSL_TLSEXT_ERR.ALERT_FATAL
    }
  }

  return {
    verify: koffi.register(verify, types.Verify),
    keylog: koffi.register(keylog, types.Keylog),
    newSession: koffi.register(newSession, types.NewSession),
    clientHello: koffi.register(clientHello, types.ClientHello),
    serverName: koffi.register(serverName, types.ServerName),
    alpnSelect: koffi.register(alpnSelect, types.AlpnSelect)
  }
}

/** ALPN wire format (length-prefixed names) to names. Stops at a malformed entry. */
export const parseAlpn = (wire: Uint8Array): Array<string> => {
  const names: Array<string> = []
  const decoder = new TextDecoder()
  for (let at = 0; at < wire.length;) {
    const n = wire[at]!
    if (n === 0 || at + 1 + n > wire.length) break
    names.push(decoder.decode(wire.subarray(at + 1, at + 1 + n)))
    at += n + 1
  }
  return names
}

/** The host_name entry of a server_name extension body (RFC 6066 §3). */
const parseServerName = (body: Uint8Array): string | undefined => {
  // list length (2) | type (1) | name length (2) | name
  if (body.length < 5 || body[2] !== 0) return undefined
  const n = (body[3]! << 8) | body[4]!
  return 5 + n <= body.length ? new TextDecoder().decode(body.subarray(5, 5 + n)) : undefined
}
