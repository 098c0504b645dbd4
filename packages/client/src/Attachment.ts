/**
 * Attachments: the binary bodies stored with a document, read and written as streams, and helpers for inline
 * (base64) attachments.
 *
 * Get one from a database: `db.attachment(docId, name)` checks the id and the name (no request is sent) and
 * gives an {@link Attachment} with `get`, `stream`, `head`, `put` and `remove`.
 *
 * @example
 * ```ts
 * import { Attachment, type Database } from "@effect-couch/client"
 * import { Effect, Stream } from "effect"
 *
 * declare const chunks: Iterable<Uint8Array>
 * declare const write: (bytes: Uint8Array) => Effect.Effect<void>
 *
 * const program = (db: Database.Database) =>
 *   Effect.gen(function*() {
 *     const photo = yield* db.attachment("album-1", "photos/beach 2024.jpg")
 *     const { rev } = yield* photo.put(Stream.fromIterable(chunks), { contentType: "image/jpeg" })
 *     const { contentType, contentLength, stream } = yield* photo.get()
 *     yield* Stream.runForEach(stream, (bytes) => write(bytes)) // read lazily, never all in memory
 *     yield* db.put({ _id: "note", _attachments: { "a.txt": Attachment.inline("text/plain", "hello") } })
 *   })
 * ```
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import * as CouchError from "./CouchError.js"
import type * as Document from "./Document.js"

/**
 * A byte range of an attachment, both ends inclusive as in HTTP: `{ start: 0, end: 99 }` is the first 100
 * bytes, `{ start: 100 }` everything from byte 100 on.
 *
 * @since 0.1.0
 * @category models
 */
export interface Range {
  /** The first byte, counted from 0. */
  readonly start: number
  /** The last byte (inclusive); to the end of the attachment when absent. */
  readonly end?: number | undefined
}

/**
 * Options of `get` and `stream` (`GET /{db}/{docid}/{name}`).
 *
 * @since 0.1.0
 * @category models
 */
export interface GetOptions {
  /** Read the attachment of this revision of the document instead of the current one. */
  readonly rev?: string | undefined
  /**
   * Ask for a part of the body only (`Range: bytes=start-end`). A server may still answer with the whole body
   * (CouchDB does for attachments it stores compressed, the embedded test server always does): the result's
   * `partial` says which.
   */
  readonly range?: Range | undefined
}

/**
 * Options of `head` (`HEAD /{db}/{docid}/{name}`).
 *
 * @since 0.1.0
 * @category models
 */
export interface HeadOptions {
  /** The attachment of this revision of the document instead of the current one. */
  readonly rev?: string | undefined
}

/**
 * Options of `put` (`PUT /{db}/{docid}/{name}`).
 *
 * @since 0.1.0
 * @category models
 */
export interface PutOptions {
  /** The attachment's MIME type, stored with it and sent back as `Content-Type`. */
  readonly contentType: string
  /** The document's current revision; leave it out to create the document with this attachment. */
  readonly rev?: string | undefined
  /**
   * For a stream: its length in bytes, sent as `Content-Length` (otherwise the body is sent chunked). A stream
   * that is longer or shorter fails the request.
   */
  readonly contentLength?: number | undefined
  /**
   * How long the whole upload may take; by default the session's timeout. A large upload may need more (or
   * `"infinity"`).
   */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * What `head` tells of an attachment.
 *
 * @since 0.1.0
 * @category models
 */
export interface Info {
  /** The attachment's MIME type (`application/octet-stream` when the server names none). */
  readonly contentType: string
  /** The length of the body in bytes, when the server says it. */
  readonly contentLength: number | undefined
  /**
   * The MD5 digest, written as in a document's `_attachments` stub: `md5-<base64>`. Read from `Content-MD5`,
   * or from the `ETag` when it carries the digest (as CouchDB's does); `undefined` when the server gives neither.
   */
  readonly digest: string | undefined
}

/**
 * The part of the attachment a `206 Partial Content` answer holds (`Content-Range`): the first and last byte,
 * both inclusive, and the attachment's whole length when the server says it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ContentRange {
  /** The first byte the body holds, counted from 0. */
  readonly start: number
  /** The last byte the body holds (inclusive). */
  readonly end: number
  /** The whole attachment's length in bytes, when the server says it (`*` is `undefined`). */
  readonly size: number | undefined
}

