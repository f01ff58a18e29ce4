import type { OpenSsl } from "@effect-openssl/core/OpenSsl"
import { UnsupportedError } from "@effect-openssl/core/SslError"
import type { ErrorQueue } from "./errorQueue.js"
import type { Native } from "./ffi/table.js"

/** Key generation and certificate issuing through libcrypto. */
export const makePki = (
  _native: Native,
  _errors: ErrorQueue
): Pick<OpenSsl, "pkiGenerateKey" | "pkiIssueCertificate"> => ({
  pkiGenerateKey: () => {
    throw new UnsupportedError({ operation: "pkiGenerateKey", reason: "being implemented" })
  },
  pkiIssueCertificate: () => {
    throw new UnsupportedError({ operation: "pkiIssueCertificate", reason: "being implemented" })
  }
})
