/**
 * A platform's own way of sending a request, beside the `HttpClient`: the seam for a faster transport such as
 * `@effect-couch/node` (undici's dispatcher, one fiber step per request).
 *
 * A transport rides on the `HttpClient` a session is given (`withTransport`): a session whose client carries one
 * sends through it every request it can, and keeps doing everything else itself (status mapping, retries,
 * timeouts, spans, decoding, redaction). It falls back to the client itself for:
 * - a session with `transformClient` (which must see every request) or `tracerPropagation: true`;
 * - a cookie session (`CouchAuth.cookie`, `CouchAuth.authSession`: its login and renewal live in the client);
 * - a request body that is neither bytes nor a stream (`FormData`, a platform's raw body).
 *
 * Through a transport, a request has no `http.client` span of its own (the operation's span carries its method
 * and status). A client without a transport, or a session without one, behaves as before.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpMethod from "@effect/platform/HttpMethod"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Stream from "effect/Stream"

/**
 * The key of the transport a client carries.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-couch/client/CouchTransport")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A request as the session built it: every header it sends (lower-case names: `accept`, authentication,
 * `content-type` and `content-length` of the body), the full URL with its query.
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  /** The method. */
  readonly method: HttpMethod.HttpMethod
  /** The full URL: the server's URL, the encoded path, the query. */
  readonly url: string
  /** Every header to send, lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  /** No body, the body's bytes, or a stream of them to send as they come (its failure fails the request). */
  readonly body: Uint8Array | Stream.Stream<Uint8Array, unknown> | undefined
}

/**
 * An answer whose status and headers have arrived; its body may still be arriving. Read it once, as a whole
 * (`body`) or as a stream (`stream`); a body that is not read at all is the transport's to discard.
 *
 * @since 0.1.0
 * @category models
 */
export interface Response {
  /** The status of the answer (never 1xx). */
  readonly status: number
  /** The headers, lower-case names; a header sent several times (`set-cookie`) as an array. */
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  /** The whole body. */
  readonly body: Effect.Effect<Uint8Array, SendError>
  /** The body as it arrives; interrupting its reader aborts the request. */
  readonly stream: Stream.Stream<Uint8Array, SendError>
  /**
   * The whole body when it had all arrived before the answer was handed on (a transport that reads small answers
   * whole says so here), `undefined` otherwise: a reader takes it without a step of its own, and reads `body` or
   * `stream` when it is not there. Reading it reads the body.
   *
   * @since 0.1.0
   */
  readonly received?: Uint8Array | undefined
}

/**
 * Why a request failed in the transport: the connection (refused, reset, closed), a timeout of the transport
 * itself, a request body it could not send (`encode`), or the body of the answer breaking off (`body`). The
 * session turns it into a `TransportError` with the same reason (`body` into a truncated `ResponseDecodeError`).
 *
 * @since 0.1.0
 * @category errors
 */
export class SendError extends Data.TaggedError("SendError")<{
  readonly reason: "connection" | "timeout" | "encode" | "body"
  readonly cause?: unknown
}> {}

/**
 * A transport: sends one request and gives back its answer once its status and headers arrived. Interrupting the
 * effect (or the reader of the body's stream) aborts the request.
 *
 * @since 0.1.0
 * @category models
 */
export interface CouchTransport {
  /** Sends `request`; succeeds once the answer's status and headers arrived. */
  readonly send: (request: Request) => Effect.Effect<Response, SendError>
}

/**
 * A client that behaves as `client` and carries `transport`, for a session given this client to send through.
 *
 * @example
 * ```ts
 * import { CouchTransport } from "@effect-couch/client"
 * import { FetchHttpClient, HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // a transport that refuses everything, carried by the platform's client
 * const send: CouchTransport.CouchTransport["send"] = () =>
 *   Effect.fail(new CouchTransport.SendError({ reason: "connection" }))
 *
 * const carried = Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   // a session given `faster` sends through `send` what it can, through `client` the rest
 *   const faster = CouchTransport.withTransport(client, { send })
 *   return CouchTransport.fromClient(faster) !== undefined && CouchTransport.fromClient(client) === undefined
 * }).pipe(Effect.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const withTransport: {
  (transport: CouchTransport): (client: HttpClient.HttpClient) => HttpClient.HttpClient
  (client: HttpClient.HttpClient, transport: CouchTransport): HttpClient.HttpClient
} = dual(2, (client: HttpClient.HttpClient, transport: CouchTransport): HttpClient.HttpClient => {
  // the client's own members stay where they are (its prototype chain): only the transport is added
  const carrier = Object.create(client) as HttpClient.HttpClient & { [TypeId]: CouchTransport }
  carrier[TypeId] = transport
  return carrier
})

/**
 * The transport a client carries, if any. A client derived from it (`HttpClient.mapRequest`, ...) carries none.
 *
 * @since 0.1.0
 * @category accessors
 */
export const fromClient = (client: HttpClient.HttpClient): CouchTransport | undefined =>
  Object.prototype.hasOwnProperty.call(client, TypeId) ?
    (client as unknown as { readonly [TypeId]: CouchTransport })[TypeId] :
    undefined
