/**
 * Views: query parameters, rows (map and reduce), and design documents.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The query parameters of a view (`GET /{db}/_design/{ddoc}/_view/{view}`). Keys are any JSON value and are
 * JSON-encoded; `keys` goes in a POST body.
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewQuery {
  /** Only the rows of this key (`key=`, JSON-encoded). */
  readonly key?: unknown
  /** Only the rows of these keys, in this order (sent in a POST body). */
  readonly keys?: ReadonlyArray<unknown> | undefined
  /** The first key (inclusive); with `descending`, the highest. */
  readonly startkey?: unknown
  /** The last key (inclusive unless `inclusiveEnd` is false). */
  readonly endkey?: unknown
  /** Among the rows of `startkey`, start at this document id (rows of one key are sorted by id). */
  readonly startkeyDocid?: string | undefined
  /** Among the rows of `endkey`, stop at this document id. */
  readonly endkeyDocid?: string | undefined
  /** Whether the rows of `endkey` are included (default true). */
  readonly inclusiveEnd?: boolean | undefined
  /** Highest key first; then `startkey` is the high end. */
  readonly descending?: boolean | undefined
  /** At most this many rows in all. */
  readonly limit?: number | undefined
  /** Rows to skip (the first page only, in the streams). */
  readonly skip?: number | undefined
  /** Include the document that emitted each row, as `doc` (decoded with a typed database's schema). */
  readonly includeDocs?: boolean | undefined
  /** With `includeDocs`: include each document's `_conflicts`. */
  readonly conflicts?: boolean | undefined
  /** With `includeDocs`: include attachment bodies inline (base64). */
  readonly attachments?: boolean | undefined
  /** With `includeDocs`: say in each attachment stub how the server stores it (`encoding`, `encoded_length`). */
  readonly attEncodingInfo?: boolean | undefined
  /** `false`: the rows in no particular order, without `totalRows` and `offset` (faster on clusters). */
  readonly sorted?: boolean | undefined
  /** Answer from one stable set of shard replicas rather than the fastest ones (clusters). */
  readonly stable?: boolean | undefined
  /** Update the index before answering (`true`), not at all (`false`), or after answering (`"lazy"`). */
  readonly update?: boolean | "lazy" | undefined
  /** Include the database sequence that the index reflects (`updateSeq` of a page). */
  readonly updateSeq?: boolean | undefined
}

/**
 * The query parameters of a reduce.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReduceQuery
  extends Omit<ViewQuery, "includeDocs" | "conflicts" | "attachments" | "attEncodingInfo" | "startkeyDocid" | "endkeyDocid">
{
  /** Group by the whole key. */
  readonly group?: boolean | undefined
  /** Group by the first `groupLevel` elements of array keys. */
  readonly groupLevel?: number | undefined
}

/**
 * Stream options: how many rows each request asks for (default 1000).
 *
 * @since 0.1.0
 * @category models
 */
export interface PageOptions {
  /** Rows per request (default 1000); a page is held in memory while its rows are delivered. */
  readonly pageSize?: number | undefined
  /**
   * Read every row in one request, parsed row by row as the answer arrives, instead of in pages of `pageSize`
   * (map views): constant memory without a request and a server query per page. When the connection breaks
   * mid-answer and the session retries, the read goes on from the last key delivered, without repeating its rows
   * (not with `keys`, `skip` or `startkeyDocid`: the stream fails with a `ResponseDecodeError`).
   */
  readonly oneRequest?: boolean | undefined
}

/**
 * A row of a map view: the emitting document's id, the key and value, and the document with `includeDocs`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewRow<K, V, D> {
  /** The id of the document that emitted the row. */
  readonly id: string
  /** The emitted key, decoded with the key schema when one is given. */
  readonly key: K
  /** The emitted value, decoded with the value schema when one is given. */
  readonly value: V
  /** With `includeDocs`: the document, or `null` when there is none (deleted, or an emitted `_id` that names none). */
  readonly doc?: D | null | undefined
}

/**
 * A row of a reduce: a key (`null` without grouping) and the reduced value. It has no `id`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReduceRow<K, V> {
  /** The group's key (`null` without `group` or `groupLevel`), decoded with the key schema when one is given. */
  readonly key: K
  /** The reduced value of the group, decoded with the value schema when one is given. */
  readonly value: V
}

