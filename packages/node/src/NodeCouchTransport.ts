/**
 * A Node transport for effect-couch: requests sent straight through undici's dispatcher (one `Effect.async` per
 * request, a keep-alive pool), in place of `@effect/platform`'s `HttpClient` for every request the session can
 * send that way. The layer provides an `HttpClient` (platform-node's undici client over the same dispatcher) that
 * carries the transport: a session given it sends through the transport, and through the client what the
 * transport does not take (see `CouchTransport` in `@effect-couch/client`: cookie sessions, `transformClient`,
 * trace headers, `FormData` bodies).
 *
 * Interrupting a request (or the reader of its body) aborts it. Timeouts stay the session's (`timeout`,
 * `CouchSession.withTimeout`); undici's own timeouts, when an `Agent` is given them, fail with a `TransportError`
 * whose reason is `timeout`, a refused or broken connection with `connection`.
 *
 * @example
 * ```ts
 * import { CouchAuth, CouchSession } from "@effect-couch/client"
 * import { NodeCouchTransport } from "@effect-couch/node"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const Couch = CouchSession.layer({
 *   url: "http://127.0.0.1:5984",
 *   auth: CouchAuth.basic("admin", Redacted.make("secret"))
 * }).pipe(Layer.provide(NodeCouchTransport.layer()))
 *
 * const program = Effect.gen(function*() {
 *   const db = yield* CouchSession.use("inventory")
 *   return yield* db.get("apple")
 * }).pipe(Effect.provide(Couch))
 * ```
 *
 * @since 0.1.0
 */
import * as CouchTransport from "@effect-couch/client/CouchTransport"
import * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { Agent, type Dispatcher } from "undici"
import * as internal from "./internal/transport.js"

/**
 * The transport over a dispatcher (an undici `Agent`, `Pool`, `Client`, ...), which the caller keeps and closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (dispatcher: Dispatcher) => CouchTransport.CouchTransport = internal.make

/**
 * platform-node's undici `HttpClient` over `dispatcher`, carrying the transport over the same dispatcher.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeClient = (dispatcher: Dispatcher): HttpClient.HttpClient =>
  CouchTransport.withTransport(NodeHttpClient.makeUndici(dispatcher), make(dispatcher))

/**
 * Options of the keep-alive pool: undici's `Agent` options. Default: `keepAliveTimeout` 60 s, and no
 * `headersTimeout` or `bodyTimeout` (0): timeouts are the session's, and a feed stays open and silent between its
 * heartbeats.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = Agent.Options

/**
 * A keep-alive `Agent` (a pool per origin) for the scope, destroyed when it closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeAgent = (options: Options = {}): Effect.Effect<Agent, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new Agent({ keepAliveTimeout: 60_000, headersTimeout: 0, bodyTimeout: 0, ...options })),
    (agent) => Effect.promise(() => agent.destroy())
  )

/**
 * An `HttpClient` carrying the undici transport, over an `Agent` of its own (destroyed with the layer).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<HttpClient.HttpClient> =>
  Layer.scoped(HttpClient.HttpClient, Effect.map(makeAgent(options), makeClient))

/**
 * An `HttpClient` carrying the undici transport, over platform-node's `NodeHttpClient.Dispatcher` in the context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithoutDispatcher: Layer.Layer<HttpClient.HttpClient, never, NodeHttpClient.Dispatcher> =
  Layer.effect(HttpClient.HttpClient, Effect.map(NodeHttpClient.Dispatcher, makeClient))
