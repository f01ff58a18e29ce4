import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { ContextConfig, OptionFlag, ProtocolVersion, Role, SessionCacheMode, VerifyMode } from "../OpenSsl.js"
import type { Options } from "../SslContext.js"
import { InvalidOptionError } from "../SslError.js"

const roles: ReadonlyArray<Role> = ["client", "server", "any"]
const protocolOrder: ReadonlyArray<ProtocolVersion> = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
const verifyModes: ReadonlyArray<VerifyMode> = ["none", "peer", "require"]
const cacheModes: ReadonlyArray<SessionCacheMode> = ["off", "client", "server", "both"]

/** Every named flag, so options can be checked before any native call. */
export const optionFlags: ReadonlyArray<OptionFlag> = [
  "NO_EXTENDED_MASTER_SECRET",
  "CLEANSE_PLAINTEXT",
  "LEGACY_SERVER_CONNECT",
  "ENABLE_KTLS",
  "TLSEXT_PADDING",
  "SAFARI_ECDHE_ECDSA_BUG",
  "IGNORE_UNEXPECTED_EOF",
  "ALLOW_CLIENT_RENEGOTIATION",
  "DISABLE_TLSEXT_CA_NAMES",
  "ALLOW_NO_DHE_KEX",
  "DONT_INSERT_EMPTY_FRAGMENTS",
  "NO_QUERY_MTU",
  "COOKIE_EXCHANGE",
  "NO_TICKET",
  "CISCO_ANYCONNECT",
  "NO_SESSION_RESUMPTION_ON_RENEGOTIATION",
  "NO_COMPRESSION",
  "ALLOW_UNSAFE_LEGACY_RENEGOTIATION",
  "NO_ENCRYPT_THEN_MAC",
  "ENABLE_MIDDLEBOX_COMPAT",
  "PRIORITIZE_CHACHA",
  "CIPHER_SERVER_PREFERENCE",
  "TLS_ROLLBACK_BUG",
  "NO_ANTI_REPLAY",
  "NO_SSLv3",
  "NO_TLSv1",
  "NO_TLSv1_2",
  "NO_TLSv1_1",
  "NO_TLSv1_3",
  "NO_RENEGOTIATION",
  "CRYPTOPRO_TLSEXT_BUG"
]

const INT_MAX = 2 ** 31 - 1
const utf8 = new TextEncoder()
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

const invalid = (option: string, reason: string) => new InvalidOptionError({ option, reason })

const oneOf = <A extends string>(option: string, value: unknown, allowed: ReadonlyArray<A>): A => {
  if (typeof value === "string" && (allowed as ReadonlyArray<string>).includes(value)) return value as A
  throw invalid(option, `expected one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`)
}

const nonEmptyString = (option: string, value: unknown): string => {
  if (typeof value !== "string" || value.trim().length === 0) throw invalid(option, "expected a non-empty string")
  if (value.includes("\0")) throw invalid(option, "must not contain NUL characters")
  return value
}

const pemCertificates = (option: string, value: string | ReadonlyArray<string>): ReadonlyArray<string> => {
  const blocks = (typeof value === "string" ? [value] : value).flatMap((pem, i) => {
    const text = nonEmptyString(typeof value === "string" ? option : `${option}[${i}]`, pem)
    const found = text.match(PEM_CERTIFICATE)
    if (found === null) throw invalid(option, "no PEM CERTIFICATE block found")
    return found
  })
  return blocks
}

const integer = (option: string, value: unknown, min: number, max: number): number => {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(option, `expected an integer from ${min} to ${max}, got ${String(value)}`)
  }
  return value
}

const seconds = (option: string, value: Duration.DurationInput): number => {
  const decoded = Duration.decodeUnknown(value)
  if (decoded._tag === "None" || !Duration.isFinite(decoded.value)) throw invalid(option, "expected a finite duration")
  const s = Math.ceil(Duration.toMillis(decoded.value) / 1000)
  return integer(option, s, 1, INT_MAX)
}

