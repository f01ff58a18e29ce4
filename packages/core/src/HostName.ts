/**
 * Host names as TLS uses them: the name a client sends as SNI and the name (or IP address) the
 * peer's certificate must match. Every string that reaches OpenSSL as a host is parsed here,
 * once: a DNS name or an IP address, or an `InvalidOptionError` that says why not.
 *
 * OpenSSL takes host names as C strings, which end at the first NUL: `"localhost\0.evil"` would
 * be checked as `"localhost"`. So NUL and other control characters, brackets, ports, empty
 * labels and the like are refused here rather than passed on.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { InvalidOptionError } from "./SslError.js"

/**
 * A DNS name: ASCII labels of letters, digits, `-` and `_`, at most 253 bytes (a trailing dot
 * is dropped). Internationalized names are given in their A-label (punycode) form.
 *
 * @since 0.1.0
 * @category models
 */
export interface DnsName {
  readonly _tag: "DnsName"
  readonly name: string
}

/**
 * An IPv4 or IPv6 address, in the text form it was given (no brackets, no zone).
 *
 * @since 0.1.0
 * @category models
 */
export interface IpAddress {
  readonly _tag: "IpAddress"
  readonly address: string
  readonly family: 4 | 6
}

/**
 * A parsed host: what a certificate is checked against (`SSL_set1_host` for names,
 * `X509_VERIFY_PARAM_set1_ip_asc` for addresses). Only a `DnsName` is sent as SNI (RFC 6066
 * §3: literal addresses are not permitted there).
 *
 * @since 0.1.0
 * @category models
 */
export type HostName = DnsName | IpAddress

/**
 * Parse `input` as a host name or IP address. `option` names the option in the error.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (input: unknown, option = "hostName"): Either.Either<HostName, InvalidOptionError> => {
  const reason = whyInvalid(input)
  if (typeof reason === "string") return Either.left(new InvalidOptionError({ option, reason }))
  return Either.right(reason)
}

/**
 * As `parse`, throwing the `InvalidOptionError` (for synchronous acquire steps).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseOrThrow = (input: unknown, option = "hostName"): HostName => {
  const result = whyInvalid(input)
  if (typeof result === "string") throw new InvalidOptionError({ option, reason: result })
  return result
}

/**
 * The name to send as SNI, if the host is a DNS name.
 *
 * @since 0.1.0
 * @category accessors
 */
export const serverName = (host: HostName): string | undefined => host._tag === "DnsName" ? host.name : undefined

/**
 * The text of the host, as it is checked against the certificate.
 *
 * @since 0.1.0
 * @category accessors
 */
export const toString = (host: HostName): string => host._tag === "DnsName" ? host.name : host.address

// Control characters and DEL: a NUL would truncate the C string OpenSSL sees.

const CONTROL = /[\u0000-\u001f\u007f]/
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/
const NUMERIC = /^[0-9]+$/
const PORT_SUFFIX = /^[^:]*:[0-9]*$/

const whyInvalid = (input: unknown): HostName | string => {
  if (typeof input !== "string") return "expected a string"
  if (input.length === 0) return "expected a non-empty host name"
  if (CONTROL.test(input)) return "must not contain NUL or other control characters"
  if (input.startsWith("[")) return "an IPv6 address is written without brackets"
  if (input.includes(":")) {
    if (isIpv6(input)) return { _tag: "IpAddress", address: input, family: 6 }
    if (input.includes("%")) return "an IPv6 zone index cannot be checked against a certificate"
    return PORT_SUFFIX.test(input)
      ? "a host name has no port (give the port to the transport)"
      : "not a valid IPv6 address"
  }
  if (isIpv4(input)) return { _tag: "IpAddress", address: input, family: 4 }
  // A trailing dot names the same host (fully qualified); certificates and SNI do without it.
  const name = input.endsWith(".") ? input.slice(0, -1) : input
  if (name.length === 0) return "expected a non-empty host name"
  if (name.length > 253) return "a host name is at most 253 characters"

  if (/[^\x00-\x7f]/.test(name)) return "give an internationalized name in its A-label (punycode) form"
  const labels = name.split(".")
  for (const label of labels) {
    if (label.length === 0) return "a host name has no empty labels"
    if (label.length > 63) return "a label of a host name is at most 63 characters"
    if (label.includes("*")) return "a wildcard is not a host name"
    if (!LABEL.test(label)) {
      return `invalid label ${JSON.stringify(label)}: letters, digits, '-' and '_' only, no '-' at either end`
    }
  }
  // "1.2.3" or "256.1.1.1": neither an IPv4 address nor a name (no top-level domain is numeric).
  if (NUMERIC.test(labels[labels.length - 1]!)) return "not a valid IPv4 address"
  return { _tag: "DnsName", name }
}

/** Dotted decimal, four parts from 0 to 255, no leading zeros (which some parsers read as octal). */
const isIpv4 = (text: string): boolean => {
  const parts = text.split(".")
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)
}

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/

/** RFC 4291 §2.2 text forms: eight groups, one `::` for a run of zeros, an IPv4 tail. */
const isIpv6 = (text: string): boolean => {
  const halves = text.split("::")
  if (halves.length > 2) return false
  const compressed = halves.length === 2
  const head = groupsOf(halves[0]!, !compressed)
  const tail = compressed ? groupsOf(halves[1]!, true) : 0
  if (head === undefined || tail === undefined) return false
  return compressed ? head + tail <= 7 : head === 8
}

/**
 * How many 16-bit groups `part` (colon-separated) stands for, or undefined when malformed. An
 * IPv4 tail counts two and may only end the address (`ipv4Last`).
 */
const groupsOf = (part: string, ipv4Last: boolean): number | undefined => {
  if (part === "") return 0
  const groups = part.split(":")
  let count = 0
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]!
    if (HEX_GROUP.test(group)) count += 1
    else if (ipv4Last && i === groups.length - 1 && isIpv4(group)) count += 2
    else return undefined
  }
  return count
}
