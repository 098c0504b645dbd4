/**
 * `_all_docs` and the endpoints that answer as it does (`_design_docs`, `_local_docs`, a partition's `_all_docs`):
 * a page, every row as a stream (paged by key, or in one request read as it arrives), several queries in one
 * request.
 */
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Database from "../Database.js"
import * as Chunks from "./chunks.js"
import { type Codec, decodeRows, either } from "./codec.js"
import { boolParam, jsonParam, readErrors } from "./endpoint.js"
import * as Json from "./json.js"
import * as Paging from "./paging.js"
import * as Request from "./request.js"
import * as Wire from "./wire.js"

/**
 * A row of `_all_docs` (and of `_design_docs`, `_local_docs`) as the server sends it: the source of truth that
 * {@link allDocsRowProblem}, the check run on every row, is held to by a property test. CouchDB documents two
 * shapes, `{ id, key, value: { rev, deleted? }, doc? }` and `{ key, error }`; this is the looser shape the rows are
 * read with, every field but `key` optional (`value` may be `null`): a row without an id, a value or an error is
 * read as an error row (`not_found`). `key` must be there, whatever its value (`exact`).
 */
export const AllDocsRow = Schema.Struct({
  id: Schema.optional(Schema.String),
  key: Schema.Unknown,
  value: Schema.optional(Schema.NullOr(Schema.Struct({ rev: Schema.String, deleted: Schema.optional(Schema.Boolean) }))),
  doc: Schema.optional(Schema.Unknown),
  error: Schema.optional(Schema.String)
}).annotations({ identifier: "AllDocsRow", parseOptions: { exact: true } })
type AllDocsRow = typeof AllDocsRow.Type

/**
 * What is wrong with a row of `_all_docs`, or `undefined` when it is an {@link AllDocsRow}: checked in a loop, as a
 * schema per row would cost more than the rest of a page's reading.
 */
export const allDocsRowProblem = (row: unknown): string | undefined => {
  if (!Wire.isObject(row)) return "not an object"
  if (!("key" in row)) return "no key"
  const value = row.value
  if (value != null) {
    if (!Wire.isObject(value) || typeof value.rev !== "string") return "value has no string rev"
    const wrong = Wire.optionalField(value, "deleted", "a boolean", Wire.isBoolean)
    if (wrong !== undefined) return `value.${wrong}`
  }
  return Wire.optionalField(row, "id", "a string", Wire.isString) ??
    Wire.optionalField(row, "error", "a string", Wire.isString)
}
const AllDocsAnswer = Schema.Struct({
  // null in a `_local_docs` answer
  total_rows: Schema.optional(Schema.NullOr(Schema.Number)),
  offset: Schema.optional(Schema.NullOr(Schema.Number)),
  rows: Wire.checkedArray<AllDocsRow>("rows", allDocsRowProblem),
  update_seq: Schema.optional(Database.Sequence)
})
const AllDocsQueriesAnswer = Schema.Struct({ results: Schema.Array(AllDocsAnswer) })

/**
 * The ranges of `_all_docs` that leave out the design documents, whose ids are the range `["_design/", "_design0")`
 * (ids sort by their characters; no other document id can start with `_design`), in the order of the read.
 */
const aroundDesignDocuments = (options: Database.AllDocsOptions): ReadonlyArray<Database.AllDocsOptions> => {
  const [below, above] = ["_design/", "_design0"]
  if (options.descending !== true) {
    const { endkey: high, startkey: low } = options
    const ranges: Array<Database.AllDocsOptions> = []
    if (low === undefined || low < below) {
      ranges.push(high !== undefined && high < below ? options : { ...options, endkey: below, inclusiveEnd: false })
    }
    if (high === undefined || high >= above) {
      ranges.push({ ...options, startkey: low !== undefined && low > above ? low : above })
    }
    return ranges
  }
  const { endkey: low, startkey: high } = options
  const ranges: Array<Database.AllDocsOptions> = []
  if (high === undefined || high >= above) {
    ranges.push(low !== undefined && low >= above ? options : { ...options, endkey: above, inclusiveEnd: true })
  }
  if (low === undefined || low < below) {
    ranges.push({ ...options, startkey: high !== undefined && high < below ? high : below })
  }
  return ranges
}

