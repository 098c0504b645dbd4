/**
 * A database on a CouchDB server, bound to the session that opened it.
 *
 * Get one from the session: `session.create(name)`, `session.database(name)` (checks that it exists) or
 * `session.use(name)` (no request).
 *
 * @since 0.1.0
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Schedule from "effect/Schedule"
import type * as Stream from "effect/Stream"
import type * as Attachment from "./Attachment.js"
import type * as Changes from "./Changes.js"
import type * as CouchError from "./CouchError.js"
import * as CouchSession from "./CouchSession.js"
import type * as Document from "./Document.js"
import type * as Mango from "./Mango.js"
import type * as Search from "./Search.js"
import type * as View from "./View.js"

/**
 * A change sequence. CouchDB 2+ sends opaque strings (`"3-g1AAAA..."`), other servers numbers: never parse or
 * compare one, only pass it back.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Sequence = Schema.Union(Schema.String, Schema.Number).annotations({ identifier: "Sequence" })

/**
 * @since 0.1.0
 * @category models
 */
export type Sequence = typeof Sequence.Type

/**
 * What `GET /{db}` tells of a database. Fields that only some servers send are optional.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DatabaseInfo = Schema.Struct({
  dbName: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("db_name")),
  docCount: Schema.propertySignature(Schema.Number).pipe(Schema.fromKey("doc_count")),
  docDelCount: Schema.optional(Schema.Number).pipe(Schema.fromKey("doc_del_count")),
  updateSeq: Schema.propertySignature(Sequence).pipe(Schema.fromKey("update_seq")),
  purgeSeq: Schema.optional(Sequence).pipe(Schema.fromKey("purge_seq")),
  compactRunning: Schema.optional(Schema.Boolean).pipe(Schema.fromKey("compact_running")),
  diskFormatVersion: Schema.optional(Schema.Number).pipe(Schema.fromKey("disk_format_version")),
  instanceStartTime: Schema.optional(Schema.String).pipe(Schema.fromKey("instance_start_time")),
  sizes: Schema.optional(Schema.Struct({
    active: Schema.optional(Schema.Number),
    external: Schema.optional(Schema.Number),
    file: Schema.optional(Schema.Number)
  })),
  cluster: Schema.optional(Schema.Struct({
    q: Schema.optional(Schema.Number),
    n: Schema.optional(Schema.Number),
    w: Schema.optional(Schema.Number),
    r: Schema.optional(Schema.Number)
  })),
  props: Schema.optional(Schema.Struct({ partitioned: Schema.optional(Schema.Boolean) }))
}).annotations({ identifier: "DatabaseInfo" })

/**
 * @since 0.1.0
 * @category models
 */
export interface DatabaseInfo extends Schema.Schema.Type<typeof DatabaseInfo> {}

/**
 * A database's security object: who may administer it and who may read and write it. An empty `members` makes
 * the database public.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SecurityObject = Schema.Struct({
  admins: Schema.optional(Schema.Struct({
    names: Schema.optional(Schema.Array(Schema.String)),
    roles: Schema.optional(Schema.Array(Schema.String))
  })),
  members: Schema.optional(Schema.Struct({
    names: Schema.optional(Schema.Array(Schema.String)),
    roles: Schema.optional(Schema.Array(Schema.String))
  }))
}).annotations({ identifier: "SecurityObject" })

/**
 * @since 0.1.0
 * @category models
 */
export interface SecurityObject extends Schema.Schema.Type<typeof SecurityObject> {}

/**
 * Names and roles to add to or remove from a security object's `admins` or `members`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Principals {
  /** User names. */
  readonly names?: ReadonlyArray<string> | undefined
  /** Roles: every user who has one of them. */
  readonly roles?: ReadonlyArray<string> | undefined
}

/**
 * Options of `allDocs` and `designDocs`.
 *
 * @since 0.1.0
 * @category models
 */
export interface AllDocsOptions {
  /** Only these ids, in this order (sent by POST); an id that does not exist gives an error row. */
  readonly keys?: ReadonlyArray<string> | undefined
  /** The first id (inclusive). */
  readonly startkey?: string | undefined
  /** The last id (inclusive unless `inclusiveEnd` is false). */
  readonly endkey?: string | undefined
  /** Whether `endkey` is included (default true). */
  readonly inclusiveEnd?: boolean | undefined
  /** Highest id first; then `startkey` is the high end. */
  readonly descending?: boolean | undefined
  /** At most this many rows in all. */
  readonly limit?: number | undefined
  /** Skip this many rows first (sent with the first page only). */
  readonly skip?: number | undefined
  /** Include each document. */
  readonly includeDocs?: boolean | undefined
  /** With `includeDocs`: include `_conflicts`. */
  readonly conflicts?: boolean | undefined
  /** Include the database's update sequence (in the page variant). */
  readonly updateSeq?: boolean | undefined
  /**
   * `false` leaves the design documents out (as aiocouch's `docs()` does): the range is read around them, so a typed
   * database never decodes one, and `limit` and `skip` count the other documents (default: included).
   */
  readonly designDocuments?: boolean | undefined
  /**
   * Read in pages of this many rows, a request each (a page read whole, then delivered), instead of in one
   * request: every request is short, whatever the time the consumer takes over the rows. With `keys`: how many
   * keys each request carries (default 1000).
   */
  readonly pageSize?: number | undefined
  /**
   * `true` (the default without `keys`): read every row in one request, parsed row by row as the answer arrives:
   * constant memory, one request and one server query, the rows of one snapshot. When the connection breaks
   * mid-answer and the session retries, the read goes on with a new request from the last row delivered (not with
   * `keys`); otherwise the stream fails with a `ResponseDecodeError`. `false`: in pages of `pageSize` (default 1000).
   * With `keys`, `true` sends every key in one request.
   */
  readonly oneRequest?: boolean | undefined
}

