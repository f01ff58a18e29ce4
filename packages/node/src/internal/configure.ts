import type { ContextConfig } from "@effect-openssl/core/OpenSsl"
import * as OptionFlag from "@effect-openssl/core/OptionFlag"
import { InvalidOptionError } from "@effect-openssl/core/SslError"
import * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import type { ErrorQueue } from "./errorQueue.js"
import {
  protocolVersions,
  SSL_CTRL,
  SSL_SESS_CACHE,
  SSL_SESS_CACHE_NO_INTERNAL_STORE,
  SSL_VERIFY
} from "./ffi/constants.js"
import type { Native, Ptr, PtrKind, PtrOrNull } from "./ffi/table.js"
import { cString, withMemoryBio } from "./memory.js"

/** How a configuration step reports OpenSSL refusing a value: `InvalidOptionError` naming the option, with OpenSSL's reasons. */
interface Refusals {
  /** A status that must hold. */
  readonly ok: (ok: boolean, option: string, reason: string) => void
  /** A pointer that must not be NULL. */
  readonly required: <K extends PtrKind>(pointer: PtrOrNull<K>, option: string, reason: string) => Ptr<K>
}

const refusals = (errors: ErrorQueue): Refusals => {
  const refuse = (option: string, reason: string) =>
    new InvalidOptionError({ option, reason, cause: errors.error(option) })
  return {
    ok: (ok, option, reason) => {
      if (!ok) throw refuse(option, reason)
    },
    required: (pointer, option, reason) => {
      if (pointer === null) throw refuse(option, reason)
      return pointer
    }
  }
}

/**
 * Apply a validated configuration to a fresh `SSL_CTX`. Throws `InvalidOptionError` with
 * OpenSSL's reasons when the library rejects a value; the caller frees the context. The error
 * queue was cleared when the binding operation started.
 */
export const configure = (
  native: Native,
  errors: ErrorQueue,
  versionNumber: number,
  ctx: Ptr<"SSL_CTX">,
  config: ContextConfig,
  verifyCallback: Ptr<"Callback">
): void => {
  const { ok } = refusals(errors)
  const ctrl = (cmd: number, larg: number, parg: Uint8Array | null = null) =>
    Number(native.SSL_CTX_ctrl(ctx, cmd, larg, parg))

  if (config.minProtocol !== undefined) {
    ok(ctrl(SSL_CTRL.SET_MIN_PROTO_VERSION, protocolVersions[config.minProtocol]) === 1, "minProtocol", "rejected")
  }
  if (config.maxProtocol !== undefined) {
    ok(ctrl(SSL_CTRL.SET_MAX_PROTO_VERSION, protocolVersions[config.maxProtocol]) === 1, "maxProtocol", "rejected")
  }

  config.options.forEach((flag, i) => {
    const since = OptionFlag.table[flag].since
    if (since > versionNumber) {
      throw new InvalidOptionError({
        option: `options[${i}]`,
        reason: `${flag} needs OpenSSL ${since >= 0x30000000 ? "3.0" : "1.1.1"} or later`
      })
    }
  })
  // From 3.0 on a server refuses a client's renegotiation unless told otherwise; before, it accepts.
  const allowClient = config.allowRenegotiation && config.role !== "client" &&
    OptionFlag.table.ALLOW_CLIENT_RENEGOTIATION.since <= versionNumber
  const bits = OptionFlag.toBits(allowClient ? [...config.options, "ALLOW_CLIENT_RENEGOTIATION"] : config.options)
  if (bits !== 0n) native.SSL_CTX_set_options(ctx, bits)

  const verifyBits = config.verifyMode === "none"
    ? SSL_VERIFY.NONE
    : config.verifyMode === "peer"
    ? SSL_VERIFY.PEER
    : SSL_VERIFY.PEER | SSL_VERIFY.FAIL_IF_NO_PEER_CERT
  native.SSL_CTX_set_verify(ctx, verifyBits, verifyCallback)
  if (config.verifyDepth !== undefined) native.SSL_CTX_set_verify_depth(ctx, config.verifyDepth)

  if (config.sessionTimeoutSeconds !== undefined) native.SSL_CTX_set_timeout(ctx, config.sessionTimeoutSeconds)
  if (config.role !== "client") {
    const sidCtx = sessionIdContext(config)
    ok(native.SSL_CTX_set_session_id_context(ctx, sidCtx, sidCtx.length) === 1, "verify", "rejected")
  }
  // Clients cache sessions by default so the new-session callback sees TLS 1.3 tickets. A client
  // never looks sessions up in the internal cache (it resumes the one it is given), so "client"
  // skips the internal store: filling it cost every handshake inserts, periodic flushes of up to
  // 20480 entries and the memory of every session's peer chain.
  const cacheMode = config.sessionCacheMode ?? (config.role === "client" ? "client" : undefined)
  if (cacheMode !== undefined) {
    const noStore = cacheMode === "client" ? SSL_SESS_CACHE_NO_INTERNAL_STORE : 0
    ctrl(SSL_CTRL.SET_SESS_CACHE_MODE, SSL_SESS_CACHE[cacheMode] | noStore)
  }

  if (config.trustedCertificates.length > 0) {
    const store = native.SSL_CTX_get_cert_store(ctx)
    config.trustedCertificates.forEach((pem, i) => {
      const option = `trust.certificates[${i}]`
      withCertificate(
        native,
        errors,
        pem,
        option,
        (x509) => ok(native.X509_STORE_add_cert(store, x509) === 1, option, "cannot add to the store")
      )
    })
  }
  if (config.trustSystemDefaults) {
    ok(native.SSL_CTX_set_default_verify_paths(ctx) === 1, "trust.systemDefaults", "cannot load default paths")
  }

  if (config.certificate !== undefined) useCertificate(native, errors, ctx, config.certificate)

  ok(native.SSL_CTX_set_cipher_list(ctx, config.cipherList) === 1, "ciphers", "no usable cipher in the list")
  if (config.ciphersuites !== undefined) {
    ok(native.SSL_CTX_set_ciphersuites(ctx, config.ciphersuites) === 1, "ciphersuites", "invalid TLS 1.3 suites")
  }
  if (config.groups !== undefined) {
    ok(ctrl(SSL_CTRL.SET_GROUPS_LIST, 0, cString(config.groups)) === 1, "groups", "unknown or unsupported group")
  }
  // Servers select from config.alpnProtocols in the ALPN callback; clients offer them here.
  if (config.alpnProtocols !== undefined && config.role !== "server") {
    const wire = alpnWire(config.alpnProtocols)
    // Unlike most of OpenSSL, 0 is success here.
    ok(native.SSL_CTX_set_alpn_protos(ctx, wire, wire.length) === 0, "alpnProtocols", "rejected")
  }
}

