/**
 * Full-text search: Nouveau (`/{db}/_design/{ddoc}/_nouveau/{index}`, CouchDB 3.4+, a Lucene server of its own)
 * and Clouseau (`/{db}/_design/{ddoc}/_search/{index}`, CouchDB 3's search plugin, as Cloudant serves it): the
 * index definitions a design document holds (`nouveau`, `indexes`), typed queries, the answers as Schemas, and the
 * analyzer endpoints (`_nouveau_analyze`, `_search_analyze`).
 *
 * A database's `nouveau` and `search` answer one page; `nouveauStream` and `searchStream` follow the bookmark page
 * after page in constant memory. With `includeDocs`, each hit's `doc` is decoded with the database's schema (a
 * typed view from `withSchema`); a `fields` schema decodes the stored fields.
 *
 * Without a search server, CouchDB 3.5 answers Clouseau's endpoints 503 "Search is not available", which is a
 * {@link SearchUnavailableError} (not retried: the server has retried already), and Nouveau's 404 `not_found`
 * `missing` (Nouveau is disabled by default): a `NotFoundError`, as for a missing design document, while
 * `nouveauAnalyze` tells the two apart (`SearchUnavailableError`).
 *
 * @example
 * ```ts
 * import type { Database } from "@effect-couch/client"
 * import { Search } from "@effect-couch/client"
 * import { Effect, Schema, Stream } from "effect"
 *
 * const Animal = Schema.Struct({ _id: Schema.String, name: Schema.String, diet: Schema.String })
 *
 * const design = {
 *   _id: "_design/zoo",
 *   nouveau: {
 *     animals: {
 *       default_analyzer: "english",
 *       field_analyzers: { diet: "keyword" },
 *       index: `function (doc) {
 *         if (typeof doc.name == "string") index("text", "name", doc.name, { store: true })
 *         if (typeof doc.diet == "string") index("string", "diet", doc.diet)
 *       }`
 *     }
 *   }
 * } satisfies Search.DesignDocument
 *
 * const herbivores = (db: Database.Database) =>
 *   Effect.gen(function*() {
 *     yield* db.put(design)
 *     const zoo = db.withSchema(Animal)
 *     // one page: the hits, their stored fields decoded, the documents decoded with the schema
 *     const page = yield* zoo.nouveau("zoo", "animals", { query: "diet:herbivore", includeDocs: true, limit: 10 }, {
 *       fields: Schema.Struct({ name: Schema.String })
 *     })
 *     const names = page.hits.map((hit) => hit.fields.name)
 *     // every hit, page after page by bookmark
 *     const all = yield* Stream.runCollect(zoo.nouveauStream("zoo", "animals", { query: "*:*", counts: ["diet"] }))
 *     return { names, total: page.totalHits, seen: all.length }
 *   })
 * ```
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import * as CouchError from "./CouchError.js"
import type * as Database from "./Database.js"

// Errors

/**
 * No search server answers: Clouseau is not connected (503 "Search is not available", measured on CouchDB 3.5.2
 * without one), CouchDB cannot reach it (500 `ou_est_clouseau`), the Nouveau server cannot be reached (500 "No
 * connection in the pool ...", measured with Nouveau enabled and its server down; 503 "Search service
 * unavailable."), or Nouveau is disabled (404 from `/_nouveau_analyze`). The context of the answer is kept.
 *
 * @since 0.1.0
 * @category errors
 */
export class SearchUnavailableError
  extends Schema.TaggedError<SearchUnavailableError>()("SearchUnavailableError", CouchError.ResponseErrorFields)
{
  /** @since 0.1.0 */
  readonly [CouchError.TypeId]: CouchError.TypeId = CouchError.TypeId
  /** @since 0.1.0 */
  override get message(): string {
    const couch = this.error === undefined ? "" : this.reason === undefined ? `: ${this.error}` : `: ${this.error}: ${this.reason}`
    const id = this.requestId === undefined ? "" : ` [request ${this.requestId}]`
    return `${this.method} ${this.url} answered ${this.status}${couch} (no search server)${id}`
  }
}

/**
 * What a search query can fail with: a read's errors (400 for a query Lucene cannot parse, 404 for a missing
 * database, design document or index) and {@link SearchUnavailableError}.
 *
 * @since 0.1.0
 * @category models
 */
export type SearchError = Database.ReadError | SearchUnavailableError

