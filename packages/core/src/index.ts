/**
 * @since 0.1.0
 */
export * as ClientContext from "./ClientContext.js"

/**
 * @since 0.1.0
 */
export * as Credentials from "./Credentials.js"

/**
 * @since 0.1.0
 */
export * as Diagnostics from "./Diagnostics.js"

/**
 * @since 0.1.0
 */
export * as HostName from "./HostName.js"

/**
 * @since 0.1.0
 */
export * as OpenSsl from "./OpenSsl.js"

/**
 * @since 0.1.0
 */
export * as OptionCheck from "./OptionCheck.js"

/**
 * @since 0.1.0
 */
export * as OptionFlag from "./OptionFlag.js"

/**
 * @since 0.1.0
 */
export * as Pki from "./Pki.js"

/**
 * @since 0.1.0
 */
export * as ServerContext from "./ServerContext.js"

/**
 * @since 0.1.0
 */
export * as Ssl from "./Ssl.js"

/**
 * @since 0.1.0
 */
export * as SslContext from "./SslContext.js"

/**
 * @since 0.1.0
 */
export * as SslError from "./SslError.js"

/**
 * @since 0.1.0
 */
export * as SslSession from "./SslSession.js"

/**
 * @since 0.1.0
 */
export * as TlsConnection from "./TlsConnection.js"

/**
 * @since 0.1.0
 */
export * as TlsEngine from "./TlsEngine.js"

/**
 * @since 0.1.0
 */
export * as TlsInfo from "./TlsInfo.js"

/**
 * @since 0.1.0
 */
export * as TlsMetrics from "./TlsMetrics.js"

/**
 * @since 0.1.0
 */
export * as TlsSocket from "./TlsSocket.js"

/**
 * @since 0.1.0
 */
export * as Transport from "./Transport.js"
