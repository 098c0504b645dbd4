/**
 * The views of a design document, over a database or one of its partitions: a map view as a stream (paged by key
 * and document id, by its list of keys, or in one request read as it arrives) or one page, a reduce (paged by key
 * when grouped), and several map queries in one request (`/queries`); keys and values decoded with the caller's
 * schemas, documents with the codec.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as CouchError from "../CouchError.js"
import type * as Database from "../Database.js"
import type * as View from "../View.js"
import * as Chunks from "./chunks.js"
import type { Codec } from "./codec.js"
import { boolParam, jsonParam, readErrors, streamSpanOf } from "./endpoint.js"
import * as Json from "./json.js"
import * as Names from "./names.js"
import * as Paging from "./paging.js"
import * as Request from "./request.js"
import * as Wire from "./wire.js"

/**
 * A row of a view as the server sends it: the source of truth that {@link viewRowProblem}, the check run on every
 * row, is held to by a property test. CouchDB documents `{ id, key, value, doc? }` (a reduce row has no `id`) and,
 * for a requested key that has no row, `{ key, error }`; this is the looser shape the rows are read with, every
 * field but `key` optional (`id` may be `null`; `value` and `doc` are anything, decoded later). `key` must be there,
 * whatever its value (`exact`).
 */
export const ViewRow = Schema.Struct({
  id: Schema.optional(Schema.NullOr(Schema.String)),
  key: Schema.Unknown,
  value: Schema.optional(Schema.Unknown),
  doc: Schema.optional(Schema.Unknown),
  error: Schema.optional(Schema.String)
}).annotations({ identifier: "ViewRow", parseOptions: { exact: true } })
type ViewRow = typeof ViewRow.Type

/**
 * What is wrong with a row of a view, or `undefined` when it is a {@link ViewRow}: rows are checked in a loop, as a
 * schema per row would cost more than the rest of a page's reading, paged or read in one request.
 */
export const viewRowProblem = (row: unknown): string | undefined => {
  if (!Wire.isObject(row)) return "not an object"
  if (!("key" in row)) return "no key"
  return Wire.optionalField(row, "id", "a string or null", (id) => id === null || Wire.isString(id)) ??
    Wire.optionalField(row, "error", "a string", Wire.isString)
}

/** One answer of a view: its rows, and what it tells of the whole view. */
const ViewAnswer = Schema.Struct({
  total_rows: Schema.optional(Schema.Number),
  offset: Schema.optional(Schema.NullOr(Schema.Number)),
  rows: Wire.checkedArray<ViewRow>("rows", viewRowProblem),
  update_seq: Schema.optional(Schema.Union(Schema.String, Schema.Number))
})

/** The answer of `/queries`: a view answer per query. */
const MultiAnswer = Schema.Struct({ results: Schema.Array(ViewAnswer) })

/** The query string of a view query; `key` and ranges JSON-encoded. */
const viewParams = (query: View.ViewQuery & Partial<View.ReduceQuery>, reduce: boolean | undefined) => ({
  key: jsonParam(query.key),
  startkey: jsonParam(query.startkey),
  endkey: jsonParam(query.endkey),
  startkey_docid: query.startkeyDocid,
  endkey_docid: query.endkeyDocid,
  inclusive_end: boolParam(query.inclusiveEnd),
  descending: boolParam(query.descending),
  limit: query.limit,
  skip: query.skip,
  include_docs: boolParam(query.includeDocs),
  conflicts: boolParam(query.conflicts),
  attachments: boolParam(query.attachments),
  att_encoding_info: boolParam(query.attEncodingInfo),
  sorted: boolParam(query.sorted),
  stable: boolParam(query.stable),
  update: query.update === undefined ? undefined : String(query.update),
  update_seq: boolParam(query.updateSeq),
  group: boolParam(query.group),
  group_level: query.groupLevel,
  reduce: boolParam(reduce)
})

/** The JSON body of one query of `/queries`. */
const viewQueryBody = (query: View.ViewQuery) => ({
  key: query.key,
  keys: query.keys,
  startkey: query.startkey,
  endkey: query.endkey,
  startkey_docid: query.startkeyDocid,
  endkey_docid: query.endkeyDocid,
  inclusive_end: query.inclusiveEnd,
  descending: query.descending,
  limit: query.limit,
  skip: query.skip,
  include_docs: query.includeDocs,
  conflicts: query.conflicts,
  attachments: query.attachments,
  att_encoding_info: query.attEncodingInfo,
  sorted: query.sorted,
  stable: query.stable,
  update: query.update,
  update_seq: query.updateSeq,
  reduce: false
})