/**
 * What an analyzer request can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type AnalyzeError =
  | CouchError.RequestError
  | CouchError.InvalidArgumentError
  | CouchError.BadRequestError
  | SearchUnavailableError

// Index definitions

/**
 * Clouseau's analyzers: the generic ones (`standard` is the default) and the language-specific ones.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AnalyzerName = Schema.Literal(
  "classic",
  "email",
  "keyword",
  "simple",
  "standard",
  "whitespace",
  "arabic",
  "armenian",
  "basque",
  "brazilian",
  "bulgarian",
  "catalan",
  "chinese",
  "cjk",
  "czech",
  "danish",
  "dutch",
  "english",
  "finnish",
  "french",
  "galician",
  "german",
  "greek",
  "hindi",
  "hungarian",
  "indonesian",
  "irish",
  "italian",
  "japanese",
  "latvian",
  "norwegian",
  "persian",
  "polish",
  "portuguese",
  "romanian",
  "russian",
  "spanish",
  "swedish",
  "thai",
  "turkish"
)

/**
 * @since 0.1.0
 * @category models
 */
export type AnalyzerName = typeof AnalyzerName.Type

/**
 * A Clouseau analyzer: a name, a name with stop words (`{ name: "english", stopwords: [...] }`; not for
 * `keyword`, `simple` or `whitespace`), or `perfield`: an analyzer per field and a default.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Analyzer = Schema.Union(
  AnalyzerName,
  Schema.Struct({
    name: Schema.Literal("perfield"),
    default: Schema.optional(AnalyzerName),
    fields: Schema.optional(Schema.Record({ key: Schema.String, value: AnalyzerName }))
  }),
  Schema.Struct({ name: AnalyzerName, stopwords: Schema.optional(Schema.Array(Schema.String)) })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Analyzer = typeof Analyzer.Type

/**
 * A Clouseau index in a design document's `indexes`: the JavaScript function that calls
 * `index(name, value, { store, facet, boost, index })`, and its analyzer.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SearchIndexDefinition = Schema.Struct({
  index: Schema.String,
  analyzer: Schema.optional(Analyzer)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface SearchIndexDefinition extends Schema.Schema.Type<typeof SearchIndexDefinition> {}

/**
 * Nouveau's analyzers, as its server names them (`portugese` is its spelling).
 *
 * @since 0.1.0
 * @category schemas
 */
export const NouveauAnalyzerName = Schema.Literal(
  "arabic",
  "armenian",
  "basque",
  "bulgarian",
  "catalan",
  "chinese",
  "cjk",
  "classic",
  "czech",
  "danish",
  "dutch",
  "email",
  "english",
  "finnish",
  "french",
  "galician",
  "german",
  "hindi",
  "hungarian",
  "indonesian",
  "irish",
  "italian",
  "japanese",
  "keyword",
  "latvian",
  "norwegian",
  "persian",
  "polish",
  "portugese",
  "romanian",
  "russian",
  "simple",
  "simple_asciifolding",
  "spanish",
  "standard",
  "swedish",
  "thai",
  "turkish",
  "whitespace"
)

/**
 * @since 0.1.0
 * @category models
 */
export type NouveauAnalyzerName = typeof NouveauAnalyzerName.Type

/**
 * The first argument of a Nouveau index function's `index(type, name, value, { store })`: `text` (analyzed, for
 * words), `string` (one token: sorting, counts), `double` (numbers: sorting, ranges), `stored` (returned, never
 * searched). A field keeps the type of its first `index` call.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NouveauFieldType = Schema.Literal("text", "string", "double", "stored")

/**
 * @since 0.1.0
 * @category models
 */
export type NouveauFieldType = typeof NouveauFieldType.Type

/**
 * A Nouveau index in a design document's `nouveau`: the JavaScript function, the default analyzer (`standard`),
 * an analyzer per field (a `string` field searched by value wants `keyword`), and the Lucene version (10 for new
 * indexes; 9 for an index built by CouchDB 3.4).
 *
 * @since 0.1.0
 * @category schemas
 */
