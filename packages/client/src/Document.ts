/**
 * Documents and revisions: the shapes CouchDB reads and writes, the results of writes, and the errors of a
 * typed document that does not match its schema.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A document as CouchDB stores it: a JSON object with an `_id` and (once written) a `_rev`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Document {
  /** The document's id. */
  readonly _id: string
  /** The revision (`N-hash`) the document was read at: a write must carry it to update or delete the document. */
  readonly _rev?: string | undefined
  /** `true` on a deleted document (a tombstone); writing `_deleted: true` deletes it. */
  readonly _deleted?: boolean | undefined
  readonly [field: string]: unknown
}

/**
 * The schema of an untyped document, which is any JSON object with a string `_id` and an optional string `_rev`; other
 * fields pass through unchanged.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Document: Schema.Schema<Document> = Schema.Struct(
  {
    _id: Schema.String,
    _rev: Schema.optional(Schema.String),
    _deleted: Schema.optional(Schema.Boolean)
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
).annotations({ identifier: "Document" })

/**
 * The result of a successful write: the document's id and its new revision, and `accepted: true` when the server
 * answered 202 Accepted instead of 201 Created. On a cluster, 202 means that fewer than `w` copies confirmed the
 * write before the answer (the write is stored and will spread, but a read may not see it yet, and concurrent
 * writers may both have been accepted: read back with `r` and check `_conflicts`). A `_bulk_docs` answered 202
 * marks every result of that request: the answer does not say which of its documents lack the quorum.
 *
 * @since 0.1.0
 * @category schemas
 */
export const WriteResult = Schema.Struct({
  id: Schema.String,
  rev: Schema.String,
  accepted: Schema.optional(Schema.Literal(true))
}).annotations({
  identifier: "WriteResult"
})

/**
 * @since 0.1.0
 * @category models
 */
export interface WriteResult extends Schema.Schema.Type<typeof WriteResult> {}

/**
 * One document of a bulk write that the server refused: its id, CouchDB's `error` (`conflict`, `forbidden`,
 * `unauthorized`, ...) and `reason`.
 *
 * @since 0.1.0
 * @category models
 */
export class WriteFailure extends Schema.TaggedClass<WriteFailure>()("WriteFailure", {
  id: Schema.String,
  error: Schema.String,
  reason: Schema.optional(Schema.String)
}) {}

/**
 * A document that does not match the schema of a typed database: its id and the schema's account of what is
 * wrong.
 *
 * @since 0.1.0
 * @category errors
 */
export class DocumentDecodeError extends Schema.TaggedError<DocumentDecodeError>()("DocumentDecodeError", {
  id: Schema.String,
  description: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `Document ${JSON.stringify(this.id)} does not match its schema: ${this.description}`
  }
}

/**
 * A revision's entry in `_revs_info`: `available`, `missing` or `deleted`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RevisionInfo = Schema.Struct({
  rev: Schema.String,
  status: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export interface RevisionInfo extends Schema.Schema.Type<typeof RevisionInfo> {}

/**
 * Options of `get` (`GET /{db}/{docid}`).
 *
 * @since 0.1.0
 * @category models
 */
export interface GetOptions {
  /** Read this revision instead of the winning one. */
  readonly rev?: string | undefined
  /** Include `_revisions`: the revision history. */
  readonly revs?: boolean | undefined
  /** Include `_revs_info`: each past revision and whether it is available. */
  readonly revsInfo?: boolean | undefined
  /** Include `_conflicts`: the conflicting revisions. */
  readonly conflicts?: boolean | undefined
  /** Include `_deleted_conflicts`. */
  readonly deletedConflicts?: boolean | undefined
  /** With `rev` (or open revisions): the latest leaf revision of its branch. */
  readonly latest?: boolean | undefined
  /** Include `_local_seq`. */
  readonly localSeq?: boolean | undefined
  /** Include `_conflicts`, `_deleted_conflicts` and `_revs_info`. */
  readonly meta?: boolean | undefined
  /** Include attachment bodies inline (base64). */
  readonly attachments?: boolean | undefined
  /** With `attachments`: only those changed since these revisions. */
  readonly attsSince?: ReadonlyArray<string> | undefined
  /**
   * The read quorum (`r`): how many copies must answer before the read does (CouchDB's default is a majority of
   * `n`). On a cluster, a read right after a write answered 202 can miss it; `r` equal to the database's `n` reads
   * every copy.
   */
  readonly r?: number | undefined
}

/**
 * One answer of `getOpenRevisions`: the document at a revision, or a revision that is missing.
 *
 * @since 0.1.0
 * @category models
 */
export type OpenRevision<A> =
  | { readonly _tag: "Found"; readonly doc: A }
  | { readonly _tag: "Missing"; readonly rev: string }

/**
 * Options of `put` (`PUT /{db}/{docid}`).
 *
 * @since 0.1.0
 * @category models
 */
export interface PutOptions {
  /** `batch=ok`: the server acknowledges before writing (202); faster, less durable. */
  readonly batch?: boolean | undefined
  /** `new_edits=false`: store the given `_rev` as is (replication). */
  readonly newEdits?: boolean | undefined
  /**
   * The write quorum (`w`): how many copies must confirm the write before a 201 (CouchDB's default is a majority
   * of `n`); fewer confirmations give 202, `accepted: true` in the result.
   */
  readonly w?: number | undefined
}

/**
 * Options of `copy` (`COPY /{db}/{docid}`).
 *
 * @since 0.1.0
 * @category models
 */
export interface CopyOptions {
  /** Copy this revision of the source. */
  readonly rev?: string | undefined
  /** Overwrite the destination, which is at this revision. */
  readonly destinationRev?: string | undefined
}
