/**
 * The bulk operations of a database: `_bulk_docs` for a batch (`bulkDocs`) or a stream of documents in batches,
 * several in flight (`bulkWrite`), and `_bulk_get`.
 */
import type * as HttpBody from "@effect/platform/HttpBody"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as CouchError from "../CouchError.js"
import type * as Database from "../Database.js"
import * as Document from "../Document.js"
import { writeInBatches } from "./batches.js"
import { type Codec, encodeAllNow, idOf } from "./codec.js"
import { boolParam, readErrors, spanOf, streamSpanOf, writeErrors } from "./endpoint.js"
import * as Json from "./json.js"
import * as JsonBytes from "./jsonBytes.js"
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
const bulkGetFailure = (id: string, error: Wire.BulkGetError) =>
  new Document.WriteFailure({ id: error.id ?? id, error: error.error, reason: error.reason })
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
        docs.push(Either.left(bulkGetFailure(result.id, entry.error)))
      }
    }
    out.push({ id: result.id, docs })
  }
  return Effect.succeed(out)
}

const answerKeys = JsonBytes.keys("results")
const resultKeys = JsonBytes.keys("id", "docs")
const entryKeys = JsonBytes.keys("ok", "error")

/** A result's entry read as bytes: the document's, or its error. */
type RawEntry = { readonly ok: Uint8Array } | { readonly error: Wire.BulkGetError }

/**
 * The results of a `_bulk_get` answer read as bytes: each document the bytes the server wrote for it (a view of
 * the answer), each error read as `bulkGet` reads it; or what is wrong with the answer. Of a JSON answer it gives
 * the results the parsed path gives, and it refuses what that path refuses (a property test holds the two to the
 * same results); inside a document only the structure is read, so a malformed literal there passes as written.
 * Its readers are made once per answer, not per result: a backup reads every document through here.
 */
export const rawBulkGetResults = (bytes: Uint8Array): Array<Database.BulkGetResult<Uint8Array>> | string => {
  const cursor = new JsonBytes.Cursor(bytes)
  const results: Array<Database.BulkGetResult<Uint8Array>> = []
  // the result being read, and the entry being read
  let id: string | undefined
  let entries: Array<RawEntry> | undefined
  let ok: Uint8Array | undefined
  let error: unknown
  const entryMember = (key: number): string | undefined => {
    if (key === 0) {
      ok = cursor.value()
      return ok === undefined ? "ok is not a value" : undefined
    }
    const value = cursor.value()
    if (value === undefined) return "error is not a value"
    try {
      error = JsonBytes.parse(value)
    } catch {
      return "error is not JSON"
    }
    return undefined
  }
  const entry = (i: number): string | undefined => {
    ok = undefined
    error = undefined
    const wrong = cursor.object(entryKeys, entryMember)
    if (wrong !== undefined) return `docs[${i}]: ${wrong}`
    // the parsed path's rules: a document wins over an error; an error needs its fields right
    const document = ok as Uint8Array | undefined
    if (document !== undefined) {
      entries!.push({ ok: document })
      return undefined
    }
    const problem = Wire.bulkGetEntryProblem(error === undefined ? {} : { error })
    if (problem !== undefined) return `docs[${i}]: ${problem}`
    entries!.push({ error: error as Wire.BulkGetError })
    return undefined
  }
  const resultMember = (key: number): string | undefined => {
    if (key === 0) {
      id = cursor.string()
      return id === undefined ? "id is not a string" : undefined
    }
    entries = []
    return cursor.array(entry)
  }
  const result = (index: number): string | undefined => {
    id = undefined
    entries = undefined
    const wrong = cursor.object(resultKeys, resultMember)
    // set by the readers above (which the compiler does not follow)
    const readId = id as string | undefined
    const readEntries = entries as Array<RawEntry> | undefined
    if (wrong !== undefined) return `results[${index}]: ${wrong}`
    if (readId === undefined) return `results[${index}]: id is not a string`
    if (readEntries === undefined) return `results[${index}]: docs is not an array`
    const docs: Array<Either.Either<Uint8Array, Document.WriteFailure>> = []
    for (const entry of readEntries) {
      docs.push("ok" in entry ? Either.right(entry.ok) : Either.left(bulkGetFailure(readId, entry.error)))
    }
    results.push({ id: readId, docs })
    return undefined
  }
  let found = false
  const wrong = cursor.object(answerKeys, () => {
    found = true
    results.length = 0
    return cursor.array(result)
  })
  if (wrong !== undefined) return wrong
  if (!cursor.ended) return "more after the answer"
  return found ? results : "results is missing"
}