export const NouveauIndexDefinition = Schema.Struct({
  index: Schema.String,
  default_analyzer: Schema.optional(NouveauAnalyzerName),
  field_analyzers: Schema.optional(Schema.Record({ key: Schema.String, value: NouveauAnalyzerName })),
  lucene_version: Schema.optional(Schema.Literal(9, 10))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface NouveauIndexDefinition extends Schema.Schema.Type<typeof NouveauIndexDefinition> {}

/**
 * A design document with search indexes: Clouseau's under `indexes`, Nouveau's under `nouveau` (its other members,
 * views included, pass through). Indexes inherit `options.partitioned`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DesignDocument = Schema.Struct(
  {
    _id: Schema.String,
    _rev: Schema.optional(Schema.String),
    indexes: Schema.optional(Schema.Record({ key: Schema.String, value: SearchIndexDefinition })),
    nouveau: Schema.optional(Schema.Record({ key: Schema.String, value: NouveauIndexDefinition })),
    options: Schema.optional(Schema.Struct({ partitioned: Schema.optional(Schema.Boolean) }))
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

/**
 * @since 0.1.0
 * @category models
 */
export type DesignDocument = typeof DesignDocument.Type

// Queries

/**
 * Facet counts: per field, per value (`counts`) or per range label (`ranges`), the number of matches.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Facets = Schema.Record({
  key: Schema.String,
  value: Schema.Record({ key: Schema.String, value: Schema.Number })
})

/**
 * @since 0.1.0
 * @category models
 */
export type Facets = typeof Facets.Type

const Sort = Schema.Union(Schema.String, Schema.Array(Schema.String))

const searchQueryFields = {
  /** The Lucene query (`q`), e.g. `class:bird AND diet:carnivore`, `*:*` for all. */
  query: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("q")),
  /** The bookmark of the previous page: the next page starts after it. */
  bookmark: Schema.optional(Schema.String),
  /** Hits per page (default 25, at most 200 by default; for a grouped search, per group). */
  limit: Schema.optional(Schema.Number),
  /** `"field"`, `"-field"`, `"field<string>"`, `"<score>"`, `"<distance,lon,lat,x,y,km>"`, or a list of them. */
  sort: Schema.optional(Sort),
  /** Each hit's document, as `doc`. */
  includeDocs: Schema.optional(Schema.Boolean).pipe(Schema.fromKey("include_docs")),
  /** Only these stored fields in each hit's `fields`. */
  includeFields: Schema.optional(Schema.Array(Schema.String)).pipe(Schema.fromKey("include_fields")),
  /** Faceted fields whose values to count (`counts` of the answer); global searches only. */
  counts: Schema.optional(Schema.Array(Schema.String)),
  /** `[field, value]` pairs a hit must have, values not analyzed (several values of one field: any of them). */
  drilldown: Schema.optional(Schema.Array(Schema.Tuple(Schema.String, Schema.String))),
  /** Per numeric faceted field, labelled Lucene ranges: `{ price: { cheap: "[0 TO 100]" } }`. */
  ranges: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Record({ key: Schema.String, value: Schema.String }) })),
  /** Stored fields to highlight the matched terms in (each hit's `highlights`). */
  highlightFields: Schema.optional(Schema.Array(Schema.String)).pipe(Schema.fromKey("highlight_fields")),
  /** Put before a highlighted term (default `<em>`). */
  highlightPreTag: Schema.optional(Schema.String).pipe(Schema.fromKey("highlight_pre_tag")),
  /** Put after a highlighted term (default `</em>`). */
  highlightPostTag: Schema.optional(Schema.String).pipe(Schema.fromKey("highlight_post_tag")),
  /** Fragments per highlighted field (default 1). */
  highlightNumber: Schema.optional(Schema.Number).pipe(Schema.fromKey("highlight_number")),
  /** Characters per fragment (default 100). */
  highlightSize: Schema.optional(Schema.Number).pipe(Schema.fromKey("highlight_size")),
  /** `"ok"`: answer from the index as it is, without updating it first (not with `bookmark`). */
  stale: Schema.optional(Schema.Literal("ok")),
  /** Answer from one stable set of shard copies (clusters). */
  stable: Schema.optional(Schema.Boolean)
}

/**
 * A Clouseau query (`POST /{db}/_design/{ddoc}/_search/{index}`); the Schema encodes it as the request body.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SearchQuery = Schema.Struct(searchQueryFields)

/**
 * @since 0.1.0
 * @category models
 */
export interface SearchQuery extends Schema.Schema.Type<typeof SearchQuery> {}

/**
 * A Clouseau query in a partition: no facets (`counts`, `drilldown`, `ranges`), which CouchDB refuses there.
 *
 * @since 0.1.0
 * @category models
 */