/** Keys are user values: checks they are JSON before sending. */
const checkParams = (request: Request.Request): Effect.Effect<void, CouchError.InvalidArgumentError> => {
  if (request.body === undefined && request.params !== undefined) {
    const problem = Json.jsonProblem(request.params)
    if (problem !== undefined) {
      return Effect.fail(new CouchError.InvalidArgumentError({ argument: "view query", description: problem }))
    }
  }
  return Effect.void
}

/** Turns `key` into an equal start and end, so that paging can move the start. */
const pageable = <Q extends View.ViewQuery>(query: Q): Q =>
  query.key === undefined ? query : { ...query, key: undefined, startkey: query.key, endkey: query.key }

/** Decodes a value with an optional schema; a mismatch is a `ResponseDecodeError` of the request. */
const decoderOf = <S extends Schema.Schema.AnyNoContext>(
  schema: S | undefined,
  describe: () => { readonly method: string; readonly url: string }
) => {
  if (schema === undefined) return (value: unknown) => Effect.succeed(value as Schema.Schema.Type<S>)
  const decode = Schema.decodeUnknown(schema)
  return (value: unknown): Effect.Effect<Schema.Schema.Type<S>, CouchError.ResponseDecodeError> =>
    Effect.mapError(decode(value), (error) =>
      new CouchError.ResponseDecodeError({
        ...describe(),
        status: 200,
        reason: "malformed",
        description: ParseResult.TreeFormatter.formatErrorSync(error),
        cause: error
      }))
}

/** The decoders of a view's keys and values, whose failures name the request. */
const keyValueDecoders = <KS extends Schema.Schema.AnyNoContext, VS extends Schema.Schema.AnyNoContext>(
  transport: Request.Transport,
  request: Request.Request,
  schemas: { readonly key?: KS | undefined; readonly value?: VS | undefined }
) => {
  const describe = () => ({ method: request.method, url: Request.fullUrl(transport, request) })
  return { key: decoderOf(schemas.key, describe), value: decoderOf(schemas.value, describe) }
}

/** The decoder of a map view's rows: keys and values with the schemas, documents with the codec. */
const viewRowDecoder = <A, D, KS extends Schema.Schema.AnyNoContext, VS extends Schema.Schema.AnyNoContext>(
  transport: Request.Transport,
  codec: Codec<A, D>,
  request: Request.Request,
  schemas: { readonly key?: KS | undefined; readonly value?: VS | undefined }
) => {
  const { key, value } = keyValueDecoders(transport, request, schemas)
  return (row: ViewRow) =>
    Effect.gen(function*() {
      const result: View.ViewRow<Schema.Schema.Type<KS>, Schema.Schema.Type<VS>, A> = {
        id: row.id ?? "",
        key: yield* key(row.key),
        value: yield* value(row.value),
        ...(row.doc === undefined ? {} : { doc: row.doc === null ? null : yield* codec.decode(row.doc) })
      }
      return result
    })
}

/** Decodes the rows of a stream a chunk at a time. */
const decodedRows = <B, E2>(toRow: (row: ViewRow) => Effect.Effect<B, E2>) =>
<E, R>(rows: Stream.Stream<ViewRow, E, R>): Stream.Stream<B, E | E2, R> =>
  Stream.mapChunksEffect(rows, (chunk) => Effect.map(Effect.forEach(chunk, toRow), Chunk.unsafeFromArray))

/** A page of a map view: the answer's rows that are not errors, decoded with `toRow`, and what it tells of the view. */
const decodedPage = <K, V, A, E>(
  answer: typeof ViewAnswer.Type,
  toRow: (row: ViewRow) => Effect.Effect<View.ViewRow<K, V, A>, E>
): Effect.Effect<View.ViewPage<K, V, A>, E> =>
  Effect.map(
    Effect.forEach(answer.rows.filter((row) => row.error === undefined), toRow),
    (rows): View.ViewPage<K, V, A> => ({
      totalRows: answer.total_rows,
      offset: answer.offset ?? undefined,
      rows,
      ...(answer.update_seq === undefined ? {} : { updateSeq: answer.update_seq })
    })
  )

/** The fields of a view query that pick its rows by keys or by a range. */
interface RowSelection {
  readonly keys?: ReadonlyArray<unknown> | undefined
  readonly key?: unknown
  readonly startkey?: unknown
  readonly endkey?: unknown
}

/** A view query that gives `keys` and a range: CouchDB applies the range and silently ignores the keys. */
const keysWithRange = (query: RowSelection | undefined): CouchError.InvalidArgumentError | undefined =>
  query?.keys !== undefined && (query.key !== undefined || query.startkey !== undefined || query.endkey !== undefined) ?
    new CouchError.InvalidArgumentError({
      argument: "view query",
      description: "keys cannot be given with key, startkey or endkey: CouchDB would apply the range and ignore the keys"
    }) :
    undefined