/** A row of `_all_docs` with its document (`undefined`: none asked for), made in one object. */
const rowWith = <A>(row: AllDocsRow, doc: A | null | undefined): Database.AllDocsRow<A> | Database.AllDocsErrorRow => {
  const key = String(row.key)
  if (row.error !== undefined || row.value == null || row.id === undefined) {
    return { _tag: "ErrorRow", key, error: row.error ?? "not_found" }
  }
  return doc === undefined ?
    { _tag: "Row", id: row.id, key, value: row.value } :
    { _tag: "Row", id: row.id, key, value: row.value, doc }
}

/** A row of `_all_docs` without a document to decode (`null` for a deleted one, when documents were asked for). */
const plainRow = <A>(row: AllDocsRow) => rowWith<A>(row, row.doc === null ? null : undefined)

/** The rows of an `_all_docs` page, their documents decoded with the codec. */
const toRows = <A, D>(
  codec: Codec<A, D>,
  rows: ReadonlyArray<AllDocsRow>
): Effect.Effect<Array<Database.AllDocsRow<A> | Database.AllDocsErrorRow>, D> =>
  decodeRows(
    codec,
    rows,
    (row) => row.error === undefined && row.value != null && row.id !== undefined && row.doc != null ? row.doc : undefined,
    plainRow<A>,
    rowWith<A>
  )