export interface PartitionSearchQuery extends Omit<SearchQuery, "counts" | "drilldown" | "ranges"> {}

/**
 * A grouped Clouseau query: the hits grouped by the value of `groupField` (no bookmark: grouped answers have none).
 *
 * @since 0.1.0
 * @category schemas
 */
export const GroupedSearchQuery = Schema.Struct({
  ...Schema.Struct(searchQueryFields).omit("bookmark", "counts", "ranges").fields,
  /** The field whose values group the hits (a string field, not analyzed). */
  groupField: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("group_field")),
  /** How many groups (default and most: 200 by default). */
  groupLimit: Schema.optional(Schema.Number).pipe(Schema.fromKey("group_limit")),
  /** The order of the groups (default: relevance), as `sort`; `sort` orders the hits within a group. */
  groupSort: Schema.optional(Sort).pipe(Schema.fromKey("group_sort"))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface GroupedSearchQuery extends Schema.Schema.Type<typeof GroupedSearchQuery> {}

/**
 * A Nouveau range facet: a label and bounds (either may be left open), inclusive unless said otherwise.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NouveauRange = Schema.Struct({
  label: Schema.String,
  min: Schema.optional(Schema.Number),
  max: Schema.optional(Schema.Number),
  minInclusive: Schema.optional(Schema.Boolean).pipe(Schema.fromKey("min_inclusive")),
  maxInclusive: Schema.optional(Schema.Boolean).pipe(Schema.fromKey("max_inclusive"))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface NouveauRange extends Schema.Schema.Type<typeof NouveauRange> {}

/**
 * A Nouveau query (`POST /{db}/_design/{ddoc}/_nouveau/{index}`); the Schema encodes it as the request body.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NouveauQuery = Schema.Struct({
  /** The Lucene query (`q`), e.g. `class:mammal AND min_length:[1.5 TO *]`, `*:*` for all. */
  query: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("q")),
  /** The bookmark of the previous page: the next page starts after it. */
  bookmark: Schema.optional(Schema.String),
  /** Hits per page (default 25). */
  limit: Schema.optional(Schema.Number),
  /** `"field"`, `"-field"` (string or double fields), `"<score>"`, `"-<score>"`, or a list of them. */
  sort: Schema.optional(Sort),
  /** Each hit's document, as `doc`. */
  includeDocs: Schema.optional(Schema.Boolean).pipe(Schema.fromKey("include_docs")),
  /** The (Java) locale that numbers in range queries are read in (`de`, `us`, ...). */
  locale: Schema.optional(Schema.String),
  /** String fields whose values to count (`counts` of the answer); global searches only. */
  counts: Schema.optional(Schema.Array(Schema.String)),
  /** Per double field, labelled ranges to count (`ranges` of the answer); global searches only. */
  ranges: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Array(NouveauRange) })),
  /** How many facet values per field (default 10, at most 1000). */
  topN: Schema.optional(Schema.Number).pipe(Schema.fromKey("top_n")),
  /** `false`: answer from the index as it is, without updating it first (not with `bookmark`). */
  update: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface NouveauQuery extends Schema.Schema.Type<typeof NouveauQuery> {}

/**
 * A Nouveau query in a partition: no facets (`counts`, `ranges`), which CouchDB does not support there.
 *
 * @since 0.1.0
 * @category models
 */
export interface PartitionNouveauQuery extends Omit<NouveauQuery, "counts" | "ranges"> {}

// Answers

/**
 * The stored fields of a hit when no schema is given: by name, a value or (a field stored several times) a list.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AnyFields = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * The schemas that decode a hit's stored fields (by default, {@link AnyFields}).
 *
 * @since 0.1.0
 * @category models
 */
export interface HitSchemas<FS extends Schema.Schema.AnyNoContext> {
  /** Decodes each hit's `fields`; fields it refuses fail the read with a `ResponseDecodeError`. */
  readonly fields?: FS | undefined
}

/**
 * One Clouseau hit, its document decoded (`A`) and its stored fields decoded (`F`).
 *
 * @since 0.1.0
 * @category models
 */
export interface SearchHit<F, A> {
  /** The document's id. */
  readonly id: string
  /** Where the hit sorts: the `sort` fields' values (or the relevance score, or a distance), then a tie-breaker. */
  readonly order: ReadonlyArray<unknown>
  /** The stored fields (`store: true`). */
  readonly fields: F
  /** With `highlightFields`: per field, the fragments with the matched terms tagged. */
  readonly highlights?: Readonly<Record<string, ReadonlyArray<string>>> | undefined
  /** With `includeDocs`: the document, or `null` when it is gone. */
  readonly doc?: A | null | undefined
}