/**
 * A row of `_all_docs`: the id, the current revision, and the document when asked for. With `keys`, a deleted
 * document's row has `value.deleted` and `doc: null`.
 *
 * @since 0.1.0
 * @category models
 */
export interface AllDocsRow<A> {
  /** Tells a row from an {@link AllDocsErrorRow}. */
  readonly _tag: "Row"
  /** The document's id. */
  readonly id: string
  /** The row's key: the id again, or with `keys` the key asked for. */
  readonly key: string
  /** The document's current revision, and with `keys` whether the document is deleted. */
  readonly value: { readonly rev: string; readonly deleted?: boolean | undefined }
  /** With `includeDocs`: the document (decoded with a typed database's schema), `null` for a deleted one. */
  readonly doc?: A | null | undefined
}

/**
 * The row `_all_docs` gives for a requested key that names no document.
 *
 * @since 0.1.0
 * @category models
 */
export interface AllDocsErrorRow {
  /** Tells an error row from an {@link AllDocsRow}. */
  readonly _tag: "ErrorRow"
  /** The key asked for. */
  readonly key: string
  /** Why there is no row: `not_found`. */
  readonly error: string
}

/**
 * One page of `_all_docs`.
 *
 * @since 0.1.0
 * @category models
 */
export interface AllDocsPage<A> {
  /** How many documents the database has (not how many rows this page holds). */
  readonly totalRows: number
  /** The position of the page's first row among all the database's rows. */
  readonly offset: number | undefined
  /** The rows of this page, in key order (with `keys`, in their order). */
  readonly rows: ReadonlyArray<AllDocsRow<A> | AllDocsErrorRow>
  /** With `updateSeq`: the database's update sequence as of this answer. */
  readonly updateSeq?: Sequence | undefined
}

/**
 * Options of `modify`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModifyOptions {
  /** How to retry after a conflict (default: up to 10 times, exponential from 10 ms, jittered). */
  readonly schedule?: Schedule.Schedule<unknown> | undefined
}

/**
 * Options of `bulkWrite`.
 *
 * @since 0.1.0
 * @category models
 */
export interface BulkWriteOptions {
  /** Documents per `_bulk_docs` request (default 1000): a positive integer, else `InvalidArgumentError`. */
  readonly batchSize?: number | undefined
  /** Requests in flight at once (default 4): a positive integer, else `InvalidArgumentError`. */
  readonly concurrency?: number | undefined
  /** `new_edits=false`: store the given revisions as they are (replication). */
  readonly newEdits?: boolean | undefined
}

/**
 * A request of `bulkGet`: a document, optionally at a revision.
 *
 * @since 0.1.0
 * @category models
 */
export interface BulkGetRequest {
  /** The document's id. */
  readonly id: string
  /** The revision to read; the winning one when absent. */
  readonly rev?: string | undefined
  /** With `attachments`: only the attachments changed since these revisions come with their bodies. */
  readonly attsSince?: ReadonlyArray<string> | undefined
}

/**
 * The answer to one `bulkGet` request: each revision found, or its error (`not_found`, ...).
 *
 * @since 0.1.0
 * @category models
 */
export interface BulkGetResult<A> {
  /** The id asked for. */
  readonly id: string
  /** One entry per revision: the document (decoded with a typed database's schema), or why it is missing. */
  readonly docs: ReadonlyArray<Either.Either<A, Document.WriteFailure>>
}

/**
 * How a stream handles a document that does not match the schema: fail the stream (default), or deliver each
 * document as an `Either` so that one bad document loses none of the others.
 *
 * @since 0.1.0
 * @category models
 */
export interface EitherMode {
  /** Deliver each document as `Either.right(doc)`, or `Either.left(DocumentDecodeError)` when it does not match. */
  readonly decode: "either"
}

/**
 * What reading a document can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type ReadError =
  | CouchError.RequestError
  | CouchError.InvalidArgumentError
  | CouchError.BadRequestError
  | CouchError.ForbiddenError
  | CouchError.NotFoundError

/**
 * What writing a document can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type WriteError =
  | CouchError.RequestError
  | CouchError.InvalidArgumentError
  | CouchError.BadRequestError
  | CouchError.ForbiddenError
  | CouchError.NotFoundError
  | CouchError.ConflictError

/**
 * What a bulk write can fail with as a whole (a refused document is a `WriteFailure` result, not an error).
 *
 * @since 0.1.0
 * @category models
 */
export type BulkWriteError = WriteError | CouchError.PayloadTooLargeError | CouchError.ExpectationFailedError

/**
 * The queries over a database or one of its partitions: Mango and views.
 *
 * @since 0.1.0
 * @category models
 */
