/**
 * Full-text search: Nouveau and Clouseau queries over a database or a partition, their bookmark-paged streams,
 * index information and cleanup, and the server's analyzer endpoints.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as CouchError from "../CouchError.js"
import * as Search from "../Search.js"
import { type Codec, decodeRows } from "./codec.js"
import * as Json from "./json.js"
import * as Names from "./names.js"
import * as Paging from "./paging.js"
import { readErrors } from "./endpoint.js"
import * as Request from "./request.js"

/**
 * Whether an answer says that no search server answers: Clouseau not connected (503 "Search is not available"),
 * not reachable (500 `ou_est_clouseau`), the Nouveau server not reachable (503 "Search service unavailable.", or
 * 500 "No connection in the pool ..." as CouchDB 3.5.2 answers when it is down).
 */
export const isUnavailable = (error: unknown): error is CouchError.ServerError =>
  error instanceof CouchError.ServerError && (
    error.status === 503 && (error.error === "service unavailable" || error.error === "service_unavailable") ||
    error.error === "ou_est_clouseau" ||
    error.status === 500 && error.reason !== undefined && error.reason.startsWith("No connection in the pool")
  )

/** A status error told as a {@link Search.SearchUnavailableError}, its context kept. */
const unavailable = (error: CouchError.ServerError | CouchError.NotFoundError) =>
  new Search.SearchUnavailableError({
    method: error.method,
    url: error.url,
    status: error.status,
    error: error.error,
    reason: error.reason,
    requestId: error.requestId,
    retryAfter: error.retryAfter
  })

const told = <E>(error: E): E | Search.SearchUnavailableError => isUnavailable(error) ? unavailable(error) : error

/**
 * The transport of search requests: an answer that says no search server answers is not retried (CouchDB has
 * retried already: Nouveau's searches 20 times over 10 s, Clouseau's with a backoff), other transient failures are.
 */
const searchTransport = (transport: Request.Transport): Request.Transport =>
  transport.retry === undefined ?
    transport :
    { ...transport, retry: Schedule.whileInput(transport.retry, (error) => !isUnavailable(error)) }

/** A query encoded as its request body (the Schema renames the fields), checked to be JSON. */
const queryBody = <A, I>(schema: Schema.Schema<A, I>, query: A) =>
  Effect.flatMap(
    Effect.mapError(Schema.encode(schema)(query), (error) =>
      new CouchError.InvalidArgumentError({
        argument: "search query",
        description: ParseResult.TreeFormatter.formatErrorSync(error)
      })),
    (encoded) => Json.body(encoded, "search query")
  )

/** Posts a query, encoded by its Schema, and decodes the answer; an answer that says no search server answers is told so. */
const post = <Q, QI, T, TI>(
  transport: Request.Transport,
  path: string,
  querySchema: Schema.Schema<Q, QI>,
  query: Q,
  answerSchema: Schema.Schema<T, TI>
) =>
  Effect.flatMap(queryBody(querySchema, query), (body) =>
    Request.json(transport, { method: "POST", path, body, idempotent: true }, answerSchema, readErrors)).pipe(
      Effect.mapError(told)
    )

/** The shape the hits of both engines share, as decoded from the wire. */
interface WireHit {
  readonly doc?: unknown
}

/** The hits of a page, their documents decoded with the codec (`null` for a document that is gone). */
const withDocs = <H extends WireHit, A, D>(codec: Codec<A, D>, hits: ReadonlyArray<H>) =>
  decodeRows(
    codec,
    hits,
    (hit) => typeof hit.doc === "object" && hit.doc !== null ? hit.doc : undefined,
    (hit): Omit<H, "doc"> & { readonly doc?: A | null } => hit.doc === undefined ? hit as Omit<H, "doc"> : { ...hit, doc: null },
    (hit, doc): Omit<H, "doc"> & { readonly doc?: A | null } => ({ ...hit, doc })
  )

