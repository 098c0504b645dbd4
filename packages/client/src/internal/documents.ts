/**
 * The document operations of a database: reads and writes of one document, and, from the modules of their own,
 * the bulk operations, `_all_docs`, views and Mango queries, search, the changes feed and attachments.
 */
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as HttpMethod from "@effect/platform/HttpMethod"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as CouchError from "../CouchError.js"
import * as Database from "../Database.js"
import type * as Document from "../Document.js"
import * as AllDocs from "./allDocs.js"
import * as AttachmentImpl from "./attachment.js"
import * as Bulk from "./bulk.js"
import * as ChangesImpl from "./changes.js"
import type { Codec } from "./codec.js"
import * as Design from "./design.js"
import {
  boolParam,
  documentParams,
  openRevsParams,
  readErrors,
  spanAttributes,
  spanOf,
  streamSpanOf,
  writeErrors
} from "./endpoint.js"
import * as Json from "./json.js"
import * as Names from "./names.js"
import * as Query from "./query.js"
import * as Request from "./request.js"
import * as SearchImpl from "./search.js"
import { copiesOf, settle } from "./settle.js"
import * as WithAttachments from "./withAttachments.js"
import * as Writers from "./writers.js"

// `ok: Unknown` would also match an entry without `ok`: the other shape goes first.
const OpenRevsAnswer = Schema.Array(Schema.Union(
  Schema.Struct({ missing: Schema.String }),
  Schema.Struct({ ok: Schema.Unknown })
))
const LocalRevision = Schema.Struct({ _rev: Schema.String })

/** How `upsert` and `modify` retry on a conflict, unless told otherwise. */
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

/** The document operations of a database, for documents read and written through `codec`. */
export const make = <A, D>(
  transport: Request.Transport,
  name: string,
  root: string,
  codec: Codec<A, D>
): Database.Documents<A, D> => {
  const attributes = { "couchdb.database": name }
  const span = spanOf(attributes)
  const streamSpan = streamSpanOf(attributes)
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
    return Request.readInSpan(
      transport,
      request,
      readErrors,
      codec.decodeSync,
      codec.decode,
      "Database.get",
      spanAttributes(attributes, id)
    )
  }

  const allDocs = AllDocs.make(transport, `${root}/_all_docs`, codec)
  const designDocs = AllDocs.make(transport, `${root}/_design_docs`, codec)
  const localDocs = AllDocs.make(transport, `${root}/_local_docs`, codec)

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
      const partitionAllDocs = AllDocs.make(transport, `${partitionRoot}/_all_docs`, codec)
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
    ...Bulk.make(transport, root, codec, attributes),
    allDocs: ((options: Database.AllDocsOptions & Partial<Database.EitherMode> = {}) =>
      AllDocs.rows(allDocs, codec, options).pipe(streamSpan("allDocs"))) as Database.Documents<A, D>["allDocs"],
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