export interface Queries<A, D> {
  /** `POST _find`: one page of a Mango query, with its bookmark, warning and execution statistics. */
  readonly find: (query: Mango.FindQuery<A>) => Effect.Effect<Mango.FindResult<A>, ReadError | D>
  /**
   * `_find` as a stream: follows the bookmark page after page (`limit` is the page size, default 100) until the
   * server returns fewer than asked; never loops on a repeated bookmark.
   */
  readonly findStream: (query: Mango.FindQuery<A>) => Stream.Stream<A, ReadError | D>
  /** `POST _explain`: which index a query would use. */
  readonly explain: (query: Mango.FindQuery<A>) => Effect.Effect<Mango.Explanation, ReadError>
  /**
   * The rows of a map view as a stream that pages by key and document id, correct when many rows share a key
   * across a page boundary. Sends `reduce=false`. Keys and values decode with `schemas` when given.
   */
  readonly view: <
    KS extends Schema.Schema.AnyNoContext = typeof Schema.Unknown,
    VS extends Schema.Schema.AnyNoContext = typeof Schema.Unknown
  >(
    designDoc: string,
    view: string,
    query?: View.ViewQuery & View.PageOptions,
    schemas?: View.RowSchemas<KS, VS>
  ) => Stream.Stream<View.ViewRow<Schema.Schema.Type<KS>, Schema.Schema.Type<VS>, A>, ReadError | D>
  /** One request of a map view, with the total row count and offset. */
  readonly viewPage: <
    KS extends Schema.Schema.AnyNoContext = typeof Schema.Unknown,
    VS extends Schema.Schema.AnyNoContext = typeof Schema.Unknown
  >(
    designDoc: string,
    view: string,
    query?: View.ViewQuery,
    schemas?: View.RowSchemas<KS, VS>
  ) => Effect.Effect<View.ViewPage<Schema.Schema.Type<KS>, Schema.Schema.Type<VS>, A>, ReadError | D>
  /** The rows of a view's reduce (with `group` or `groupLevel`, paged by key). */
  readonly reduce: <
    KS extends Schema.Schema.AnyNoContext = typeof Schema.Unknown,
    VS extends Schema.Schema.AnyNoContext = typeof Schema.Unknown
  >(
    designDoc: string,
    view: string,
    query?: View.ReduceQuery & View.PageOptions,
    schemas?: View.RowSchemas<KS, VS>
  ) => Stream.Stream<View.ReduceRow<Schema.Schema.Type<KS>, Schema.Schema.Type<VS>>, ReadError>
  /** `POST .../_view/{view}/queries`: several map queries of a view in one request. */
  readonly viewQueries: <
    KS extends Schema.Schema.AnyNoContext = typeof Schema.Unknown,
    VS extends Schema.Schema.AnyNoContext = typeof Schema.Unknown
  >(
    designDoc: string,
    view: string,
    queries: ReadonlyArray<View.ViewQuery>,
    schemas?: View.RowSchemas<KS, VS>
  ) => Effect.Effect<ReadonlyArray<View.ViewPage<Schema.Schema.Type<KS>, Schema.Schema.Type<VS>, A>>, ReadError | D>
}

/**
 * What `GET /{db}/_partition/{partition}` tells of a partition.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PartitionInfo = Schema.Struct({
  dbName: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("db_name")),
  partition: Schema.String,
  docCount: Schema.propertySignature(Schema.Number).pipe(Schema.fromKey("doc_count")),
  docDelCount: Schema.optional(Schema.Number).pipe(Schema.fromKey("doc_del_count")),
  sizes: Schema.optional(Schema.Struct({
    active: Schema.optional(Schema.Number),
    external: Schema.optional(Schema.Number)
  }))
}).annotations({ identifier: "PartitionInfo" })

/**
 * @since 0.1.0
 * @category models
 */
export interface PartitionInfo extends Schema.Schema.Type<typeof PartitionInfo> {}

/**
 * One partition of a partitioned database: its info and its scoped queries (`/{db}/_partition/{p}/...`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Partition<A, D> extends Queries<A, D>, Search.PartitionSearches<A, D> {
  /** The partition key: the part of the documents' ids before the `:`. */
  readonly partition: string
  /** `GET /{db}/_partition/{partition}`: the partition's document count and sizes. */
  readonly info: Effect.Effect<PartitionInfo, ReadError>
  /** `_all_docs` of the partition, as a stream (one request, or pages by key with `pageSize`). */
  readonly allDocs: (options?: AllDocsOptions) => Stream.Stream<AllDocsRow<A> | AllDocsErrorRow, ReadError | D>
}