/**
 * What reading the body of an attachment can fail with once the answer has started: the connection broke (or
 * the stream was run a second time: a body can be read once).
 *
 * @since 0.1.0
 * @category models
 */
export type BodyError = CouchError.TransportError

/**
 * The answer to `get`: what the headers say, and the body as a stream that is read from the connection as it is
 * consumed (never buffered). Run `stream` once; interrupting it closes the connection. A body that is never
 * run holds its connection until it is garbage-collected.
 *
 * @since 0.1.0
 * @category models
 */
export interface Body extends Info {
  /** `true` when the server answered a `range` with `206 Partial Content`; `false` when this is the whole body. */
  readonly partial: boolean
  /** With `partial`: which bytes of the attachment the body holds. */
  readonly range: ContentRange | undefined
  /** The body (the part asked for when `partial`), chunk by chunk as it arrives. */
  readonly stream: Stream.Stream<Uint8Array, BodyError>
}

/**
 * What reading an attachment (or its headers) can fail with: `NotFoundError` when the document, the revision or
 * the attachment does not exist, `BadRequestError` for a malformed revision.
 *
 * @since 0.1.0
 * @category models
 */
export type ReadError =
  | CouchError.RequestError
  | CouchError.BadRequestError
  | CouchError.ForbiddenError
  | CouchError.NotFoundError

/**
 * What reading a range of an attachment can fail with: a range that is not one (`InvalidArgumentError`, before
 * any request) or that lies outside the attachment (`RangeNotSatisfiableError`).
 *
 * @since 0.1.0
 * @category models
 */
export type RangeReadError = ReadError | CouchError.InvalidArgumentError | CouchError.RangeNotSatisfiableError

/**
 * What writing an attachment can fail with: `ConflictError` for a missing or stale revision, `NotFoundError` for
 * a missing database, `PayloadTooLargeError` past the server's limit, `InvalidArgumentError` for a content type
 * or length refused before any request.
 *
 * @since 0.1.0
 * @category models
 */
export type PutError =
  | CouchError.RequestError
  | CouchError.InvalidArgumentError
  | CouchError.BadRequestError
  | CouchError.ForbiddenError
  | CouchError.NotFoundError
  | CouchError.ConflictError
  | CouchError.PayloadTooLargeError

/**
 * What removing an attachment can fail with: `ConflictError` for a stale revision, `NotFoundError` for a missing
 * document or attachment.
 *
 * @since 0.1.0
 * @category models
 */
export type RemoveError =
  | CouchError.RequestError
  | CouchError.BadRequestError
  | CouchError.ForbiddenError
  | CouchError.NotFoundError
  | CouchError.ConflictError

/**
 * The body of an upload: bytes, a string (sent as UTF-8), or a stream of bytes, sent as it is produced.
 *
 * @since 0.1.0
 * @category models
 */
export type Content<E = never, R = never> = Uint8Array | string | Stream.Stream<Uint8Array, E, R>

/**
 * What reading the attachments of a document answer can fail with once it has started: the connection broke, or
 * the body is not the `multipart/related` answer it says it is (`ResponseDecodeError`).
 *
 * @since 0.1.0
 * @category models
 */
export type PartError = CouchError.TransportError | CouchError.ResponseDecodeError

/**
 * An attachment read with its document (`getWithAttachments`): what the document says of it, and its bytes as a
 * stream read from the connection as it is consumed (never collected).
 *
 * @since 0.1.0
 * @category models
 */
