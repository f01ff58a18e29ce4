/**
 * @since 0.1.0
 */
export * as NodeOpenSsl from "./NodeOpenSsl.js"

/**
 * @since 0.1.0
 */
export * as NodeTlsDuplex from "./NodeTlsDuplex.js"

/**
 * @since 0.1.0
 */
export * as NodeTlsHttpClient from "./NodeTlsHttpClient.js"

/**
 * @since 0.1.0
 */
export * as NodeTlsHttpServer from "./NodeTlsHttpServer.js"

/**
 * @since 0.1.0
 */
export * as NodeTlsSocketServer from "./NodeTlsSocketServer.js"

/**
 * @since 0.1.0
 */
export * as NodeTransport from "./NodeTransport.js"