/**
 * The document operations, for documents of type `A`; `D` is what decoding a document can fail with (`never`
 * for untyped documents, `DocumentDecodeError` for a typed database).
 *
 * @example
 * ```ts
 * // _all_docs as a stream: constant memory whatever the database's size (here in pages of 500 rows, a request each)
 * import type { Database } from "@effect-couch/client"
 * import { Stream } from "effect"
 *
 * const orderIds = (db: Database.Database) =>
 *   db.allDocs({ startkey: "order-2026-", endkey: "order-2026-\ufff0", pageSize: 500 }).pipe(
 *     Stream.filter((row) => row._tag === "Row"),
 *     Stream.map((row) => row.id)
 *   )
 * ```
 *
 * @example
 * ```ts
 * // a Mango query on a typed database: the selector's fields and operands are checked against the schema
 * import type { Database } from "@effect-couch/client"
 * import { Effect, Schema } from "effect"
 *
 * const Pet = Schema.Struct({ _id: Schema.String, name: Schema.String, species: Schema.String, age: Schema.Number })
 *
 * const oldCats = (db: Database.Database) =>
 *   Effect.gen(function*() {
 *     const { bookmark, docs } = yield* db.withSchema(Pet).find({
 *       selector: { species: "cat", age: { $gte: 10 } }, // { age: { $gte: "10" } } would not compile
 *       fields: ["_id", "name", "species", "age"],
 *       limit: 20
 *     })
 *     return { names: docs.map((pet) => pet.name), next: bookmark } // next: the bookmark of the next page
 *   })
 * ```
 *
 * @example
 * ```ts
 * // the changes feed: what changed since a sequence, then the sequence to start from next time
 * import type { Database } from "@effect-couch/client"
 * import { Effect, Stream } from "effect"
 *
 * const changedSince = (db: Database.Database, since: Database.Sequence) =>
 *   db.changes({ since }).pipe(
 *     Stream.runFold({ ids: new Set<string>(), next: since }, (acc, event) =>
 *       event._tag === "Change" ? { ...acc, ids: acc.ids.add(event.id) } : { ...acc, next: event.lastSeq })
 *   )
 *
 * // a follower: never ends, reconnects from its checkpoint; delivery is at least once
 * declare const loadCheckpoint: Effect.Effect<Database.Sequence | undefined>
 * declare const saveCheckpoint: (seq: Database.Sequence | "now" | undefined) => Effect.Effect<void>
 *
 * const follow = (db: Database.Database) =>
 *   Effect.gen(function*() {
 *     const follower = yield* db.follow({ since: yield* loadCheckpoint, includeDocs: true, heartbeat: "30 seconds" })
 *     yield* follower.changes.pipe(
 *       Stream.tap((change) => Effect.log(change.id, change.deleted ? "deleted" : change.doc)),
 *       Stream.tap(() => Effect.flatMap(follower.checkpoint, saveCheckpoint)),
 *       Stream.runDrain
 *     )
 *   })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Documents<A, D> extends Queries<A, D>, Search.SearchIndexes<A, D> {
  /**
   * `_changes` as a stream of changes, then the feed's last sequence. A `normal` feed is read in one request
   * (or in pages with `pageSize`), a `continuous` or `eventsource` feed as it arrives, heartbeats skipped: constant
   * memory either way.
   */
  readonly changes: (options?: Changes.ChangesOptions) => Stream.Stream<Changes.ChangeEvent<A>, ReadError | D>
  /**
   * A follower: a continuous feed that never ends on its own. When the connection drops, times out (no change
   * and no heartbeat) or the server restarts, it reconnects from the last sequence it delivered, as the schedule
   * allows. It fails only on errors retrying cannot cure (400, 401, 403, 404: a deleted database, lost
   * credentials). Delivery is at least once.
   */
  readonly follow: (options?: Changes.FollowOptions) => Effect.Effect<Changes.Follower<A, ReadError | D>>
  /**
   * A partition of a partitioned database. The key is checked first (not empty, no leading `_`, no `:`): a bad
   * one is `InvalidArgumentError`, and no request is sent.
   */
  readonly partition: (partition: string) => Effect.Effect<Partition<A, D>, CouchError.InvalidArgumentError>
  /**
   * An attachment of a document (`/{db}/{docid}/{name}`): `get` (a lazily read stream, `Range`), `head`, `put`
   * (bytes, a string or a stream, never collected), `remove`. The id and the name are checked first (a name may
   * hold `/`; it may not be empty, start with `_`, or have an empty, `.` or `..` segment; `_local/` documents
   * have no attachments): a bad one is `InvalidArgumentError`, and no request is sent.
   */
  readonly attachment: (docId: string, name: string) => Effect.Effect<Attachment.Attachment, CouchError.InvalidArgumentError>
  /** `GET /{db}/{docid}`. `NotFoundError.reason` says `missing` or `deleted`. */
  readonly get: (id: string, options?: Document.GetOptions) => Effect.Effect<A, ReadError | D>
  /** `GET /{db}/{docid}?open_revs=...`: the document at each of these revisions (or all leaves). */
  readonly getOpenRevisions: (
    id: string,
    revs: "all" | ReadonlyArray<string>,
    options?: Pick<Document.GetOptions, "revs" | "latest" | "attachments">
  ) => Effect.Effect<ReadonlyArray<Document.OpenRevision<A>>, ReadError | D>
  /**
   * `GET /{db}/{docid}?attachments=true` as `multipart/related`: the document, and each attachment's bytes given
   * to `onAttachment` as they arrive (no base64, nothing collected: memory stays flat whatever the attachments'
   * size). Each part's stream is read within its handler; what a handler leaves unread is skipped. The document
   * comes back with its attachments as stubs. With `attsSince`, only the attachments changed since those
   * revisions follow (the others stay stubs, and no handler sees them).
   */
  readonly getWithAttachments: <E = never, R = never>(
    id: string,
    onAttachment: (attachment: Attachment.Part, doc: A) => Effect.Effect<void, E, R>,
    options?: Attachment.MultipartGetOptions
  ) => Effect.Effect<A, ReadError | D | E, R>
  /**
   * `GET /{db}/{docid}?open_revs=...&attachments=true` as `multipart/mixed`: the document at each of these
   * revisions (or every leaf), each revision's attachments given to `onAttachment` with that revision's document
   * as they arrive (as `getWithAttachments` does). A server that answers JSON instead has the attachments inline:
   * they are handed on from there.
   */
  readonly getOpenRevisionsWithAttachments: <E = never, R = never>(
    id: string,
    revs: "all" | ReadonlyArray<string>,
    onAttachment: (attachment: Attachment.Part, doc: A) => Effect.Effect<void, E, R>,
    options?: Pick<Attachment.MultipartGetOptions, "revs" | "latest" | "attsSince" | "decompress">
  ) => Effect.Effect<ReadonlyArray<Document.OpenRevision<A>>, ReadError | D | E, R>
  /**
   * `PUT /{db}/{docid}` as `multipart/related`: the document and these attachments in one request (one new
   * revision), each streamed from its content (a stream with its `contentLength`) and announced in
   * `_attachments` as `follows`; the document's other attachment stubs are kept. Names, types and lengths are
   * checked before anything is sent.
   */
  readonly putWithAttachments: <E = never, R = never>(
    doc: A,
    attachments: ReadonlyArray<Attachment.Upload<E, R>>,
    options?: Attachment.MultipartPutOptions
  ) => Effect.Effect<Document.WriteResult, WriteError | CouchError.PayloadTooLargeError | E, R>
  /**
   * The current revision of a document: `HEAD /{db}/{docid}`, read from the ETag. A local document's ETag is an
   * opaque hash on CouchDB, not its revision, so for a `_local/` id the document is read (`GET`) and its `_rev`
   * given.
   */
  readonly head: (id: string) => Effect.Effect<string, ReadError>
  /** `PUT /{db}/{docid}`: writes a document (with its `_rev` to update it). */
  readonly put: (doc: A, options?: Document.PutOptions) => Effect.Effect<Document.WriteResult, WriteError>
  /**
   * `POST /{db}`: writes a document under an id the server assigns (never retried automatically). For a typed
   * database the schema must allow a document without `_id`.
   */
  readonly post: (
    doc: Omit<A, "_id"> & { readonly _id?: string | undefined },
    options?: Pick<Document.PutOptions, "batch">
  ) => Effect.Effect<Document.WriteResult, WriteError>
  /** `DELETE /{db}/{docid}?rev=...`: deletes a document (writes a tombstone). */
  readonly remove: (id: string, rev: string) => Effect.Effect<Document.WriteResult, WriteError>
  /** `COPY /{db}/{docid}`: copies a document to another id. */
  readonly copy: (
    id: string,
    destinationId: string,
    options?: Document.CopyOptions
  ) => Effect.Effect<Document.WriteResult, WriteError>
  /**
   * Writes a document whatever revision it is at ("create or update": aiocouch's `save` without a known revision).
   * A `PUT` with the document's `_rev` (or none, which creates it); on `ConflictError`, the current revision is read
   * (`HEAD`; none for a missing or deleted document) and the write sent again with it, as the schedule allows
   * (default: 10 times, exponential from 10 ms, jittered). Last writer wins: what another writer stored in between
   * is replaced. Typed databases encode the document with their schema.
   */
  readonly upsert: (doc: A, options?: ModifyOptions) => Effect.Effect<Document.WriteResult, WriteError>
  /**
   * Reads a document, applies `f`, writes the result; when someone else wrote in between (`ConflictError`),
   * reads again and retries, as the schedule allows.
   */
  readonly modify: (
    id: string,
    f: (doc: A) => A,
    options?: ModifyOptions
  ) => Effect.Effect<Document.WriteResult, WriteError | D>
  /** `POST /{db}/_bulk_docs`: one result per document, in order; only a request-level error fails the call. */
  readonly bulkDocs: (
    docs: Iterable<A>,
    options?: Pick<BulkWriteOptions, "newEdits">
  ) => Effect.Effect<ReadonlyArray<Either.Either<Document.WriteResult, Document.WriteFailure>>, BulkWriteError>
  /**
   * Writes a stream of documents in `_bulk_docs` batches, several in flight, with bounded memory: the fast path
   * for imports. Emits one result per document, in order.
   *
   * A batch is sent only once the source has given all of it. The source is read a chunk at a time as the results are
   * pulled: at most `concurrency` batches in flight, and the batches of the last chunk read waiting for a slot. A
   * batch is encoded as soon as it is full, and keeps its body, not its documents, while it waits and while its
   * request is in flight. When the source fails, the documents of the batch it was
   * filling are not sent; the results of the batches sent before are emitted, then the stream fails with the
   * source's error (what was written stays written). When a request fails, or a document of a batch cannot be
   * encoded, the results of the batches before it are emitted, the requests still in flight are interrupted, and
   * the stream fails with its error.
   */
  readonly bulkWrite: <E, R>(
    docs: Stream.Stream<A, E, R>,
    options?: BulkWriteOptions
  ) => Stream.Stream<Either.Either<Document.WriteResult, Document.WriteFailure>, E | BulkWriteError, R>
  /**
   * `POST /{db}/_bulk_get`: several documents (and revisions) in one request; on a cluster `r` copies of each
   * answer (`r` = `n` reads every copy).
   */
  readonly bulkGet: (
    requests: ReadonlyArray<BulkGetRequest>,
    options?: Pick<Document.GetOptions, "revs" | "latest" | "attachments" | "r">
  ) => Effect.Effect<ReadonlyArray<BulkGetResult<A>>, ReadError | D>
  /**
   * `POST /{db}/_bulk_get` with each document as the server wrote it: its JSON text (UTF-8 bytes, a view of the
   * answer), neither parsed nor decoded, whatever the database's schema; errors read as `bulkGet` reads them. For
   * what hands documents on untouched (a backup, a copy to a file or another server): the answer's structure is
   * found without parsing it, a fraction of the CPU of `bulkGet`. `JSON.parse(new TextDecoder().decode(bytes))`
   * gives the document `bulkGet` gives (untyped).
   */
  readonly bulkGetRaw: (
    requests: ReadonlyArray<BulkGetRequest>,
    options?: Pick<Document.GetOptions, "revs" | "latest" | "attachments" | "r">
  ) => Effect.Effect<ReadonlyArray<BulkGetResult<Uint8Array>>, ReadError>
  /**
   * `_all_docs` as a stream: every row once, in order, with constant memory; in one request read as it arrives
   * (resumed from the last row if the connection breaks), or in pages by key with `pageSize`.
   */
  readonly allDocs: {
    (
      options: AllDocsOptions & EitherMode
    ): Stream.Stream<AllDocsRow<Either.Either<A, Document.DocumentDecodeError>> | AllDocsErrorRow, ReadError>
    (options?: AllDocsOptions): Stream.Stream<AllDocsRow<A> | AllDocsErrorRow, ReadError | D>
  }
  /** One request of `_all_docs`, with the total row count and offset. */
  readonly allDocsPage: (options?: Omit<AllDocsOptions, "pageSize">) => Effect.Effect<AllDocsPage<A>, ReadError | D>
  /**
   * `POST /{db}/_all_docs/queries`: several `_all_docs` queries in one request, a page each, in order (as
   * `viewQueries` for views). `designDocs` and `localDocs` queries go to `_design_docs/queries` and
   * `_local_docs/queries` with `from`.
   */
  readonly allDocsQueries: (
    queries: ReadonlyArray<Omit<AllDocsOptions, "pageSize" | "oneRequest" | "designDocuments">>,
    options?: { readonly from?: "all" | "design" | "local" | undefined }
  ) => Effect.Effect<ReadonlyArray<AllDocsPage<A>>, ReadError | D>
  /** `_design_docs` as a stream, as `allDocs` reads (the design documents only). */
  readonly designDocs: (options?: AllDocsOptions) => Stream.Stream<AllDocsRow<A> | AllDocsErrorRow, ReadError | D>
  /**
   * `_local_docs` as a stream, as `allDocs` reads: the local documents (`_local/...`: never replicated, without
   * history), with `includeDocs` their bodies. CouchDB answers no total for them.
   */
  readonly localDocs: (options?: AllDocsOptions) => Stream.Stream<AllDocsRow<A> | AllDocsErrorRow, ReadError | D>
}

