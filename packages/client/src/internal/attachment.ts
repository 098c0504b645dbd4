/**
 * Attachments: name rule and path encoding, `GET` as a lazily read stream (with `Range`), `HEAD`, `PUT` from
 * bytes, a string or a stream (never collected but on a browser's platform, which sends stream bodies over HTTP/2
 * only), `DELETE`.
 */
import * as HttpBody from "@effect/platform/HttpBody"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import type * as Attachment from "../Attachment.js"
import * as CouchError from "../CouchError.js"
import { readErrors, writeErrors } from "./endpoint.js"
import * as Names from "./names.js"
import * as Request from "./request.js"

const rangeErrors = [...readErrors, CouchError.RangeNotSatisfiableError] as const
const putErrors = [...writeErrors, CouchError.PayloadTooLargeError] as const

/**
 * Why an attachment name cannot be addressed, or `undefined` when it can.
 *
 * CouchDB takes the rest of the path after the document id as the name, split on `/` with empty segments
 * dropped, so a name with an empty segment (a leading, trailing or double `/`) would reach another name; `.` and
 * `..` segments would be removed by URL normalisation; names starting with `_` are refused by CouchDB.
 */
export const attachmentNameProblem = (name: string): string | undefined => {
  if (name.length === 0) return "an attachment name cannot be empty"
  if (name.startsWith("_")) return `${JSON.stringify(name)}: attachment names cannot start with _`
  if (!Names.isWellFormed(name)) return `${JSON.stringify(name)} holds a lone surrogate, which no URL can carry`
  for (const segment of name.split("/")) {
    if (segment === "") {
      return `${JSON.stringify(name)} has an empty segment (a leading, trailing or double /), which the server drops`
    }
    if (segment === "." || segment === "..") {
      return `${JSON.stringify(name)} cannot be addressed in a URL path: URL normalisation would remove its dots`
    }
  }
  return undefined
}

/** Encodes a valid attachment name as a path: each `/`-separated segment with `encodeURIComponent`. */
export const encodeName = (name: string): string => name.split("/").map(Names.encodeSegment).join("/")

const invalid = (argument: string, description: string) =>
  Effect.fail(new CouchError.InvalidArgumentError({ argument, description }))

/** Why a range cannot be asked for, or `undefined` when it can. */
export const rangeProblem = (range: Attachment.Range): string | undefined => {
  if (!Number.isSafeInteger(range.start) || range.start < 0) {
    return `the start of a range is a byte offset (an integer from 0), not ${range.start}`
  }
  if (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < range.start)) {
    return `the end of a range is an integer from its start (${range.start}) on, not ${range.end}`
  }
  return undefined
}

/** `Content-Range: bytes 10-19/1000` (or `/*`). */
export const parseContentRange = (header: string | undefined): Attachment.ContentRange | undefined => {
  const match = header === undefined ? null : /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(header.trim())
  if (match === null) return undefined
  const start = Number(match[1])
  const end = Number(match[2])
  const size = match[3] === "*" ? undefined : Number(match[3])
  return end < start ? undefined : { start, end, size }
}

const parseLength = (header: string | undefined): number | undefined => {
  if (header === undefined || !/^\s*\d+\s*$/.test(header)) return undefined
  const length = Number(header)
  return Number.isSafeInteger(length) ? length : undefined
}

/** The `md5-<base64>` digest from `Content-MD5`, or from an ETag that is a quoted base64 MD5 (CouchDB's). */
export const digestOf = (headers: Readonly<Record<string, string | undefined>>): string | undefined => {
  const md5 = headers["content-md5"]
  if (md5 !== undefined && /^[A-Za-z0-9+/]{22}==$/.test(md5.trim())) return `md5-${md5.trim()}`
  const etag = headers["etag"]
  const match = etag === undefined ? null : /^"([A-Za-z0-9+/]{22}==)"$/.exec(etag.trim())
  return match === null ? undefined : `md5-${match[1]}`
}

const infoOf = (response: HttpClientResponse.HttpClientResponse): Attachment.Info => ({
  contentType: response.headers["content-type"] ?? "application/octet-stream",
  contentLength: parseLength(response.headers["content-length"]),
  digest: digestOf(response.headers)
})

