import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as HttpMethod from "@effect/platform/HttpMethod"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as CouchError from "../CouchError.js"
import * as Database from "../Database.js"
import * as Document from "../Document.js"
import * as Mango from "../Mango.js"
import * as View from "../View.js"
import * as AttachmentImpl from "./attachment.js"
import { type Codec, decodeRows, either, encodeAll, idOf, typed, untyped } from "./codec.js"
import * as Design from "./design.js"
import { boolParam, documentParams, jsonParam, openRevsParams, readErrors, writeErrors } from "./endpoint.js"
import * as Json from "./json.js"
import * as Names from "./names.js"
import * as ChangesImpl from "./changes.js"
import * as Paging from "./paging.js"
import * as Query from "./query.js"
import * as Request from "./request.js"
import * as SearchImpl from "./search.js"
import * as Wire from "./wire.js"
import * as WithAttachments from "./withAttachments.js"
import * as Writers from "./writers.js"

// Wire shapes

const Acknowledgement = Schema.Struct({ ok: Schema.optional(Schema.Boolean) })
/** An entry of a `_bulk_docs` answer: `{ id, rev }`, or `{ id, error, reason }`. */
interface BulkDocsEntry {
  readonly id?: string
  readonly rev?: string
  readonly error?: string
  readonly reason?: string
}
const BulkDocsAnswer = Wire.checkedArray<BulkDocsEntry>("results", (entry) =>
  !Wire.isObject(entry) ?
    "not an object" :
    Wire.optionalField(entry, "id", "a string", Wire.isString) ??
      Wire.optionalField(entry, "rev", "a string", Wire.isString) ??
      Wire.optionalField(entry, "error", "a string", Wire.isString) ??
      Wire.optionalField(entry, "reason", "a string", Wire.isString))
// `ok: Unknown` would also match an entry without `ok`: the other shape goes first.
const OpenRevsAnswer = Schema.Array(Schema.Union(
  Schema.Struct({ missing: Schema.String }),
  Schema.Struct({ ok: Schema.Unknown })
))
const BulkGetAnswer = Schema.Struct({ results: Wire.checkedArray<Wire.BulkGetResult>("results", Wire.bulkGetResultProblem) })
/** A revision `_bulk_get` gives no document for, as the result says it. */
const bulkGetFailure = (result: Wire.BulkGetResult, error: Wire.BulkGetError) =>
  new Document.WriteFailure({ id: error.id ?? result.id, error: error.error, reason: error.reason })
/**
 * The documents of a `_bulk_get` answer decoded in a plain loop, or `undefined` when the codec cannot decode them
 * synchronously (then they are decoded one effect each).
 */
const bulkGetSync = <A, D>(
  codec: Codec<A, D>,
  results: ReadonlyArray<Wire.BulkGetResult>
): Effect.Effect<Array<Database.BulkGetResult<A>>, D> | undefined => {
  const out: Array<Database.BulkGetResult<A>> = []
  for (const result of results) {
    const docs: Array<Either.Either<A, Document.WriteFailure>> = []
    for (const entry of result.docs) {
      if ("ok" in entry) {
        const doc = codec.decodeSync(entry.ok)
        if (doc === undefined) return undefined
        if (Either.isLeft(doc)) return Effect.fail(doc.left)
        docs.push(Either.right(doc.right))
      } else {
        docs.push(Either.left(bulkGetFailure(result, entry.error)))
      }
    }
    out.push({ id: result.id, docs })
  }
  return Effect.succeed(out)
}
/** A row of `_all_docs` as the server sends it. */
interface AllDocsWireRow {
  readonly id?: string
  readonly key: unknown
  readonly value?: { readonly rev: string; readonly deleted?: boolean } | null
  readonly doc?: unknown
  readonly error?: string
}
const allDocsRowProblem = (row: unknown): string | undefined => {
  if (!Wire.isObject(row)) return "not an object"
  if (!("key" in row)) return "no key"
  const value = row.value
  if (value != null && (!Wire.isObject(value) || typeof value.rev !== "string")) return "value has no string rev"
  return Wire.optionalField(row, "id", "a string", Wire.isString) ??
    Wire.optionalField(row, "error", "a string", Wire.isString)
}
const AllDocsAnswer = Schema.Struct({
  // null in a `_local_docs` answer
  total_rows: Schema.optional(Schema.NullOr(Schema.Number)),
  offset: Schema.optional(Schema.NullOr(Schema.Number)),
  rows: Wire.checkedArray<AllDocsWireRow>("rows", allDocsRowProblem),
  update_seq: Schema.optional(Database.Sequence)
})
const AllDocsQueriesAnswer = Schema.Struct({ results: Schema.Array(AllDocsAnswer) })
const Limit = Schema.Number
const MissingRevsAnswer = Schema.Struct({
  missing_revs: Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) })
})
const ShardsAnswer = Schema.Struct({ shards: Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) }) })
const LocalRevision = Schema.Struct({ _rev: Schema.String })
const IndexesAnswer = Schema.Struct({ indexes: Schema.Array(Mango.IndexInfo) })
const PurgedInfosAnswer = Schema.Struct({ purged_infos: Schema.Array(Database.PurgedInfo) })
const RevsDiffAnswer = Schema.Record({ key: Schema.String, value: Database.RevsDiffEntry })


