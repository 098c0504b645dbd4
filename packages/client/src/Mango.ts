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
  readonly $eq?: T
  readonly $ne?: T
  readonly $gt?: NonNullable<T>
  readonly $gte?: NonNullable<T>
  readonly $lt?: NonNullable<T>
  readonly $lte?: NonNullable<T>
  readonly $in?: ReadonlyArray<T>
  readonly $nin?: ReadonlyArray<T>
  readonly $exists?: boolean
  readonly $type?: "null" | "boolean" | "number" | "string" | "array" | "object"
  readonly $regex?: NonNullable<T> extends string ? string : never
  readonly $size?: NonNullable<T> extends ReadonlyArray<unknown> ? number : never
  readonly $mod?: NonNullable<T> extends number ? readonly [divisor: number, remainder: number] : never
  readonly $all?: NonNullable<T> extends ReadonlyArray<unknown> ? ReadonlyArray<Element<NonNullable<T>>> : never
  readonly $elemMatch?: NonNullable<T> extends ReadonlyArray<unknown> ? Condition<Element<NonNullable<T>>> : never
  readonly $allMatch?: NonNullable<T> extends ReadonlyArray<unknown> ? Condition<Element<NonNullable<T>>> : never
  readonly $keyMapMatch?: NonNullable<T> extends Readonly<Record<string, unknown>> ? Condition<string> : never
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
  readonly selector: Selector<A>
  /** Return only these fields (the documents then hold only them). */
  readonly fields?: ReadonlyArray<Paths<A> | "_id" | "_rev"> | undefined
  readonly sort?: ReadonlyArray<Sort<A>> | undefined
  /** At most this many documents (CouchDB's default is 25); in the stream variant, the page size. */
  readonly limit?: number | undefined
  readonly skip?: number | undefined
  /** The index to use: a design document, or `[ddoc, name]`. */
  readonly useIndex?: string | readonly [designDoc: string, name: string] | undefined
  /** Read quorum (clusters). */
  readonly r?: number | undefined
  /** Where to continue, from a previous answer. */
  readonly bookmark?: string | undefined
  /** Whether to update the index before answering (default true). */
  readonly update?: boolean | undefined
  readonly stable?: boolean | undefined
  readonly executionStats?: boolean | undefined
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
  readonly docs: ReadonlyArray<A>
  readonly bookmark: string | undefined
  readonly warning: string | undefined
  readonly executionStats: ExecutionStats | undefined
}

/**
 * An index definition for `createIndex`.
 *
 * @since 0.1.0
 * @category models
 */
export interface IndexDefinition<A> {
  readonly index: {
    readonly fields: ReadonlyArray<Sort<A>>
    readonly partial_filter_selector?: Selector<A> | undefined
  }
  readonly ddoc?: string | undefined
  readonly name?: string | undefined
  readonly type?: "json" | "text" | undefined
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
