/**
 * The one place that sends a request to CouchDB, maps its status to the operation's typed errors and decodes its
 * body.
 */
import * as Cookies from "@effect/platform/Cookies"
import * as HttpBody from "@effect/platform/HttpBody"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import type * as Headers from "@effect/platform/Headers"
import type * as HttpMethod from "@effect/platform/HttpMethod"
import type * as UrlParams from "@effect/platform/UrlParams"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as HashMap from "effect/HashMap"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type * as CouchAuth from "../CouchAuth.js"
import * as CouchError from "../CouchError.js"
import type * as CouchTransport from "../CouchTransport.js"
import * as Auth from "./auth.js"

/** What the operations of a session need to talk to the server. */
export interface Transport {
  /** The configured client: base URL, authentication and JSON `Accept` already applied. */
  readonly client: HttpClient.HttpClient
  /** The server's URL without credentials, without a trailing slash: for error messages. */
  readonly baseUrl: string
  /** The session's default per-request timeout. */
  readonly timeout: Duration.DurationInput | undefined
  /** How to retry an idempotent request after a transient failure; `undefined` never retries. */
  readonly retry: Schedule.Schedule<unknown, TransientError> | undefined
  /** A platform's transport that requests are sent through instead of `client` when it can send them. */
  readonly direct?: Direct | undefined
}

/** A platform's transport (`CouchTransport`), and the headers every request through it carries. */
export interface Direct {
  readonly send: CouchTransport.CouchTransport["send"]
  /** `accept: application/json`, and the authentication header. */
  readonly headers: Readonly<Record<string, string>>
}

/**
 * The transport a session sends through: the one its client carries, unless something needs the client itself
 * (`transformClient` sees every request, trace headers, a cookie session's login and renewal).
 */
export const directOf = (
  carried: CouchTransport.CouchTransport | undefined,
  options: { readonly transformClient?: unknown; readonly tracerPropagation?: boolean | undefined },
  auth: CouchAuth.CouchAuth
): Direct | undefined => {
  if (carried === undefined || options.transformClient !== undefined || options.tracerPropagation === true) {
    return undefined
  }
  if (auth._tag === "None") return { send: carried.send, headers: acceptJson }
  if (auth._tag === "Basic" || auth._tag === "Bearer") {
    return { send: carried.send, headers: { ...acceptJson, authorization: Redacted.value(Auth.authorization(auth)) } }
  }
  return undefined
}

/** The failures worth retrying: no answer, a rate limit, a server or gateway failure. */
export type TransientError = CouchError.TransportError | CouchError.TooManyRequestsError | CouchError.ServerError

const transientStatuses: ReadonlySet<number> = new Set([500, 502, 503, 504])

/** Whether a failure is transient: a transport failure (not a body that could not be encoded), 429, 500, 502-504. */
export const isTransient = (error: unknown): error is TransientError =>
  (error instanceof CouchError.TransportError && error.reason !== "encode" && error.reason !== "invalidUrl") ||
  error instanceof CouchError.TooManyRequestsError ||
  (error instanceof CouchError.ServerError && transientStatuses.has(error.status))

/** One request: the method, the path (already encoded, starting with `/`), and what goes with it. */
export interface Request {
  readonly method: HttpMethod.HttpMethod
  readonly path: string
  /** The query parameters; `undefined` ones are not sent. */
  readonly params?: Readonly<Record<string, UrlParams.Coercible>> | undefined
  readonly headers?: Record<string, string> | undefined
  readonly body?: HttpBody.HttpBody | undefined
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * Whether sending the request twice does no harm, so that a transient failure may be retried. Default: true
   * for GET and HEAD, false otherwise (a read-only POST, or a write that carries its revision, says so).
   */
  readonly idempotent?: boolean | undefined
  /**
   * Texts that no error of this request may hold (credentials the request carries in its body, in every form they
   * can be written): they are replaced in every text of its errors (the server's `error` and `reason` included),
   * and a cause that mentions one is dropped. Longest first.
   */
  readonly secrets?: ReadonlyArray<string> | undefined
}

const redactedText = "<redacted>"

/** A text of an error of `request`, its secrets replaced. */
export const redact = (request: Request, text: string): string =>
  request.secrets === undefined ? text : request.secrets.reduce((acc, secret) => acc.split(secret).join(redactedText), text)

/** An optional text of an error of `request`, its secrets replaced. */
const redactOptional = (request: Request, text: string | undefined): string | undefined =>
  text === undefined ? undefined : redact(request, text)