export interface Part {
  /** The attachment's name. */
  readonly name: string
  /** Its MIME type. */
  readonly contentType: string
  /** Its length in bytes, as stored (before any compression the server applies). */
  readonly length: number | undefined
  /** Its MD5 digest, `md5-<base64>`. */
  readonly digest: string | undefined
  /** The revision that added it. */
  readonly revpos: number | undefined
  /**
   * How the bytes of `stream` are encoded: `undefined` for the attachment's own bytes. CouchDB sends the
   * attachments it keeps compressed (text types) gzip-compressed; they are decompressed as they arrive unless
   * `decompress: false` asks for them as sent (then `"gzip"`).
   */
  readonly encoding: string | undefined
  /**
   * The bytes, chunk by chunk as they arrive. Read them within the handler the part was given to: once it
   * returns, what it did not read is skipped, and the stream ends.
   */
  readonly stream: Stream.Stream<Uint8Array, PartError>
}

/**
 * An attachment to write with its document (`putWithAttachments`): its name, type and content. A stream's
 * `contentLength` is required (the multipart body is sent with its exact length); a stream that is longer or
 * shorter fails the write.
 *
 * @since 0.1.0
 * @category models
 */
export interface Upload<E = never, R = never> {
  /** The attachment's name (checked as `attachment` checks it). */
  readonly name: string
  /** Its MIME type. */
  readonly contentType: string
  /** Its bytes: a string (UTF-8), bytes, or a stream of `contentLength` bytes. */
  readonly content: Content<E, R>
  /** The length in bytes; required for a stream, checked against the bytes otherwise. */
  readonly contentLength?: number | undefined
}

/**
 * Options of `getWithAttachments`: which revision, and how the attachments arrive.
 *
 * @since 0.1.0
 * @category models
 */
export interface MultipartGetOptions extends Pick<Document.GetOptions, "rev" | "revs" | "conflicts" | "latest" | "attsSince" | "r"> {
  /** Decompress the attachments the server sends gzip-compressed (default `true`). */
  readonly decompress?: boolean | undefined
}

/**
 * Options of `putWithAttachments`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MultipartPutOptions extends Pick<Document.PutOptions, "batch" | "newEdits" | "w"> {
  /** How long the whole upload may take; by default the session's timeout. */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * One attachment of one document, its document id and name checked: `GET`, `HEAD`, `PUT` and `DELETE` of
 * `/{db}/{docid}/{name}`.
 *
 * @example
 * ```ts
 * import type { Database } from "@effect-couch/client"
 * import { FileSystem } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // uploads a file as it is read (never whole in memory), then a second attachment of the same document
 * const upload = (db: Database.Database, path: string, thumbnail: Uint8Array) =>
 *   Effect.gen(function*() {
 *     const fs = yield* FileSystem.FileSystem
 *     const photo = yield* db.attachment("album-1", "photos/beach.jpg")
 *     const { size } = yield* fs.stat(path)
 *     // no rev: creates the document; a stream that fails fails the upload with its own error
 *     const { rev } = yield* photo.put(fs.stream(path), { contentType: "image/jpeg", contentLength: Number(size) })
 *     const thumb = yield* db.attachment("album-1", "thumbs/beach.jpg")
 *     return yield* thumb.put(thumbnail, { contentType: "image/jpeg", rev }) // the document's new revision
 *   })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Attachment {
  /** The document's id. */
  readonly docId: string
  /** The attachment's name. */
  readonly name: string
  /**
   * `GET`: the content type, length and digest from the headers, and the body as a lazy stream. Fails with
   * `NotFoundError` when the document or the attachment does not exist.
   */
  readonly get: {
    (options?: GetOptions & { readonly range?: undefined }): Effect.Effect<Body, ReadError>
    (options: GetOptions): Effect.Effect<Body, RangeReadError>
  }
  /** The body of `get` as one stream (the request is sent when the stream runs). */
  readonly stream: {
    (options?: GetOptions & { readonly range?: undefined }): Stream.Stream<Uint8Array, ReadError>
    (options: GetOptions): Stream.Stream<Uint8Array, RangeReadError>
  }
  /** `HEAD`: the content type, length and digest, without the body. */
  readonly head: (options?: HeadOptions) => Effect.Effect<Info, ReadError>
  /**
   * `PUT`: stores the attachment (a new document when `rev` is left out) and answers the document's new
   * revision. A stream is sent as it is produced, never collected, except on a browser's platform (which sends a
   * stream body only over HTTP/2, and CouchDB speaks HTTP/1.1): there it is read to its end first, and sent as
   * bytes. Its failure fails the upload with that error.
   */
  readonly put: <E = never, R = never>(
    content: Content<E, R>,
    options: PutOptions
  ) => Effect.Effect<Document.WriteResult, PutError | E, R>
  /** `DELETE ?rev=`: removes the attachment and answers the document's new revision. */
  readonly remove: (rev: string) => Effect.Effect<Document.WriteResult, RemoveError>
}

/**
 * An attachment written inline in a document's `_attachments`: its type and its body in base64.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Inline = Schema.Struct({
  content_type: Schema.String,
  data: Schema.String
}).annotations({ identifier: "InlineAttachment" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Inline extends Schema.Schema.Type<typeof Inline> {}

/**
 * An entry of a document's `_attachments` as CouchDB sends it: a stub (`stub: true`, no body) or, with
 * `attachments: true`, the body inline in base64 (`data`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Stub = Schema.Struct({
  content_type: Schema.String,
  digest: Schema.optional(Schema.String),
  length: Schema.optional(Schema.Number),
  revpos: Schema.optional(Schema.Number),
  stub: Schema.optional(Schema.Boolean),
  data: Schema.optional(Schema.String),
  encoding: Schema.optional(Schema.String),
  encoded_length: Schema.optional(Schema.Number)
}).annotations({ identifier: "AttachmentStub" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Stub extends Schema.Schema.Type<typeof Stub> {}

/**
 * An inline attachment for a document's `_attachments`: the content type and the body (bytes, or a string
 * written as UTF-8) in base64.
 *
 * @example
 * ```ts
 * import { Attachment, type Database } from "@effect-couch/client"
 *
 * const writeNote = (db: Database.Database) =>
 *   db.put({ _id: "note", _attachments: { "a.txt": Attachment.inline("text/plain", "hello") } })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const inline = (contentType: string, content: Uint8Array | string): Inline => ({
  content_type: contentType,
  data: Encoding.encodeBase64(content)
})

