/**
 * @since 0.1.0
 */
export * as NodeOpenSsl from "./NodeOpenSsl.js"
