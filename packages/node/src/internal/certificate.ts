import { InvalidOptionError } from "@effect-openssl/core/SslError"
import type { CertificateInfo } from "@effect-openssl/core/TlsInfo"
import { X509Certificate } from "node:crypto"
import type { ErrorQueue } from "./errorQueue.js"
import type { Native, Ptr } from "./ffi/table.js"
import { withMemoryBio } from "./memory.js"

/** DER of an `X509*` (through a memory BIO, so no `unsigned char **` juggling). */
export const makeDerOf = (native: Native, errors: ErrorQueue) => (x509: Ptr<"X509">): Uint8Array =>
  withMemoryBio(native, errors, new Uint8Array(0), (bio) => {
    if (native.i2d_X509_bio(bio, x509) !== 1) throw errors.error("i2d_X509_bio")
    const out = new Uint8Array(Number(native.BIO_ctrl_pending(bio)))
    native.BIO_read(bio, out, out.length)
    return out
  })

/** One-line subject of an `X509*`, e.g. `/CN=localhost`. */
export const makeSubjectOf = (native: Native) => {
  const buffer = new Uint8Array(1024)
  return (x509: Ptr<"X509"> | null): string | undefined => {
    if (x509 === null) return undefined
    if (native.X509_NAME_oneline(native.X509_get_subject_name(x509), buffer, buffer.length) === null) return undefined
    const end = buffer.indexOf(0)
    return new TextDecoder().decode(buffer.subarray(0, end < 0 ? buffer.length : end))
  }
}

/**
 * The SAN entries. Node gives `undefined` without the extension, and `null` (not in its types)
 * when the extension does not decode: both are no names.
 */
const subjectAltNames = (x509: X509Certificate): ReadonlyArray<string> => {
  const names: string | null | undefined = x509.subjectAltName
  return names == null ? [] : names.split(", ")
}

/** Parse DER with Node's X509Certificate (the same OpenSSL underneath). */
export const parseCertificate = (der: Uint8Array): CertificateInfo => {
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(der)
  } catch (cause) {
    throw new InvalidOptionError({ option: "der", reason: `not a DER certificate: ${String(cause)}` })
  }
  return {
    der: new Uint8Array(x509.raw),
    subject: x509.subject,
    issuer: x509.issuer,
    subjectAltNames: subjectAltNames(x509),
    validFrom: new Date(x509.validFrom),
    validTo: new Date(x509.validTo),
    fingerprint256: x509.fingerprint256,
    serialNumber: x509.serialNumber
  }
}