/** The cause of an error of `request`, or `undefined` when it mentions one of its secrets. */
export const safeCause = (request: Request, cause: unknown): unknown => {
  if (request.secrets === undefined || cause === undefined) return cause
  let described = ""
  try {
    described = `${JSON.stringify(cause) ?? ""}\n${String(cause)}`
  } catch {
    // a cycle, or no usable toString: nothing can be said of it, so it is dropped
    return undefined
  }
  return request.secrets.some((secret) => described.includes(secret)) ? undefined : cause
}

/** The instance type of a list of status error classes. */
export type ErrorsOf<Errors extends ReadonlyArray<CouchError.StatusErrorClass>> = InstanceType<Errors[number]>

const acceptJson: Record<string, string> = { accept: "application/json" }

/** The query parameters that are set: `undefined` ones are left out, and none at all is `undefined`. */
const definedParams = (params: Request["params"]): Request["params"] => {
  if (params === undefined) return undefined
  let defined: Record<string, UrlParams.Coercible> | undefined
  for (const key in params) {
    const value = params[key]
    if (value !== undefined) (defined ??= {})[key] = value
  }
  return defined
}

/**
 * Builds the platform request for a {@link Request}: the server's URL and the path, the set query parameters,
 * `Accept: application/json` and the request's own headers, in one request value.
 */
export const toHttpRequest = (transport: Transport, request: Request): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.make(request.method)(transport.baseUrl + request.path, {
    urlParams: definedParams(request.params),
    headers: request.headers === undefined ? acceptJson : { ...acceptJson, ...request.headers },
    body: request.body
  })

/** The URL of a request as errors name it: the server's URL (never credentials), the path, the set parameters. */
export const fullUrl = (transport: Transport, request: Request): string => {
  const params = request.params
  let query: URLSearchParams | undefined
  for (const key in params) {
    const value = params[key]
    if (value !== undefined) (query ??= new URLSearchParams()).append(key, String(value))
  }
  return query === undefined ? transport.baseUrl + request.path : `${transport.baseUrl}${request.path}?${query.toString()}`
}

const transportError = (
  transport: Transport,
  request: Request,
  error: HttpClientError.HttpClientError
): CouchError.TransportError | CouchError.ResponseDecodeError => {
  const method = request.method
  const url = fullUrl(transport, request)
  if (error._tag === "RequestError") {
    return new CouchError.TransportError({
      method,
      url,
      reason: error.reason === "Transport" ? "connection" : error.reason === "Encode" ? "encode" : "invalidUrl",
      description: redactOptional(request, describeCause(error.cause)),
      cause: safeCause(request, error.cause)
    })
  }
  return new CouchError.ResponseDecodeError({
    method,
    url,
    status: error.response.status,
    // a body that is not JSON fails to parse; any other failure to read it is the body breaking off
    reason: error.cause instanceof SyntaxError || error.reason === "EmptyBody" ? "malformed" : "truncated",
    description: redact(request, error.description ?? `the body could not be read (${error.reason})`),
    cause: safeCause(request, error.cause)
  })
}

const describeCause = (cause: unknown): string | undefined => {
  if (cause instanceof Error) {
    const code = (cause as { readonly code?: unknown }).code
    const inner = (cause as { readonly cause?: unknown }).cause
    const innerText = inner instanceof Error ? `: ${inner.message}` : ""
    return typeof code === "string" ? `${code} ${cause.message}${innerText}` : `${cause.message}${innerText}`
  }
  return cause === undefined ? undefined : String(cause)
}

/** The most of an error body the client reads: CouchDB's are small; a proxy's page may be anything. */
const maxErrorBody = 65_536

/** The first `limit` bytes of a body as text (the rest is not read), or "" when it cannot be read. */
const boundedText = (response: HttpClientResponse.HttpClientResponse, limit: number): Effect.Effect<string> =>
  response.stream.pipe(
    Stream.runFoldWhile(
      { chunks: [] as Array<Uint8Array>, size: 0 },
      (state) => state.size < limit,
      (state, chunk) => ({ chunks: [...state.chunks, chunk], size: state.size + chunk.length })
    ),
    Effect.map(({ chunks }) => {
      const bytes = new Uint8Array(chunks.reduce((size, chunk) => size + chunk.length, 0))
      let offset = 0
      for (const chunk of chunks) {
        bytes.set(chunk, offset)
        offset += chunk.length
      }
      return new TextDecoder().decode(bytes.subarray(0, limit))
    }),
    Effect.orElseSucceed(() => "")
  )