/** The reads of an endpoint that answers as `_all_docs` does, at `endpointPath`; `codec` decodes the queries' documents. */
export const make = <A, D>(transport: Request.Transport, endpointPath: string, codec: Codec<A, D>) => {
  const pageRequest = (
    options: Database.AllDocsOptions,
    paging: { readonly startkey?: unknown; readonly limit?: number | undefined; readonly skip?: number | undefined }
  ): Request.Request => {
    const params = {
      startkey: jsonParam(paging.startkey ?? options.startkey),
      endkey: jsonParam(options.endkey),
      inclusive_end: boolParam(options.inclusiveEnd),
      descending: boolParam(options.descending),
      limit: paging.limit,
      skip: paging.skip,
      include_docs: boolParam(options.includeDocs),
      conflicts: boolParam(options.conflicts),
      update_seq: boolParam(options.updateSeq)
    }
    return options.keys === undefined ?
      { method: "GET", path: endpointPath, params } :
      {
        method: "POST",
        path: endpointPath,
        params,
        body: Json.bodyUnchecked({ keys: options.keys }),
        idempotent: true
      }
  }
  const page = <B, DB>(
    options: Database.AllDocsOptions,
    rowCodec: Codec<B, DB>,
    paging: { readonly startkey?: unknown; readonly limit?: number | undefined; readonly skip?: number | undefined }
  ) => {
    const request = pageRequest(options, paging)
    return Effect.flatMap(
      Request.json(transport, request, AllDocsAnswer, readErrors),
      (answer) =>
        Effect.map(toRows(rowCodec, answer.rows), (rows) => ({ answer, rows }))
    )
  }
  /** Every row in one request, read as the answer arrives. */
  const oneRequest = <B, DB>(options: Database.AllDocsOptions, rowCodec: Codec<B, DB>) => {
    const request = pageRequest(options, { limit: options.limit, skip: options.skip })
    return Wire.streamedRows(transport, request, readErrors, {
      problem: allDocsRowProblem,
      build: (rows: ReadonlyArray<AllDocsRow>) => toRows(rowCodec, rows),
      // a broken answer goes on from the last document delivered (with `keys`, the rows are the keys': not resumed)
      resume: options.keys !== undefined ? undefined : {
        request: (last, delivered, repeated) =>
          pageRequest(options, {
            startkey: last.key,
            limit: options.limit === undefined ? undefined : options.limit - delivered + repeated
          }),
        samePlace: (a, b) => a.key === b.key
      }
    })
  }
  const stream = <B, DB>(
    options: Database.AllDocsOptions,
    rowCodec: Codec<B, DB>
  ): Stream.Stream<Database.AllDocsRow<B> | Database.AllDocsErrorRow, Database.ReadError | DB> => {
    if (options.designDocuments === false) {
      const { designDocuments: _, limit, skip, ...rest } = options
      if (rest.keys !== undefined) {
        return stream({ ...rest, limit, skip, keys: rest.keys.filter((key) => !key.startsWith("_design/")) }, rowCodec)
      }
      const around = Stream.flatten(Stream.fromIterable(aroundDesignDocuments(rest).map((range) => stream(range, rowCodec))))
      const skipped = skip === undefined || skip <= 0 ? around : Stream.drop(around, skip)
      return limit === undefined ? skipped : Stream.take(skipped, limit)
    }
    // in one request unless asked for pages; a list of keys goes in pieces of `pageSize` unless asked for one request
    if (options.oneRequest === true || (options.keys === undefined && !Paging.inPages(options))) {
      return oneRequest(options, rowCodec)
    }
    const pageSize = options.pageSize ?? 1000
    if (options.keys !== undefined) {
      // keys fix the rows and their order: page through the list of keys.
      const keys = options.limit === undefined ? options.keys : options.keys.slice(0, options.limit)
      return Stream.fromIterable(Chunks.chunksOf(keys, pageSize)).pipe(
        Stream.mapEffect((keys) => page({ ...options, keys, skip: undefined, limit: undefined }, rowCodec, {})),
        Stream.flatMap(({ rows }) => Stream.fromIterable(rows))
      )
    }
    return Paging.byKey({
      pageSize,
      limit: options.limit,
      skip: options.skip,
      fetch: (request) =>
        Effect.map(
          page(options, rowCodec, {
            ...(request.start === undefined ? {} : { startkey: request.start.key }),
            limit: request.limit,
            skip: request.skip
          }),
          ({ rows }) => rows
        ),
      cursorOf: (row) => ({ key: row.key, id: undefined })
    })
  }
  /** Several queries in one request (`{endpoint}/queries`), a page each. */
  const queries = (list: ReadonlyArray<Database.AllDocsOptions>) =>
    Effect.gen(function*() {
      const body = yield* Json.body({
        queries: list.map((options) => ({
          keys: options.keys,
          startkey: options.startkey,
          endkey: options.endkey,
          inclusive_end: options.inclusiveEnd,
          descending: options.descending,
          limit: options.limit,
          skip: options.skip,
          include_docs: options.includeDocs,
          conflicts: options.conflicts,
          update_seq: options.updateSeq
        }))
      }, "all_docs queries")
      const request: Request.Request = { method: "POST", path: `${endpointPath}/queries`, body, idempotent: true }
      const answer = yield* Request.json(transport, request, AllDocsQueriesAnswer, readErrors)
      return yield* Effect.forEach(answer.results, (result) =>
        Effect.map(toRows(codec, result.rows), (rows): Database.AllDocsPage<A> => ({
          totalRows: result.total_rows ?? rows.length,
          offset: result.offset ?? undefined,
          rows,
          ...(result.update_seq === undefined ? {} : { updateSeq: result.update_seq })
        })))
    })
  return { page, stream, queries }
}

/** The reads of an endpoint that answers as `_all_docs` does. */
export type Endpoint<A, D> = ReturnType<typeof make<A, D>>

/** Every row of `endpoint`, its document decoded with `codec`, or as an `Either` of it (`decode: "either"`). */
export const rows = <A, D>(
  endpoint: Endpoint<A, D>,
  codec: Codec<A, D>,
  options: Database.AllDocsOptions & Partial<Database.EitherMode>
): Stream.Stream<
  Database.AllDocsRow<A | Either.Either<A, D>> | Database.AllDocsErrorRow,
  Database.ReadError | D
> => options.decode === "either" ? endpoint.stream(options, either(codec)) : endpoint.stream(options, codec)