const describeCause = (cause: unknown): string =>
  cause instanceof Error ? cause.message : String(cause)

/** Why a text cannot be a `Content-Type` header (printable ASCII, not empty), or `undefined` when it can. */
export const contentTypeProblem = (contentType: string): string | undefined =>
  /^[\x21-\x7e][\x20-\x7e]*$/.test(contentType.trim()) ?
    undefined :
    `${JSON.stringify(contentType)} cannot be a Content-Type header (printable ASCII, not empty)`

/**
 * Sends a stream as a request body with `send`: chunks are sent as they are produced, and the stream's own
 * failure is the request's failure (not the transport failure the client reports for it).
 *
 * A browser sends a stream as a request body only over HTTP/2 (Chrome; Firefox and Safari not at all), and
 * CouchDB speaks HTTP/1.1: there the upload fails (ERR_ALPN_NEGOTIATION_FAILED) after the stream was taken. So
 * on a browser's platform the stream is read to its end first and sent as bytes, its length checked against
 * `length` before anything is sent. A browser is told by HTML's navigator.product ("Gecko" in every browser,
 * windows and workers; "ReactNative" there, whose fetch takes no stream either); Node, Deno and Bun have none.
 */
export const sendStream = <A, E, R, E2>(
  content: Stream.Stream<Uint8Array, E, R>,
  contentType: string,
  length: number | undefined,
  send: (body: HttpBody.HttpBody) => Effect.Effect<A, E2>
): Effect.Effect<A, E | E2 | CouchError.InvalidArgumentError, R> =>
  Effect.gen(function*() {
    const product = (globalThis as { readonly navigator?: { readonly product?: unknown } }).navigator?.product
    if (product === "Gecko" || product === "ReactNative") {
      const { chunks, size } = yield* Stream.runFold(
        content,
        { chunks: [] as Array<Uint8Array>, size: 0 },
        (acc, chunk) => {
          acc.chunks.push(chunk)
          acc.size += chunk.length
          return acc
        }
      )
      if (length !== undefined && size !== length) {
        return yield* invalid(
          "content length",
          `the stream gave ${size} bytes, not the ${length} of contentLength (nothing was sent)`
        )
      }
      const bytes = new Uint8Array(size)
      let offset = 0
      for (const chunk of chunks) {
        bytes.set(chunk, offset)
        offset += chunk.length
      }
      return yield* send(HttpBody.uint8Array(bytes, contentType))
    }
    // the stream's own failure reaches the client as a transport failure: remember it, to fail with it
    const failure = yield* Ref.make(Option.none<E>())
    const context = yield* Effect.context<R>()
    const body = content.pipe(
      Stream.tapError((error) => Ref.set(failure, Option.some(error))),
      Stream.provideContext(context)
    )
    return yield* send(HttpBody.stream(body, contentType, length)).pipe(
      Effect.catchAll((error) =>
        Effect.flatMap(
          Ref.get(failure),
          Option.match({
            onNone: (): Effect.Effect<never, E | E2> => Effect.fail(error),
            onSome: (cause) => Effect.fail(cause)
          })
        )
      )
    )
  })

