import type {
  ContextConfig,
  Features,
  FreeEvent,
  HandshakeStep,
  NativeRef,
  OpenSsl,
  Role,
  SslSettings,
  Version
} from "@effect-openssl/core/OpenSsl"
import { TypeId } from "@effect-openssl/core/OpenSsl"
import { InvalidOptionError, type NativeKind } from "@effect-openssl/core/SslError"
import * as koffi from "koffi"
import { configure } from "./configure.js"
import { ErrorQueue } from "./errorQueue.js"
import {
  BIO_C_SET_BUF_MEM_EOF_RETURN,
  CRYPTO_EX_INDEX,
  OPENSSL_VERSION_TEXT,
  optionBits,
  SSL_CTRL,
  SSL_ERROR,
  SSL_ERROR_NAMES,
  TLSEXT_NAMETYPE_host_name
} from "./ffi/constants.js"
import type { Loaded } from "./ffi/load.js"
import type { Native, Ptr } from "./ffi/table.js"
import { cString } from "./memory.js"
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
        // A throw here would reach C as "0"; a free callback returns nothing, so just never throw.
        try {
          if (data === null) return
          const event: FreeEvent = { kind: kindOfClass[argl]!, id: Number(data) }
          for (const listener of listeners) listener(event)
        } catch {
          // listeners are test observers; one failing must not break the native free
        }
      },
      exDataFreeType
    )
  }
  const newIndex = (classIndex: number) => {
    const index = native.CRYPTO_get_ex_new_index(classIndex, classIndex, null, null, null, freeCallback)
    if (index < 0) throw errors.error("CRYPTO_get_ex_new_index")
    return index
  }
  errors.clear()
  const sslIndex = newIndex(CRYPTO_EX_INDEX.SSL)
  const ctxIndex = newIndex(CRYPTO_EX_INDEX.SSL_CTX)

  let nextId = 1
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

  const stampSsl = (address: Ptr): NativeRef => {
    const id = nextId++
    native.SSL_set_ex_data(address, sslIndex, BigInt(id))
    return { kind: "SSL", address, id }
  }

  const contextNew = (config: ContextConfig): NativeRef => {
    errors.clear()
    const ctx = native.SSL_CTX_new(methodOf[config.role])
    if (ctx === null) throw errors.error("SSL_CTX_new")
    const id = nextId++
    native.SSL_CTX_set_ex_data(ctx, ctxIndex, BigInt(id))
    try {
      configure(native, errors, version.number, ctx, config)
    } catch (e) {
      native.SSL_CTX_free(ctx)
      throw e
    }
    return { kind: "SSL_CTX", address: ctx, id }
  }

  const ciphersOf = (ssl: Ptr) => native.SSL_get_ciphers(ssl)

  const sslSettings = (ref: NativeRef): SslSettings => {
    const s = ref.address
    return {
      ...readSettings(native, methods, {
        ctrl: (cmd) => Number(native.SSL_ctrl(s, cmd, 0, null)),
        method: native.SSL_get_ssl_method(s),
        options: BigInt(native.SSL_get_options(s)),
        verifyMode: native.SSL_get_verify_mode(s),
        verifyDepth: native.SSL_get_verify_depth(s),
        ciphers: ciphersOf(s),
        ctx: native.SSL_get_SSL_CTX(s)
      }),
      isServer: native.SSL_is_server(s) === 1,
      hostName: native.SSL_get_servername(s, TLSEXT_NAMETYPE_host_name) ?? undefined,
      inBefore: native.SSL_in_before(s) === 1
    }
  }

  const rbioOf = (ssl: Ptr, operation: string): Ptr => {
    const bio = native.SSL_get_rbio(ssl)
    if (bio === null) throw new InvalidOptionError({ option: "bio", reason: `${operation}: no memory BIOs attached` })
    return bio
  }
  const wbioOf = (ssl: Ptr, operation: string): Ptr => {
    const bio = native.SSL_get_wbio(ssl)
    if (bio === null) throw new InvalidOptionError({ option: "bio", reason: `${operation}: no memory BIOs attached` })
    return bio
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
      return stampSsl(ssl)
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
      return copy === ref.address ? ref : stampSsl(copy)
    },
    sslInBefore: (ref) => native.SSL_in_before(ref.address) === 1,
    sslSettings,
    sslSetRole: (ref, role) =>
      role === "client" ? native.SSL_set_connect_state(ref.address) : native.SSL_set_accept_state(ref.address),
    sslSetHostName: (ref, hostName) => {
      errors.clear()
      if (hostName.length === 0 || Buffer.byteLength(hostName) > 255 || hostName.includes("\0")) {
        throw new InvalidOptionError({ option: "hostName", reason: "a host name is 1 to 255 bytes without NUL" })
      }
      if (Number(native.SSL_ctrl(ref.address, SSL_CTRL.SET_TLSEXT_HOSTNAME, 0, cString(hostName))) !== 1) {
        throw new InvalidOptionError({ option: "hostName", reason: "rejected", cause: errors.error("hostName") })
      }
    },

    sslAttachMemory: (ref) => {
      errors.clear()
      if (native.SSL_get_rbio(ref.address) !== null) {
        throw new InvalidOptionError({ option: "bio", reason: "BIOs are already attached to this SSL" })
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
    },
    sslFeed: (ref, bytes) => {
      errors.clear()
      const rbio = rbioOf(ref.address, "sslFeed")
      if (bytes.length > 0 && native.BIO_write(rbio, bytes, bytes.length) !== bytes.length) {
        throw errors.error("BIO_write")
      }
    },
    sslDrain: (ref, into) => {
      const n = native.BIO_read(wbioOf(ref.address, "sslDrain"), into, into.length)
      return n > 0 ? n : 0
    },
    sslPendingOutput: (ref) => Number(native.BIO_ctrl_pending(wbioOf(ref.address, "sslPendingOutput"))),
    sslHandshake: (ref): HandshakeStep => {
      errors.clear()
      const r = native.SSL_do_handshake(ref.address)
      if (r === 1) return "done"
      const code = native.SSL_get_error(ref.address, r)
      if (code === SSL_ERROR.WANT_READ) return "want-read"
      if (code === SSL_ERROR.WANT_WRITE) return "want-write"
      throw errors.error(`SSL_do_handshake (${SSL_ERROR_NAMES[code] ?? code})`)
    },

    observeFrees: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    }
  }

  const close = () => {
    native.CRYPTO_free_ex_index(CRYPTO_EX_INDEX.SSL, sslIndex)
    native.CRYPTO_free_ex_index(CRYPTO_EX_INDEX.SSL_CTX, ctxIndex)
    if (freeCallback !== null) koffi.unregister(freeCallback)
    listeners.clear()
  }

  return { service, close }
}
