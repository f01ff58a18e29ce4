import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { ContextConfig, ProtocolVersion, Role, SessionCacheMode, VerifyMode } from "../OpenSsl.js"
import * as OptionCheck from "../OptionCheck.js"
import * as OptionFlag from "../OptionFlag.js"
import type { Options } from "../SslContext.js"
import { InvalidOptionError } from "../SslError.js"
import { describeValue } from "./describeValue.js"

const roles: ReadonlyArray<Role> = ["client", "server", "any"]
const protocolOrder: ReadonlyArray<ProtocolVersion> = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
const verifyModes: ReadonlyArray<VerifyMode> = ["none", "peer", "require"]
const cacheModes: ReadonlyArray<SessionCacheMode> = ["off", "client", "server", "both"]

/**
 * TLS 1.2 suites by default: ECDHE key exchange with AEAD ciphers only, in the order of Mozilla's
 * "intermediate" configuration (without its finite-field DHE suites). No CBC (LUCKY13 and its
 * kin), no static RSA key exchange (no forward secrecy).
 */
export const defaultCipherList = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305"
].join(":")

const INT_MAX = 2 ** 31 - 1
const utf8 = new TextEncoder()

const invalid = (option: string, reason: string) => new InvalidOptionError({ option, reason })

const oneOf = <A extends string>(option: string, value: unknown, allowed: ReadonlyArray<A>): A => {
  if (typeof value === "string" && (allowed as ReadonlyArray<string>).includes(value)) return value as A
  throw invalid(option, `expected one of ${allowed.join(", ")}, got ${describeValue(value)}`)
}

const nonEmptyString = (option: string, value: unknown): string => {
  if (typeof value !== "string" || value.trim().length === 0) throw invalid(option, "expected a non-empty string")
  if (value.includes("\0")) throw invalid(option, "must not contain NUL characters")
  return value
}

const boolean = (option: string, value: unknown): boolean => {
  if (typeof value !== "boolean") throw invalid(option, `expected true or false, got ${describeValue(value)}`)
  return value
}

const PEM_BEGIN = /^-----BEGIN ([A-Z0-9 ]+)-----$/
const PEM_END = /^-----END ([A-Z0-9 ]+)-----$/
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * The PEM CERTIFICATE blocks of a list of certificates, each checked whole. OpenSSL's reader
 * skips what it cannot parse, so a damaged block in the middle of a chain would silently drop
 * it and every certificate after it: every block, and every line that looks like a PEM marker,
 * must be well formed. Text outside the blocks (the `subject=` lines of `openssl x509`) is
 * ignored, as OpenSSL does. `option[k]` names the k-th block across the whole list.
 */
const pemCertificates = (option: string, value: string | ReadonlyArray<string>): ReadonlyArray<string> => {
  if (typeof value !== "string" && !Array.isArray(value)) throw invalid(option, "expected PEM text or a list of them")
  const texts = typeof value === "string" ? [value] : value
  if (texts.length === 0) throw invalid(option, "expected at least one certificate, got an empty list")
  const blocks: Array<string> = []
  texts.forEach((pem, i) => {
    const text = nonEmptyString(typeof value === "string" ? option : `${option}[${i}]`, pem)
    let open: { label: string; lines: Array<string>; line: number } | undefined
    text.split(/\r?\n/).forEach((raw, at) => {
      const line = raw.trimEnd()
      const where = () => `${option}[${blocks.length}]`
      const begin = PEM_BEGIN.exec(line)
      const end = PEM_END.exec(line)
      if (begin !== null) {
        if (open !== undefined) throw invalid(where(), `block at line ${open.line} has no END line`)
        open = { label: begin[1]!, lines: [line], line: at + 1 }
      } else if (end !== null) {
        if (open === undefined) throw invalid(where(), `END line ${at + 1} has no BEGIN line`)
        if (end[1] !== open.label) {
          throw invalid(where(), `block at line ${open.line}: BEGIN ${open.label} ends with END ${end[1]}`)
        }
        if (open.label !== "CERTIFICATE") {
          throw invalid(where(), `block at line ${open.line} is a ${open.label}, not a CERTIFICATE`)
        }
        if (open.lines.length === 1) throw invalid(where(), `block at line ${open.line} is empty`)
        blocks.push([...open.lines, line, ""].join("\n"))
        open = undefined
      } else if (/-----(BEGIN|END)\b/.test(line) || /^-{3,}\s*(BEGIN|END)\b/.test(line)) {
        throw invalid(where(), `malformed PEM marker at line ${at + 1}: ${JSON.stringify(line.slice(0, 64))}`)
      } else if (open !== undefined) {
        if (!BASE64_LINE.test(line.trim())) {
          throw invalid(where(), `block at line ${open.line}: line ${at + 1} is not base64`)
        }
        open.lines.push(line.trim())
      }
    })
    if (open !== undefined) throw invalid(`${option}[${blocks.length}]`, `block at line ${open.line} has no END line`)
  })
  if (blocks.length === 0) throw invalid(option, "no PEM CERTIFICATE block found")
  return blocks
}