/** A batch of documents made into its `_bulk_docs` body, and their ids (for an answer that leaves one out). */
interface EncodedBatch {
  readonly body: HttpBody.HttpBody
  readonly ids: ReadonlyArray<string>
}

/** The encoded batch of `encoded`, or what in it is not JSON. */
const encodedBatch = (
  encoded: ReadonlyArray<unknown>,
  newEdits: boolean | undefined
): Either.Either<EncodedBatch, CouchError.InvalidArgumentError> =>
  Either.map(Json.bodyNow({ docs: encoded, new_edits: newEdits }, "documents"), (body) => ({ body, ids: encoded.map(idOf) }))

/** The results of a `_bulk_docs` request, one per document. */
type WriteResults = ReadonlyArray<Either.Either<Document.WriteResult, Document.WriteFailure>>

/** Whether `n` can be a number of documents or of requests: a positive integer. */
const isCount = (n: number) => Number.isSafeInteger(n) && n > 0

/** The bulk operations of the database at `root`, for documents read and written through `codec`. */
export const make = <A, D>(
  transport: Request.Transport,
  root: string,
  codec: Codec<A, D>,
  attributes: Readonly<Record<string, string>>
): Pick<Database.Documents<A, D>, "bulkDocs" | "bulkWrite" | "bulkGet" | "bulkGetRaw"> => {
  const span = spanOf(attributes)
  const streamSpan = streamSpanOf(attributes)

  /**
   * A batch made into its `_bulk_docs` body, now when the codec encodes synchronously (else an effect that encodes
   * it when run). What it keeps is the body and the documents' ids: not the documents, which `bulkWrite`'s batches
   * let go of once they are encoded (a document kept through a request survives collections of the young
   * generation, which then cost more).
   */
  const encodeBatch = (
    docs: Iterable<A>,
    newEdits: boolean | undefined
  ): Effect.Effect<EncodedBatch, CouchError.InvalidArgumentError> => {
    const encoded = encodeAllNow(codec, docs)
    if (encoded === undefined) {
      // a document needs asynchronous encoding: an effect per document, when the write runs
      return Effect.flatMap(Effect.forEach(docs, codec.encode), (all) => encodedBatch(all, newEdits))
    }
    const batch = Either.flatMap(encoded, (all) => encodedBatch(all, newEdits))
    return Either.isLeft(batch) ? Effect.fail(batch.left) : Effect.succeed(batch.right)
  }

  /**
   * `_bulk_docs` for an encoded batch, one result per document; `traced`: in a span of its own (see `bulkDocs`).
   * A 202 (some documents lack the write quorum) marks each written document `accepted`.
   */
  const writeBatch = (
    encoded: Effect.Effect<EncodedBatch, CouchError.InvalidArgumentError>,
    traced: boolean
  ): Effect.Effect<WriteResults, Database.BulkWriteError> => {
    const write = Effect.flatMap(encoded, ({ body, ids }) => {
      const request: Request.Request = { method: "POST", path: `${root}/_bulk_docs`, body }
      const decode = Request.decodeJson(transport, request, BulkDocsAnswer)
      return Request.execute(
        transport,
        request,
        [...writeErrors, CouchError.ExpectationFailedError, CouchError.PayloadTooLargeError],
        (response) =>
          Effect.map(decode(response), (answer) => toWriteResults(answer, ids, response.status === 202)),
        traced ? "in the current span" : "in no span"
      )
    })
    return traced ? span("bulkDocs")(write) : write
  }

  const toWriteResults = (
    answer: typeof BulkDocsAnswer.Type,
    ids: ReadonlyArray<string>,
    accepted: boolean
  ): WriteResults =>
    answer.map((entry, i) => {
      const id = entry.id ?? ids[i] ?? "(no _id)"
      return entry.error === undefined && entry.rev !== undefined ?
        Either.right(accepted ? { id, rev: entry.rev, accepted } : { id, rev: entry.rev }) :
        Either.left(new Document.WriteFailure({ id, error: entry.error ?? "unknown", reason: entry.reason }))
    })

  /**
   * Under Effect's own tracer (no tracing layer provided) it makes no span: that tracer records nothing, only the
   * documents' encoding runs in it, and a bulk insert spent up to 15% more client CPU with it on CouchDB 3.5.2.
   */
  const bulkDocs: Database.Documents<A, D>["bulkDocs"] = (docs, options = {}) =>
    Effect.withFiberRuntime((fiber) => writeBatch(encodeBatch(docs, options.newEdits), Request.isTraced(fiber)))

  const bulkWrite = <E, R>(
    docs: Stream.Stream<A, E, R>,
    options: Database.BulkWriteOptions = {}
  ): Stream.Stream<Either.Either<Document.WriteResult, Document.WriteFailure>, E | Database.BulkWriteError, R> => {
    const size = options.batchSize ?? 1000
    const concurrency = options.concurrency ?? 4
    // refused before the source is read: a batch of no documents, or of 2.5, would never be sent
    const wrong = !isCount(size) ? "batchSize" : !isCount(concurrency) ? "concurrency" : undefined
    return wrong !== undefined ?
      Stream.fail(new CouchError.InvalidArgumentError({ argument: wrong, description: "must be a positive integer" })) :
      // each batch encoded as soon as it is full, in the reading fiber: it keeps its body, not its documents
      writeInBatches(docs, { size, concurrency }, (batch) => {
        const encoded = encodeBatch(batch, options.newEdits)
        return Effect.withFiberRuntime((fiber) => writeBatch(encoded, Request.isTraced(fiber)))
      })
  }

  /** The `_bulk_get` request for `requests`, their ids checked first. */
  const bulkGetRequest = (
    requests: ReadonlyArray<Database.BulkGetRequest>,
    options: Pick<Document.GetOptions, "revs" | "latest" | "attachments" | "r">
  ): Effect.Effect<Request.Request, CouchError.InvalidArgumentError> =>
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
      return {
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
      }
    })

  const bulkGet: Database.Documents<A, D>["bulkGet"] = (requests, options = {}) =>
    Effect.gen(function*() {
      const request = yield* bulkGetRequest(requests, options)
      const answer = yield* Request.json(transport, request, BulkGetAnswer, readErrors)
      // in a loop when the codec decodes synchronously (a backup reads every document through here)
      const decoded = bulkGetSync(codec, answer.results)
      if (decoded !== undefined) return yield* decoded
      return yield* Effect.forEach(answer.results, (result) =>
        Effect.map(
          Effect.forEach(result.docs, (entry): Effect.Effect<Either.Either<A, Document.WriteFailure>, D> =>
            "ok" in entry ?
              Effect.map(codec.decode(entry.ok), Either.right) :
              Effect.succeed(Either.left(bulkGetFailure(result.id, entry.error)))),
          (docs) => ({ id: result.id, docs })
        ))
    }).pipe(span("bulkGet"))

  const bulkGetRaw: Database.Documents<A, D>["bulkGetRaw"] = (requests, options = {}) =>
    Effect.flatMap(bulkGetRequest(requests, options), (request) =>
      Request.execute(transport, request, readErrors, (response) =>
        Request.readBytes(transport, request, response, (bytes) => {
          const results = rawBulkGetResults(bytes)
          return typeof results === "string" ?
            Effect.fail(Request.decodeFailure(transport, request, "malformed", results, response.status)) :
            Effect.succeed(results)
        }))).pipe(span("bulkGetRaw"))

  return {
    bulkDocs,
    bulkWrite: (docs, options) => bulkWrite(docs, options).pipe(streamSpan("bulkWrite")),
    bulkGet,
    bulkGetRaw
  }
}