/** The stream of a view query, or its failure when the query gives `keys` and a range. */
const checkedStream = <Out, E>(query: RowSelection | undefined, stream: () => Stream.Stream<Out, E>) => {
  const problem = keysWithRange(query)
  return problem === undefined ? stream() : Stream.fail(problem)
}

/** The effect of view queries, or its failure when one of them gives `keys` and a range. */
const checkedEffect = <Out, E>(queries: ReadonlyArray<RowSelection | undefined>, effect: () => Effect.Effect<Out, E>) => {
  const problem = queries.map(keysWithRange).find((problem) => problem !== undefined)
  return problem === undefined ? effect() : Effect.fail(problem)
}

/** The span attributes that name a view: its design document and its name. */
const viewAttributes = (ddoc: string, view: string) => ({
  "couchdb.design": Names.designName(ddoc),
  "couchdb.view": view
})

/** The view operations over `queryRoot` (the database, or one of its partitions), each in its span. */
export const make = <A, D>(
  transport: Request.Transport,
  queryRoot: string,
  codec: Codec<A, D>,
  attributes: Readonly<Record<string, string>>
): Pick<Database.Queries<A, D>, "view" | "viewPage" | "reduce" | "viewQueries"> => {
  const viewPath = (ddoc: string, view: string) =>
    `${queryRoot}/_design/${Names.designSegment(ddoc)}/_view/${Names.encodeSegment(view)}`

  const viewRequest = (
    ddoc: string,
    view: string,
    query: View.ViewQuery & Partial<View.ReduceQuery>,
    reduce: boolean | undefined
  ): Request.Request => {
    const { keys, ...rest } = query
    const params = viewParams(rest, reduce)
    return keys === undefined ?
      { method: "GET", path: viewPath(ddoc, view), params } :
      { method: "POST", path: viewPath(ddoc, view), params, body: Json.bodyUnchecked({ keys }), idempotent: true }
  }

  const viewAnswer = (request: Request.Request) =>
    Effect.zipRight(checkParams(request), Request.json(transport, request, ViewAnswer, readErrors))

  const viewPage = <KS extends Schema.Schema.AnyNoContext, VS extends Schema.Schema.AnyNoContext>(
    ddoc: string,
    view: string,
    query: View.ViewQuery = {},
    schemas: View.RowSchemas<KS, VS> = {}
  ) => {
    const request = viewRequest(ddoc, view, query, false)
    return Effect.flatMap(viewAnswer(request), (answer) =>
      decodedPage(answer, viewRowDecoder(transport, codec, request, schemas)))
  }

  const view = <KS extends Schema.Schema.AnyNoContext, VS extends Schema.Schema.AnyNoContext>(
    ddoc: string,
    name: string,
    query: View.ViewQuery & View.PageOptions = {},
    schemas: View.RowSchemas<KS, VS> = {}
  ) => {
    const pageSize = query.pageSize ?? 1000
    if (query.oneRequest === true) {
      const { oneRequest: _, pageSize: __, ...viewQuery } = query
      const request = viewRequest(ddoc, name, viewQuery, false)
      const toRow = viewRowDecoder(transport, codec, request, schemas)
      return Stream.unwrap(Effect.as(
        checkParams(request),
        Wire.streamedRows(transport, request, readErrors, {
          problem: viewRowProblem,
          build: (rows: ReadonlyArray<ViewRow>) => Effect.forEach(rows.filter((row) => row.error === undefined), toRow),
          // a broken answer goes on from the last key delivered, dropping the rows of that key already delivered
          // (by key alone: not every server honours `startkey_docid`); not resumed with `keys`, nor with `skip` or
          // `startkeyDocid`, which leave rows of the first key out of the count
          resume: viewQuery.keys !== undefined || viewQuery.skip !== undefined || viewQuery.startkeyDocid !== undefined ?
            undefined :
            {
            request: (last, delivered, repeated) =>
              viewRequest(ddoc, name, {
                ...pageable(viewQuery),
                startkey: last.key,
                limit: viewQuery.limit === undefined ? undefined : viewQuery.limit - delivered + repeated,
                skip: undefined
              }, false),
            samePlace: (a, b) => Paging.sameKey(a.key, b.key)
          }
        })
      ))
    }
    if (query.keys !== undefined) {
      const keys = query.keys
      return Stream.fromIterable(Chunks.chunksOf(keys, pageSize)).pipe(
        Stream.mapEffect((keys) => viewPage(ddoc, name, { ...query, keys }, schemas)),
        Stream.flatMap((page) => Stream.fromIterable(page.rows))
      )
    }
    // pages go on from the key as the server sent it, not as the key schema decodes it: rows are decoded after
    const base = pageable(query)
    const toRow = viewRowDecoder(transport, codec, viewRequest(ddoc, name, base, false), schemas)
    return Paging.byKey({
      pageSize,
      limit: query.limit,
      skip: query.skip,
      fetch: (page) =>
        Effect.map(
          viewAnswer(viewRequest(ddoc, name, {
            ...base,
            ...(page.start === undefined ? {} : { startkey: page.start.key, startkeyDocid: page.start.docid }),
            limit: page.limit,
            skip: page.skip
          }, false)),
          (answer) => answer.rows.filter((row) => row.error === undefined)
        ),
      cursorOf: (row) => ({ key: row.key, id: row.id ?? undefined })
    }).pipe(decodedRows(toRow))
  }

  const reduce = <KS extends Schema.Schema.AnyNoContext, VS extends Schema.Schema.AnyNoContext>(
    ddoc: string,
    name: string,
    query: View.ReduceQuery & View.PageOptions = {},
    schemas: View.RowSchemas<KS, VS> = {}
  ): Stream.Stream<View.ReduceRow<Schema.Schema.Type<KS>, Schema.Schema.Type<VS>>, Database.ReadError> => {
    const request = viewRequest(ddoc, name, query, true)
    const { key, value } = keyValueDecoders(transport, request, schemas)
    const toRow = (row: ViewRow) => Effect.all({ key: key(row.key), value: value(row.value) })
    const fetch = (request: Request.Request) => Effect.map(viewAnswer(request), (answer) => answer.rows)
    const grouped = query.group === true || query.groupLevel !== undefined
    if (!grouped || query.keys !== undefined) {
      return Stream.flatMap(Stream.fromEffect(fetch(request)), Stream.fromIterable).pipe(decodedRows(toRow))
    }
    // grouped keys are unique: page by key alone, from the key as the server sent it
    const base = pageable(query)
    return Paging.byKey({
      pageSize: query.pageSize ?? 1000,
      limit: query.limit,
      skip: query.skip,
      fetch: (page) =>
        fetch(viewRequest(ddoc, name, {
          ...base,
          ...(page.start === undefined ? {} : { startkey: page.start.key }),
          limit: page.limit,
          skip: page.skip
        }, true)),
      cursorOf: (row) => ({ key: row.key, id: undefined })
    }).pipe(decodedRows(toRow))
  }

  const viewQueries = <KS extends Schema.Schema.AnyNoContext, VS extends Schema.Schema.AnyNoContext>(
    ddoc: string,
    name: string,
    queries: ReadonlyArray<View.ViewQuery>,
    schemas: View.RowSchemas<KS, VS> = {}
  ) =>
    Effect.gen(function*() {
      const body = yield* Json.body({ queries: queries.map(viewQueryBody) }, "view queries")
      const request: Request.Request = {
        method: "POST",
        path: `${viewPath(ddoc, name)}/queries`,
        body,
        idempotent: true
      }
      const answer = yield* Request.json(transport, request, MultiAnswer, readErrors)
      const toRow = viewRowDecoder(transport, codec, request, schemas)
      return yield* Effect.forEach(answer.results, (result) => decodedPage(result, toRow))
    })

  // every public operation is a span with the database (and partition, design document and view): a stream's
  // span covers its whole life, its requests' spans are its children
  const effectSpan = (operation: string, ddoc: string, view: string) =>
    Effect.withSpan(`Database.${operation}`, { attributes: { ...attributes, ...viewAttributes(ddoc, view) } })
  const streamSpan = streamSpanOf(attributes)

  return {
    view: (ddoc, name, query, schemas) =>
      checkedStream(query, () => view(ddoc, name, query, schemas)).pipe(
        streamSpan("view", viewAttributes(ddoc, name))
      ),
    viewPage: (ddoc, name, query, schemas) =>
      checkedEffect([query], () => viewPage(ddoc, name, query, schemas)).pipe(effectSpan("viewPage", ddoc, name)),
    reduce: (ddoc, name, query, schemas) =>
      checkedStream(query, () => reduce(ddoc, name, query, schemas)).pipe(
        streamSpan("reduce", viewAttributes(ddoc, name))
      ),
    viewQueries: (ddoc, name, queries, schemas) =>
      checkedEffect(queries, () => viewQueries(ddoc, name, queries, schemas)).pipe(
        effectSpan("viewQueries", ddoc, name)
      )
  }
}
