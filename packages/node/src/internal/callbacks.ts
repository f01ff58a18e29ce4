import type { ContextConfig, NativeRef, SslCallbacks } from "@effect-openssl/core/OpenSsl"
import * as koffi from "koffi"
import {
  SSL_CLIENT_HELLO,
  SSL_CTRL,
  SSL_TLSEXT_ERR,
  TLS_ALERT,
  TLSEXT_TYPE,
  X509_V_ERR_APPLICATION_VERIFICATION
} from "./ffi/constants.js"
import type { CallbackTypes } from "./ffi/prototypes.js"
import type { Native, Ptr, PtrOrNull } from "./ffi/table.js"

/** The first certificate verification failure seen during a handshake (from the verify callback). */
export interface VerifyFailure {
  /** The X509 verification result code, e.g. 62 (`X509_V_ERR_HOSTNAME_MISMATCH`). */
  readonly code: number
  /** `X509_verify_cert_error_string(code)`. */
  readonly reason: string
  /** Depth in the chain (0: the peer's own certificate). */
  readonly depth: number
  /** Subject of the certificate that failed, if there was one. */
  readonly subject: string | undefined
}

/** What a library keeps per driven `SSL` (by the id stamped on it). */
export interface SslState {
  readonly callbacks: SslCallbacks
  /** The binding the connection belongs to: a context chosen by `sni` must be its own. */
  readonly owner: object
  /** The binding's way to name a new object (a session handed over by the new-session callback). */
  readonly stamp: (kind: "SSL_SESSION", address: Ptr<"SSL_SESSION">) => NativeRef
  verifyFailure: VerifyFailure | undefined
  callbackFailure: { readonly cause: unknown } | undefined
}

/** What a trampoline needs from its library. */
export interface Dispatch {
  readonly native: Native
  /** `SSL_get_ex_data_X509_STORE_CTX_idx()`: where a store context keeps its `SSL*`. */
  readonly storeCtxIndex: number
  /** The state of the connection an `SSL*` belongs to, if it is one of ours with callbacks. */
  readonly stateOf: (ssl: PtrOrNull<"SSL">) => SslState | undefined
  readonly subjectOf: (x509: PtrOrNull<"X509">) => string | undefined
  readonly derOf: (x509: Ptr<"X509">) => Uint8Array
}

type Name = keyof Required<SslCallbacks>

/**
 * One callback kind: its prototype, how it is installed on a context, how a connection's
 * handler is called, and what it returns when the connection has no handler or the handler
 * throws. A thrown JS exception would reach C as 0, which means "OK" for some callbacks (SNI):
 * every callback returns its explicit fail-closed value instead, and the thrown value is kept
 * for the driver (`Io.takeCallbackFailure`).
 */
interface Spec<Args extends Array<any>, R> {
  readonly prototype: keyof CallbackTypes
  /** Whether contexts with this configuration carry it. */
  readonly installedFor: (config: ContextConfig) => boolean
  readonly install: (native: Native, ctx: Ptr<"SSL_CTX">, trampoline: Ptr<"Callback">) => void
  /** The `SSL*` of the call. */
  readonly ssl: (dispatch: Dispatch, ...args: Args) => PtrOrNull<"SSL">
  /**
   * Whether the callback runs for every connection of ours, handler or not (verify records the
   * first failure for `VerifyError` either way).
   */
  readonly everyConnection?: true
  /** With no handler for this connection (or not our connection): OpenSSL's own behaviour. */
  readonly absent: (...args: Args) => R
  readonly handle: (dispatch: Dispatch, state: SslState, ...args: Args) => R
  readonly failClosed: (...args: Args) => R
}

const spec = <Args extends Array<any>, R>(s: Spec<Args, R>) => s

const always = () => true
const servers = (config: ContextConfig) => config.role !== "client"
const pointerCell = () => Buffer.alloc(8)
const setAlert = (alert: Ptr, code: number) => koffi.encode(alert, "int", code)

/**
 * Every callback, declared once. The option of the same name (`TlsEngine.Options`, or the
 * context's `keylog`) is what gives a connection a handler.
 */
