import type { SslError } from "@effect-openssl/core/SslError"
import type { TransportError } from "@effect-openssl/core/Transport"
import * as Data from "effect/Data"

/**
 * What a command failed with, as the one line a person reads (after `effect-openssl: `). Every
 * command turns its typed errors into this, naming the flag and file involved.
 */
export class CommandFailure extends Data.TaggedError("CommandFailure")<{ readonly line: string }> {
  override get message(): string {
    return this.line
  }
}

export const failure = (line: string): CommandFailure => new CommandFailure({ line })

/** A flag given a file, e.g. `--cert server.pem`. */
export interface FileFlag {
  readonly flag: string
  readonly file: string
}

/**
 * The flags behind the options a context is built from (`certificate.chainFile`,
 * `certificate.keyFile`, `trust.files`), to name them in errors.
 */
export interface CredentialFlags {
  readonly cert?: FileFlag | undefined
  readonly key?: FileFlag | undefined
  readonly ca?: FileFlag | undefined
}

const named = ({ file, flag }: FileFlag) => `${flag} ${file}`

/**
 * An error of building a context from files, named by flag and file: unreadable, malformed,
 * not a certificate, a key that does not match.
 */
export const credentialFailure = (flags: CredentialFlags) => (error: SslError): CommandFailure => {
  if (error._tag !== "InvalidOptionError") return failure(error.message)
  const option = error.option.replace(/\[\d+\]$/, "")
  const given = option === "certificate.chainFile"
    ? flags.cert
    : option === "certificate.keyFile"
    ? flags.key
    : option === "trust.files"
    ? flags.ca
    : undefined
  if (given === undefined) return failure(error.message)
  const unreadable = /^cannot read ".*" \((.+)\)$/.exec(error.reason)
  if (unreadable !== null) return failure(`cannot read ${named(given)} (${unreadable[1]})`)
  const native = error.cause?.entries.map((entry) => entry.reasonText ?? entry.message) ?? []
  if (given === flags.key && flags.cert !== undefined && native.some((reason) => /mismatch/.test(reason))) {
    return failure(`${named(given)} is not the key of the certificate in ${named(flags.cert)}`)
  }
  const reason = error.reason.replace(/ in ".*"$/, "")
  return failure(`${named(given)}: ${reason}${native.length === 0 ? "" : ` (${native.join("; ")})`}`)
}

/** The system error code under a transport failure, e.g. `EADDRINUSE`. */
const codeOf = (error: TransportError): string | undefined => {
  const code = (error.cause as { readonly code?: unknown } | undefined)?.code
  return typeof code === "string" ? code : undefined
}

const systemReasons: Record<string, string> = {
  EADDRINUSE: "the port is in use",
  EACCES: "permission denied",
  EADDRNOTAVAIL: "no such local address",
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by the peer",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "the host name could not be resolved now",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable"
}

/** A transport failure as the system's reason, e.g. `the port is in use`. */
export const transportReason = (error: TransportError): string => {
  const code = codeOf(error)
  return code !== undefined && code in systemReasons ? systemReasons[code]! : error.message
}
