import type { ContextConfig, OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as SslContext from "@effect-openssl/core/SslContext"
import type { SslError } from "@effect-openssl/core/SslError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * `context` if it offers exactly `protocols` by ALPN, else a context like it that does: the
 * same validated configuration (trust, client certificate, versions, suites, verification)
 * with only `alpnProtocols` replaced, acquired in the caller's scope. ALPN is set per context
 * (`SSL_CTX_set_alpn_protos`), and a client must not offer a protocol it cannot speak: a
 * context shared with other clients may offer `h2`.
 */
export const withAlpn = (
  context: SslContext.SslContext,
  protocols: ReadonlyArray<string>
): Effect.Effect<SslContext.SslContext, SslError, OpenSsl | Scope.Scope> => {
  const offered = context.config.alpnProtocols
  if (offered !== undefined && offered.length === protocols.length && offered.every((p, i) => p === protocols[i])) {
    return Effect.succeed(context)
  }
  return SslContext.make({ ...optionsOf(context.config), alpnProtocols: protocols })
}

/**
 * The options that validate to `config` (`SslContext.make` fills in the same defaults again).
 * Every field is named, so a field added to `ContextConfig` fails to compile here until it is
 * carried over.
 */
export const optionsOf = (config: ContextConfig): SslContext.Options => {
  const {
    allowRenegotiation,
    alpnProtocols,
    certificate,
    cipherList,
    ciphersuites,
    groups,
    keylog,
    maxProtocol,
    minProtocol,
    options,
    role,
    sessionCacheMode,
    sessionTimeoutSeconds,
    trustSystemDefaults,
    trustedCertificates,
    verifyDepth,
    verifyMode,
    ...rest
  } = config
  const unhandled: Record<string, never> = rest
  void unhandled
  return {
    role,
    minProtocol,
    maxProtocol,
    options,
    allowRenegotiation,
    verify: { mode: verifyMode, depth: verifyDepth },
    sessionTimeout: sessionTimeoutSeconds === undefined ? undefined : Duration.seconds(sessionTimeoutSeconds),
    sessionCacheMode,
    trust: trustedCertificates.length === 0 && !trustSystemDefaults
      ? undefined
      : {
        certificates: trustedCertificates.length === 0 ? undefined : trustedCertificates,
        systemDefaults: trustSystemDefaults
      },
    certificate: certificate === undefined
      ? undefined
      : { chain: certificate.chain.join("\n"), key: certificate.key, passphrase: certificate.passphrase },
    ciphers: cipherList,
    ciphersuites,
    groups,
    alpnProtocols,
    keylog
  }
}
