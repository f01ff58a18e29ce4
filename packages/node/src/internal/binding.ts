import type {
  ContextConfig,
  Features,
  FreeEvent,
  NativeRef,
  OpenSsl,
  Role,
  SslSettings,
  Version
} from "@effect-openssl/core/OpenSsl"
import { TypeId } from "@effect-openssl/core/OpenSsl"
import { InvalidOptionError, type NativeKind } from "@effect-openssl/core/SslError"
import * as koffi from "koffi"
import { registerTrampolines, type SslState } from "./callbacks.js"
import { makeDerOf, makeSubjectOf, parseCertificate } from "./certificate.js"
import { configure } from "./configure.js"
import { makeConnectionOps } from "./connection.js"
import { ErrorQueue } from "./errorQueue.js"
import {
  CRYPTO_EX_INDEX,
  OPENSSL_VERSION_TEXT,
  optionBits,
  SSL_CTRL,
  TLSEXT_NAMETYPE_host_name
} from "./ffi/constants.js"
import type { Loaded } from "./ffi/load.js"
import { callbackTypes } from "./ffi/prototypes.js"
import type { Native, Ptr } from "./ffi/table.js"
import { cString } from "./memory.js"
import { makePki } from "./pki.js"
import { makeSessionOps } from "./sessions.js"
import { readSettings } from "./settings.js"

export interface BindingOptions {
  readonly implementation: "node" | "library"
  /**
   * Register ex_data free callbacks so native frees are observed. The callback runs for every
   * SSL/SSL_CTX/SSL_SESSION freed in the process (node:tls's too), so it is opt-in.
   */
  readonly observeFrees: boolean
}

export interface Binding {
  readonly service: OpenSsl
  /** Unregister the ex_data indices and callbacks. */
  readonly close: () => void
}

const kindOfClass: Record<number, NativeKind> = {
  [CRYPTO_EX_INDEX.SSL]: "SSL",
  [CRYPTO_EX_INDEX.SSL_CTX]: "SSL_CTX",
  [CRYPTO_EX_INDEX.SSL_SESSION]: "SSL_SESSION"
}

export const readVersion = (native: Native): Version => {
  const number = native.OpenSSL_version_num()
  const text = native.OpenSSL_version(OPENSSL_VERSION_TEXT)
  return number >= 0x30000000
    ? { text, number, major: number >>> 28, minor: (number >>> 20) & 0xff, patch: (number >>> 4) & 0xff }
    : { text, number, major: number >>> 28, minor: (number >>> 20) & 0xff, patch: (number >>> 12) & 0xff }
}

