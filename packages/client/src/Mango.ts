/**
 * Mango queries (`_find`), their indexes and the typed `Selector`.
 *
 * For a typed database, `Selector<A>` checks field names (dotted paths included) and operator operands against
 * the document type: `{ age: { $gt: 30 } }` compiles only when `age` is a number.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

type Primitive = string | number | boolean | null | undefined

/** The nested fields of `A` as dotted paths, to a depth of three. */
type Paths<A, Depth extends ReadonlyArray<unknown> = []> = Depth["length"] extends 3 ? never
  : A extends ReadonlyArray<unknown> ? never
  : A extends Primitive | Date ? never
  : {
    [K in keyof A & string]:
      | K
      | (NonNullable<A[K]> extends ReadonlyArray<unknown> | Primitive | Date ? never
        : `${K}.${Paths<NonNullable<A[K]>, [...Depth, unknown]>}`)
  }[keyof A & string]

/** The type of the field at a dotted path. */
type PathValue<A, P extends string> = P extends `${infer Head}.${infer Rest}` ?
  Head extends keyof A ? PathValue<NonNullable<A[Head]>, Rest> : never
  : P extends keyof A ? A[P]
  : never

type Element<T> = T extends ReadonlyArray<infer E> ? E : never

/**
 * The operators of a field whose type is `T`.
 *
 * @since 0.1.0
 * @category models
 */
export interface FieldOperators<T> {
  /** The field equals this value (what a bare value means too). */
  readonly $eq?: T
  /** The field does not equal this value. */
  readonly $ne?: T
  /** The field is greater than this value, in CouchDB's collation order. */
  readonly $gt?: NonNullable<T>
  /** The field is greater than or equal to this value. */
  readonly $gte?: NonNullable<T>
  /** The field is less than this value. */
  readonly $lt?: NonNullable<T>
  /** The field is less than or equal to this value. */
  readonly $lte?: NonNullable<T>
  /** The field equals one of these values. */
  readonly $in?: ReadonlyArray<T>
  /** The field equals none of these values. */
  readonly $nin?: ReadonlyArray<T>
  /** The field exists (`true`) or does not (`false`), whatever its value. */
  readonly $exists?: boolean
  /** The field's JSON type is this one. */
  readonly $type?: "null" | "boolean" | "number" | "string" | "array" | "object"
  /**
   * A string field matches this regular expression (Erlang PCRE syntax, without delimiters: `(?i)` for a
   * case-insensitive match).
   */
  readonly $regex?: NonNullable<T> extends string ? string : never
  /** An array field has exactly this many elements. */
  readonly $size?: NonNullable<T> extends ReadonlyArray<unknown> ? number : never
  /** An integer field whose remainder, divided by `divisor`, is `remainder`. */
  readonly $mod?: NonNullable<T> extends number ? readonly [divisor: number, remainder: number] : never
  /** An array field holds all of these values. */
  readonly $all?: NonNullable<T> extends ReadonlyArray<unknown> ? ReadonlyArray<Element<NonNullable<T>>> : never
  /** An array field has at least one element that matches this condition. */
  readonly $elemMatch?: NonNullable<T> extends ReadonlyArray<unknown> ? Condition<Element<NonNullable<T>>> : never
  /** Every element of an array field matches this condition. */
  readonly $allMatch?: NonNullable<T> extends ReadonlyArray<unknown> ? Condition<Element<NonNullable<T>>> : never
  /** An object field has at least one key that matches this condition. */
  readonly $keyMapMatch?: NonNullable<T> extends Readonly<Record<string, unknown>> ? Condition<string> : never
  /** The field does not match this condition. */
  readonly $not?: Condition<T>
}

/**
 * What a field may be matched with: a value (implicit `$eq`), operators, or for an object a nested selector.
 *
 * @since 0.1.0
 * @category models
 */
export type Condition<T> =
  | T
  | FieldOperators<T>
  | (NonNullable<T> extends ReadonlyArray<unknown> | Primitive | Date ? never : Selector<NonNullable<T>>)

/**
 * A Mango selector over documents of type `A`: fields by name or dotted path, and the combinators `$and`, `$or`,
 * `$nor`, `$not`.
 *
 * @since 0.1.0
 * @category models
 */
export type Selector<A> =
  & { readonly [P in Paths<A>]?: Condition<PathValue<A, P>> }
  & {
    readonly $and?: ReadonlyArray<Selector<A>>
    readonly $or?: ReadonlyArray<Selector<A>>
    readonly $nor?: ReadonlyArray<Selector<A>>
    readonly $not?: Selector<A>
  }

/**
 * A sort field: a field name, or `{ field: "asc" | "desc" }`.
 *
 * @since 0.1.0
 * @category models
 */
export type Sort<A> = Paths<A> | { readonly [P in Paths<A>]?: "asc" | "desc" }

/**
 * A `_find` query.
 *
 * @since 0.1.0
 * @category models
 */
