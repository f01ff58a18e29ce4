/**
 * What a connection negotiated, and what its callbacks are shown: the peer's certificates, the
 * ClientHello, each verification step.
 *
 * @since 0.1.0
 */

/**
 * A parsed X.509 certificate.
 *
 * @since 0.1.0
 * @category models
 */
export interface CertificateInfo {
  readonly der: Uint8Array
  /** Distinguished names, one `KEY=value` per line (as OpenSSL prints them). */
  readonly subject: string
  readonly issuer: string
  /** e.g. `["DNS:localhost", "IP Address:127.0.0.1"]`. */
  readonly subjectAltNames: ReadonlyArray<string>
  readonly validFrom: Date
  readonly validTo: Date
  /** SHA-256 of the DER, upper-case hex with colons (as `openssl x509 -fingerprint -sha256`). */
  readonly fingerprint256: string
  readonly serialNumber: string
}

/**
 * What a connection negotiated, as read from the native `SSL`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionInfo {
  /** e.g. `"TLSv1.3"`. */
  readonly protocol: string
  /** e.g. `"TLS_AES_256_GCM_SHA384"`. */
  readonly cipher: string
  readonly alpnProtocol: string | undefined
  /** The SNI name (sent by a client, received by a server). */
  readonly serverName: string | undefined
  readonly sessionReused: boolean
  /** The peer's chain as DER, leaf first (a server's view of a client has the leaf alone when the chain is not sent). */
  readonly peerCertificates: ReadonlyArray<Uint8Array>
}

/**
 * What a connection negotiated, with the peer's chain parsed (on first read of `peerChain`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsInfo extends ConnectionInfo {
  readonly peerChain: ReadonlyArray<CertificateInfo>
}

/**
 * What the verify hook sees for each certificate of the peer's chain.
 *
 * @since 0.1.0
 * @category models
 */
export interface VerifyStep {
  /** OpenSSL's own verdict for this certificate. */
  readonly preverified: boolean
  readonly code: number
  /** OpenSSL's words for `code` (`X509_verify_cert_error_string`) when it did not verify. */
  readonly reason?: string | undefined
  readonly depth: number
  readonly subject: string | undefined
  /** DER of the certificate being checked. */
  readonly certificate: Uint8Array | undefined
}

/**
 * What a server sees in a ClientHello (from the client-hello callback).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientHelloInfo {
  readonly serverName: string | undefined
  readonly alpnProtocols: ReadonlyArray<string>
  /** Legacy version field of the ClientHello (e.g. 0x303). */
  readonly legacyVersion: number
}

/**
 * A `TlsInfo` over connection info whose DER chain was copied out of the live `SSL` at once
 * (it must not be read after a free); parsing is left until `peerChain` is first read, since
 * most callers never do.
 *
 * @since 0.1.0
 * @category constructors
 */
export const withLazyChain = (info: ConnectionInfo, parse: (der: Uint8Array) => CertificateInfo): TlsInfo => {
  let parsed: ReadonlyArray<CertificateInfo> | undefined
  return Object.defineProperty({ ...info } as TlsInfo, "peerChain", {
    enumerable: true,
    get: () => (parsed ??= info.peerCertificates.map(parse))
  })
}
