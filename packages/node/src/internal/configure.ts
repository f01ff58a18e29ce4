import type { ContextConfig, OptionFlag } from "@effect-openssl/core/OpenSsl"
import { InvalidOptionError, type OpenSslError } from "@effect-openssl/core/SslError"
import * as Redacted from "effect/Redacted"
import type { ErrorQueue } from "./errorQueue.js"
import {
  optionBits,
  protocolVersions,
  SSL_CTRL,
  SSL_SESS_CACHE,
  SSL_SESS_CACHE_NO_INTERNAL_STORE,
  SSL_VERIFY
} from "./ffi/constants.js"
import type { Native, Ptr } from "./ffi/table.js"
import { cString, withMemoryBio } from "./memory.js"

const rejected = (option: string, reason: string, cause?: OpenSslError) =>
  new InvalidOptionError({ option, reason, cause })

/**
 * Apply a validated configuration to a fresh `SSL_CTX`. Throws `InvalidOptionError` with
 * OpenSSL's reasons when the library rejects a value; the caller frees the context.
 */
export const configure = (
  native: Native,
  errors: ErrorQueue,
  versionNumber: number,
  ctx: Ptr,
  config: ContextConfig,
  verifyCallback: Ptr
): void => {
  const check = (ok: boolean, option: string, reason: string) => {
    if (!ok) throw rejected(option, reason, errors.error(option))
  }

  if (config.minProtocol !== undefined) {
    const v = protocolVersions[config.minProtocol]
    check(Number(native.SSL_CTX_ctrl(ctx, SSL_CTRL.SET_MIN_PROTO_VERSION, v, null)) === 1, "minProtocol", "rejected")
  }
  if (config.maxProtocol !== undefined) {
    const v = protocolVersions[config.maxProtocol]
    check(Number(native.SSL_CTX_ctrl(ctx, SSL_CTRL.SET_MAX_PROTO_VERSION, v, null)) === 1, "maxProtocol", "rejected")
  }

  let bits = 0n
  const bitOf = (flag: OptionFlag) => optionBits.find(([name]) => name === flag)!
  config.options.forEach((flag, i) => {
    const entry = bitOf(flag)
    if (entry[2] > versionNumber) {
      throw rejected(`options[${i}]`, `${flag} needs OpenSSL ${entry[2] >= 0x30000000 ? "3.0" : "1.1.1"} or later`)
    }
    bits |= 1n << BigInt(entry[1])
  })
  // From 3.0 on a server refuses a client's renegotiation unless told otherwise; before, it accepts.
  const allowClient = bitOf("ALLOW_CLIENT_RENEGOTIATION")
  if (config.allowRenegotiation && config.role !== "client" && allowClient[2] <= versionNumber) {
    bits |= 1n << BigInt(allowClient[1])
  }
  if (bits !== 0n) native.SSL_CTX_set_options(ctx, bits)

  const verifyBits = config.verifyMode === "none"
    ? SSL_VERIFY.NONE
    : config.verifyMode === "peer"
    ? SSL_VERIFY.PEER
    : SSL_VERIFY.PEER | SSL_VERIFY.FAIL_IF_NO_PEER_CERT
  native.SSL_CTX_set_verify(ctx, verifyBits, verifyCallback)
  if (config.verifyDepth !== undefined) native.SSL_CTX_set_verify_depth(ctx, config.verifyDepth)

  if (config.sessionTimeoutSeconds !== undefined) native.SSL_CTX_set_timeout(ctx, config.sessionTimeoutSeconds)
  // Clients cache sessions by default so the new-session callback sees TLS 1.3 tickets. A client
  // never looks sessions up in the internal cache (it resumes the one it is given), so "client"
  // skips the internal store: filling it cost every handshake inserts, periodic flushes of up to
  // 20480 entries and the memory of every session's peer chain.
  const cacheMode = config.sessionCacheMode ?? (config.role === "client" ? "client" : undefined)
  if (cacheMode !== undefined) {
    const noStore = cacheMode === "client" ? SSL_SESS_CACHE_NO_INTERNAL_STORE : 0
    native.SSL_CTX_ctrl(ctx, SSL_CTRL.SET_SESS_CACHE_MODE, SSL_SESS_CACHE[cacheMode] | noStore, null)
  }

  if (config.trustedCertificates.length > 0) {
    const store = native.SSL_CTX_get_cert_store(ctx)
    config.trustedCertificates.forEach((pem, i) => {
      withMemoryBio(native, errors, cString(pem), (bio) => {
        const x509 = native.PEM_read_bio_X509(bio, null, null, null)
        check(x509 !== null, `trust.certificates[${i}]`, "malformed PEM certificate")
        try {
          check(native.X509_STORE_add_cert(store, x509!) === 1, `trust.certificates[${i}]`, "cannot add to the store")
        } finally {
          native.X509_free(x509!)
        }
      })
    })
  }
  if (config.trustSystemDefaults) {
    check(native.SSL_CTX_set_default_verify_paths(ctx) === 1, "trust.systemDefaults", "cannot load default paths")
  }

  if (config.certificate !== undefined) useCertificate(native, errors, ctx, config.certificate, check)

  check(native.SSL_CTX_set_cipher_list(ctx, config.cipherList) === 1, "ciphers", "no usable cipher in the list")
  if (config.ciphersuites !== undefined) {
    check(native.SSL_CTX_set_ciphersuites(ctx, config.ciphersuites) === 1, "ciphersuites", "invalid TLS 1.3 suites")
  }
  if (config.groups !== undefined) {
    const ok = Number(native.SSL_CTX_ctrl(ctx, SSL_CTRL.SET_GROUPS_LIST, 0, cString(config.groups))) === 1
    check(ok, "groups", "unknown or unsupported group")
  }
  // Servers select from config.alpnProtocols in the ALPN callback; clients offer them here.
  if (config.alpnProtocols !== undefined && config.role !== "server") {
    const wire = alpnWire(config.alpnProtocols)
    // Unlike most of OpenSSL, 0 is success here.
    check(native.SSL_CTX_set_alpn_protos(ctx, wire, wire.length) === 0, "alpnProtocols", "rejected")
  }
}

