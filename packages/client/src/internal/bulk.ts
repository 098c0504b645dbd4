/**
 * The bulk operations of a database: `_bulk_docs` for a batch (`bulkDocs`) or a stream of documents in batches,
 * several in flight (`bulkWrite`), and `_bulk_get`.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as CouchError from "../CouchError.js"
import type * as Database from "../Database.js"
import * as Document from "../Document.js"
import { type Codec, encodeAll, idOf } from "./codec.js"
import { boolParam, readErrors, spanOf, streamSpanOf, writeErrors } from "./endpoint.js"
import * as Json from "./json.js"
import * as Names from "./names.js"
import * as Request from "./request.js"
import * as Wire from "./wire.js"

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

/** The results of a `_bulk_docs` request, one per document. */
type WriteResults = ReadonlyArray<Either.Either<Document.WriteResult, Document.WriteFailure>>

/** The failure of the source of `bulkWrite`, carried in the stream after its last document. */
class SourceFailed<E> {
  constructor(readonly error: E) {}
}

/** The bulk operations of the database at `root`, for documents read and written through `codec`. */
export const make = <A, D>(
  transport: Request.Transport,
  root: string,
  codec: Codec<A, D>,
  attributes: Readonly<Record<string, string>>
): Pick<Database.Documents<A, D>, "bulkDocs" | "bulkWrite" | "bulkGet"> => {
  const span = spanOf(attributes)
  const streamSpan = streamSpanOf(attributes)

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

  const bulkGet: Database.Documents<A, D>["bulkGet"] = (requests, options = {}) =>
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
    }).pipe(span("bulkGet"))

  return {
    bulkDocs,
    bulkWrite: (docs, options) => bulkWrite(docs, options).pipe(streamSpan("bulkWrite")),
    bulkGet
  }
}
