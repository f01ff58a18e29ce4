import type { Handles, Role, SslSettings } from "@effect-openssl/core/OpenSsl"
import { InvalidOptionError } from "@effect-openssl/core/SslError"
import { installCallbacks } from "./callbacks.js"
import { configure } from "./configure.js"
import { SSL_CTRL, TLSEXT_NAMETYPE_host_name } from "./ffi/constants.js"
import type { Ptr } from "./ffi/table.js"
import type { Kit } from "./kit.js"
import { cString, decodeString } from "./memory.js"
import { readSettings } from "./settings.js"

/** Contexts and handles: `SSL_CTX_new` + configuration, `SSL_new`, `SSL_up_ref`, `SSL_dup`, settings. */
export const makeHandles = (kit: Kit): Handles => {
  const { errors, library, native, pointer, stamp } = kit
  const methodOf: Record<Role, Ptr<"SSL_METHOD">> = {
    any: native.TLS_method(),
    client: native.TLS_client_method(),
    server: native.TLS_server_method()
  }
  const methods = new Map<bigint, Role>(Object.entries(methodOf).map(([role, method]) => [method, role as Role]))

  const verifyHostOf = (param: Ptr<"X509_VERIFY_PARAM">): string | undefined => {
    const name = native.X509_VERIFY_PARAM_get0_host?.(param, 0) ?? null
    if (name !== null) return name
    const ip = native.X509_VERIFY_PARAM_get1_ip_asc?.(param) ?? null
    if (ip === null) return undefined
    try {
      return decodeString(ip)
    } finally {
      native.CRYPTO_free(ip, null, 0)
    }
  }

  return {
    contextNew: errors.cleared((config) => {
      const ctx = errors.cvtPtr("SSL_CTX_new", native.SSL_CTX_new(methodOf[config.role]))
      const ref = stamp("SSL_CTX", ctx)
      try {
        configure(native, errors, library.version.number, ctx, config, library.trampolines.verify)
        installCallbacks(native, ctx, config, library.trampolines)
      } catch (e) {
        native.SSL_CTX_free(ctx)
        throw e
      }
      return ref
    }),
    contextFree: (ref) => native.SSL_CTX_free(pointer(ref, "SSL_CTX", "SSL_CTX_free")),
    contextSettings: (ref) => {
      const ctx = pointer(ref, "SSL_CTX", "SslContext.settings")
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

    sslNew: errors.cleared((ctx) =>
      stamp("SSL", errors.cvtPtr("SSL_new", native.SSL_new(pointer(ctx, "SSL_CTX", "SSL_new"))))
    ),
    sslUpRef: errors.cleared((ref) => {
      errors.cvt("SSL_up_ref", native.SSL_up_ref(pointer(ref, "SSL", "SSL_up_ref")))
    }),
    sslFree: (ref) => native.SSL_free(pointer(ref, "SSL", "SSL_free")),
    sslDup: errors.cleared((ref) => {
      const ssl = pointer(ref, "SSL", "SSL_dup")
      const copy = errors.cvtPtr("SSL_dup", native.SSL_dup(ssl))
      // A new object carries a shallow copy of ex_data: restamp it so it has its own id.
      return copy === ssl ? ref : stamp("SSL", copy)
    }),
    sslInBefore: (ref) => native.SSL_in_before(pointer(ref, "SSL", "SSL_in_before")) === 1,
    sslSettings: (ref): SslSettings => {
      const s = pointer(ref, "SSL", "Ssl.settings")
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
    },
    sslSetRole: (ref, role) => {
      const ssl = pointer(ref, "SSL", "sslSetRole")
      if (role === "client") native.SSL_set_connect_state(ssl)
      else native.SSL_set_accept_state(ssl)
    },
    sslSetHostName: errors.cleared((ref, { name }) => {
      const ssl = pointer(ref, "SSL", "SSL_set_tlsext_host_name")
      // SSL_set_tlsext_host_name reads a C string: a NUL would cut the name short.
      if (name.length === 0 || Buffer.byteLength(name) > 255 || name.includes("\0")) {
        throw new InvalidOptionError({ option: "hostName", reason: "a host name is 1 to 255 bytes without NUL" })
      }
      if (Number(native.SSL_ctrl(ssl, SSL_CTRL.SET_TLSEXT_HOSTNAME, 0, cString(name))) !== 1) {
        throw new InvalidOptionError({ option: "hostName", reason: "rejected", cause: errors.error("hostName") })
      }
    }),
    sslSetVerifyHost: errors.cleared((ref, host) => {
      const param = native.SSL_get0_param(pointer(ref, "SSL", "SSL_set1_host"))
      let ok: boolean
      if (host._tag === "IpAddress") {
        // A C string: refuse a NUL rather than let it cut the address short.
        ok = !host.address.includes("\0") && native.X509_VERIFY_PARAM_set1_ip_asc(param, host.address) === 1
      } else {
        // With its length, not as a C string: OpenSSL refuses a name with an embedded NUL
        // instead of checking the part before it.
        const name = Buffer.from(host.name, "utf8")
        ok = name.length > 0 && native.X509_VERIFY_PARAM_set1_host(param, name, name.length) === 1
      }
      if (!ok) {
        throw new InvalidOptionError({ option: "verifyHost", reason: "rejected", cause: errors.error("set1_host") })
      }
    })
  }
}