/**
 * A database, bound to its session, with untyped documents; `withSchema` gives a typed view.
 *
 * @example
 * ```ts
 * import { CouchSession } from "@effect-couch/client"
 * import { Effect, Schema } from "effect"
 *
 * const Todo = Schema.Struct({
 *   _id: Schema.String,
 *   _rev: Schema.optional(Schema.String),
 *   title: Schema.String,
 *   done: Schema.Boolean
 * })
 *
 * const program = Effect.gen(function*() {
 *   const couch = yield* CouchSession.CouchSession
 *   const db = yield* couch.database("todos") // NotFoundError if there is no such database
 *
 *   // untyped: any JSON object with an _id
 *   const { rev } = yield* db.put({ _id: "milk", title: "Buy milk", done: false })
 *   const doc = yield* db.get("milk") // { _id, _rev, ...unknown fields }
 *
 *   // typed: reads decode (a mismatch is a DocumentDecodeError naming the id), writes encode
 *   const todos = db.withSchema(Todo)
 *   const milk = yield* todos.get("milk")
 *   yield* todos.put({ ...milk, done: true }) // carries milk._rev: a stale one is a ConflictError
 *
 *   // a document that is not there
 *   const bread = yield* todos.get("bread").pipe(
 *     Effect.catchTag("NotFoundError", (error) => Effect.succeed(error.reason)) // "missing" or "deleted"
 *   )
 *   return { rev, doc, bread }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Database extends Documents<Document.Document, never> {
  /** The database's name. */
  readonly name: string
  /** `GET /{db}`: the database's document count, sizes, update sequence and so on. */
  readonly info: Effect.Effect<
    DatabaseInfo,
    CouchError.RequestError | CouchError.NotFoundError | CouchError.ForbiddenError
  >
  /** `HEAD /{db}`: whether the database exists. */
  readonly exists: Effect.Effect<boolean, CouchError.RequestError | CouchError.ForbiddenError>
  /** `DELETE /{db}`: deletes the database and everything in it. */
  readonly delete: Effect.Effect<
    void,
    CouchError.RequestError | CouchError.NotFoundError | CouchError.ForbiddenError | CouchError.BadRequestError
  >
  /**
   * A typed view of the database: documents are decoded with the schema when read (a mismatch is a
   * `DocumentDecodeError` naming the id) and encoded with it when written.
   */
  readonly withSchema: <A, I extends { readonly _id: string }>(
    schema: Schema.Schema<A, I>
  ) => Documents<A, Document.DocumentDecodeError>
  /** `GET /{db}/_local/{id}`: a local (non-replicated) document. */
  readonly getLocal: (id: string) => Effect.Effect<Document.Document, ReadError>
  /** `PUT /{db}/_local/{id}`: writes a local document (with its `_rev` to update it). */
  readonly putLocal: (
    id: string,
    doc: Omit<Document.Document, "_id"> & { readonly _id?: string }
  ) => Effect.Effect<Document.WriteResult, WriteError>
  /** `DELETE /{db}/_local/{id}`: deletes a local document. */
  readonly removeLocal: (id: string, rev: string) => Effect.Effect<Document.WriteResult, WriteError>
  /** `GET /{db}/_security`. */
  readonly security: Effect.Effect<SecurityObject, ReadError>
  /** `PUT /{db}/_security`: replaces the security object. */
  readonly setSecurity: (security: SecurityObject) => Effect.Effect<void, WriteError>
  /**
   * Adds names and roles to the members (read, modify, write). Adding who is a member already writes nothing.
   * A member who is not an admin of the database gets `ForbiddenError`.
   */
  readonly addMembers: (principals: Principals) => Effect.Effect<SecurityObject, WriteError>
  /**
   * Removes names and roles from the members. Removing who is not a member succeeds and writes nothing (as a
   * `DELETE` of what is gone): the result says who the members are.
   */
  readonly removeMembers: (principals: Principals) => Effect.Effect<SecurityObject, WriteError>
  /** Adds names and roles to the admins. Adding who is an admin already writes nothing. */
  readonly addAdmins: (principals: Principals) => Effect.Effect<SecurityObject, WriteError>
  /** Removes names and roles from the admins. Removing who is not an admin succeeds and writes nothing. */
  readonly removeAdmins: (principals: Principals) => Effect.Effect<SecurityObject, WriteError>
  /** `POST /{db}/_compact`: starts compaction. */
  readonly compact: Effect.Effect<void, WriteError>
  /** `POST /{db}/_compact/{ddoc}`: compacts a design document's view indexes. */
  readonly compactDesign: (designDoc: string) => Effect.Effect<void, WriteError>
  /** `POST /{db}/_view_cleanup`: removes index files no design document uses. */
  readonly viewCleanup: Effect.Effect<void, WriteError>
  /** `POST /{db}/_revs_diff`: which of these revisions the database lacks. */
  readonly revsDiff: (
    revisions: Readonly<Record<string, ReadonlyArray<string>>>
  ) => Effect.Effect<Readonly<Record<string, RevsDiffEntry>>, WriteError>
  /** `POST /{db}/_purge`: removes revisions for good (no tombstone). */
  readonly purge: (
    revisions: Readonly<Record<string, ReadonlyArray<string>>>
  ) => Effect.Effect<PurgeResult, WriteError>
  /** `POST /{db}/_index`: creates a Mango index; an identical existing index answers `exists`. */
  readonly createIndex: (
    definition: Mango.IndexDefinition<Document.Document>
  ) => Effect.Effect<Mango.CreateIndexResult, WriteError>
  /** `GET /{db}/_index`: the Mango indexes. */
  readonly indexes: Effect.Effect<ReadonlyArray<Mango.IndexInfo>, ReadError>
  /** `DELETE /{db}/_index/{ddoc}/{type}/{name}`. */
  readonly deleteIndex: (
    designDoc: string,
    name: string,
    type?: "json" | "text"
  ) => Effect.Effect<void, WriteError>
  /** `GET /{db}/_design/{ddoc}/_info`: the state of a design document's view index. */
  readonly designInfo: (designDoc: string) => Effect.Effect<View.DesignInfo, ReadError>
  /**
   * Creates a view if it is missing, updates it if its source changed, and leaves it alone otherwise; safe when
   * several processes do it at once (a conflict reads again and retries).
   */
  readonly ensureView: (
    designDoc: string,
    view: string,
    definition: View.ViewDefinition
  ) => Effect.Effect<View.EnsureResult, WriteError>
  /**
   * Calls an update handler: `POST /{db}/_design/{ddoc}/_update/{name}` (or `PUT .../{docId}`), with a JSON
   * body. Answers the handler's response body, and the document id and new revision it reports.
   */
  readonly callUpdate: (
    designDoc: string,
    name: string,
    options?: {
      readonly docId?: string | undefined
      readonly body?: unknown
      readonly params?: Readonly<Record<string, string>> | undefined
    }
  ) => Effect.Effect<UpdateResult, WriteError>
  /** `GET /{db}/_revs_limit`: how many revisions of a document the database remembers. */
  readonly revsLimit: Effect.Effect<number, ReadError>
  /** `PUT /{db}/_revs_limit`. */
  readonly setRevsLimit: (limit: number) => Effect.Effect<void, WriteError>
  /**
   * `POST /{db}/_missing_revs`: of these revisions (document id → revisions), those the database lacks, by
   * document (a document that lacks none is left out).
   */
  readonly missingRevs: (
    revisions: Readonly<Record<string, ReadonlyArray<string>>>
  ) => Effect.Effect<Readonly<Record<string, ReadonlyArray<string>>>, WriteError>
  /** `GET /{db}/_purged_infos_limit`: how many purges the database remembers (CouchDB 2.3+). */
  readonly purgedInfosLimit: Effect.Effect<number, ReadError>
  /** `PUT /{db}/_purged_infos_limit`. */
  readonly setPurgedInfosLimit: (limit: number) => Effect.Effect<void, WriteError>
  /** `GET /{db}/_shards`: each shard's range (`00000000-7fffffff`) and the nodes that hold a copy of it. */
  readonly shards: Effect.Effect<Readonly<Record<string, ReadonlyArray<string>>>, ReadError>
  /** `GET /{db}/_shards/{docid}`: the shard a document id belongs to, and the nodes that hold it. */
  readonly shardOf: (docId: string) => Effect.Effect<DocumentShard, ReadError | CouchError.InvalidArgumentError>
  /** `GET /{db}/_purged_infos`: the purges the database remembers, each a document id and its purged revisions. */
  readonly purgedInfos: Effect.Effect<ReadonlyArray<PurgedInfo>, ReadError>
  /**
   * `POST /{db}/_sync_shards`: asks a cluster to bring every copy of every shard up to date now (a server admin's
   * call; `UnauthorizedError` otherwise).
   */
  readonly syncShards: Effect.Effect<void, WriteError>
  /**
   * `POST /{db}/_index/_bulk_delete`: removes several Mango indexes by their design documents in one request; which
   * were removed and which failed (`not_found`, ...).
   */
  readonly deleteIndexes: (designDocs: ReadonlyArray<string>) => Effect.Effect<BulkIndexDeletion, WriteError>
}