/** CouchDB's `{ error, reason }`, read leniently from any body: HTML or empty bodies give neither. */
const parseErrorBody = (text: string): { readonly error?: string; readonly reason?: string } => {
  if (text.length === 0 || text.length > 65536) return {}
  try {
    const json: unknown = JSON.parse(text)
    if (typeof json !== "object" || json === null) return {}
    const { error, reason } = json as { readonly error?: unknown; readonly reason?: unknown }
    return {
      ...(typeof error === "string" ? { error } : {}),
      ...(typeof reason === "string" ? { reason } : typeof reason === "object" ? { reason: JSON.stringify(reason) } : {})
    }
  } catch {
    return {}
  }
}

/** The typed error for a non-2xx response: one of `errors` or of the errors every request can produce. */
const statusError = <Errors extends ReadonlyArray<CouchError.StatusErrorClass>>(
  transport: Transport,
  request: Request,
  response: HttpClientResponse.HttpClientResponse,
  errors: Errors
): Effect.Effect<never, ErrorsOf<Errors> | CouchError.RequestError> =>
  Effect.flatMap(
    Effect.zip(
      request.method === "HEAD" ? Effect.succeed("") : boundedText(response, maxErrorBody),
      Clock.currentTimeMillis
    ),
    ([text, now]): Effect.Effect<never, ErrorsOf<Errors> | CouchError.RequestError> => {
      const status = response.status
      const requestId = response.headers["x-couch-request-id"]
      const retryAfter = retryAfterMillis(response.headers["retry-after"], now)
      const parsed = parseErrorBody(text)
      const body = request.secrets === undefined ? parsed : {
        ...(parsed.error === undefined ? {} : { error: redact(request, parsed.error) }),
        ...(parsed.reason === undefined ? {} : { reason: redact(request, parsed.reason) })
      }
      const context = {
        method: request.method,
        url: fullUrl(transport, request),
        status,
        ...body,
        ...(requestId === undefined ? {} : { requestId }),
        ...(retryAfter === undefined ? {} : { retryAfter })
      }
      if (status >= 500) return Effect.fail(new CouchError.ServerError(context))
      const declared = errors.find((error) => error.status === status)
      if (declared !== undefined) {
        return Effect.fail(new (declared as typeof CouchError.NotFoundError)(context) as ErrorsOf<Errors>)
      }
      if (status === 401) return Effect.fail(new CouchError.UnauthorizedError(context))
      // since CouchDB 3.4, a user locked out after failed logins gets 403 on every route
      if (status === 403) return Effect.fail(new CouchError.ForbiddenError(context))
      if (status === 429) return Effect.fail(new CouchError.TooManyRequestsError(context))
      return Effect.fail(
        new CouchError.ResponseDecodeError({
          method: context.method,
          url: context.url,
          status,
          reason: "unexpectedStatus",
          description: `status ${status} is not an answer this request can have`,
          ...(body.error === undefined ? {} : { serverError: body.error }),
          ...(body.reason === undefined ? {} : { serverReason: body.reason }),
          ...(requestId === undefined ? {} : { requestId })
        })
      )
    }
  )

/**
 * Sends a request and hands a 2xx response to `onSuccess`; any other status becomes one of `errors` (or of the
 * errors every request can produce), transport failures become `TransportError`.
 */
export const execute = <A, E, R, const Errors extends ReadonlyArray<CouchError.StatusErrorClass> = []>(
  transport: Transport,
  request: Request,
  errors: Errors,
  onSuccess: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, E, R>,
  spanned: "in the current span" | "in no span" = "in the current span"
): Effect.Effect<A, E | ErrorsOf<Errors> | CouchError.RequestError, R> =>
  exchange(transport, request, errors, onSuccess, spanned === "in no span" ? null : undefined)

/**
 * A read whose answer is JSON, in a span of its own (`name`, with `attributes`, and the method, status and CouchDB's
 * request id of the answer), for an operation that is one request (`Database.get`). Through a transport, and
 * without a timeout, it takes as few fiber steps as it can: the span is started and ended in place (through the
 * transport nothing runs below it, so it is not provided as the current span), and the answer is parsed and decoded
 * in the step that receives its body (`decodeSync`; `decode` for a document that decodes asynchronously). Otherwise
 * the span is the parent of the platform client's span. The errors are those of {@link execute} and
 * {@link readJson}.
 */