export const callbackTable = {
  verify: spec<[preverified: number, storeCtx: Ptr<"X509_STORE_CTX">], number>({
    prototype: "Verify",
    installedFor: always,
    // Installed with the verify mode by `configure` (SSL_CTX_set_verify takes both).
    install: () => {},
    ssl: (dispatch, _preverified, storeCtx) =>
      dispatch.native.X509_STORE_CTX_get_ex_data(storeCtx, dispatch.storeCtxIndex),
    everyConnection: true,
    absent: (preverified) => preverified,
    handle: (dispatch, state, preverified, storeCtx) => {
      const { native } = dispatch
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
          reason: ok ? undefined : native.X509_verify_cert_error_string(code),
          depth,
          subject: dispatch.subjectOf(cert),
          certificate: cert === null ? undefined : dispatch.derOf(cert)
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
          subject: dispatch.subjectOf(cert)
        }
      }
      return ok ? 1 : 0
    },
    failClosed: () => 0
  }),

  keylog: spec<[ssl: Ptr<"SSL">, line: string], void>({
    prototype: "Keylog",
    installedFor: (config) => config.keylog,
    install: (native, ctx, trampoline) => native.SSL_CTX_set_keylog_callback?.(ctx, trampoline),
    ssl: (_dispatch, ssl) => ssl,
    absent: () => {},
    handle: (_dispatch, state, _ssl, line) => state.callbacks.keylog?.(line),
    failClosed: () => {}
  }),

  newSession: spec<[ssl: Ptr<"SSL">, session: Ptr<"SSL_SESSION">], number>({
    prototype: "NewSession",
    installedFor: always,
    install: (native, ctx, trampoline) => native.SSL_CTX_sess_set_new_cb(ctx, trampoline),
    ssl: (_dispatch, ssl) => ssl,
    absent: () => 0,
    // Returning 1 hands our caller the reference OpenSSL passed in. The session is always a new
    // object, often a copy (`ssl_session_dup`) carrying its original's id: it gets its own.
    handle: (_dispatch, state, _ssl, session) =>
      state.callbacks.newSession?.(state.stamp("SSL_SESSION", session)) === true ? 1 : 0,
    failClosed: () => 0
  }),

  clientHello: spec<[ssl: Ptr<"SSL">, alert: Ptr], number>({
    prototype: "ClientHello",
    installedFor: servers,
    install: (native, ctx, trampoline) => native.SSL_CTX_set_client_hello_cb?.(ctx, trampoline, null),
    ssl: (_dispatch, ssl) => ssl,
    absent: () => SSL_CLIENT_HELLO.SUCCESS,
    handle: (dispatch, state, ssl, alert) => {
      const { native } = dispatch
      const sni = extension(native, ssl, TLSEXT_TYPE.server_name)
      const alpn = extension(native, ssl, TLSEXT_TYPE.alpn)
      const verdict = state.callbacks.clientHello!({
        serverName: sni === undefined ? undefined : parseServerName(sni),
        alpnProtocols: alpn === undefined ? [] : parseAlpn(alpn.subarray(2)),
        legacyVersion: native.SSL_client_hello_get0_legacy_version?.(ssl) ?? 0
      })
      if (verdict === "accept") return SSL_CLIENT_HELLO.SUCCESS
      if (verdict === "retry") return SSL_CLIENT_HELLO.RETRY
      setAlert(alert, TLS_ALERT.handshake_failure)
      return SSL_CLIENT_HELLO.ERROR
    },
    failClosed: (_ssl, alert) => {
      setAlert(alert, TLS_ALERT.handshake_failure)
      return SSL_CLIENT_HELLO.ERROR
    }
  }),

  sni: spec<[ssl: Ptr<"SSL">, alert: Ptr], number>({
    prototype: "ServerName",
    installedFor: servers,
    install: (native, ctx, trampoline) =>
      native.SSL_CTX_callback_ctrl(ctx, SSL_CTRL.SET_TLSEXT_SERVERNAME_CB, trampoline),
    ssl: (_dispatch, ssl) => ssl,
    absent: () => SSL_TLSEXT_ERR.OK,
    handle: (dispatch, state, ssl, alert) => {
      const choice = state.callbacks.sni!(dispatch.native.SSL_get_servername(ssl, 0) ?? undefined)
      if (choice === "reject") {
        setAlert(alert, TLS_ALERT.unrecognized_name)
        return SSL_TLSEXT_ERR.ALERT_FATAL
      }
      if (choice === undefined) return SSL_TLSEXT_ERR.OK
      // A context of this connection's own binding only: another OpenSSL's SSL_CTX* here would
      // be memory of another library.
      if (choice.owner !== state.owner || choice.kind !== "SSL_CTX") {
        throw new Error("the context chosen for SNI belongs to another OpenSsl binding")
      }
      if (dispatch.native.SSL_set_SSL_CTX(ssl, choice.address as Ptr<"SSL_CTX">) === null) {
        setAlert(alert, TLS_ALERT.handshake_failure)
        return SSL_TLSEXT_ERR.ALERT_FATAL
      }
      return SSL_TLSEXT_ERR.OK
    },
    // 0 would mean SSL_TLSEXT_ERR_OK: fail closed with a fatal alert instead.
    failClosed: (_ssl, alert) => {
      setAlert(alert, TLS_ALERT.handshake_failure)
      return SSL_TLSEXT_ERR.ALERT_FATAL
    }
  }),

  alpnSelect: spec<[ssl: Ptr<"SSL">, out: Ptr, outLength: Ptr, input: Ptr, inputLength: number], number>({
    prototype: "AlpnSelect",
    installedFor: servers,
    install: (native, ctx, trampoline) => native.SSL_CTX_set_alpn_select_cb(ctx, trampoline, null),
    ssl: (_dispatch, ssl) => ssl,
    absent: () => SSL_TLSEXT_ERR.NOACK,
    handle: (_dispatch, state, _ssl, out, outLength, input, inputLength) => {
      const wire = new Uint8Array(koffi.view(input, inputLength).slice(0))
      const offered = parseAlpn(wire)
      const chosen = state.callbacks.alpnSelect!(offered)
      // RFC 7301 §3.2: no protocol in common is the fatal no_application_protocol alert.
      if (chosen === false) return SSL_TLSEXT_ERR.ALERT_FATAL
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
      // A protocol the client did not offer: refuse the handshake.
      return SSL_TLSEXT_ERR.ALERT_FATAL
    },
    failClosed: () => SSL_TLSEXT_ERR.ALERT_FATAL
  })
} satisfies { readonly [K in Name]: Spec<any, any> }