const integer = (option: string, value: unknown, min: number, max: number): number => {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(option, `expected an integer from ${min} to ${max}, got ${describeValue(value)}`)
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
  if (typeof value !== "string" && !Array.isArray(value)) throw invalid(option, "expected a list of group names")
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
  OptionCheck.check(() => resolveUnsafe(options))

/** An optional option that, when given, must be an object (its fields are checked one by one). */
const objectOrAbsent = (option: string, value: unknown): void => {
  if (value !== undefined && (typeof value !== "object" || value === null || Array.isArray(value))) {
    throw invalid(option, `expected an object, got ${describeValue(value)}`)
  }
}

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
  flags.forEach((flag, i) => oneOf(`options[${i}]`, flag, OptionFlag.all))
  const allowRenegotiation = options.allowRenegotiation === undefined
    ? false
    : boolean("allowRenegotiation", options.allowRenegotiation)
  if (allowRenegotiation && flags.includes("NO_RENEGOTIATION")) {
    throw invalid(`options[${flags.indexOf("NO_RENEGOTIATION")}]`, "NO_RENEGOTIATION contradicts allowRenegotiation")
  }
  // The secure defaults, on top of the caller's flags: no renegotiation unless allowed, and a
  // server picks the TLS 1.2 suite by its own order (the default list is ordered for that).
  const defaultFlags: ReadonlyArray<OptionFlag.OptionFlag> = [
    ...(allowRenegotiation ? [] : ["NO_RENEGOTIATION" as const]),
    ...(role === "client" ? [] : ["CIPHER_SERVER_PREFERENCE" as const])
  ]

  objectOrAbsent("verify", options.verify)
  const verifyMode = options.verify?.mode === undefined
    ? (role === "server" ? "none" : "peer")
    : oneOf("verify.mode", options.verify.mode, verifyModes)
  const verifyDepth = options.verify?.depth === undefined
    ? undefined
    : integer("verify.depth", options.verify.depth, 0, 100)

  const { trustedCertificates, trustSystemDefaults } = trustOf(options, role, verifyMode)

  let certificate: ContextConfig["certificate"] = undefined
  objectOrAbsent("certificate", options.certificate)
  if (options.certificate !== undefined) {
    const { key, passphrase } = options.certificate
    const chain = pemCertificates("certificate.chain", options.certificate.chain)
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
    options: [...flags, ...defaultFlags.filter((flag) => !flags.includes(flag))],
    allowRenegotiation,
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
    cipherList: options.ciphers === undefined ? defaultCipherList : nonEmptyString("ciphers", options.ciphers),
    ciphersuites: options.ciphersuites === undefined ? undefined : nonEmptyString("ciphersuites", options.ciphersuites),
    groups: options.groups === undefined ? undefined : groupList("groups", options.groups),
    alpnProtocols: options.alpnProtocols === undefined ? undefined : alpnList("alpnProtocols", options.alpnProtocols),
    keylog: options.keylog === undefined ? false : boolean("keylog", options.keylog)
  }
}

/**
 * What a context trusts. Trust is never widened behind the caller's back: the system's CA store
 * is used when `trust.systemDefaults` is true, or by default for a client context given no
 * `trust` at all (as node:tls does). Any other context that verifies its peer must name what it
 * trusts; an empty certificate list is refused rather than read as "no preference".
 */
const trustOf = (options: Options, role: Role, verifyMode: VerifyMode) => {
  const trust = options.trust
  objectOrAbsent("trust", trust)
  const trustedCertificates = trust?.certificates === undefined
    ? []
    : pemCertificates("trust.certificates", trust.certificates)
  const trustSystemDefaults = trust?.systemDefaults === undefined
    ? trust === undefined && role === "client" && verifyMode !== "none"
    : boolean("trust.systemDefaults", trust.systemDefaults)
  if (verifyMode !== "none" && trustedCertificates.length === 0 && !trustSystemDefaults) {
    throw invalid(
      "trust",
      `verify.mode "${verifyMode}" needs something to trust: give trust.certificates, or trust.systemDefaults: true for the system's CA store`
    )
  }
  return { trustedCertificates, trustSystemDefaults }
}