export const readInSpan = <A, E, const Errors extends ReadonlyArray<CouchError.StatusErrorClass> = []>(
  transport: Transport,
  request: Request,
  errors: Errors,
  decodeSync: (json: unknown) => Either.Either<A, E> | undefined,
  decode: (json: unknown) => Effect.Effect<A, E>,
  name: string,
  attributes: Record<string, unknown>
): Effect.Effect<A, E | ErrorsOf<Errors> | CouchError.RequestError> =>
  Effect.withFiberRuntime((fiber) => {
    const direct = transport.direct
    const throughTransport = direct !== undefined && request.body === undefined &&
      timeoutOf(transport, request, fiber) === undefined
    // through a transport nothing runs below the read's span: under Effect's own tracer, which keeps no span, it
    // could be seen by nothing, and is not made
    const span = throughTransport && !isTraced(fiber) ? undefined : startSpan(fiber, name, attributes)
    const decoded = (json: unknown) => decodeSync(json) ?? decode(json)
    const read = throughTransport ?
      readDirect(transport, direct, request, errors, decoded, span) :
      exchange(transport, request, errors, (response) => readJson(transport, request, response, decoded), span ?? null)
    if (span === undefined) return read
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    const timing = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
    return Effect.onExit(read, (exit) => Effect.sync(() => span.end(timing ? clock.unsafeCurrentTimeNanos() : bigZero, exit)))
  })

const bigZero = BigInt(0)

let effectTracer: Tracer.Tracer | undefined

/** Effect's own tracer, in place when no tracing layer is provided: its spans are kept by nothing. */
const defaultTracer = (): Tracer.Tracer => effectTracer ??= Effect.runSync(Effect.tracer)

/**
 * Whether a tracer other than Effect's own is in place: a span of an operation that runs only its own work
 * can be seen only then. Under Effect's own tracer such a span costs its making and, on a request that waits on the
 * server, keeps its answer alive through collections of the young generation (`bulkDocs`).
 */
export const isTraced = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => fiber.currentTracer !== defaultTracer()

/** The timeout of a request: its own, the one set for the effect (`CouchSession.withTimeout`), the session's. */
const timeoutOf = (
  transport: Transport,
  request: Request,
  fiber: Fiber.RuntimeFiber<unknown, unknown>
): Duration.DurationInput | undefined =>
  request.timeout ?? Option.getOrUndefined(fiber.getFiberRef(currentTimeout)) ?? transport.timeout

/**
 * {@link readInSpan} through a transport: the status, the body, its parsing and decoding handled in the steps
 * that receive them; only a failure goes through the answer as the platform's response.
 */
const readDirect = <A, E, const Errors extends ReadonlyArray<CouchError.StatusErrorClass>>(
  transport: Transport,
  direct: Direct,
  request: Request,
  errors: Errors,
  decoded: (json: unknown) => Effect.Effect<A, E>,
  span: Tracer.Span | undefined
): Effect.Effect<A, E | ErrorsOf<Errors> | CouchError.RequestError> => {
  const parsed = (response: SentResponse, bytes: Uint8Array): Effect.Effect<A, E | CouchError.ResponseDecodeError> => {
    let json: unknown
    try {
      json = parseBody(bytes)
    } catch (cause) {
      return Effect.fail(readFailure(transport, request, response.readError(cause)))
    }
    return decoded(json)
  }
  const attempt = Effect.matchEffect(direct.send(directRequest(transport, direct, request)), {
    onFailure: (error) => Effect.fail(sendFailure(transport, request, error)),
    onSuccess: (answer): Effect.Effect<A, E | ErrorsOf<Errors> | CouchError.RequestError> => {
      const response = new SentResponse(transport, request, answer)
      annotate(span, request, response)
      if (answer.status < 200 || answer.status >= 300) return statusError(transport, request, response, errors)
      const received = answer.received
      return received !== undefined ? parsed(response, received) : Effect.matchEffect(answer.body, {
        onFailure: (error) => Effect.fail(readFailure(transport, request, response.readError(error.cause ?? error))),
        onSuccess: (bytes) => parsed(response, bytes)
      })
    }
  })
  return transport.retry === undefined ? attempt : retrying(attempt, transport.retry)
}

/** The span a new span goes under: `span`, or, when its context disables propagation, its nearest parent that does not. */
const propagatingParent = (span: Tracer.AnySpan | undefined): Tracer.AnySpan | undefined => {
  let current = span
  while (current !== undefined && Context.get(current.context, Tracer.DisablePropagation)) {
    current = current._tag === "Span" ? Option.getOrUndefined(current.parent) : undefined
  }
  return current
}