/**
 * One answer of a map view.
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewPage<K, V, D> {
  /** How many rows the whole view has (not how many this answer holds); absent with `sorted: false`. */
  readonly totalRows: number | undefined
  /** The position of the answer's first row in the whole view. */
  readonly offset: number | undefined
  /** The rows of this answer. */
  readonly rows: ReadonlyArray<ViewRow<K, V, D>>
  /** With `updateSeq`: the database sequence that the index reflects. */
  readonly updateSeq?: string | number | undefined
}

/**
 * The schemas that decode a view's keys and values (both pass through undecoded by default).
 *
 * @since 0.1.0
 * @category models
 */
export interface RowSchemas<KS extends Schema.Schema.AnyNoContext, VS extends Schema.Schema.AnyNoContext> {
  /** Decodes each row's key; a key it refuses fails the read with a `ResponseDecodeError`. */
  readonly key?: KS | undefined
  /** Decodes each row's value, likewise. */
  readonly value?: VS | undefined
}

/**
 * A view's functions, as JavaScript source.
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewDefinition {
  /** The map function's JavaScript source, e.g. `function (doc) { emit(doc.type, 1) }`. */
  readonly map: string
  /** A JavaScript reduce function, or a built-in: `_sum`, `_count`, `_stats`, `_approx_count_distinct`. */
  readonly reduce?: string | undefined
}

/**
 * A design document: views, validation, update handlers, filters, options.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DesignDocument = Schema.Struct(
  {
    _id: Schema.String,
    _rev: Schema.optional(Schema.String),
    language: Schema.optional(Schema.String),
    views: Schema.optional(Schema.Record({
      key: Schema.String,
      value: Schema.Struct({ map: Schema.String, reduce: Schema.optional(Schema.String) })
    })),
    validate_doc_update: Schema.optional(Schema.String),
    updates: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
    filters: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
    options: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
).annotations({ identifier: "DesignDocument" })

/**
 * @since 0.1.0
 * @category models
 */
export type DesignDocument = typeof DesignDocument.Type

/**
 * The state of a design document's view index (`view_index` of `GET /{db}/_design/{ddoc}/_info`); fields a server
 * adds are kept.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ViewIndexInfo = Schema.Struct(
  {
    /** The index's signature (it changes with the views' code). */
    signature: Schema.optional(Schema.String),
    language: Schema.optional(Schema.String),
    /** The database sequence the index reflects. */
    updateSeq: Schema.optional(Schema.Union(Schema.Number, Schema.String)).pipe(Schema.fromKey("update_seq")),
    purgeSeq: Schema.optional(Schema.Union(Schema.Number, Schema.String)).pipe(Schema.fromKey("purge_seq")),
    /** Bytes: the index file, the live data in it, the data it indexes. */
    sizes: Schema.optional(Schema.Struct({
      file: Schema.optional(Schema.Number),
      active: Schema.optional(Schema.Number),
      external: Schema.optional(Schema.Number)
    })),
    updaterRunning: Schema.optional(Schema.Boolean).pipe(Schema.fromKey("updater_running")),
    compactRunning: Schema.optional(Schema.Boolean).pipe(Schema.fromKey("compact_running")),
    waitingCommit: Schema.optional(Schema.Boolean).pipe(Schema.fromKey("waiting_commit")),
    /** How many readers wait for the index to catch up. */
    waitingClients: Schema.optional(Schema.Number).pipe(Schema.fromKey("waiting_clients")),
    /** How many changes the index has still to read (CouchDB 3.x). */
    updatesPending: Schema.optional(Schema.Struct({
      minimum: Schema.optional(Schema.Number),
      preferred: Schema.optional(Schema.Number),
      total: Schema.optional(Schema.Number)
    })).pipe(Schema.fromKey("updates_pending")),
    collatorVersions: Schema.optional(Schema.Array(Schema.String)).pipe(Schema.fromKey("collator_versions"))
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
).annotations({ identifier: "ViewIndexInfo" })

/**
 * @since 0.1.0
 * @category models
 */
export type ViewIndexInfo = typeof ViewIndexInfo.Type

/**
 * What `GET /{db}/_design/{ddoc}/_info` tells of a design document's indexes.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DesignInfo = Schema.Struct({
  name: Schema.String,
  viewIndex: Schema.propertySignature(ViewIndexInfo).pipe(Schema.fromKey("view_index"))
}).annotations({ identifier: "DesignInfo" })

/**
 * @since 0.1.0
 * @category models
 */
export type DesignInfo = typeof DesignInfo.Type

/**
 * What `ensureView` did.
 *
 * @since 0.1.0
 * @category models
 */
export type EnsureResult = "created" | "updated" | "unchanged"
