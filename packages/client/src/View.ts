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
  readonly key?: unknown
  readonly keys?: ReadonlyArray<unknown> | undefined
  readonly startkey?: unknown
  readonly endkey?: unknown
  readonly startkeyDocid?: string | undefined
  readonly endkeyDocid?: string | undefined
  readonly inclusiveEnd?: boolean | undefined
  readonly descending?: boolean | undefined
  /** At most this many rows in all. */
  readonly limit?: number | undefined
  /** Rows to skip (the first page only, in the streams). */
  readonly skip?: number | undefined
  readonly includeDocs?: boolean | undefined
  readonly conflicts?: boolean | undefined
  readonly attachments?: boolean | undefined
  readonly sorted?: boolean | undefined
  readonly stable?: boolean | undefined
  /** Update the index before answering (`true`), not at all (`false`), or after answering (`"lazy"`). */
  readonly update?: boolean | "lazy" | undefined
  readonly updateSeq?: boolean | undefined
}

/**
 * The query parameters of a reduce.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReduceQuery
  extends Omit<ViewQuery, "includeDocs" | "conflicts" | "attachments" | "startkeyDocid" | "endkeyDocid">
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
  readonly id: string
  readonly key: K
  readonly value: V
  readonly doc?: D | null | undefined
}

/**
 * A row of a reduce: a key (`null` without grouping) and the reduced value. It has no `id`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReduceRow<K, V> {
  readonly key: K
  readonly value: V
}

/**
 * One answer of a map view.
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewPage<K, V, D> {
  readonly totalRows: number | undefined
  readonly offset: number | undefined
  readonly rows: ReadonlyArray<ViewRow<K, V, D>>
  readonly updateSeq?: string | number | undefined
}

/**
 * The schemas that decode a view's keys and values (both pass through undecoded by default).
 *
 * @since 0.1.0
 * @category models
 */
export interface RowSchemas<KS extends Schema.Schema.AnyNoContext, VS extends Schema.Schema.AnyNoContext> {
  readonly key?: KS | undefined
  readonly value?: VS | undefined
}

/**
 * A view's functions, as JavaScript source.
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewDefinition {
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
 * What `GET /{db}/_design/{ddoc}/_info` tells of a design document's indexes.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DesignInfo = Schema.Struct({
  name: Schema.String,
  viewIndex: Schema.propertySignature(
    Schema.Struct({}, Schema.Record({ key: Schema.String, value: Schema.Unknown }))
  ).pipe(Schema.fromKey("view_index"))
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