const isStubOnly = Schema.is(Schema.Struct({ stub: Schema.Literal(true) }))

/**
 * The bytes of an inline attachment: an entry of `_attachments` read with `attachments: true`, whose `data` is
 * base64. A stub without `data` (read without `attachments: true`) or data that is not base64 is an
 * `InvalidArgumentError`. The result is an `Either`, which can also be yielded in `Effect.gen`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeInline = (attachment: unknown): Either.Either<Uint8Array, CouchError.InvalidArgumentError> => {
  const invalid = (description: string) =>
    Either.left(new CouchError.InvalidArgumentError({ argument: "inline attachment", description }))
  if (typeof attachment !== "object" || attachment === null) return invalid("it is not an attachment object")
  const data = (attachment as { readonly data?: unknown }).data
  if (typeof data !== "string") {
    return invalid(
      isStubOnly(attachment) ?
        "it is a stub without data: read the document with attachments: true, or use db.attachment(...).get()" :
        "it has no base64 data"
    )
  }
  return Either.mapLeft(Encoding.decodeBase64(data), () =>
    new CouchError.InvalidArgumentError({ argument: "inline attachment", description: "its data is not base64" }))
}

/**
 * The bytes of the inline attachment `name` of a document read with `attachments: true`; a document without it
 * is an `InvalidArgumentError`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeInlineFrom = (
  doc: object,
  name: string
): Either.Either<Uint8Array, CouchError.InvalidArgumentError> => {
  const attachments = (doc as { readonly _attachments?: unknown })._attachments
  const entry = typeof attachments === "object" && attachments !== null && Object.hasOwn(attachments, name) ?
    (attachments as Readonly<Record<string, unknown>>)[name] :
    undefined
  return entry === undefined ?
    Either.left(
      new CouchError.InvalidArgumentError({
        argument: "inline attachment",
        description: `the document has no attachment ${JSON.stringify(name)}`
      })
    ) :
    decodeInline(entry)
}