/** Follows the bookmark page after page until a page comes back short (or the bookmark stops moving). */
const byBookmark = <H, E>(
  pageSize: number,
  bookmark: string | undefined,
  fetch: (bookmark: string | undefined) => Effect.Effect<{ readonly bookmark: string; readonly hits: ReadonlyArray<H> }, E>
): Stream.Stream<H, E> =>
  Paging.paginate<string | undefined, H, E, never>(bookmark, (current) =>
    Effect.map(fetch(current), (page) => [
      Chunk.unsafeFromArray(page.hits),
      page.hits.length >= pageSize && page.hits.length > 0 && page.bookmark !== current ?
        Option.some(page.bookmark) :
        Option.none()
    ] as const))

/** The path of an index's endpoint (`_search`, `_nouveau`, `_search_info`, ...) under `root`. */
const indexPath = (root: string, ddoc: string, endpoint: string, index: string) =>
  `${root}/_design/${Names.designSegment(ddoc)}/${endpoint}/${Names.encodeSegment(index)}`

/** The span of an operation on an index: the database's attributes, the design document and the index. */
const indexSpan = (operation: string, attributes: Readonly<Record<string, string>>, ddoc: string, index: string) =>
  [`Database.${operation}`, {
    attributes: { ...attributes, "couchdb.design": Names.designName(ddoc), "couchdb.index": index }
  }] as const

/** The fields schema of a query: the caller's, or any fields. */
const fieldsOf = <FS extends Schema.Schema.AnyNoContext>(schemas: Search.HitSchemas<FS> | undefined) =>
  (schemas?.fields ?? Search.AnyFields) as unknown as Schema.Schema<Schema.Schema.Type<FS>, Schema.Schema.Encoded<FS>>

/**
 * The search queries over `queryRoot` (the database, or one of its partitions); `attributes` name the database
 * (and partition) on every span.
 */
export const queries = <A, D>(
  baseTransport: Request.Transport,
  queryRoot: string,
  codec: Codec<A, D>,
  attributes: Readonly<Record<string, string>>
): Search.SearchQueries<A, D> => {
  const transport = searchTransport(baseTransport)

  /** One page: the query posted, the answer decoded, its hits' documents decoded with the codec. */
  const page = <Q, QI, T extends { readonly [k in K]: ReadonlyArray<WireHit> }, TI, K extends "hits" | "rows">(
    endpoint: "_nouveau" | "_search",
    querySchema: Schema.Schema<Q, QI>,
    answerSchema: Schema.Schema<T, TI>,
    key: K
  ) =>
  (ddoc: string, index: string, query: Q) =>
    Effect.flatMap(
      post(transport, indexPath(queryRoot, ddoc, endpoint, index), querySchema, query, answerSchema),
      (answer) => Effect.map(withDocs(codec, answer[key]), (hits) => ({ ...answer, [key]: hits }))
    )

  const nouveau = <FS extends Schema.Schema.AnyNoContext>(
    ddoc: string,
    index: string,
    query: Search.NouveauQuery,
    schemas?: Search.HitSchemas<FS>
  ) =>
    page("_nouveau", Search.NouveauQuery, Search.nouveauResult(fieldsOf(schemas)), "hits")(ddoc, index, query) as Effect.Effect<
      Search.NouveauResult<Schema.Schema.Type<FS>, A>,
      Search.SearchError | D
    >

  const search = <FS extends Schema.Schema.AnyNoContext>(
    ddoc: string,
    index: string,
    query: Search.SearchQuery,
    schemas?: Search.HitSchemas<FS>
  ) =>
    page("_search", Search.SearchQuery, Search.searchResult(fieldsOf(schemas)), "rows")(ddoc, index, query) as Effect.Effect<
      Search.SearchResult<Schema.Schema.Type<FS>, A>,
      Search.SearchError | D
    >

  return {
    nouveau: (ddoc, index, query, schemas) =>
      nouveau(ddoc, index, query, schemas).pipe(Effect.withSpan(...indexSpan("nouveau", attributes, ddoc, index))),
    nouveauStream: (ddoc, index, query, schemas) => {
      const pageSize = query.limit ?? 1000
      return byBookmark(pageSize, query.bookmark, (bookmark) =>
        nouveau(ddoc, index, { ...query, limit: pageSize, bookmark }, schemas)).pipe(
          Stream.withSpan(...indexSpan("nouveauStream", attributes, ddoc, index))
        )
    },
    search: (ddoc, index, query, schemas) =>
      search(ddoc, index, query, schemas).pipe(Effect.withSpan(...indexSpan("search", attributes, ddoc, index))),
    searchStream: (ddoc, index, query, schemas) => {
      const pageSize = query.limit ?? 200
      return byBookmark(pageSize, query.bookmark, (bookmark) =>
        Effect.map(
          search(ddoc, index, { ...query, limit: pageSize, bookmark }, schemas),
          (page) => ({ bookmark: page.bookmark, hits: page.rows })
        )).pipe(Stream.withSpan(...indexSpan("searchStream", attributes, ddoc, index)))
    }
  }
}

