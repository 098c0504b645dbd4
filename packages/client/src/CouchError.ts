/**
 * The errors of effect-couch: one class per CouchDB status, plus transport, decode and invalid-argument errors.
 *
 * Every operation's error channel names exactly the classes that operation can produce, so
 * `Effect.catchTags({ NotFoundError: ..., ConflictError: ... })` is checked by the compiler.
 *
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type { SearchUnavailableError } from "./Search.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-couch/client/CouchError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The context every error answered by the server carries: the request (method and URL, never credentials), the
 * HTTP status, CouchDB's `error` and `reason`, the `X-Couch-Request-ID` header when the server sent one, and
 * `Retry-After` (in milliseconds) when it asked the client to wait.
 *
 * @since 0.1.0
 * @category models
 */
export const ResponseErrorFields = {
  method: Schema.String,
  url: Schema.String,
  status: Schema.Number,
  error: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.String),
  requestId: Schema.optional(Schema.String),
  retryAfter: Schema.optional(Schema.Number)
}

/**
 * The shape shared by the status errors.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResponseErrorContext {
  /** The request's method (`GET`, `PUT`, ...). */
  readonly method: string
  /** The request's URL, never with credentials. */
  readonly url: string
  /** The HTTP status of the answer. */
  readonly status: number
  /** CouchDB's `error` (`not_found`, `conflict`, `forbidden`, ...), when the answer's body had one. */
  readonly error?: string | undefined
  /** CouchDB's `reason`: what went wrong, in words (a `validate_doc_update` rejection's message). */
  readonly reason?: string | undefined
  /** The answer's `X-Couch-Request-ID`, which finds the request in the server's log. */
  readonly requestId?: string | undefined
  /** The server's `Retry-After`, in milliseconds (429, 503). */
  readonly retryAfter?: number | undefined
}

const describeResponse = (self: ResponseErrorContext): string => {
  const couch = self.error === undefined ?
    "" :
    self.reason === undefined || self.reason === "" ?
    `: ${self.error}` :
    `: ${self.error}: ${self.reason}`
  const id = self.requestId === undefined ? "" : ` [request ${self.requestId}]`
  return `${self.method} ${self.url} answered ${self.status}${couch}${id}`
}