/**
 * What a server's sessions are valid for: a digest of how it verifies clients. OpenSSL resumes a
 * session only under the context it was made in (same id context), and a server that verifies
 * clients must have one: without it, a client offering a session ends the handshake ("session id
 * context uninitialized"). Contexts with the same verification (the certificates of one
 * `ServerContext`, before and after a rotation) share sessions; a session made where client
 * certificates were not asked for never resumes where they are.
 */
const sessionIdContext = (config: ContextConfig): Uint8Array =>
  createHash("sha256") // 32 bytes: SSL_MAX_SID_CTX_LENGTH
    .update(JSON.stringify([
      "effect-openssl",
      config.verifyMode,
      config.verifyDepth ?? null,
      config.trustSystemDefaults,
      config.trustedCertificates
    ]))
    .digest()

/** Run `f` with the certificate of one PEM block (read through its own BIO), freed after. */
const withCertificate = <A>(
  native: Native,
  errors: ErrorQueue,
  pem: string,
  option: string,
  f: (x509: Ptr<"X509">) => A
): A =>
  withMemoryBio(native, errors, cString(pem), (bio) => {
    const x509 = refusals(errors).required(
      native.PEM_read_bio_X509(bio, null, null, null),
      option,
      "malformed PEM certificate"
    )
    try {
      return f(x509)
    } finally {
      native.X509_free(x509)
    }
  })

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
  ctx: Ptr<"SSL_CTX">,
  certificate: NonNullable<ContextConfig["certificate"]>
) => {
  const { ok, required } = refusals(errors)
  // One BIO per block: a block OpenSSL cannot read fails by its index instead of ending the chain.
  certificate.chain.forEach((pem, i) => {
    const option = `certificate.chain[${i}]`
    withCertificate(native, errors, pem, option, (x509) => {
      // SSL_CTX_add1_chain_cert takes its own reference.
      const accepted = i === 0
        ? native.SSL_CTX_use_certificate(ctx, x509) === 1
        : Number(native.SSL_CTX_ctrl(ctx, SSL_CTRL.CHAIN_CERT, 1, x509)) === 1
      ok(accepted, option, i === 0 ? "certificate rejected" : "chain certificate rejected")
    })
  })

  const keyBytes = cString(Redacted.value(certificate.key))
  // Always pass a passphrase (empty when none): with NULL, OpenSSL would prompt on the terminal.
  const passphrase = cString(certificate.passphrase === undefined ? "" : Redacted.value(certificate.passphrase))
  try {
    withMemoryBio(native, errors, keyBytes, (bio) => {
      const pkey = required(
        native.PEM_read_bio_PrivateKey(bio, null, null, passphrase),
        "certificate.key",
        "cannot decode the private key (malformed PEM or wrong passphrase)"
      )
      try {
        ok(native.SSL_CTX_use_PrivateKey(ctx, pkey) === 1, "certificate.key", "private key rejected")
      } finally {
        native.EVP_PKEY_free(pkey)
      }
    })
  } finally {
    keyBytes.fill(0)
    passphrase.fill(0)
  }
  ok(native.SSL_CTX_check_private_key(ctx) === 1, "certificate.key", "the key does not match the certificate")
}