/**
 * A purge the database remembers (`GET /{db}/_purged_infos`): a document id and the revisions purged from it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PurgedInfo = Schema.Struct({ id: Schema.String, revs: Schema.Array(Schema.String) })

/**
 * @since 0.1.0
 * @category models
 */
export interface PurgedInfo extends Schema.Schema.Type<typeof PurgedInfo> {}

/**
 * What `deleteIndexes` (`POST /{db}/_index/_bulk_delete`) did: the design documents removed, and those that
 * were not with the server's error.
 *
 * @since 0.1.0
 * @category schemas
 */
export const BulkIndexDeletion = Schema.Struct({
  success: Schema.Array(Schema.Struct({ id: Schema.String, ok: Schema.optional(Schema.Boolean) })),
  fail: Schema.Array(Schema.Struct({ id: Schema.String, error: Schema.String }))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface BulkIndexDeletion extends Schema.Schema.Type<typeof BulkIndexDeletion> {}

/**
 * The shard of a document id: its range and the nodes that hold a copy of it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DocumentShard = Schema.Struct({
  range: Schema.String,
  nodes: Schema.Array(Schema.String)
}).annotations({ identifier: "DocumentShard" })

/**
 * @since 0.1.0
 * @category models
 */
export type DocumentShard = typeof DocumentShard.Type

/**
 * What `_revs_diff` says of one document.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RevsDiffEntry = Schema.Struct({
  missing: Schema.Array(Schema.String),
  possibleAncestors: Schema.optional(Schema.Array(Schema.String)).pipe(Schema.fromKey("possible_ancestors"))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface RevsDiffEntry extends Schema.Schema.Type<typeof RevsDiffEntry> {}

/**
 * What `_purge` did.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PurgeResult = Schema.Struct({
  purgeSeq: Schema.optional(Schema.NullOr(Sequence)).pipe(Schema.fromKey("purge_seq")),
  purged: Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) })
})

/**
 * @since 0.1.0
 * @category models
 */
export interface PurgeResult extends Schema.Schema.Type<typeof PurgeResult> {}

/**
 * What an update handler answered.
 *
 * @since 0.1.0
 * @category models
 */
export interface UpdateResult {
  /** The handler's response body, as text. */
  readonly body: string
  /** The id of the document the handler wrote (`X-Couch-Id`), when it wrote one. */
  readonly id: string | undefined
  /** The new revision of that document (`X-Couch-Update-NewRev`), when the handler wrote one. */
  readonly rev: string | undefined
}

/**
 * How a database layer opens its database: `"open"` (default) checks that it exists (`HEAD /{db}`, `NotFoundError`
 * when it does not), `"create"` creates it when missing (`PUT /{db}`), `"use"` sends nothing.
 *
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions {
  /** How the database is opened when the layer is built (default `"open"`). */
  readonly open?: "open" | "create" | "use" | undefined
}

/**
 * What opening a database for a layer can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type LayerError =
  | CouchError.RequestError
  | CouchError.InvalidArgumentError
  | CouchError.NotFoundError
  | CouchError.PreconditionFailedError
  | CouchError.BadRequestError

const opened = (name: string, options: LayerOptions | undefined): Effect.Effect<Database, LayerError, CouchSession.CouchSession> =>
  options?.open === "create" ?
    CouchSession.create(name, { existsOk: true }) :
    options?.open === "use" ?
    CouchSession.use(name) :
    CouchSession.database(name)

/**
 * A database as a service of the application's own: a layer that opens `name` with the session in the context, so
 * that code reads it from its tag instead of threading `db` values through.
 *
 * @example
 * ```ts
 * import { CouchSession, Database } from "@effect-couch/client"
 * import { Context, Effect } from "effect"
 *
 * class Orders extends Context.Tag("app/Orders")<Orders, Database.Database>() {}
 *
 * const OrdersLive = Database.layer(Orders, "orders", { open: "create" })
 *
 * const count = Effect.flatMap(Orders, (orders) => orders.info).pipe(Effect.map((info) => info.docCount))
 * // provide OrdersLive, then a CouchSession layer
 * export const program: Effect.Effect<number, unknown, CouchSession.CouchSession> = Effect.provide(count, OrdersLive)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <Self>(
  tag: Context.Tag<Self, Database>,
  name: string,
  options?: LayerOptions
): Layer.Layer<Self, LayerError, CouchSession.CouchSession> =>
  Layer.effect(tag, opened(name, options))

/**
 * A typed database as a service of the application's own: the documents of `name` read and written through
 * `schema` (as `withSchema`), under a tag of the application's.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSchema = <Self, A, I extends { readonly _id: string }>(
  tag: Context.Tag<Self, Documents<A, Document.DocumentDecodeError>>,
  name: string,
  schema: Schema.Schema<A, I>,
  options?: LayerOptions
): Layer.Layer<Self, LayerError, CouchSession.CouchSession> =>
  Layer.effect(tag, Effect.map(opened(name, options), (database) => database.withSchema(schema)))