const alpnList = (option: string, value: ReadonlyArray<string>): ReadonlyArray<string> => {
  if (!Array.isArray(value) || value.length === 0) throw invalid(option, "expected a non-empty list of protocol names")
  let total = 0
  value.forEach((name: unknown, i) => {
    const bytes = typeof name === "string" ? utf8.encode(name).length : 0
    if (bytes < 1 || bytes > 255) throw invalid(`${option}[${i}]`, "a protocol name is 1 to 255 bytes")
    total += bytes + 1
  })
  if (total > 65535) throw invalid(option, "the encoded list exceeds 65535 bytes")
  return value
}

const groupList = (option: string, value: string | ReadonlyArray<string>): string => {
  const names = typeof value === "string" ? value.split(":") : value
  if (names.length === 0) throw invalid(option, "expected at least one group")
  names.forEach((name, i) => {
    const text = nonEmptyString(`${option}[${i}]`, name)
    if (/[:\s]/.test(text)) throw invalid(`${option}[${i}]`, "a group name has no ':' or spaces")
  })
  return names.join(":")
}

/** Check the user's options and fill in the secure defaults. Pure: no native call. */
export const resolve = (options: Options): Effect.Effect<ContextConfig, InvalidOptionError> =>
  Effect.try({
    try: () => resolveUnsafe(options),
    catch: (e) => e instanceof InvalidOptionError ? e : invalid("options", String(e))
  })

const resolveUnsafe = (options: Options): ContextConfig => {
  if (typeof options !== "object" || options === null) throw invalid("options", "expected an object")
  const role = oneOf("role", options.role, roles)
  const minProtocol = oneOf("minProtocol", options.minProtocol ?? "TLSv1.2", protocolOrder)
  const maxProtocol = options.maxProtocol === undefined
    ? undefined
    : oneOf("maxProtocol", options.maxProtocol, protocolOrder)
  if (maxProtocol !== undefined && protocolOrder.indexOf(maxProtocol) < protocolOrder.indexOf(minProtocol)) {
    throw invalid("maxProtocol", `${maxProtocol} is below minProtocol ${minProtocol}`)
  }
  const flags = options.options ?? []
  if (!Array.isArray(flags)) throw invalid("options", "expected a list of option flags")
  flags.forEach((flag, i) => oneOf(`options[${i}]`, flag, optionFlags))

  const verifyMode = options.verify?.mode === undefined
    ? (role === "server" ? "none" : "peer")
    : oneOf("verify.mode", options.verify.mode, verifyModes)
  const verifyDepth = options.verify?.depth === undefined
    ? undefined
    : integer("verify.depth", options.verify.depth, 0, 100)

  const trustedCertificates = options.trust?.certificates === undefined
    ? []
    : pemCertificates("trust.certificates", options.trust.certificates)
  const trustSystemDefaults = options.trust?.systemDefaults ??
    (trustedCertificates.length === 0 && verifyMode !== "none")

  let certificate: ContextConfig["certificate"] = undefined
  if (options.certificate !== undefined) {
    const { chain, key, passphrase } = options.certificate
    pemCertificates("certificate.chain", chain)
    if (!Redacted.isRedacted(key)) throw invalid("certificate.key", "the private key must be given as Redacted")
    nonEmptyString("certificate.key", Redacted.value(key as Redacted.Redacted<string>))
    if (passphrase !== undefined && !Redacted.isRedacted(passphrase)) {
      throw invalid("certificate.passphrase", "the passphrase must be given as Redacted")
    }
    certificate = { chain, key, passphrase }
  }

  return {
    role,
    minProtocol,
    maxProtocol,
    options: flags,
    verifyMode,
    verifyDepth,
    sessionTimeoutSeconds: options.sessionTimeout === undefined
      ? undefined
      : seconds("sessionTimeout", options.sessionTimeout),
    sessionCacheMode: options.sessionCacheMode === undefined
      ? undefined
      : oneOf("sessionCacheMode", options.sessionCacheMode, cacheModes),
    trustedCertificates,
    trustSystemDefaults,
    certificate,
    cipherList: options.ciphers === undefined ? undefined : nonEmptyString("ciphers", options.ciphers),
    ciphersuites: options.ciphersuites === undefined ? undefined : nonEmptyString("ciphersuites", options.ciphersuites),
    groups: options.groups === undefined ? undefined : groupList("groups", options.groups),
    alpnProtocols: options.alpnProtocols === undefined ? undefined : alpnList("alpnProtocols", options.alpnProtocols),
    keylog: options.keylog === true
  }
}