/** One registered trampoline per callback kind. */
export type Trampolines = { readonly [K in Name]: Ptr<"Callback"> }

/**
 * Register the trampolines of a library, once per process: each looks the connection up, calls
 * its handler under the one guard, and returns the fail-closed value if the handler throws.
 * They are never unregistered: a context may outlive every binding, and an unregistered slot
 * would be a jump into nothing (six of koffi's 8192 slots per library).
 */
export const registerTrampolines = (dispatch: Dispatch, types: CallbackTypes): Trampolines => {
  const register = <Args extends Array<any>, R>(name: Name, s: Spec<Args, R>): Ptr<"Callback"> =>
    koffi.register((...args: Args): R => {
      const state = dispatch.stateOf(s.ssl(dispatch, ...args))
      if (state === undefined || (s.everyConnection !== true && state.callbacks[name] === undefined)) {
        return s.absent(...args)
      }
      try {
        return s.handle(dispatch, state, ...args)
      } catch (cause) {
        state.callbackFailure ??= { cause }
        return s.failClosed(...args)
      }
    }, types[s.prototype]) as Ptr<"Callback">
  return Object.fromEntries(
    Object.entries(callbackTable).map(([name, s]) => [name, register(name as Name, s as Spec<any, any>)])
  ) as unknown as Trampolines
}

/** Put the trampolines a context of this configuration carries on it (verify goes with the verify mode). */
export const installCallbacks = (
  native: Native,
  ctx: Ptr<"SSL_CTX">,
  config: ContextConfig,
  trampolines: Trampolines
): void => {
  for (const [name, s] of Object.entries(callbackTable) as Array<[Name, Spec<any, any>]>) {
    if (s.installedFor(config)) s.install(native, ctx, trampolines[name])
  }
}

const extension = (native: Native, ssl: Ptr<"SSL">, type: number): Uint8Array | undefined => {
  if (native.SSL_client_hello_get0_ext === undefined) return undefined
  const out = pointerCell()
  const length = pointerCell()
  if (native.SSL_client_hello_get0_ext(ssl, type, out, length) !== 1) return undefined
  const n = Number(length.readBigUInt64LE(0))
  return n === 0 ? new Uint8Array(0) : new Uint8Array(koffi.view(out.readBigUInt64LE(0), n).slice(0))
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