/**
 * A Clouseau hit as the server sends it, its stored fields decoded with `fields`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const searchHit = <F, FI>(fields: Schema.Schema<F, FI>) =>
  Schema.Struct({
    id: Schema.String,
    order: Schema.Array(Schema.Unknown),
    fields,
    highlights: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) })),
    doc: Schema.optional(Schema.Unknown)
  })

/**
 * One page of a Clouseau search.
 *
 * @since 0.1.0
 * @category models
 */
export interface SearchResult<F, A> {
  /** How many hits the query has in all (not how many this page holds). */
  readonly totalRows: number
  /** Where the next page starts: the next query's `bookmark` (past the last page: an empty page, the same bookmark). */
  readonly bookmark: string
  /** This page's hits. */
  readonly rows: ReadonlyArray<SearchHit<F, A>>
  /** With `counts`: per field, per value, the number of hits. */
  readonly counts?: Facets | undefined
  /** With `ranges`: per field, per range label, the number of hits. */
  readonly ranges?: Facets | undefined
}

/**
 * A Clouseau answer as the server sends it (`total_rows`, `bookmark`, `rows`, `counts`, `ranges`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const searchResult = <F, FI>(fields: Schema.Schema<F, FI>) =>
  Schema.Struct({
    totalRows: Schema.propertySignature(Schema.Number).pipe(Schema.fromKey("total_rows")),
    bookmark: Schema.String,
    rows: Schema.Array(searchHit(fields)),
    counts: Schema.optional(Facets),
    ranges: Schema.optional(Facets)
  })

/**
 * The answer of a grouped Clouseau search: per group, its value (`by`), its number of hits and its first hits.
 *
 * @since 0.1.0
 * @category models
 */
export interface SearchGroups<F, A> {
  /** How many hits the query has in all. */
  readonly totalRows: number
  /** The groups, in `groupSort` order. */
  readonly groups: ReadonlyArray<{
    readonly by: string | null
    readonly totalRows: number
    readonly rows: ReadonlyArray<SearchHit<F, A>>
  }>
}

/**
 * A grouped Clouseau answer as the server sends it (`total_rows`, `groups` of `{ by, total_rows, rows }`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const searchGroups = <F, FI>(fields: Schema.Schema<F, FI>) =>
  Schema.Struct({
    totalRows: Schema.propertySignature(Schema.Number).pipe(Schema.fromKey("total_rows")),
    groups: Schema.Array(Schema.Struct({
      by: Schema.NullOr(Schema.String),
      totalRows: Schema.propertySignature(Schema.Number).pipe(Schema.fromKey("total_rows")),
      rows: Schema.Array(searchHit(fields))
    }))
  })

/**
 * One value of a Nouveau hit's `order`: Lucene's type (`float` for a relevance score, `double`, `string`, ...)
 * and the value.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NouveauSortValue = Schema.Struct({
  type: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("@type")),
  value: Schema.optional(Schema.Unknown)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface NouveauSortValue extends Schema.Schema.Type<typeof NouveauSortValue> {}

/**
 * One Nouveau hit, its document decoded (`A`) and its stored fields decoded (`F`).
 *
 * @since 0.1.0
 * @category models
 */
export interface NouveauHit<F, A> {
  /** The document's id. */
  readonly id: string
  /** Where the hit sorts: the `sort` fields' values (or the relevance score), then the document id. */
  readonly order: ReadonlyArray<NouveauSortValue>
  /** The stored fields (`store: true`): a value, or a list for a field stored several times. */
  readonly fields: F
  /** With `includeDocs`: the document, or `null` when it is gone. */
  readonly doc?: A | null | undefined
}

/**
 * A Nouveau hit as the server sends it, its stored fields decoded with `fields`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const nouveauHit = <F, FI>(fields: Schema.Schema<F, FI>) =>
  Schema.Struct({
    id: Schema.String,
    order: Schema.Array(NouveauSortValue),
    fields,
    doc: Schema.optional(Schema.Unknown)
  })

/**
 * Whether `totalHits` is exact (`EQUAL_TO`) or a lower bound; `null` from an index whose Lucene does not say.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TotalHitsRelation = Schema.NullOr(Schema.Literal("EQUAL_TO", "GREATER_THAN_OR_EQUAL_TO"))

/**
 * One page of a Nouveau search.
 *
 * @since 0.1.0
 * @category models
 */
