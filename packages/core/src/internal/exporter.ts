import { InvalidOptionError } from "../SslError.js"
import { describeValue } from "./describeValue.js"

/**
 * The most keying material one export may produce: 255 × 32 bytes, what a TLS 1.3 exporter over
 * HKDF-SHA-256 can give at most (RFC 5869 §2.3), so every suite and version can serve any
 * length in range. RFC 5705 users need far less (EAP-TLS 192 bytes, DTLS-SRTP under 100).
 */
export const maxKeyingMaterialLength = 255 * 32

/**
 * Check the arguments of `SSL_export_keying_material` before anything is allocated: a length
 * of `2 ** 31` would otherwise allocate 2 GB before OpenSSL refuses it, and `1.5` would become 1.
 */
export const checkExport = (label: unknown, length: unknown, context: unknown): void => {
  if (typeof label !== "string") throw new InvalidOptionError({ option: "label", reason: "expected a string" })
  if (
    typeof length !== "number" || !Number.isInteger(length) || length < 1 || length > maxKeyingMaterialLength
  ) {
    throw new InvalidOptionError({
      option: "length",
      reason: `expected a whole number of bytes from 1 to ${maxKeyingMaterialLength}, got ${describeValue(length)}`
    })
  }
  if (context !== undefined && !(context instanceof Uint8Array)) {
    throw new InvalidOptionError({ option: "context", reason: "expected a Uint8Array or undefined" })
  }
}