/**
 * A span started without an effect of its own, as `Effect.useSpan` starts one: under the current span (one that
 * disables propagation passed over), with the annotations and links of the fiber, timed by its clock; `undefined`
 * when tracing is disabled.
 */
const startSpan = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  name: string,
  attributes: Record<string, unknown>
): Tracer.Span | undefined => {
  if (!fiber.getFiberRef(FiberRef.currentTracerEnabled)) return undefined
  const parent = propagatingParent(fiber.currentSpan)
  const links = fiber.getFiberRef(FiberRef.currentTracerSpanLinks)
  const timing = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
  const span = fiber.currentTracer.span(
    name,
    parent === undefined ? Option.none() : Option.some(parent),
    Context.empty(),
    Chunk.toReadonlyArray(links),
    timing ? Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeNanos() : bigZero,
    "internal",
    { attributes }
  )
  const annotations = fiber.getFiberRef(FiberRef.currentTracerSpanAnnotations)
  HashMap.forEach(annotations, (value, key) => span.attribute(key, value))
  for (const key in attributes) span.attribute(key, attributes[key])
  return span
}

/**
 * Sends, maps the status, annotates the span (`span`; the current one when `undefined`; none when `null`, a span
 * that tracing left unmade), within the timeout and retries.
 */
const exchange = <A, E, R, const Errors extends ReadonlyArray<CouchError.StatusErrorClass> = []>(
  transport: Transport,
  request: Request,
  errors: Errors,
  onSuccess: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, E, R>,
  span: Tracer.Span | null | undefined
): Effect.Effect<A, E | ErrorsOf<Errors> | CouchError.RequestError, R> => {
  const direct = transport.direct
  const sent: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError | CouchError.TransportError> =
    direct !== undefined && sendable(request.body) ?
      sendDirect(transport, direct, request) :
      span == null ? transport.client.execute(toHttpRequest(transport, request)) :
      Effect.withParentSpan(transport.client.execute(toHttpRequest(transport, request)), span)
  return Effect.withFiberRuntime((fiber) => {
    const answered = Effect.matchEffect(sent, {
      onFailure: (error) =>
        Effect.fail(error._tag === "TransportError" ? error : transportError(transport, request, error)),
      onSuccess: (response): Effect.Effect<A, E | ErrorsOf<Errors> | CouchError.RequestError, R> => {
        // the span current when the answer arrives (the operation's): annotated in place, no effect of its own
        if (span !== null) annotate(span ?? fiber.currentSpan, request, response)
        return response.status >= 200 && response.status < 300 ?
          onSuccess(response) :
          statusError(transport, request, response, errors)
      }
    })
    return bounded(transport, request, answered, timeoutOf(transport, request, fiber))
  })
}

/** Whether a transport can send this body: none, bytes or a stream (not `FormData`, nor a platform's raw body). */
const sendable = (body: HttpBody.HttpBody | undefined): boolean =>
  body === undefined || body._tag === "Empty" || body._tag === "Uint8Array" || body._tag === "Stream"

/** A request as a platform's transport sends it: the same URL and headers as through the client. */
const directRequest = (transport: Transport, direct: Direct, request: Request): CouchTransport.Request => {
  let headers: Record<string, string> | Readonly<Record<string, string>> = direct.headers
  if (request.headers !== undefined) {
    const own: Record<string, string> = { ...direct.headers }
    for (const name in request.headers) own[name.toLowerCase()] = request.headers[name]
    headers = own
  }
  const body = request.body
  let content: Uint8Array | Stream.Stream<Uint8Array, unknown> | undefined
  if (body !== undefined && (body._tag === "Uint8Array" || body._tag === "Stream")) {
    const own: Record<string, string> = { ...headers }
    if (body.contentType !== "") own["content-type"] = body.contentType
    const length = body._tag === "Uint8Array" ? body.body.length : body.contentLength
    if (length !== undefined && length !== 0) own["content-length"] = String(length)
    headers = own
    content = body._tag === "Uint8Array" ? body.body : body.stream
  }
  return { method: request.method, url: fullUrl(transport, request), headers, body: content }
}

/** A transport's failure to send a request, as a `TransportError`. */
const sendFailure = (transport: Transport, request: Request, error: CouchTransport.SendError) =>
  new CouchError.TransportError({
    method: request.method,
    url: fullUrl(transport, request),
    reason: error.reason === "body" ? "connection" : error.reason,
    description: redactOptional(request, describeCause(error.cause)),
    cause: safeCause(request, error.cause)
  })