export interface NouveauResult<F, A> {
  /** How many hits the query has in all (see `totalHitsRelation`). */
  readonly totalHits: number
  /** Whether `totalHits` is exact. */
  readonly totalHitsRelation: typeof TotalHitsRelation.Type
  /** Where the next page starts: the next query's `bookmark` (past the last page: an empty page, the same bookmark). */
  readonly bookmark: string
  /** This page's hits. */
  readonly hits: ReadonlyArray<NouveauHit<F, A>>
  /** With `counts`: per field, per value, the number of hits (`null` otherwise). */
  readonly counts?: Facets | null | undefined
  /** With `ranges`: per field, per range label, the number of hits (`null` otherwise). */
  readonly ranges?: Facets | null | undefined
  /** How long the index took to catch up with the database before answering, in milliseconds. */
  readonly updateLatency?: number | undefined
}

/**
 * A Nouveau answer as the server sends it (`total_hits`, `total_hits_relation`, `bookmark`, `hits`, `counts`,
 * `ranges`, `update_latency`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const nouveauResult = <F, FI>(fields: Schema.Schema<F, FI>) =>
  Schema.Struct({
    totalHits: Schema.propertySignature(Schema.Number).pipe(Schema.fromKey("total_hits")),
    totalHitsRelation: Schema.propertySignature(TotalHitsRelation).pipe(Schema.fromKey("total_hits_relation")),
    bookmark: Schema.String,
    hits: Schema.Array(nouveauHit(fields)),
    counts: Schema.optional(Schema.NullOr(Facets)),
    ranges: Schema.optional(Schema.NullOr(Facets)),
    updateLatency: Schema.optional(Schema.Number).pipe(Schema.fromKey("update_latency"))
  })

/**
 * What `_search_info` tells of a Clouseau index (the numbers Clouseau reports; others are left out).
 *
 * @since 0.1.0
 * @category schemas
 */