/**
 * 400: the request or its parameters are malformed (`bad_request`, `invalid_json`, `no_usable_index`, ...).
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRequestError extends Schema.TaggedError<BadRequestError>()("BadRequestError", ResponseErrorFields) {
  /** @since 0.1.0 */
  static readonly status = 400
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * 401: the credentials are missing or wrong.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnauthorizedError
  extends Schema.TaggedError<UnauthorizedError>()("UnauthorizedError", ResponseErrorFields)
{
  /** @since 0.1.0 */
  static readonly status = 401
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * 403: the user is known but not allowed, a `validate_doc_update` function refused the document (its message
 * is the `reason`), or (CouchDB 3.4+) the user is locked out for a while after repeated failed logins ("Account is
 * temporarily locked due to multiple authentication failures"), which any request can meet.
 *
 * @since 0.1.0
 * @category errors
 */
export class ForbiddenError extends Schema.TaggedError<ForbiddenError>()("ForbiddenError", ResponseErrorFields) {
  /** @since 0.1.0 */
  static readonly status = 403
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * 404: the database, document or attachment does not exist. For a document, `reason` says whether it is
 * `missing` (never existed) or `deleted`.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFoundError extends Schema.TaggedError<NotFoundError>()("NotFoundError", ResponseErrorFields) {
  /** @since 0.1.0 */
  static readonly status = 404
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * 405: the endpoint does not accept this method.
 *
 * @since 0.1.0
 * @category errors
 */
export class MethodNotAllowedError
  extends Schema.TaggedError<MethodNotAllowedError>()("MethodNotAllowedError", ResponseErrorFields)
{
  /** @since 0.1.0 */
  static readonly status = 405
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * 409: the document was updated by someone else, or the `_rev` is missing or stale.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConflictError extends Schema.TaggedError<ConflictError>()("ConflictError", ResponseErrorFields) {
  /** @since 0.1.0 */
  static readonly status = 409
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * 412: a precondition failed, e.g. creating a database that exists (`file_exists`).
 *
 * @since 0.1.0
 * @category errors
 */
export class PreconditionFailedError
  extends Schema.TaggedError<PreconditionFailedError>()("PreconditionFailedError", ResponseErrorFields)
{
  /** @since 0.1.0 */
  static readonly status = 412
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * 413: the document or request body is larger than the server accepts.
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLargeError
  extends Schema.TaggedError<PayloadTooLargeError>()("PayloadTooLargeError", ResponseErrorFields)
{
  /** @since 0.1.0 */
  static readonly status = 413
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * 415: the request body has a content type the endpoint does not accept.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedMediaTypeError
  extends Schema.TaggedError<UnsupportedMediaTypeError>()("UnsupportedMediaTypeError", ResponseErrorFields)
{
  /** @since 0.1.0 */
  static readonly status = 415
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * 416: the `Range` asked of an attachment lies outside it.
 *
 * @since 0.1.0
 * @category errors
 */
export class RangeNotSatisfiableError
  extends Schema.TaggedError<RangeNotSatisfiableError>()("RangeNotSatisfiableError", ResponseErrorFields)
{
  /** @since 0.1.0 */
  static readonly status = 416
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * 417: a bulk request was refused as a whole (e.g. `_bulk_docs` with `all_or_nothing`).
 *
 * @since 0.1.0
 * @category errors
 */
export class ExpectationFailedError
  extends Schema.TaggedError<ExpectationFailedError>()("ExpectationFailedError", ResponseErrorFields)
{
  /** @since 0.1.0 */
  static readonly status = 417
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * 429: the server (or a proxy, or a hosted service's rate limit) asks the client to slow down.
 *
 * @since 0.1.0
 * @category errors
 */
export class TooManyRequestsError
  extends Schema.TaggedError<TooManyRequestsError>()("TooManyRequestsError", ResponseErrorFields)
{
  /** @since 0.1.0 */
  static readonly status = 429
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * A 5xx answer: the server, or a proxy in front of it, failed (the body may be HTML or empty).
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", ResponseErrorFields) {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return describeResponse(this)
  }
}

/**
 * The request did not get an answer: the connection was refused or reset, the URL was unusable, the body could
 * not be sent, or the request timed out.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  method: Schema.String,
  url: Schema.String,
  reason: Schema.Literal("connection", "timeout", "encode", "invalidUrl"),
  description: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect)
}) {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    const detail = this.description === undefined ? "" : `: ${this.description}`
    return `${this.method} ${this.url} failed (${this.reason})${detail}`
  }
}

/**
 * Why an answer is not what CouchDB sends for the request:
 * - `"truncated"`: the body broke off, or ended before the answer did (a dropped connection, a proxy that cut it):
 *   transient, worth a retry;
 * - `"malformed"`: the body is complete but is not what CouchDB sends (not JSON, an HTML page, a row or a line
 *   that does not match its shape): permanent, a retry gets the same;
 * - `"unexpectedStatus"`: a status this request cannot have (`serverError` and `serverReason` hold the body's
 *   `error` and `reason`, when it had them).
 *
 * @since 0.1.0
 * @category models
 */
export type ResponseDecodeReason = "truncated" | "malformed" | "unexpectedStatus"

/**
 * The server answered, but not with what CouchDB sends for this request: a body that broke off, a body that is not
 * JSON or does not match its schema, or a status the endpoint does not produce. `reason` tells which.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResponseDecodeError extends Schema.TaggedError<ResponseDecodeError>()("ResponseDecodeError", {
  method: Schema.String,
  url: Schema.String,
  status: Schema.Number,
  reason: Schema.Literal("truncated", "malformed", "unexpectedStatus"),
  description: Schema.String,
  serverError: Schema.optional(Schema.String),
  serverReason: Schema.optional(Schema.String),
  requestId: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect)
}) {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.method} ${this.url} answered ${this.status} with an unexpected response (${this.reason}): ${this.description}`
  }
}

/**
 * An argument was refused before any request was sent: an invalid database name, a document id that cannot be
 * addressed, a value that is not JSON.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidArgumentError extends Schema.TaggedError<InvalidArgumentError>()("InvalidArgumentError", {
  argument: Schema.String,
  description: Schema.String
}) {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `Invalid ${this.argument}: ${this.description}`
  }
}

/**
 * The errors that map one HTTP status each.
 *
 * @since 0.1.0
 * @category models
 */
export type StatusError =
  | BadRequestError
  | UnauthorizedError
  | ForbiddenError
  | NotFoundError
  | MethodNotAllowedError
  | ConflictError
  | PreconditionFailedError
  | PayloadTooLargeError
  | UnsupportedMediaTypeError
  | RangeNotSatisfiableError
  | ExpectationFailedError
  | TooManyRequestsError

/**
 * The classes of {@link StatusError}, each with its `status`.
 *
 * @since 0.1.0
 * @category models
 */
export type StatusErrorClass =
  | typeof BadRequestError
  | typeof UnauthorizedError
  | typeof ForbiddenError
  | typeof NotFoundError
  | typeof MethodNotAllowedError
  | typeof ConflictError
  | typeof PreconditionFailedError
  | typeof PayloadTooLargeError
  | typeof UnsupportedMediaTypeError
  | typeof RangeNotSatisfiableError
  | typeof ExpectationFailedError
  | typeof TooManyRequestsError

/**
 * What any request can fail with, whatever the endpoint: no answer, an answer that is not CouchDB's, missing or
 * wrong credentials (401), a user locked out (403: since CouchDB 3.4, after repeated failed logins every route
 * answers 403 for a while, even with the right password), a rate limit, a server failure.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestError =
  | TransportError
  | ResponseDecodeError
  | UnauthorizedError
  | ForbiddenError
  | TooManyRequestsError
  | ServerError

/**
 * Every error effect-couch produces.
 *
 * @since 0.1.0
 * @category models
 */
export type CouchError =
  | StatusError
  | ServerError
  | TransportError
  | ResponseDecodeError
  | InvalidArgumentError
  | SearchUnavailableError

/**
 * Whether a value is one of effect-couch's errors.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCouchError = (u: unknown): u is CouchError => Predicate.hasProperty(u, TypeId)
