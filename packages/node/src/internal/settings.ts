import type { ProtocolVersion, Role, SessionCacheMode, Settings, VerifyMode } from "@effect-openssl/core/OpenSsl"
import * as OptionFlag from "@effect-openssl/core/OptionFlag"
import { protocolVersions, SSL_CTRL, SSL_VERIFY } from "./ffi/constants.js"
import type { Native, Ptr, PtrOrNull } from "./ffi/table.js"

const versionNames = new Map<number, ProtocolVersion>(
  Object.entries(protocolVersions).map(([name, v]) => [v, name as ProtocolVersion])
)
const cacheModes: ReadonlyArray<SessionCacheMode> = ["off", "client", "server", "both"]

/** The getters that differ between `SSL_CTX` and `SSL`; the rest is shared. */
export interface SettingsSource {
  readonly ctrl: (cmd: number) => number
  readonly method: Ptr<"SSL_METHOD">
  readonly options: bigint
  readonly verifyMode: number
  readonly verifyDepth: number
  readonly ciphers: PtrOrNull<"STACK">
  /** The context holding session settings (the SSL's own context for an SSL). */
  readonly ctx: Ptr<"SSL_CTX">
}

export const readSettings = (native: Native, methods: Map<bigint, Role>, source: SettingsSource): Settings => {
  const min = source.ctrl(SSL_CTRL.GET_MIN_PROTO_VERSION)
  const max = source.ctrl(SSL_CTRL.GET_MAX_PROTO_VERSION)
  const options = OptionFlag.fromBits(source.options)
  const verify = source.verifyMode
  const verifyMode: VerifyMode = (verify & SSL_VERIFY.PEER) === 0
    ? "none"
    : (verify & SSL_VERIFY.FAIL_IF_NO_PEER_CERT) !== 0
    ? "require"
    : "peer"
  return {
    role: methods.get(source.method) ?? "any",
    minProtocol: versionNames.get(min),
    maxProtocol: versionNames.get(max),
    options,
    optionBits: source.options,
    mode: source.ctrl(SSL_CTRL.MODE),
    verifyMode,
    verifyModeBits: verify,
    verifyDepth: source.verifyDepth,
    ciphers: cipherNames(native, source.ciphers),
    sessionTimeoutSeconds: Number(native.SSL_CTX_get_timeout(source.ctx)),
    sessionCacheMode: cacheModes[Number(native.SSL_CTX_ctrl(source.ctx, SSL_CTRL.GET_SESS_CACHE_MODE, 0, null)) & 3]!
  }
}

const cipherNames = (native: Native, stack: PtrOrNull<"STACK">): Array<string> => {
  if (stack === null) return []
  const names: Array<string> = []
  const n = native.OPENSSL_sk_num(stack)
  for (let i = 0; i < n; i++) {
    const cipher = native.OPENSSL_sk_value(stack, i) as PtrOrNull<"SSL_CIPHER">
    if (cipher !== null) names.push(native.SSL_CIPHER_get_name(cipher))
  }
  return names
}