/** Sends a request through a platform's transport; its answer as the platform's response. */
const sendDirect = (
  transport: Transport,
  direct: Direct,
  request: Request
): Effect.Effect<HttpClientResponse.HttpClientResponse, CouchError.TransportError> =>
  Effect.mapBoth(direct.send(directRequest(transport, direct, request)), {
    onFailure: (error) => sendFailure(transport, request, error),
    onSuccess: (response) => new SentResponse(transport, request, response)
  })

const utf8 = new TextDecoder()

/** A JSON body parsed (an empty one is `null`); throws what `JSON.parse` throws. */
const parseBody = (bytes: Uint8Array): unknown => bytes.length === 0 ? null : JSON.parse(utf8.decode(bytes))

/** A transport's answer as the platform's response, so that every reader of answers reads both alike. */
class SentResponse extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  private platformRequest: HttpClientRequest.HttpClientRequest | undefined
  private cachedHeaders: Headers.Headers | undefined

  constructor(
    private readonly transport: Transport,
    private readonly sent: Request,
    readonly source: CouchTransport.Response
  ) {
    super()
  }

  get status(): number {
    return this.source.status
  }

  /** The request as the platform would have built it: only errors and inspection ask for it. */
  get request(): HttpClientRequest.HttpClientRequest {
    return this.platformRequest ??= toHttpRequest(this.transport, this.sent)
  }

  /** One header, without making the whole record of them. */
  header(name: string): string | undefined {
    const value = this.source.headers[name]
    return value === undefined || typeof value === "string" ? value : value.join(", ")
  }

  get headers(): Headers.Headers {
    if (this.cachedHeaders !== undefined) return this.cachedHeaders
    const headers: Record<string, string> = {}
    for (const name in this.source.headers) {
      const value = this.source.headers[name]
      if (value !== undefined) headers[name] = typeof value === "string" ? value : value.join(", ")
    }
    return this.cachedHeaders = headers as Headers.Headers
  }

  get cookies(): Cookies.Cookies {
    const header = this.source.headers["set-cookie"]
    return header === undefined ? Cookies.empty : Cookies.fromSetCookie(typeof header === "string" ? [header] : header)
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  /** A failure to read the body (it broke off, or is not what was expected), as the platform tells it. */
  readError(cause: unknown): HttpClientError.ResponseError {
    return new HttpClientError.ResponseError({ request: this.request, response: this, reason: "Decode", cause })
  }

  /** The whole body, as the transport gave it (no copy). */
  get bytes(): Effect.Effect<Uint8Array, HttpClientError.ResponseError> {
    const received = this.source.received
    if (received !== undefined) return Effect.succeed(received)
    return Effect.mapError(this.source.body, (error) => this.readError(error.cause ?? error))
  }

  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return Stream.mapError(this.source.stream, (error) => this.readError(error.cause ?? error))
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return Effect.map(this.bytes, (bytes) => utf8.decode(bytes))
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    // one step for reading and parsing (none for reading a body that has arrived): this is on the path of every
    // answer read through a transport
    const received = this.source.received
    if (received !== undefined) return this.parse(received)
    return Effect.matchEffect(this.source.body, {
      onFailure: (error) => Effect.fail(this.readError(error.cause ?? error)),
      onSuccess: (bytes) => this.parse(bytes)
    })
  }

  private parse(bytes: Uint8Array): Effect.Effect<unknown, HttpClientError.ResponseError> {
    try {
      return Effect.succeed(parseBody(bytes))
    } catch (cause) {
      return Effect.fail(this.readError(cause))
    }
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return Effect.map(this.bytes, (bytes) =>
      bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ?
        bytes.buffer :
        bytes.slice().buffer as ArrayBuffer)
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.map(this.text, (text) => [...new URLSearchParams(text)])
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return Effect.flatMap(this.arrayBuffer, (body) =>
      Effect.tryPromise({
        try: () => new Response(body, { headers: { "content-type": this.headers["content-type"] ?? "" } }).formData(),
        catch: (cause) => this.readError(cause)
      }))
  }

  override toJSON(): unknown {
    return HttpIncomingMessage.inspect(this, {
      _id: "@effect/platform/HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status
    })
  }
}

/**
 * A timeout for the requests of an effect, overriding the session's default (see `CouchSession.withTimeout`).
 */
export const currentTimeout: FiberRef.FiberRef<Option.Option<Duration.DurationInput>> = globalValue(
  "@effect-couch/client/currentTimeout",
  () => FiberRef.unsafeMake(Option.none<Duration.DurationInput>())
)