/** Builds the attachment value of a database whose root path (`/{db}`) is already encoded. */
export const make = (
  transport: Request.Transport,
  database: string,
  root: string,
  docId: string,
  name: string
): Effect.Effect<Attachment.Attachment, CouchError.InvalidArgumentError> =>
  Effect.gen(function*() {
    const docPath = yield* Names.documentPath(docId)
    if (docId.startsWith("_local/")) {
      return yield* invalid("document id", `${JSON.stringify(docId)}: local documents cannot have attachments`)
    }
    const problem = attachmentNameProblem(name)
    if (problem !== undefined) return yield* invalid("attachment name", problem)
    const path = `${root}/${docPath}/${encodeName(name)}`
    const url = (rev: string | undefined) => Request.fullUrl(transport, { method: "GET", path, params: { rev } })
    const attributes = { "couchdb.database": database, "couchdb.document": docId, "couchdb.attachment": name }
    const span = (operation: string) => Effect.withSpan(`Attachment.${operation}`, { attributes })

    const bodyStream = (
      response: HttpClientResponse.HttpClientResponse,
      rev: string | undefined
    ): Stream.Stream<Uint8Array, Attachment.BodyError> =>
      Stream.mapError(response.stream, (error) =>
        new CouchError.TransportError({
          method: "GET",
          url: url(rev),
          reason: "connection",
          description: `the body could not be read to its end: ${describeCause(error.cause)}`,
          cause: error
        }))

    const toBody = (
      response: HttpClientResponse.HttpClientResponse,
      rev: string | undefined
    ): Effect.Effect<Attachment.Body, CouchError.ResponseDecodeError> => {
      const info = infoOf(response)
      if (response.status !== 206) {
        return Effect.succeed({ ...info, partial: false, range: undefined, stream: bodyStream(response, rev) })
      }
      const range = parseContentRange(response.headers["content-range"])
      if (range !== undefined) {
        return Effect.succeed({ ...info, partial: true, range, stream: bodyStream(response, rev) })
      }
      // read a chunk at most: the stream's end closes the connection
      return Effect.zipRight(
        Effect.ignore(Stream.runDrain(Stream.take(response.stream, 1))),
        Effect.fail(
          new CouchError.ResponseDecodeError({
            method: "GET",
            url: url(rev),
            status: 206,
            reason: "malformed",
            description: `a 206 answer without a single-range Content-Range (${
              response.headers["content-range"] ?? "none"
            }, ${response.headers["content-type"] ?? "no content type"})`
          })
        )
      )
    }

    const get = (options: Attachment.GetOptions = {}): Effect.Effect<Attachment.Body, Attachment.RangeReadError> => {
      const range = options.range
      // identity: the body and its Content-Length are the stored bytes, never a compressed form of them
      const base = { method: "GET" as const, path, params: { rev: options.rev } }
      if (range === undefined) {
        return Request.execute(
          transport,
          { ...base, headers: { "accept-encoding": "identity" } },
          readErrors,
          (response) => toBody(response, options.rev)
        ).pipe(span("get"))
      }
      const problem = rangeProblem(range)
      if (problem !== undefined) return invalid("range", problem)
      return Request.execute(
        transport,
        { ...base, headers: { "accept-encoding": "identity", range: `bytes=${range.start}-${range.end ?? ""}` } },
        rangeErrors,
        (response) => toBody(response, options.rev)
      ).pipe(span("get"))
    }

    const put = <E, R>(
      content: Attachment.Content<E, R>,
      options: Attachment.PutOptions
    ): Effect.Effect<{ readonly id: string; readonly rev: string }, Attachment.PutError | E, R> =>
      Effect.gen(function*() {
        const contentType = options.contentType.trim()
        const typeProblem = contentTypeProblem(options.contentType)
        if (typeProblem !== undefined) return yield* invalid("content type", typeProblem)
        const length = options.contentLength
        if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
          return yield* invalid("content length", `a length is an integer from 0, not ${length}`)
        }
        const send = (body: HttpBody.HttpBody) =>
          Request.written(transport, {
            method: "PUT",
            path,
            params: { rev: options.rev },
            body,
            timeout: options.timeout
          }, putErrors)
        if (typeof content === "string") return yield* send(HttpBody.text(content, contentType))
        if (content instanceof Uint8Array) return yield* send(HttpBody.uint8Array(content, contentType))
        return yield* sendStream(content, contentType, length, send)
      }).pipe(span("put"))

    const attachment: Attachment.Attachment = {
      docId,
      name,
      get: get as Attachment.Attachment["get"],
      // the span covers the stream's life, until the body is read
      stream: ((options?: Attachment.GetOptions) =>
        Stream.unwrap(Effect.map(get(options), (body) => body.stream)).pipe(
          Stream.withSpan("Attachment.stream", { attributes })
        )) as Attachment.Attachment["stream"],
      head: (options = {}) =>
        Request.execute(
          transport,
          { method: "HEAD", path, params: { rev: options.rev }, headers: { "accept-encoding": "identity" } },
          readErrors,
          (response) => Effect.succeed(infoOf(response))
        ).pipe(span("head")),
      put,
      remove: (rev) =>
        Request.written(transport, { method: "DELETE", path, params: { rev } }, writeErrors).pipe(
          span("remove")
        )
    }
    return attachment
  })
