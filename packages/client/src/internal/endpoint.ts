/**
 * What the endpoints of a database share: the status errors of document reads and writes, how optional query
 * parameters are written, and the spans of its operations.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as CouchError from "../CouchError.js"
import type * as Document from "../Document.js"

/** The statuses of a read: 400 (a bad parameter), 403 (a validation or access refusal), 404. */
export const readErrors = [CouchError.BadRequestError, CouchError.ForbiddenError, CouchError.NotFoundError] as const

/** The statuses of a document write: a read's, and 409 (the revision is not the current one). */
export const writeErrors = [...readErrors, CouchError.ConflictError] as const

/** An optional boolean query parameter: `"true"`, `"false"`, or not sent. */
export const boolParam = (value: boolean | undefined): string | undefined =>
  value === undefined ? undefined : String(value)

/** An optional JSON-encoded query parameter (a key, a list of revisions), or not sent. */
export const jsonParam = (value: unknown): string | undefined => value === undefined ? undefined : JSON.stringify(value)

/** The query parameters of a document read (`GET /{db}/{docid}`). */
export const documentParams = (options: Document.GetOptions) => ({
  rev: options.rev,
  revs: boolParam(options.revs),
  revs_info: boolParam(options.revsInfo),
  conflicts: boolParam(options.conflicts),
  deleted_conflicts: boolParam(options.deletedConflicts),
  latest: boolParam(options.latest),
  local_seq: boolParam(options.localSeq),
  meta: boolParam(options.meta),
  attachments: boolParam(options.attachments),
  atts_since: jsonParam(options.attsSince),
  r: options.r
})

/** The query parameters of an `open_revs` read: every leaf, or these revisions. */
export const openRevsParams = (
  revs: "all" | ReadonlyArray<string>,
  options: Pick<Document.GetOptions, "revs" | "latest" | "attachments" | "attsSince">
) => ({
  open_revs: revs === "all" ? "all" : JSON.stringify(revs),
  revs: boolParam(options.revs),
  latest: boolParam(options.latest),
  attachments: boolParam(options.attachments),
  atts_since: jsonParam(options.attsSince)
})

/** The attributes of a database operation's span: the database's, and the document's id when it has one. */
export const spanAttributes = (attributes: Readonly<Record<string, string>>, id: string | undefined) =>
  id === undefined ? attributes : { ...attributes, "couchdb.document": id }

/** The span of a database operation (`Database.{operation}`), with the document's id when it has one. */
export const spanOf = (attributes: Readonly<Record<string, string>>) => (operation: string, id?: string) =>
  Effect.withSpan(`Database.${operation}`, { attributes: spanAttributes(attributes, id), captureStackTrace: false })

/** The span of a database operation that is a stream (`Database.{operation}`): it covers the stream's whole life. */
export const streamSpanOf = (attributes: Readonly<Record<string, string>>) =>
(operation: string, extra?: Readonly<Record<string, string>>) =>
  Stream.withSpan(`Database.${operation}`, { attributes: extra === undefined ? attributes : { ...attributes, ...extra } })