/** CouchDB's id of the request that gave `response`. */
const requestIdOf = (response: HttpClientResponse.HttpClientResponse): string | undefined =>
  response instanceof SentResponse ? response.header("x-couch-request-id") : response.headers["x-couch-request-id"]

/** Puts the request and the answer on the operation's span: method, status, CouchDB's request id. */
const annotate = (
  span: Tracer.AnySpan | undefined,
  request: Request,
  response: HttpClientResponse.HttpClientResponse
): void => {
  if (span === undefined || span._tag !== "Span") return
  span.attribute("http.request.method", request.method)
  span.attribute("http.response.status_code", response.status)
  const requestId = requestIdOf(response)
  if (requestId !== undefined) span.attribute("couchdb.request_id", requestId)
}

const bounded = <A, E, R>(
  transport: Transport,
  request: Request,
  exchange: Effect.Effect<A, E, R>,
  timeout: Duration.DurationInput | undefined
): Effect.Effect<A, E | CouchError.TransportError | CouchError.TooManyRequestsError | CouchError.ServerError, R> => {
  const limited = timeout === undefined ? exchange : Effect.timeoutFail(exchange, {
    duration: timeout,
    onTimeout: () =>
      new CouchError.TransportError({
        method: request.method,
        url: fullUrl(transport, request),
        reason: "timeout",
        description: "no answer in time"
      })
  })
  const idempotent = request.idempotent ?? (request.method === "GET" || request.method === "HEAD")
  return idempotent && transport.retry !== undefined ? retrying(limited, transport.retry) : limited
}

/** `Retry-After` in milliseconds from `now` (the Clock's): a number of seconds, or an HTTP date. */
export const retryAfterMillis = (header: string | undefined, now: number): number | undefined => {
  if (header === undefined) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const date = Date.parse(header)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** The longest `Retry-After` the client honours: past it, the schedule's own delay stands. */
const maxRetryAfter = Duration.minutes(2)

/**
 * Retries an effect on transient failures as the schedule allows; a `Retry-After` of the server stretches the
 * schedule's delay to at least that long.
 */
const retrying = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  schedule: Schedule.Schedule<unknown, TransientError>
): Effect.Effect<A, E, R> =>
  // the schedule's driver is made on the first failure only: a request that succeeds pays nothing for it
  Effect.catchAll(effect, (first) =>
    !isTransient(first) ? Effect.fail(first) : Effect.flatMap(Schedule.driver(Schedule.delays(schedule)), (driver) => {
      const retry = (error: E & TransientError): Effect.Effect<A, E, R> =>
        Effect.matchEffect(driver.next(error), {
          onFailure: () => Effect.fail(error),
          onSuccess: (delay) => {
            const wanted = "retryAfter" in error && typeof error.retryAfter === "number" ?
              Duration.min(Duration.millis(error.retryAfter), maxRetryAfter) :
              Duration.zero
            const extra = Duration.subtract(wanted, Duration.min(wanted, delay))
            const again = Effect.catchAll(effect, (next) => isTransient(next) ? retry(next) : Effect.fail(next))
            return Duration.isZero(extra) ? again : Effect.zipRight(Effect.sleep(extra), again)
          }
        })
      return retry(first)
    }))

/**
 * Reads a response body as JSON and hands it to `then`; a body that is not JSON is a `ResponseDecodeError`. One
 * step for both: this is on the path of every request that reads an answer.
 */