const defaultModifySchedule = Schedule.exponential("10 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(10))
)


/** The `_id` of an encoded document, checked. */
const encodedId = (encoded: unknown): Effect.Effect<string, CouchError.InvalidArgumentError> => {
  const id = typeof encoded === "object" && encoded !== null ? (encoded as { _id?: unknown })._id : undefined
  return typeof id === "string" ?
    Effect.succeed(id) :
    Effect.fail(new CouchError.InvalidArgumentError({ argument: "document", description: "it has no string _id" }))
}

/**
 * A `Destination` header value. CouchDB splits the header at its first `?` (the destination revision follows as
 * `rev=`) and then percent-decodes the id, reading `+` as a space: the id is encoded like a path (`+` as `%2B`, `?`
 * as `%3F`, `%` as `%25`), so that every id reaches exactly the document it names.
 */
const copyDestination = (id: string, rev: string | undefined) => {
  const path = Names.documentPath(id)
  return Either.isLeft(path) ?
    Effect.fail(new CouchError.InvalidArgumentError({ argument: "destination id", description: path.left.description })) :
    Effect.succeed(rev === undefined ? path.right : `${path.right}?rev=${Names.encodeSegment(rev)}`)
}

const etagRevision = (response: HttpClientResponse.HttpClientResponse, request: Request.Request, transport: Request.Transport) => {
  const etag = response.headers["etag"]
  return etag === undefined ?
    Effect.fail(
      new CouchError.ResponseDecodeError({
        method: request.method,
        url: Request.fullUrl(transport, request),
        status: response.status,
        reason: "malformed",
        description: "the answer has no ETag"
      })
    ) :
    Effect.succeed(etag.replace(/^W\//, "").replace(/^"|"$/g, ""))
}

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
const rowWith = <A>(row: AllDocsWireRow, doc: A | null | undefined): Database.AllDocsRow<A> | Database.AllDocsErrorRow => {
  const key = String(row.key)
  if (row.error !== undefined || row.value == null || row.id === undefined) {
    return { _tag: "ErrorRow", key, error: row.error ?? "not_found" }
  }
  return doc === undefined ?
    { _tag: "Row", id: row.id, key, value: row.value } :
    { _tag: "Row", id: row.id, key, value: row.value, doc }
}

/** A row of `_all_docs` without a document to decode (`null` for a deleted one, when documents were asked for). */
const plainRow = <A>(row: AllDocsWireRow) => rowWith<A>(row, row.doc === null ? null : undefined)

/** The rows of an `_all_docs` page, their documents decoded with the codec. */
const toRows = <A, D>(
  codec: Codec<A, D>,
  rows: ReadonlyArray<AllDocsWireRow>
): Effect.Effect<Array<Database.AllDocsRow<A> | Database.AllDocsErrorRow>, D> =>
  decodeRows(
    codec,
    rows,
    (row) => row.error === undefined && row.value != null && row.id !== undefined && row.doc != null ? row.doc : undefined,
    plainRow<A>,
    rowWith<A>
  )

/** A revision and its history (`_revisions`). */
const RevisionAndHistory = Schema.Struct({
  _rev: Schema.String,
  _deleted: Schema.optional(Schema.Boolean),
  _revisions: Schema.optional(Schema.Struct({ start: Schema.Number, ids: Schema.Array(Schema.String) }))
})

/** Every leaf of a document, as `open_revs=all&revs=true` answers (a leaf a copy lacks is `missing`). */
const Leaves = Schema.Array(Schema.Union(Schema.Struct({ ok: RevisionAndHistory }), Schema.Struct({ missing: Schema.String })))

/** A document's winning revision, with its history, and the other leaves that are not deleted. */
interface Winner {
  readonly winner: typeof RevisionAndHistory.Type
  readonly others: ReadonlyArray<string>
}

/** Whether revision `a` wins over `b` as CouchDB picks: not deleted first, then the longer, then the greater id. */
const winsOver = (a: typeof RevisionAndHistory.Type, b: typeof RevisionAndHistory.Type): boolean => {
  if ((a._deleted === true) !== (b._deleted === true)) return b._deleted === true
  const [pa, pb] = [Number.parseInt(a._rev, 10), Number.parseInt(b._rev, 10)]
  if (pa !== pb) return pa > pb
  return a._rev.slice(a._rev.indexOf("-") + 1) > b._rev.slice(b._rev.indexOf("-") + 1)
}

/** The winner among a document's leaves (`undefined` when it has none). */
export const winnerOf = (leaves: typeof Leaves.Type): Winner | undefined => {
  const found = leaves.flatMap((leaf) => "ok" in leaf ? [leaf.ok] : [])
  const winner = found.reduce<typeof RevisionAndHistory.Type | undefined>(
    (best, leaf) => best === undefined || winsOver(leaf, best) ? leaf : best,
    undefined
  )
  if (winner === undefined) return undefined
  const others = found.filter((leaf) => leaf !== winner && leaf._deleted !== true).map((leaf) => leaf._rev)
  return { winner, others }
}

/** Whether `rev` is the winning revision or one of its ancestors. */
const onWinningBranch = (doc: typeof RevisionAndHistory.Type, rev: string): boolean => {
  if (doc._rev === rev) return true
  const history = doc._revisions
  if (history === undefined) return false
  const [position, hash] = [Number.parseInt(rev, 10), rev.slice(rev.indexOf("-") + 1)]
  const index = history.start - position
  return index >= 0 && history.ids[index] === hash
}

/**
 * A read-modify-write on a cluster (or answered 202): concurrent writers from the same revision may each have been
 * accepted by some copies, and a writer may have written on a revision that has just lost to a concurrent one
 * (both answered 201), leaving conflicts. The writes of `modify` and `ensureView` ask every copy
 * (`w` = `copies`), so that once a write is answered every copy has answered it (or timed out), and every revision
 * that competes with it is on some copy already.
 *
 * The document's leaves are then read from every copy (`open_revs=all`, `r` = `copies`: a copy's own `_conflicts`
 * may lack a leaf that another copy has), with their histories, round after round:
 * - this revision is on the winning branch: the other leaves are removed (their writers lost, and will apply
 *   their changes again on the winner), and the document read again, until no conflict is left; then it won;
 * - it is not: its leaf is removed, and the document read once more, since a writer may have written on it in the
 *   meantime (then its change is in the winner, and it won); if not, the write fails with `ConflictError`, so that
 *   the caller's retry applies its change again on the winner.
 * Removals ask every copy too, so that no copy keeps a removed leaf for a late writer to write on. (A write that is
 * not visible at all is taken as lost.) Best effort, not consensus: see the README's Clusters section.
 */
const settle = (
  transport: Request.Transport,
  path: string,
  written: Document.WriteResult,
  copies: number | undefined
): Effect.Effect<Document.WriteResult, CouchError.ConflictError | Database.WriteError> => {
  // a local document has no revision tree: nothing to settle
  if ((written.accepted !== true && copies === undefined) || written.id.startsWith("_local/")) return Effect.succeed(written)
  // every leaf, from every copy (a copy's own `_conflicts` may lack a leaf another copy has)
  const read = Request.json(
    transport,
    { method: "GET", path, params: { open_revs: "all", revs: "true", r: copies ?? 3 } },
    Leaves,
    readErrors
  ).pipe(
    Effect.map((leaves): Winner => winnerOf(leaves) ?? { winner: { _rev: written.rev }, others: [] }),
    Effect.catchTag("NotFoundError", (): Effect.Effect<Winner> => Effect.succeed({ winner: { _rev: written.rev }, others: [] }))
  )
  // a leaf that is gone, or that someone wrote on, answers 404 or 409: nothing left to do with it
  const removeLeaf = (rev: string) =>
    Request.written(transport, { method: "DELETE", path, params: { rev, w: copies }, idempotent: true }, writeErrors).pipe(
      Effect.asVoid,
      Effect.catchTags({ NotFoundError: () => Effect.void, ConflictError: () => Effect.void })
    )
  const lost = new CouchError.ConflictError({
    method: "PUT",
    url: Request.fullUrl(transport, { method: "PUT", path }),
    status: 409,
    error: "conflict",
    reason: "a concurrent write from the same revision won; this write's revision was removed"
  })
  const round = (
    rounds: number,
    removedOwn: boolean
  ): Effect.Effect<Document.WriteResult, CouchError.ConflictError | Database.WriteError> =>
    Effect.flatMap(read, ({ others, winner }) => {
      if (onWinningBranch(winner, written.rev)) {
        if (others.length === 0 || rounds === 0) return Effect.succeed(written)
        return Effect.zipRight(Effect.forEach(others, removeLeaf, { discard: true }), round(rounds - 1, removedOwn))
      }
      if (removedOwn || rounds === 0) return Effect.fail(lost)
      return Effect.zipRight(removeLeaf(written.rev), round(rounds - 1, true))
    })
  return round(8, false)
}

/**
 * The number of copies (`n`) of the database at `root` when it has more than one (a cluster), known once per
 * session: the `r` and `w` of the reads and writes of `modify` and `ensureView`, which must reach every copy;
 * `undefined` for one copy, or a server that does not say (no `r`, no `w`).
 */
const copiesOf = (transport: Request.Transport, root: string) =>
  Writers.copiesOf(
    transport,
    root,
    Effect.map(Request.json(transport, { method: "GET", path: root }, Database.DatabaseInfo, readErrors), (info) => info.cluster?.n)
  ).pipe(Effect.map((n) => n !== undefined && n > 1 ? n : undefined))

/** The attributes of a database operation's span: the database's, and the document's id when it has one. */
const spanAttributes = (attributes: Record<string, string>, id: string | undefined) =>
  id === undefined ? attributes : { ...attributes, "couchdb.document": id }

/** The span of a database operation (`Database.{operation}`), with the document's id when it has one. */
const spanOf = (attributes: Record<string, string>) => (operation: string, id?: string) =>
  Effect.withSpan(`Database.${operation}`, { attributes: spanAttributes(attributes, id), captureStackTrace: false })

/** The results of a `_bulk_docs` request, one per document. */
type WriteResults = ReadonlyArray<Either.Either<Document.WriteResult, Document.WriteFailure>>

/** The failure of the source of `bulkWrite`, carried in the stream after its last document. */
class SourceFailed<E> {
  constructor(readonly error: E) {}
}

/** The document operations of a database, for documents read and written through `codec`. */
const documents = <A, D>(
  transport: Request.Transport,
  name: string,
  root: string,
  codec: Codec<A, D>
): Database.Documents<A, D> => {
  const attributes = { "couchdb.database": name }
  const span = spanOf(attributes)
  /** A stream's span covers its whole life. */
  const streamSpan = (operation: string, extra?: Record<string, string>) =>
    Stream.withSpan(`Database.${operation}`, { attributes: extra === undefined ? attributes : { ...attributes, ...extra } })
  const docPath = (id: string) => Either.map(Names.documentPath(id), (path) => `${root}/${path}`)
  const copies = copiesOf(transport, root)

  /** A document write; one that carries its revision can be sent again harmlessly (a repeat is a conflict). */
  const write = (method: HttpMethod.HttpMethod, path: string, body: unknown, params?: Request.Request["params"]) =>
    Effect.flatMap(Json.body(body), (json) =>
      Request.written(transport, {
        method,
        path,
        body: json,
        params,
        idempotent: method === "PUT" && typeof (body as { _rev?: unknown })._rev === "string"
      }, writeErrors))

  const put: Database.Documents<A, D>["put"] = (doc, options = {}) =>
    Effect.gen(function*() {
      const encoded = yield* codec.encode(doc)
      const id = yield* encodedId(encoded)
      const path = yield* docPath(id)
      yield* Design.check(id, encoded)
      return yield* write("PUT", path, encoded, {
        batch: options.batch === true ? "ok" : undefined,
        new_edits: boolParam(options.newEdits),
        w: options.w
      })
    }).pipe(span("put"))

  const get: Database.Documents<A, D>["get"] = (id, options = {}) => {
    const path = docPath(id)
    if (Either.isLeft(path)) return Effect.fail(path.left).pipe(span("get", id))
    const request: Request.Request = { method: "GET", path: path.right, params: documentParams(options) }
    return Request.executeInSpan(
      transport,
      request,
      readErrors,
      (response) => Request.readJson(transport, request, response, (json) => codec.decodeSync(json) ?? codec.decode(json)),
      "Database.get",
      spanAttributes(attributes, id)
    )
  }

  /** `_bulk_docs`, and whether the server answered 202 (some documents lack the write quorum). */
  const bulkDocsRequest = (docs: ReadonlyArray<unknown>, newEdits: boolean | undefined) =>
    Effect.flatMap(Json.body({ docs, new_edits: newEdits }, "documents"), (body) => {
      const request: Request.Request = { method: "POST", path: `${root}/_bulk_docs`, body }
      const decode = Request.decodeJson(transport, request, BulkDocsAnswer)
      return Request.execute(
        transport,
        request,
        [...writeErrors, CouchError.ExpectationFailedError, CouchError.PayloadTooLargeError],
        (response) => Effect.map(decode(response), (answer) => ({ answer, accepted: response.status === 202 }))
      )
    })

  const toWriteResults = (
    answer: typeof BulkDocsAnswer.Type,
    encoded: ReadonlyArray<unknown>,
    accepted: boolean
  ): WriteResults =>
    answer.map((entry, i) => {
      const id = entry.id ?? idOf(encoded[i])
      return entry.error === undefined && entry.rev !== undefined ?
        Either.right(accepted ? { id, rev: entry.rev, accepted } : { id, rev: entry.rev }) :
        Either.left(new Document.WriteFailure({ id, error: entry.error ?? "unknown", reason: entry.reason }))
    })

  const bulkDocs: Database.Documents<A, D>["bulkDocs"] = (docs, options = {}) =>
    Effect.gen(function*() {
      const encoded = yield* encodeAll(codec, docs)
      const { accepted, answer } = yield* bulkDocsRequest(encoded, options.newEdits)
      return toWriteResults(answer, encoded, accepted)
    }).pipe(span("bulkDocs"))

  const bulkWrite = <E, R>(
    docs: Stream.Stream<A, E, R>,
    options: Database.BulkWriteOptions = {}
  ): Stream.Stream<Either.Either<Document.WriteResult, Document.WriteFailure>, E | Database.BulkWriteError, R> =>
    docs.pipe(
      // the source's failure travels as the last element: the batch it ends is not sent
      Stream.catchAll((error) => Stream.succeed(new SourceFailed(error))),
      Stream.grouped(options.batchSize ?? 1000),
      Stream.mapEffect((batch): Effect.Effect<WriteResults | SourceFailed<E>, Database.BulkWriteError> => {
        const last = Chunk.unsafeLast(batch)
        return last instanceof SourceFailed ?
          Effect.succeed(last) :
          bulkDocs(batch as Chunk.Chunk<A>, options)
      }, { concurrency: options.concurrency ?? 4 }),
      // in order: the results of every batch sent before the failure come first
      Stream.mapConcatEffect((results) =>
        results instanceof SourceFailed ? Effect.fail(results.error) : Effect.succeed(results)
      )
    )

  const allDocsFrom = (endpointPath: string) => {
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
        build: (rows: ReadonlyArray<AllDocsWireRow>) => toRows(rowCodec, rows),
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
      if (options.oneRequest === true) return oneRequest(options, rowCodec)
      const pageSize = options.pageSize ?? 1000
      if (options.keys !== undefined) {
        // keys fix the rows and their order: page through the list of keys.
        const keys = options.limit === undefined ? options.keys : options.keys.slice(0, options.limit)
        return Stream.fromIterable(Paging.chunksOf(keys, pageSize)).pipe(
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

  const allDocs = allDocsFrom(`${root}/_all_docs`)
  const designDocs = allDocsFrom(`${root}/_design_docs`)
  const localDocs = allDocsFrom(`${root}/_local_docs`)
  const allDocsStream = (
    from: ReturnType<typeof allDocsFrom>,
    options: Database.AllDocsOptions & Partial<Database.EitherMode>
  ): Stream.Stream<
    Database.AllDocsRow<A | Either.Either<A, D>> | Database.AllDocsErrorRow,
    Database.ReadError | D
  > => options.decode === "either" ? from.stream(options, either(codec)) : from.stream(options, codec)

  const head: Database.Documents<A, D>["head"] = (id) =>
    Effect.flatMap(docPath(id), (path) => {
      if (id.startsWith("_local/")) {
        // a local document's ETag is not its revision: read the revision from the document
        return Request.json(transport, { method: "GET", path }, LocalRevision, readErrors).pipe(
          Effect.map((doc) => doc._rev)
        )
      }
      const request: Request.Request = { method: "HEAD", path }
      return Request.execute(transport, request, readErrors, (response) => etagRevision(response, request, transport))
    }).pipe(span("head", id))

  const service: Database.Documents<A, D> = {
    ...Query.make(transport, root, codec, attributes),
    ...SearchImpl.make(transport, root, codec, attributes),
    ...ChangesImpl.make(transport, root, codec, attributes),
    ...WithAttachments.make(transport, root, codec, span),
    attachment: (docId, attachmentName) => AttachmentImpl.make(transport, name, root, docId, attachmentName),
    partition: (partition) => {
      const problem = Query.partitionProblem(partition)
      if (problem !== undefined) {
        return Effect.fail(new CouchError.InvalidArgumentError({ argument: "partition key", description: problem }))
      }
      const partitionRoot = `${root}/_partition/${Names.encodeSegment(partition)}`
      const partitionAllDocs = allDocsFrom(`${partitionRoot}/_all_docs`)
      return Effect.succeed({
        ...Query.make(transport, partitionRoot, codec, { ...attributes, "couchdb.partition": partition }),
        ...SearchImpl.queries(transport, partitionRoot, codec, { ...attributes, "couchdb.partition": partition }),
        partition,
        info: Request.json(transport, { method: "GET", path: partitionRoot }, Database.PartitionInfo, readErrors).pipe(
          span("partitionInfo")
        ),
        allDocs: (options = {}) =>
          partitionAllDocs.stream(options, codec).pipe(streamSpan("allDocs", { "couchdb.partition": partition }))
      })
    },
    get,
    getOpenRevisions: (id, revs, options = {}) =>
      Effect.flatMap(docPath(id), (path) =>
        Request.json(transport, {
          method: "GET",
          path,
          params: openRevsParams(revs, options)
        }, OpenRevsAnswer, readErrors)).pipe(
          Effect.flatMap((answer) =>
            Effect.forEach(answer, (entry): Effect.Effect<Document.OpenRevision<A>, D> =>
              "ok" in entry ?
                Effect.map(codec.decode(entry.ok), (doc) => ({ _tag: "Found", doc })) :
                Effect.succeed({ _tag: "Missing", rev: entry.missing }))
          ),
          span("getOpenRevisions", id)
        ),
    head,
    put,
    post: (doc, options = {}) =>
      // a document without `_id` is what POST is for; the codec checks the rest
      Effect.flatMap(codec.encode(doc as A), (encoded) =>
        write("POST", root, encoded, { batch: options.batch === true ? "ok" : undefined })).pipe(span("post")),
    remove: (id, rev) =>
      Effect.flatMap(docPath(id), (path) =>
        Request.written(transport, { method: "DELETE", path, params: { rev }, idempotent: true }, writeErrors)).pipe(
          span("remove", id)
        ),
    copy: (id, destinationId, options = {}) =>
      Effect.gen(function*() {
        const path = yield* docPath(id)
        const destination = yield* copyDestination(destinationId, options.destinationRev)
        return yield* Request.written(transport, {
          // COPY is CouchDB's own method: the platform's method type does not list it, its clients send it as is.
          method: "COPY" as HttpMethod.HttpMethod,
          path,
          params: { rev: options.rev },
          headers: { destination }
        }, writeErrors)
      }).pipe(span("copy", id)),
    upsert: (doc, options = {}) =>
      Effect.gen(function*() {
        const encoded = yield* codec.encode(doc)
        const id = yield* encodedId(encoded)
        const path = yield* docPath(id)
        const given = (encoded as { readonly _rev?: unknown })._rev
        let rev = typeof given === "string" ? given : undefined
        const attempt = Effect.suspend(() => {
          const { _rev: _, ...rest } = encoded as Record<string, unknown>
          return write("PUT", path, rev === undefined ? rest : { ...rest, _rev: rev })
        }).pipe(
          Effect.tapError((error) =>
            error instanceof CouchError.ConflictError ?
              // the current revision, or none for a missing or deleted document
              head(id).pipe(
                Effect.map((current) => void (rev = current)),
                Effect.catchTag("NotFoundError", () => Effect.sync(() => void (rev = undefined))),
                Effect.ignore
              ) :
              Effect.void
          )
        )
        return yield* Effect.retry(attempt, {
          schedule: options.schedule ?? defaultModifySchedule,
          while: (error) => error instanceof CouchError.ConflictError
        })
      }).pipe(span("upsert")),
    modify: (id, f, options = {}) =>
      Effect.flatMap(docPath(id), (path) =>
        Effect.flatMap(copies, (n) =>
          Effect.flatMap(get(id, { r: n }), (doc) => put(f(doc), { w: n })).pipe(
            Effect.flatMap((written) => settle(transport, path, written, n)),
            Effect.retry({
              schedule: options.schedule ?? defaultModifySchedule,
              while: (error) => error instanceof CouchError.ConflictError
            })
          )).pipe(Writers.inTurn(transport, path))).pipe(span("modify", id)),
    bulkDocs,
    bulkWrite: (docs, options) => bulkWrite(docs, options).pipe(streamSpan("bulkWrite")),
    bulkGet: (requests, options = {}) =>
      Effect.gen(function*() {
        for (const request of requests) {
          const problem = Names.documentIdProblem(request.id)
          if (problem !== undefined && !request.id.startsWith("_")) {
            return yield* Effect.fail(new CouchError.InvalidArgumentError({ argument: "document id", description: problem }))
          }
        }
        const body = yield* Json.body({
          docs: requests.map((request) => ({ id: request.id, rev: request.rev, atts_since: request.attsSince }))
        }, "requests")
        const answer = yield* Request.json(transport, {
          method: "POST",
          path: `${root}/_bulk_get`,
          body,
          idempotent: true,
          params: {
            revs: boolParam(options.revs),
            latest: boolParam(options.latest),
            attachments: boolParam(options.attachments),
            r: options.r
          }
        }, BulkGetAnswer, readErrors)
        // in a loop when the codec decodes synchronously (a backup reads every document through here)
        const decoded = bulkGetSync(codec, answer.results)
        if (decoded !== undefined) return yield* decoded
        return yield* Effect.forEach(answer.results, (result) =>
          Effect.map(
            Effect.forEach(result.docs, (entry): Effect.Effect<Either.Either<A, Document.WriteFailure>, D> =>
              "ok" in entry ?
                Effect.map(codec.decode(entry.ok), Either.right) :
                Effect.succeed(Either.left(bulkGetFailure(result, entry.error)))),
            (docs) => ({ id: result.id, docs })
          ))
      }).pipe(span("bulkGet")),
    allDocs: ((options: Database.AllDocsOptions & Partial<Database.EitherMode> = {}) =>
      allDocsStream(allDocs, options).pipe(streamSpan("allDocs"))) as Database.Documents<A, D>["allDocs"],
    allDocsPage: (options = {}) =>
      Effect.map(allDocs.page(options, codec, { limit: options.limit, skip: options.skip }), ({ answer, rows }) => ({
        totalRows: answer.total_rows ?? rows.length,
        offset: answer.offset ?? undefined,
        rows,
        ...(answer.update_seq === undefined ? {} : { updateSeq: answer.update_seq })
      })).pipe(span("allDocsPage")),
    allDocsQueries: (queries, options = {}) =>
      (options.from === "design" ? designDocs : options.from === "local" ? localDocs : allDocs).queries(queries).pipe(
        span("allDocsQueries")
      ),
    designDocs: (options = {}) => designDocs.stream(options, codec).pipe(streamSpan("designDocs")),
    localDocs: (options = {}) => localDocs.stream(options, codec).pipe(streamSpan("localDocs"))
  }
  return service
}

const addPrincipals = (
  current: Database.Principals | undefined,
  change: Database.Principals
): Database.Principals => ({
  names: [...new Set([...(current?.names ?? []), ...(change.names ?? [])])],
  roles: [...new Set([...(current?.roles ?? []), ...(change.roles ?? [])])]
})

const removePrincipals = (
  current: Database.Principals | undefined,
  change: Database.Principals
): Database.Principals => ({
  names: (current?.names ?? []).filter((name) => !(change.names ?? []).includes(name)),
  roles: (current?.roles ?? []).filter((role) => !(change.roles ?? []).includes(role))
})

/** Whether two lists of names or roles hold the same ones, in the same order. */
const sameMembers = (a: ReadonlyArray<string> | undefined, b: ReadonlyArray<string> | undefined) =>
  (a ?? []).length === (b ?? []).length && (a ?? []).every((item, i) => (b ?? [])[i] === item)

const localId = (id: string) => id.startsWith("_local/") ? id : `_local/${id}`

/** Builds the value of a database whose name is already checked and encoded. */
export const make = (transport: Request.Transport, name: string, path: string): Database.Database => {
  const root = `/${path}`
  const attributes = { "couchdb.database": name }
  const span = spanOf(attributes)
  const base = documents(transport, name, root, untyped)

  const security = Request.json(transport, { method: "GET", path: `${root}/_security` }, Database.SecurityObject, readErrors)
  const setSecurity = (object: Database.SecurityObject) =>
    Effect.flatMap(Json.body(object, "security object"), (body) =>
      Request.json(transport, { method: "PUT", path: `${root}/_security`, body }, Acknowledgement, writeErrors)).pipe(
        // CouchDB 3.5 answers a member (not an admin of the database) writing `_security` with 500 no_majority:
        // every shard copy refused it
        Effect.catchIf(
          (error): error is CouchError.ServerError => error instanceof CouchError.ServerError && error.reason === "no_majority",
          (error) => Effect.fail(Request.reclassified(CouchError.ForbiddenError, error))
        ),
        Effect.asVoid
      )
  const updateSecurity = (
    field: "admins" | "members",
    update: (current: Database.Principals | undefined) => Database.Principals
  ) =>
    Effect.gen(function*() {
      const current = yield* security
      const principals = update(current[field])
      const before = current[field]
      // adding who is there, or removing who is not, changes nothing: nothing is written (idempotent, as a
      // DELETE of what is gone)
      const same = before !== undefined &&
        sameMembers(before.names, principals.names) && sameMembers(before.roles, principals.roles)
      const next: Database.SecurityObject = { ...current, [field]: principals }
      if (!same) yield* setSecurity(next)
      return next
    })
  const post = (endpoint: string) =>
    Request.json(transport, {
      method: "POST",
      path: `${root}/${endpoint}`,
      body: Json.bodyUnchecked({})
    }, Acknowledgement, writeErrors).pipe(Effect.asVoid)
  const readLimit = (endpoint: string) =>
    Request.json(transport, { method: "GET", path: `${root}/${endpoint}` }, Limit, readErrors)
  const writeLimit = (endpoint: string, limit: number) =>
    Request.json(transport, {
      method: "PUT",
      path: `${root}/${endpoint}`,
      body: Json.bodyUnchecked(limit),
      idempotent: true
    }, Acknowledgement, writeErrors).pipe(Effect.asVoid)
  const revisionsRequest = <A, I>(endpoint: string, revisions: unknown, schema: Schema.Schema<A, I>, idempotent: boolean) =>
    Effect.flatMap(Json.body(revisions, "revisions"), (body) =>
      Request.json(transport, { method: "POST", path: `${root}/${endpoint}`, body, idempotent }, schema, writeErrors))

  const designPath = (ddoc: string) => `${root}/_design/${Names.designSegment(ddoc)}`
  const viewProblem = (view: string, definition: View.ViewDefinition) => {
    const problem = Design.viewDefinitionProblem(view, { ...definition })
    return problem === undefined ?
      Effect.void :
      Effect.fail(new CouchError.InvalidArgumentError({ argument: "view definition", description: problem }))
  }
  const copies = copiesOf(transport, root)

  const ensureOnce = (ddoc: string, view: string, definition: View.ViewDefinition) =>
    Effect.gen(function*() {
      const wanted = definition.reduce === undefined ?
        { map: definition.map } :
        { map: definition.map, reduce: definition.reduce }
      const n = yield* copies
      const current = yield* base.get(Names.designId(ddoc), { r: n }).pipe(
        Effect.map((doc) => doc as View.DesignDocument),
        Effect.catchTag("NotFoundError", () => Effect.succeed(undefined))
      )
      const existing = current?.views?.[view]
      if (existing !== undefined && existing.map === wanted.map && existing.reduce === wanted.reduce) {
        return "unchanged" as const
      }
      const written = yield* base.put({
        ...(current ?? { _id: Names.designId(ddoc), language: "javascript" }),
        views: { ...current?.views, [view]: wanted }
      }, { w: n })
      yield* settle(transport, designPath(ddoc), written, n)
      return current === undefined ? "created" as const : "updated" as const
    })

  return {
    ...base,
    name,
    createIndex: (definition) =>
      Effect.flatMap(Json.body(definition, "index definition"), (body) =>
        Request.json(transport, { method: "POST", path: `${root}/_index`, body }, Mango.CreateIndexResult, writeErrors)).pipe(
          span("createIndex")
        ),
    indexes: Request.json(transport, { method: "GET", path: `${root}/_index` }, IndexesAnswer, readErrors).pipe(
      Effect.map((answer) => answer.indexes),
      span("indexes")
    ),
    deleteIndex: (ddoc, indexName, type = "json") =>
      Request.json(transport, {
        method: "DELETE",
        path: `${root}/_index/_design/${Names.designSegment(ddoc)}/${type}/${
          Names.encodeSegment(indexName)
        }`
      }, Acknowledgement, writeErrors).pipe(Effect.asVoid, span("deleteIndex")),
    designInfo: (ddoc) =>
      Request.json(transport, { method: "GET", path: `${designPath(ddoc)}/_info` }, View.DesignInfo, readErrors).pipe(
        span("designInfo")
      ),
    ensureView: (ddoc, view, definition) =>
      Effect.zipRight(
        viewProblem(view, definition),
        ensureOnce(ddoc, view, definition)
      ).pipe(
        Effect.retry({
          schedule: Schedule.intersect(Schedule.jittered(Schedule.exponential("10 millis")), Schedule.recurs(10)),
          while: (error) => error instanceof CouchError.ConflictError
        }),
        Writers.inTurn(transport, designPath(ddoc)),
        span("ensureView")
      ),
    callUpdate: (ddoc, handler, options = {}) =>
      Effect.gen(function*() {
        const handlerPath = `${designPath(ddoc)}/_update/${Names.encodeSegment(handler)}`
        const path = options.docId === undefined ?
          handlerPath :
          `${handlerPath}/${yield* Names.documentPath(options.docId)}`
        const body = options.body === undefined ? undefined : yield* Json.body(options.body, "update body")
        return yield* Request.execute(transport, {
          method: options.docId === undefined ? "POST" : "PUT",
          path,
          params: options.params,
          body
        }, writeErrors, (response) =>
          Effect.map(
            Effect.orElseSucceed(response.text, () => ""),
            (text): Database.UpdateResult => ({
              body: text,
              id: response.headers["x-couch-id"],
              rev: response.headers["x-couch-update-newrev"]
            })
          ))
      }).pipe(span("callUpdate")),
    info: Request.json(
      transport,
      { method: "GET", path: root },
      Database.DatabaseInfo,
      [CouchError.NotFoundError, CouchError.ForbiddenError]
    ).pipe(span("info")),
    exists: Request.discard(transport, { method: "HEAD", path: root }, [CouchError.NotFoundError, CouchError.ForbiddenError]).pipe(
      Effect.as(true),
      Effect.catchTag("NotFoundError", () => Effect.succeed(false)),
      span("exists")
    ),
    delete: Request.discard(
      transport,
      { method: "DELETE", path: root },
      [CouchError.NotFoundError, CouchError.ForbiddenError, CouchError.BadRequestError]
    ).pipe(Effect.asVoid, span("delete")),
    withSchema: (schema) => documents(transport, name, root, typed(schema)),
    getLocal: (id) => base.get(localId(id)),
    putLocal: (id, doc) => base.put({ ...doc, _id: localId(id) }),
    removeLocal: (id, rev) => base.remove(localId(id), rev),
    security: security.pipe(span("security")),
    setSecurity: (object) => setSecurity(object).pipe(span("setSecurity")),
    addMembers: (principals) =>
      updateSecurity("members", (current) => addPrincipals(current, principals)).pipe(span("addMembers")),
    removeMembers: (principals) =>
      updateSecurity("members", (current) => removePrincipals(current, principals)).pipe(span("removeMembers")),
    addAdmins: (principals) =>
      updateSecurity("admins", (current) => addPrincipals(current, principals)).pipe(span("addAdmins")),
    removeAdmins: (principals) =>
      updateSecurity("admins", (current) => removePrincipals(current, principals)).pipe(span("removeAdmins")),
    compact: post("_compact").pipe(span("compact")),
    compactDesign: (designDoc) =>
      post(`_compact/${Names.designSegment(designDoc)}`).pipe(span("compactDesign")),
    viewCleanup: post("_view_cleanup").pipe(span("viewCleanup")),
    revsDiff: (revisions) => revisionsRequest("_revs_diff", revisions, RevsDiffAnswer, true).pipe(span("revsDiff")),
    purge: (revisions) => revisionsRequest("_purge", revisions, Database.PurgeResult, false).pipe(span("purge")),
    missingRevs: (revisions) =>
      revisionsRequest("_missing_revs", revisions, MissingRevsAnswer, true).pipe(
        Effect.map((answer) => answer.missing_revs),
        span("missingRevs")
      ),
    revsLimit: readLimit("_revs_limit").pipe(span("revsLimit")),
    setRevsLimit: (limit) => writeLimit("_revs_limit", limit).pipe(span("setRevsLimit")),
    purgedInfosLimit: readLimit("_purged_infos_limit").pipe(span("purgedInfosLimit")),
    setPurgedInfosLimit: (limit) => writeLimit("_purged_infos_limit", limit).pipe(span("setPurgedInfosLimit")),
    shards: Request.json(transport, { method: "GET", path: `${root}/_shards` }, ShardsAnswer, readErrors).pipe(
      Effect.map((answer) => answer.shards),
      span("shards")
    ),
    shardOf: (docId) =>
      Effect.flatMap(Names.documentPath(docId), (path) =>
        Request.json(transport, { method: "GET", path: `${root}/_shards/${path}` }, Database.DocumentShard, readErrors)).pipe(
          span("shardOf", docId)
        ),
    purgedInfos: Request.json(transport, { method: "GET", path: `${root}/_purged_infos` }, PurgedInfosAnswer, readErrors).pipe(
      Effect.map((answer) => answer.purged_infos),
      span("purgedInfos")
    ),
    syncShards: post("_sync_shards").pipe(span("syncShards")),
    deleteIndexes: (designDocs) =>
      Request.json(transport, {
        method: "POST",
        path: `${root}/_index/_bulk_delete`,
        body: Json.bodyUnchecked({ docids: designDocs.map(Names.designId) }),
        idempotent: true
      }, Database.BulkIndexDeletion, writeErrors).pipe(span("deleteIndexes"))
  }
}