export interface FindQuery<A> {
  /** Which documents: a Mango selector, its fields and operands checked against `A`. */
  readonly selector: Selector<A>
  /** Return only these fields (the documents then hold only them). */
  readonly fields?: ReadonlyArray<Paths<A> | "_id" | "_rev"> | undefined
  /**
   * The order, by fields: `["age"]`, `[{ age: "desc" }]`. An index must cover the sort fields: a sort that no index
   * can serve is a `BadRequestError` (`no_usable_index` on CouchDB).
   */
  readonly sort?: ReadonlyArray<Sort<A>> | undefined
  /** At most this many documents (CouchDB's default is 25); in the stream variant, the page size. */
  readonly limit?: number | undefined
  /** Skip this many matching documents first (in the stream variant, before the first page). */
  readonly skip?: number | undefined
  /** The index to use: a design document, or `[ddoc, name]`. */
  readonly useIndex?: string | readonly [designDoc: string, name: string] | undefined
  /** Read quorum (clusters). */
  readonly r?: number | undefined
  /** Where to continue, from a previous answer. */
  readonly bookmark?: string | undefined
  /** Whether to update the index before answering (default true). */
  readonly update?: boolean | undefined
  /** Answer from one stable set of shard replicas rather than the fastest ones (clusters). */
  readonly stable?: boolean | undefined
  /** Include the query's statistics in the answer (`executionStats` of the result). */
  readonly executionStats?: boolean | undefined
  /** Include each document's `_conflicts`. */
  readonly conflicts?: boolean | undefined
}

/**
 * The statistics of a `_find` query (with `executionStats`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ExecutionStats = Schema.Struct({
  totalKeysExamined: Schema.optional(Schema.Number).pipe(Schema.fromKey("total_keys_examined")),
  totalDocsExamined: Schema.optional(Schema.Number).pipe(Schema.fromKey("total_docs_examined")),
  totalQuorumDocsExamined: Schema.optional(Schema.Number).pipe(Schema.fromKey("total_quorum_docs_examined")),
  resultsReturned: Schema.optional(Schema.Number).pipe(Schema.fromKey("results_returned")),
  executionTimeMs: Schema.optional(Schema.Number).pipe(Schema.fromKey("execution_time_ms"))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface ExecutionStats extends Schema.Schema.Type<typeof ExecutionStats> {}

/**
 * One answer of `_find`.
 *
 * @since 0.1.0
 * @category models
 */
export interface FindResult<A> {
  /** The matching documents, decoded (with `fields`, only those fields). */
  readonly docs: ReadonlyArray<A>
  /** Where the next page starts: give it back as the query's `bookmark` (not sent by servers without bookmarks). */
  readonly bookmark: string | undefined
  /** The server's warning, e.g. that no index matched the query and every document was scanned. */
  readonly warning: string | undefined
  /** With `executionStats: true`: what the query examined and how long it took. */
  readonly executionStats: ExecutionStats | undefined
}

/**
 * An index definition for `createIndex`.
 *
 * @since 0.1.0
 * @category models
 */
export interface IndexDefinition<A> {
  /**
   * The fields to index, in order (`{ field: "desc" }` as in a sort), and optionally a `partial_filter_selector`:
   * then only the documents that match it are indexed.
   */
  readonly index: {
    readonly fields: ReadonlyArray<Sort<A>>
    readonly partial_filter_selector?: Selector<A> | undefined
  }
  /** The design document to hold the index (`by-age` or `_design/by-age`); the server makes one up when absent. */
  readonly ddoc?: string | undefined
  /** The index's name, which `deleteIndex` and `useIndex` take; the server makes one up when absent. */
  readonly name?: string | undefined
  /** `json` (default), or `text` on a server with full-text search. */
  readonly type?: "json" | "text" | undefined
  /** In a partitioned database: `false` makes a global index (the default there is a partitioned one). */
  readonly partitioned?: boolean | undefined
}

/**
 * What `createIndex` did: `created`, or `exists` when an identical index was there already.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CreateIndexResult = Schema.Struct({
  result: Schema.Literal("created", "exists"),
  id: Schema.optional(Schema.String),
  name: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export interface CreateIndexResult extends Schema.Schema.Type<typeof CreateIndexResult> {}

/**
 * An index, as `indexes` lists it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const IndexInfo = Schema.Struct({
  ddoc: Schema.NullOr(Schema.String),
  name: Schema.String,
  type: Schema.String,
  def: Schema.Struct({ fields: Schema.Array(Schema.Unknown) }, Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  partitioned: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface IndexInfo extends Schema.Schema.Type<typeof IndexInfo> {}

/**
 * What `_explain` says of a query: the index chosen and the options in force (other fields pass through).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Explanation = Schema.Struct(
  {
    dbname: Schema.optional(Schema.String),
    index: Schema.Struct(
      { ddoc: Schema.NullOr(Schema.String), name: Schema.String, type: Schema.String },
      Schema.Record({ key: Schema.String, value: Schema.Unknown })
    ),
    selector: Schema.Unknown,
    opts: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
    limit: Schema.optional(Schema.Number),
    skip: Schema.optional(Schema.Number),
    fields: Schema.optional(Schema.Unknown)
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Explanation = typeof Explanation.Type