/** Build the `OpenSsl` service over a loaded library. */
export const makeBinding = ({ exDataFreeType, native }: Loaded, options: BindingOptions): Binding => {
  const version = readVersion(native)
  const errors = new ErrorQueue(native, version.number)
  const listeners = new Set<(event: FreeEvent) => void>()

  // One ex_data slot per class carries the id this binding stamps on each object.
  let freeCallback: Ptr | null = null
  if (options.observeFrees) {
    freeCallback = koffi.register(
      (_parent: unknown, data: bigint | null, _ad: unknown, _idx: number, argl: number) => {
        // A free callback returns nothing to C: it must simply never throw.
        try {
          if (data === null) return
          const event: FreeEvent = { kind: kindOfClass[argl]!, id: Number(data) }
          for (const listener of listeners) listener(event)
        } catch {
          // listeners are observers; one failing must not disturb the native free
        }
      },
      exDataFreeType
    )
  }
  // A copy of an object (ssl_session_dup makes one for every TLS 1.3 ticket, SSL_dup for a fresh
  // handle) inherits the original's ex_data, so its id. Copies handed to us are restamped (see
  // `newSessionRef`, and `sslDup`). Copies OpenSSL makes and frees internally would still report
  // the original's id in free events: when frees are observed, a dup callback makes every copy
  // start unstamped. Like the free callback it runs for every copy in the process (Node's own TLS,
  // worker threads included), which is why it comes with free observation only.
  const dupCallback = options.observeFrees
    ? koffi.register(
      (_to: unknown, _from: unknown, fromD: unknown) => {
        try {
          koffi.encode(fromD, "void *", null)
          return 1
        } catch {
          return 0
        }
      },
      callbackTypes().ExDataDup
    )
    : null
  const newIndex = (classIndex: number) => {
    const index = native.CRYPTO_get_ex_new_index(classIndex, classIndex, null, null, dupCallback, freeCallback)
    if (index < 0) throw errors.error("CRYPTO_get_ex_new_index")
    return index
  }
  errors.clear()
  const sslIndex = newIndex(CRYPTO_EX_INDEX.SSL)
  const ctxIndex = newIndex(CRYPTO_EX_INDEX.SSL_CTX)
  const sessionIndex = newIndex(CRYPTO_EX_INDEX.SSL_SESSION)

  let nextId = 1
  const stamp = (kind: NativeKind, address: Ptr): NativeRef => {
    const id = nextId++
    if (kind === "SSL") native.SSL_set_ex_data(address, sslIndex, BigInt(id))
    else if (kind === "SSL_CTX") native.SSL_CTX_set_ex_data(address, ctxIndex, BigInt(id))
    else native.SSL_SESSION_set_ex_data(address, sessionIndex, BigInt(id))
    return { kind, address, id }
  }
  const idOfSsl = (ssl: Ptr): number | undefined => {
    const data = native.SSL_get_ex_data(ssl, sslIndex)
    return data === null ? undefined : Number(data)
  }
  /** A session already stamped keeps its id (SSL_get1_session returns the same object). */
  const sessionRef = (session: Ptr): NativeRef => {
    const data = native.SSL_SESSION_get_ex_data(session, sessionIndex)
    return data === null ? stamp("SSL_SESSION", session) : { kind: "SSL_SESSION", address: session, id: Number(data) }
  }
  /**
   * The new-session callback always gets a new object, often a copy (`ssl_session_dup`) carrying
   * its original's id: it gets its own.
   */
  const newSessionRef = (session: Ptr): NativeRef => stamp("SSL_SESSION", session)

  const states = new Map<number, SslState>()
  const derOf = makeDerOf(native, errors)
  const subjectOf = makeSubjectOf(native)
  const trampolines = registerTrampolines(
    native,
    states,
    idOfSsl,
    newSessionRef,
    (ctx) => ctx.address,
    subjectOf,
    derOf
  )

  const methods = new Map<bigint, Role>([
    [native.TLS_method(), "any"],
    [native.TLS_client_method(), "client"],
    [native.TLS_server_method(), "server"]
  ])
  const methodOf: Record<Role, Ptr> = {
    any: native.TLS_method(),
    client: native.TLS_client_method(),
    server: native.TLS_server_method()
  }

  /** Install the trampolines every context carries; they dispatch per connection. */
  const installCallbacks = (ctx: Ptr, config: ContextConfig) => {
    native.SSL_CTX_sess_set_new_cb(ctx, trampolines.newSession)
    if (config.keylog) native.SSL_CTX_set_keylog_callback?.(ctx, trampolines.keylog)
    if (config.role !== "client") {
      native.SSL_CTX_set_client_hello_cb?.(ctx, trampolines.clientHello, null)
      native.SSL_CTX_callback_ctrl(ctx, SSL_CTRL.SET_TLSEXT_SERVERNAME_CB, trampolines.serverName)
      native.SSL_CTX_set_alpn_select_cb(ctx, trampolines.alpnSelect, null)
    }
  }

  const contextNew = (config: ContextConfig): NativeRef => {
    errors.clear()
    const ctx = native.SSL_CTX_new(methodOf[config.role])
    if (ctx === null) throw errors.error("SSL_CTX_new")
    const ref = stamp("SSL_CTX", ctx)
    try {
      configure(native, errors, version.number, ctx, config, trampolines.verify)
      installCallbacks(ctx, config)
    } catch (e) {
      native.SSL_CTX_free(ctx)
      throw e
    }
    return ref
  }

  const sslSettings = (ref: NativeRef): SslSettings => {
    const s = ref.address
    return {
      ...readSettings(native, methods, {
        ctrl: (cmd) => Number(native.SSL_ctrl(s, cmd, 0, null)),
        method: native.SSL_get_ssl_method(s),
        options: BigInt(native.SSL_get_options(s)),
        verifyMode: native.SSL_get_verify_mode(s),
        verifyDepth: native.SSL_get_verify_depth(s),
        ciphers: native.SSL_get_ciphers(s),
        ctx: native.SSL_get_SSL_CTX(s)
      }),
      isServer: native.SSL_is_server(s) === 1,
      hostName: native.SSL_get_servername(s, TLSEXT_NAMETYPE_host_name) ?? undefined,
      inBefore: native.SSL_in_before(s) === 1,
      verifyHost: verifyHostOf(native.SSL_get0_param(s))
    }
  }

  const verifyHostOf = (param: Ptr): string | undefined => {
    const name = native.X509_VERIFY_PARAM_get0_host?.(param, 0) ?? null
    if (name !== null) return name
    const ip = native.X509_VERIFY_PARAM_get1_ip_asc?.(param) ?? null
    if (ip === null) return undefined
    try {
      return koffi.decode(ip, "char", -1) as string
    } finally {
      native.CRYPTO_free(ip, null, 0)
    }
  }

  const features: Features = {
    optionFlags: optionBits.filter(([, , since]) => since <= version.number).map(([name]) => name),
    postQuantumGroups: version.number >= 0x30500000,
    keylog: native.SSL_CTX_set_keylog_callback !== undefined,
    clientHelloCallback: native.SSL_CTX_set_client_hello_cb !== undefined,
    certificateCompression: native.SSL_CTX_compress_certs !== undefined,
    freeObservation: options.observeFrees
  }

  const service: OpenSsl = {
    [TypeId]: TypeId,
    implementation: options.implementation,
    version,
    features,
    // A plain Uint8Array over unpooled, uninitialized memory: no zero-fill, and no shared pool a
    // caller's chunk would keep alive.
    allocate: (size) => new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size),

    contextNew,
    contextFree: (ref) => native.SSL_CTX_free(ref.address),
    contextSettings: (ref) => {
      const ctx = ref.address
      return readSettings(native, methods, {
        ctrl: (cmd) => Number(native.SSL_CTX_ctrl(ctx, cmd, 0, null)),
        method: native.SSL_CTX_get_ssl_method(ctx),
        options: BigInt(native.SSL_CTX_get_options(ctx)),
        verifyMode: native.SSL_CTX_get_verify_mode(ctx),
        verifyDepth: native.SSL_CTX_get_verify_depth(ctx),
        ciphers: native.SSL_CTX_get_ciphers(ctx),
        ctx
      })
    },

    sslNew: (ctx) => {
      errors.clear()
      const ssl = native.SSL_new(ctx.address)
      if (ssl === null) throw errors.error("SSL_new")
      return stamp("SSL", ssl)
    },
    sslUpRef: (ref) => {
      errors.clear()
      if (native.SSL_up_ref(ref.address) !== 1) throw errors.error("SSL_up_ref")
    },
    sslFree: (ref) => native.SSL_free(ref.address),
    sslDup: (ref) => {
      errors.clear()
      const copy = native.SSL_dup(ref.address)
      if (copy === null) throw errors.error("SSL_dup")
      // A new object carries a shallow copy of ex_data: restamp it so it has its own id.
      return copy === ref.address ? ref : stamp("SSL", copy)
    },
    sslInBefore: (ref) => native.SSL_in_before(ref.address) === 1,
    sslSettings,
    sslSetRole: (ref, role) =>
      role === "client" ? native.SSL_set_connect_state(ref.address) : native.SSL_set_accept_state(ref.address),
    sslSetHostName: (ref, { name }) => {
      errors.clear()
      // SSL_set_tlsext_host_name reads a C string: a NUL would cut the name short.
      if (name.length === 0 || Buffer.byteLength(name) > 255 || name.includes("\0")) {
        throw new InvalidOptionError({ option: "hostName", reason: "a host name is 1 to 255 bytes without NUL" })
      }
      if (Number(native.SSL_ctrl(ref.address, SSL_CTRL.SET_TLSEXT_HOSTNAME, 0, cString(name))) !== 1) {
        throw new InvalidOptionError({ option: "hostName", reason: "rejected", cause: errors.error("hostName") })
      }
    },

    ...makeConnectionOps(native, errors, states, derOf),
    sslSetCallbacks: (ref, callbacks) => {
      if (callbacks === undefined) states.delete(ref.id)
      else {
        const state = states.get(ref.id)
        if (state === undefined) states.set(ref.id, { callbacks, verifyFailure: undefined, callbackFailure: undefined })
        else state.callbacks = callbacks
      }
    },
    sslTakeCallbackFailure: (ref) => {
      const state = states.get(ref.id)
      const failure = state?.callbackFailure
      if (state !== undefined) state.callbackFailure = undefined
      return failure
    },
    sslVerifyFailure: (ref) => states.get(ref.id)?.verifyFailure,

    ...makeSessionOps(native, errors, sessionRef),
    parseCertificate,
    ...makePki(native, errors),

    observeFrees: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    }
  }

  const close = () => {
    native.CRYPTO_free_ex_index(CRYPTO_EX_INDEX.SSL, sslIndex)
    native.CRYPTO_free_ex_index(CRYPTO_EX_INDEX.SSL_CTX, ctxIndex)
    native.CRYPTO_free_ex_index(CRYPTO_EX_INDEX.SSL_SESSION, sessionIndex)
    // After CRYPTO_free_ex_index OpenSSL no longer calls the free callback, so its slot can go.
    if (freeCallback !== null) koffi.unregister(freeCallback)
    if (dupCallback !== null) koffi.unregister(dupCallback)
    // The connection trampolines stay registered: a context that outlives this binding may still
    // call them, and an unregistered slot would be a jump into nothing. With no state left they
    // fall back to OpenSSL's defaults (six of koffi's 8192 slots per binding built).
    listeners.clear()
    states.clear()
  }

  return { service, close }
}
