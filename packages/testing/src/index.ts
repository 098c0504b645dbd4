/**
 * @since 0.1.0
 */
export * as Arbitraries from "./Arbitraries.js"

/**
 * @since 0.1.0
 */
export * as CouchTestServer from "./CouchTestServer.js"
