/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Arbitraries from "./Arbitraries.js"

/**
 * @since 0.1.0
 */
export * as LeakCheck from "./LeakCheck.js"

/**
 * @since 0.1.0
 */
export * as LifecycleProgram from "./LifecycleProgram.js"

/**
 * @since 0.1.0
 */
export * as MemoryTransport from "./MemoryTransport.js"

/**
 * @since 0.1.0
 */
export * as Mutation from "./Mutation.js"

/**
 * @since 0.1.0
 */
export * as OpenSslModel from "./OpenSslModel.js"

/**
 * @since 0.1.0
 */
export * as TestPki from "./TestPki.js"

/**
 * @since 0.1.0
 */
export * as RandomScheduler from "./RandomScheduler.js"