export const readJson = <A, E, R>(
  transport: Transport,
  request: Request,
  response: HttpClientResponse.HttpClientResponse,
  then: (json: unknown) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | CouchError.ResponseDecodeError, R> =>
  Effect.matchEffect(response.json, {
    onFailure: (error) => Effect.fail(readFailure(transport, request, error)),
    onSuccess: then
  })

/**
 * Reads a response body as bytes (a transport's as it gave them, without a copy) and hands them to `then`; a body
 * that breaks off is a `ResponseDecodeError`.
 */
export const readBytes = <A, E, R>(
  transport: Transport,
  request: Request,
  response: HttpClientResponse.HttpClientResponse,
  then: (bytes: Uint8Array) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | CouchError.ResponseDecodeError, R> =>
  Effect.matchEffect(
    response instanceof SentResponse ? response.bytes : Effect.map(response.arrayBuffer, (body) => new Uint8Array(body)),
    {
      onFailure: (error) => Effect.fail(readFailure(transport, request, error)),
      onSuccess: then
    }
  )

/** Reads a response body as JSON and decodes it with a schema; anything else is a `ResponseDecodeError`. */
export const decodeJson = <A, I, R>(
  transport: Transport,
  request: Request,
  schema: Schema.Schema<A, I, R>
) => {
  const decode = Schema.decodeUnknown(schema)
  return (response: HttpClientResponse.HttpClientResponse): Effect.Effect<A, CouchError.ResponseDecodeError, R> =>
    readJson(transport, request, response, (json) =>
      Effect.mapError(decode(json), (error) =>
        new CouchError.ResponseDecodeError({
          method: request.method,
          url: fullUrl(transport, request),
          status: response.status,
          reason: "malformed",
          description: redact(request, ParseResult.TreeFormatter.formatErrorSync(error)),
          cause: safeCause(request, error)
        })))
}

/** A body that could not be read or parsed, as {@link readJson} tells it. */
const readFailure = (transport: Transport, request: Request, error: HttpClientError.ResponseError) =>
  transportError(transport, request, error) as CouchError.ResponseDecodeError

/** An answer (200 unless said) whose body broke off (`truncated`) or is not what the request answers. */
export const decodeFailure = (
  transport: Transport,
  request: Request,
  reason: "truncated" | "malformed",
  description: string,
  status = 200
) =>
  new CouchError.ResponseDecodeError({
    method: request.method,
    url: fullUrl(transport, request),
    status,
    reason,
    description
  })

/** Sends a request and decodes its JSON answer with a schema. */
export const json = <A, I, R, const Errors extends ReadonlyArray<CouchError.StatusErrorClass> = []>(
  transport: Transport,
  request: Request,
  schema: Schema.Schema<A, I, R>,
  errors: Errors
): Effect.Effect<A, ErrorsOf<Errors> | CouchError.RequestError, R> =>
  execute(transport, request, errors, decodeJson(transport, request, schema))

/**
 * A `ServerError` told as the error it means (CouchDB 3.5 answers some refusals with a 500: a `/_replicate` of a
 * missing database is 500 `db_not_found`, a `_security` write by a non-admin 500 `no_majority`), its context kept.
 */
export const reclassified = <C extends typeof CouchError.NotFoundError | typeof CouchError.ForbiddenError>(
  ErrorClass: C,
  error: CouchError.ServerError
): InstanceType<C> =>
  new ErrorClass({
    method: error.method,
    url: error.url,
    status: error.status,
    error: error.error,
    reason: error.reason,
    requestId: error.requestId
  }) as InstanceType<C>

/** The answer of a document or attachment write. */
export const WriteAnswer = Schema.Struct({ id: Schema.String, rev: Schema.String })

/**
 * Sends a write whose answer is `{ id, rev }`: the result carries `accepted: true` when the server answered 202
 * (fewer than `w` copies confirmed it).
 */
export const written = <const Errors extends ReadonlyArray<CouchError.StatusErrorClass> = []>(
  transport: Transport,
  request: Request,
  errors: Errors
): Effect.Effect<{ readonly id: string; readonly rev: string; readonly accepted?: true }, ErrorsOf<Errors> | CouchError.RequestError> => {
  const decode = decodeJson(transport, request, WriteAnswer)
  return execute(transport, request, errors, (response) =>
    response.status === 202 ?
      Effect.map(decode(response), (answer) => ({ ...answer, accepted: true as const })) :
      decode(response))
}

/** Sends a request whose answer has no body worth reading (HEAD, or an `{ ok: true }` acknowledgement). */
export const discard = <const Errors extends ReadonlyArray<CouchError.StatusErrorClass> = []>(
  transport: Transport,
  request: Request,
  errors: Errors
): Effect.Effect<HttpClientResponse.HttpClientResponse, ErrorsOf<Errors> | CouchError.RequestError> =>
  execute(transport, request, errors, (response) =>
    request.method === "HEAD" ?
      Effect.succeed(response) :
      Effect.as(Effect.ignore(response.arrayBuffer), response))

/** A JSON body, encoded with a schema. */
export const jsonBody = <A, I>(
  schema: Schema.Schema<A, I>,
  value: A
): Effect.Effect<HttpBody.HttpBody, CouchError.InvalidArgumentError> =>
  Schema.encode(schema)(value).pipe(
    Effect.mapError((error) =>
      new CouchError.InvalidArgumentError({
        argument: "request body",
        description: ParseResult.TreeFormatter.formatErrorSync(error)
      })
    ),
    Effect.map((encoded) => HttpBody.unsafeJson(encoded))
  )