const Acknowledgement = Schema.Struct({ ok: Schema.optional(Schema.Boolean) })

/** The search members of a database at `root`: the queries, grouped searches, index information and cleanup. */
export const make = <A, D>(
  baseTransport: Request.Transport,
  root: string,
  codec: Codec<A, D>,
  attributes: Readonly<Record<string, string>>
): Search.SearchIndexes<A, D> => {
  const transport = searchTransport(baseTransport)
  const info = <R, I>(operation: string, endpoint: string, answer: Schema.Schema<R, I>) => (ddoc: string, index: string) =>
    Request.json(transport, { method: "GET", path: indexPath(root, ddoc, endpoint, index) }, answer, readErrors).pipe(
      Effect.mapError(told),
      Effect.withSpan(...indexSpan(operation, attributes, ddoc, index))
    )
  const cleanup = (operation: string, endpoint: string) =>
    Request.json(
      transport,
      // asking twice for a cleanup does no harm
      { method: "POST", path: `${root}/${endpoint}`, body: Json.bodyUnchecked({}), idempotent: true },
      Acknowledgement,
      readErrors
    ).pipe(Effect.asVoid, Effect.mapError(told), Effect.withSpan(`Database.${operation}`, { attributes }))

  return {
    ...queries(baseTransport, root, codec, attributes),
    searchGroups: (ddoc, index, query, schemas) =>
      post(transport, indexPath(root, ddoc, "_search", index), Search.GroupedSearchQuery, query, Search.searchGroups(fieldsOf(schemas)))
        .pipe(
          Effect.flatMap((answer) =>
            Effect.map(
              Effect.forEach(answer.groups, (group) => Effect.map(withDocs(codec, group.rows), (rows) => ({ ...group, rows }))),
              (groups) => ({ totalRows: answer.totalRows, groups })
            )
          ),
          Effect.withSpan(...indexSpan("searchGroups", attributes, ddoc, index))
        ),
    searchInfo: info("searchInfo", "_search_info", Search.SearchInfo),
    nouveauInfo: info("nouveauInfo", "_nouveau_info", Search.NouveauInfo),
    searchCleanup: cleanup("searchCleanup", "_search_cleanup"),
    nouveauCleanup: cleanup("nouveauCleanup", "_nouveau_cleanup")
  }
}

/** The server's analyzer endpoints. */
export const analyzers = (baseTransport: Request.Transport): Search.Analyzers => {
  const transport = searchTransport(baseTransport)
  const analyze = (operation: string, path: string, analyzer: unknown, text: string) =>
    Effect.flatMap(Json.body({ analyzer, text }, "analyzer request"), (body) =>
      Request.json(
        transport,
        { method: "POST", path, body, idempotent: true },
        Search.AnalyzeResult,
        [CouchError.BadRequestError, CouchError.NotFoundError]
      )).pipe(
        Effect.map((answer) => answer.tokens),
        // `/_nouveau_analyze` is 404 when Nouveau is disabled; `/_search_analyze` is never 404
        Effect.mapError((error) => error instanceof CouchError.NotFoundError ? unavailable(error) : told(error)),
        Effect.withSpan(`CouchSession.${operation}`)
      )
  return {
    searchAnalyze: (analyzer, text) => analyze("searchAnalyze", "/_search_analyze", analyzer, text),
    nouveauAnalyze: (analyzer, text) => analyze("nouveauAnalyze", "/_nouveau_analyze", analyzer, text)
  }
}