/** ALPN wire format: each name prefixed by its length. */
export const alpnWire = (protocols: ReadonlyArray<string>): Uint8Array => {
  const encoded = protocols.map((p) => Buffer.from(p, "utf8"))
  const wire = new Uint8Array(encoded.reduce((n, p) => n + p.length + 1, 0))
  let at = 0
  for (const p of encoded) {
    wire[at++] = p.length
    wire.set(p, at)
    at += p.length
  }
  return wire
}

const useCertificate = (
  native: Native,
  errors: ErrorQueue,
  ctx: Ptr,
  certificate: NonNullable<ContextConfig["certificate"]>,
  check: (ok: boolean, option: string, reason: string) => void
) => {
  // One BIO per block: a block OpenSSL cannot read fails by its index instead of ending the chain.
  certificate.chain.forEach((pem, i) => {
    withMemoryBio(native, errors, cString(pem), (bio) => {
      const x509 = native.PEM_read_bio_X509(bio, null, null, null)
      check(x509 !== null, `certificate.chain[${i}]`, "malformed PEM certificate")
      try {
        // SSL_CTX_add1_chain_cert takes its own reference.
        const ok = i === 0
          ? native.SSL_CTX_use_certificate(ctx, x509!) === 1
          : Number(native.SSL_CTX_ctrl(ctx, SSL_CTRL.CHAIN_CERT, 1, x509!)) === 1
        check(ok, `certificate.chain[${i}]`, i === 0 ? "certificate rejected" : "chain certificate rejected")
      } finally {
        native.X509_free(x509!)
      }
    })
  })

  const keyBytes = cString(Redacted.value(certificate.key))
  // Always pass a passphrase (empty when none): with NULL, OpenSSL would prompt on the terminal.
  const passphrase = cString(certificate.passphrase === undefined ? "" : Redacted.value(certificate.passphrase))
  try {
    withMemoryBio(native, errors, keyBytes, (bio) => {
      const pkey = native.PEM_read_bio_PrivateKey(bio, null, null, passphrase)
      check(pkey !== null, "certificate.key", "cannot decode the private key (malformed PEM or wrong passphrase)")
      try {
        check(native.SSL_CTX_use_PrivateKey(ctx, pkey!) === 1, "certificate.key", "private key rejected")
      } finally {
        native.EVP_PKEY_free(pkey!)
      }
    })
  } finally {
    keyBytes.fill(0)
    passphrase.fill(0)
  }
  check(native.SSL_CTX_check_private_key(ctx) === 1, "certificate.key", "the key does not match the certificate")
}