export const SearchInfo = Schema.Struct({
  name: Schema.String,
  searchIndex: Schema.propertySignature(Schema.Struct({
    pendingSeq: Schema.optional(Schema.Number).pipe(Schema.fromKey("pending_seq")),
    docDelCount: Schema.optional(Schema.Number).pipe(Schema.fromKey("doc_del_count")),
    docCount: Schema.optional(Schema.Number).pipe(Schema.fromKey("doc_count")),
    diskSize: Schema.optional(Schema.Number).pipe(Schema.fromKey("disk_size")),
    committedSeq: Schema.optional(Schema.Number).pipe(Schema.fromKey("committed_seq")),
    signature: Schema.optional(Schema.String)
  })).pipe(Schema.fromKey("search_index"))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface SearchInfo extends Schema.Schema.Type<typeof SearchInfo> {}

/**
 * What `_nouveau_info` tells of a Nouveau index.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NouveauInfo = Schema.Struct({
  name: Schema.String,
  searchIndex: Schema.propertySignature(Schema.Struct({
    updateSeq: Schema.optional(Schema.Number).pipe(Schema.fromKey("update_seq")),
    purgeSeq: Schema.optional(Schema.Number).pipe(Schema.fromKey("purge_seq")),
    numDocs: Schema.optional(Schema.Number).pipe(Schema.fromKey("num_docs")),
    diskSize: Schema.optional(Schema.Number).pipe(Schema.fromKey("disk_size")),
    signature: Schema.optional(Schema.String)
  })).pipe(Schema.fromKey("search_index"))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface NouveauInfo extends Schema.Schema.Type<typeof NouveauInfo> {}

/**
 * The answer of `_search_analyze` and `_nouveau_analyze`: the tokens the analyzer makes of the text.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AnalyzeResult = Schema.Struct({ tokens: Schema.Array(Schema.String) })

// The members

/**
 * The search queries of a database, for documents of type `A` (`D`: what decoding one can fail with). `FS`, the
 * schema of the hits' stored fields, defaults to {@link AnyFields}.
 *
 * @since 0.1.0
 * @category models
 */
export interface SearchQueries<A, D, Q extends SearchQuery = SearchQuery, NQ extends NouveauQuery = NouveauQuery> {
  /** `POST /{db}/_design/{ddoc}/_nouveau/{index}`: one page of a Nouveau search. */
  readonly nouveau: <FS extends Schema.Schema.AnyNoContext = typeof AnyFields>(
    designDoc: string,
    index: string,
    query: NQ,
    schemas?: HitSchemas<FS>
  ) => Effect.Effect<NouveauResult<Schema.Schema.Type<FS>, A>, SearchError | D>
  /**
   * A Nouveau search as a stream of hits: page after page by bookmark (`limit` is the page size, default 1000),
   * until a page comes back short; constant memory.
   */
  readonly nouveauStream: <FS extends Schema.Schema.AnyNoContext = typeof AnyFields>(
    designDoc: string,
    index: string,
    query: NQ,
    schemas?: HitSchemas<FS>
  ) => Stream.Stream<NouveauHit<Schema.Schema.Type<FS>, A>, SearchError | D>
  /** `POST /{db}/_design/{ddoc}/_search/{index}`: one page of a Clouseau search. */
  readonly search: <FS extends Schema.Schema.AnyNoContext = typeof AnyFields>(
    designDoc: string,
    index: string,
    query: Q,
    schemas?: HitSchemas<FS>
  ) => Effect.Effect<SearchResult<Schema.Schema.Type<FS>, A>, SearchError | D>
  /**
   * A Clouseau search as a stream of hits: page after page by bookmark (`limit` is the page size, default 200,
   * Clouseau's most by default), until a page comes back short; constant memory.
   */
  readonly searchStream: <FS extends Schema.Schema.AnyNoContext = typeof AnyFields>(
    designDoc: string,
    index: string,
    query: Q,
    schemas?: HitSchemas<FS>
  ) => Stream.Stream<SearchHit<Schema.Schema.Type<FS>, A>, SearchError | D>
}

/**
 * The search members of a database: the queries, grouped Clouseau searches, and the indexes' information and
 * cleanup.
 *
 * @since 0.1.0
 * @category models
 */
export interface SearchIndexes<A, D> extends SearchQueries<A, D> {
  /** A Clouseau search grouped by a field's value (`group_field`). */
  readonly searchGroups: <FS extends Schema.Schema.AnyNoContext = typeof AnyFields>(
    designDoc: string,
    index: string,
    query: GroupedSearchQuery,
    schemas?: HitSchemas<FS>
  ) => Effect.Effect<SearchGroups<Schema.Schema.Type<FS>, A>, SearchError | D>
  /** `GET /{db}/_design/{ddoc}/_search_info/{index}`: a Clouseau index's size and sequences. */
  readonly searchInfo: (designDoc: string, index: string) => Effect.Effect<SearchInfo, SearchError>
  /** `GET /{db}/_design/{ddoc}/_nouveau_info/{index}`: a Nouveau index's size, documents and sequences. */
  readonly nouveauInfo: (designDoc: string, index: string) => Effect.Effect<NouveauInfo, SearchError>
  /** `POST /{db}/_search_cleanup`: removes the Clouseau indexes no design document defines any more (202). */
  readonly searchCleanup: Effect.Effect<void, SearchError>
  /** `POST /{db}/_nouveau_cleanup`: removes the Nouveau indexes no design document defines any more (202). */
  readonly nouveauCleanup: Effect.Effect<void, SearchError>
}

/**
 * The search queries of a partition (`/{db}/_partition/{partition}/_design/...`): no facets or groups.
 *
 * @since 0.1.0
 * @category models
 */
export interface PartitionSearches<A, D> extends SearchQueries<A, D, PartitionSearchQuery, PartitionNouveauQuery> {}

/**
 * The server's analyzer endpoints: what an analyzer makes of a text.
 *
 * @since 0.1.0
 * @category models
 */
export interface Analyzers {
  /** `POST /_search_analyze`: the tokens a Clouseau analyzer makes of `text`. */
  readonly searchAnalyze: (analyzer: Analyzer, text: string) => Effect.Effect<ReadonlyArray<string>, AnalyzeError>
  /**
   * `POST /_nouveau_analyze` (CouchDB 3.4+): the tokens a Nouveau analyzer makes of `text`; a server with Nouveau
   * disabled fails with {@link SearchUnavailableError}.
   */
  readonly nouveauAnalyze: (
    analyzer: NouveauAnalyzerName,
    text: string
  ) => Effect.Effect<ReadonlyArray<string>, AnalyzeError>
}
