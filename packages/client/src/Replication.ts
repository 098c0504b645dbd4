/**
 * Replication: `POST /_replicate` (one-shot, continuous, cancel), `_replicator` documents (create, read their
 * state, delete), and the scheduler's view of them (`/_scheduler/jobs`, `/_scheduler/docs`).
 *
 * A source or target is a database name (resolved against the session's URL, with the session's credentials), a
 * URL, or `{ url, auth }` with a `CouchAuth`. Credentials are sent in the form `credentials` asks for, and never
 * appear in an error, a span, a log line or a decoded answer: errors are scrubbed of them, and the endpoints of
 * `_replicator` documents and scheduler entries are read back as URLs without credentials.
 *
 * @example
 * ```ts
 * import { CouchAuth, CouchSession } from "@effect-couch/client"
 * import { Effect, Redacted } from "effect"
 *
 * const backup = Effect.gen(function*() {
 *   const couch = yield* CouchSession.CouchSession
 *   const remote = { url: "https://backup.example.com/orders", auth: CouchAuth.basic("ops", Redacted.make("s3cret")) }
 *   const result = yield* couch.replicate("orders", remote, { createTarget: true })
 *   return result.history[0]?.docsWritten
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as CouchAuth from "./CouchAuth.js"
import type * as CouchError from "./CouchError.js"
import * as Database from "./Database.js"
import type * as Document from "./Document.js"

/**
 * Where a replication reads or writes: a database name of the session's server (resolved against the session's
 * URL, with the session's credentials), an `http(s)` URL (credentials written in it are taken out and treated as
 * basic auth), or an {@link EndpointObject}.
 *
 * @since 0.1.0
 * @category models
 */
export type Endpoint = string | EndpointObject

/**
 * A database by URL, with its credentials and any headers the replicator should send to it.
 *
 * @since 0.1.0
 * @category models
 */
export interface EndpointObject {
  /** The database's URL, e.g. `https://host:6984/orders`. */
  readonly url: string
  /**
   * How the replicator authenticates to this database. `basic` and `cookie` send the username and password
   * (CouchDB's replicator opens its own cookie session with them), `bearer` and `authSession` are sent as headers.
   * Defaults to the credentials written in `url`, else none.
   */
  readonly auth?: CouchAuth.CouchAuth | undefined
  /** Extra headers for the replicator to send to this database. `Authorization` and `Cookie` values are secrets. */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/**
 * How basic credentials (`CouchAuth.basic`, `CouchAuth.cookie`) are written into a source or target:
 *
 * - `"auth"` (default): `{ url, auth: { basic: { username, password } } }`, CouchDB 3.2+'s form, which allows any
 *   character in the password.
 * - `"headers"`: `{ url, headers: { Authorization: "Basic ..." } }`, understood by every CouchDB version and by
 *   PouchDB Server's `_replicator` database.
 * - `"url"`: `http://user:password@host/db` (percent-encoded), for servers that only take URL strings (PouchDB
 *   Server's `/_replicate`).
 *
 * Bearer tokens and `AuthSession` cookies always go in `headers`.
 *
 * @since 0.1.0
 * @category models
 */
export type Credentials = "auth" | "headers" | "url"

/**
 * What to replicate and how: the fields shared by `replicate` and `_replicator` documents.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplicationOptions {
  /** Create the target database if it does not exist (`create_target`). */
  readonly createTarget?: boolean | undefined
  /** How to create the target (`create_target_params`): shards, replicas, partitioned. */
  readonly createTargetParams?: {
    readonly q?: number | undefined
    readonly n?: number | undefined
    readonly partitioned?: boolean | undefined
  } | undefined
  /** Replicate only these documents (`doc_ids`). */
  readonly docIds?: ReadonlyArray<string> | undefined
  /** Replicate only the documents matching this Mango selector (`selector`). */
  readonly selector?: Readonly<Record<string, unknown>> | undefined
  /** A filter function, `ddoc/name` in the source (`filter`). */
  readonly filter?: string | undefined
  /** The parameters the filter function receives as `req.query` (`query_params`). */
  readonly queryParams?: Readonly<Record<string, unknown>> | undefined
  /** Start from this source sequence instead of the last checkpoint (`since_seq`). */
  readonly sinceSeq?: Database.Sequence | undefined
  /** Whether to record checkpoints (`use_checkpoints`, default true on CouchDB). */
  readonly useCheckpoints?: boolean | undefined
  /** Milliseconds between checkpoints (`checkpoint_interval`). */
  readonly checkpointInterval?: number | undefined
  /** Replicate only the winning revisions (`winning_revs_only`, CouchDB 3.3+). */
  readonly winningRevsOnly?: boolean | undefined
  /** How basic credentials are written into the source and target (default `"auth"`). */
  readonly credentials?: Credentials | undefined
}

/**
 * Options of a one-shot `replicate`: the request waits until the replication is done.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplicateOptions extends ReplicationOptions {
  /** Absent or `false`: a one-shot replication (see {@link ContinuousOptions} for a continuous one). */
  readonly continuous?: false | undefined
  /** How long to wait for the replication to finish (default: the session's timeout, if any). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * Options of a continuous `replicate`: the server starts the replication and answers at once.
 *
 * @since 0.1.0
 * @category models
 */
export interface ContinuousOptions extends ReplicationOptions {
  /**
   * A continuous replication: it goes on replicating new changes until it is cancelled. It is not persisted: a
   * server restart ends it (a `_replicator` document is the persistent kind).
   */
  readonly continuous: true
  /**
   * Cancel the running replication with these source, target and options instead of starting it. (Or cancel by
   * id with `cancelReplication`.)
   */
  readonly cancel?: boolean | undefined
}

/**
 * Options of a `_replicator` document.
 *
 * @since 0.1.0
 * @category models
 */
export interface DocumentOptions extends ReplicationOptions {
  /** Keep replicating new changes (`continuous`). */
  readonly continuous?: boolean | undefined
}

/**
 * One session of a one-shot replication, as CouchDB records it in `history` (fields vary between servers).
 *
 * @since 0.1.0
 * @category schemas
 */
export const HistoryEntry = Schema.Struct({
  sessionId: Schema.optional(Schema.String).pipe(Schema.fromKey("session_id")),
  startTime: Schema.optional(Schema.String).pipe(Schema.fromKey("start_time")),
  endTime: Schema.optional(Schema.String).pipe(Schema.fromKey("end_time")),
  startLastSeq: Schema.optional(Database.Sequence).pipe(Schema.fromKey("start_last_seq")),
  endLastSeq: Schema.optional(Database.Sequence).pipe(Schema.fromKey("end_last_seq")),
  recordedSeq: Schema.optional(Database.Sequence).pipe(Schema.fromKey("recorded_seq")),
  missingChecked: Schema.optional(Schema.Number).pipe(Schema.fromKey("missing_checked")),
  missingFound: Schema.optional(Schema.Number).pipe(Schema.fromKey("missing_found")),
  docsRead: Schema.optional(Schema.Number).pipe(Schema.fromKey("docs_read")),
  docsWritten: Schema.optional(Schema.Number).pipe(Schema.fromKey("docs_written")),
  docWriteFailures: Schema.optional(Schema.Number).pipe(Schema.fromKey("doc_write_failures")),
  bulkGetDocs: Schema.optional(Schema.Number).pipe(Schema.fromKey("bulk_get_docs")),
  bulkGetAttempts: Schema.optional(Schema.Number).pipe(Schema.fromKey("bulk_get_attempts"))
}).annotations({ identifier: "HistoryEntry" })

/**
 * @since 0.1.0
 * @category models
 */
export interface HistoryEntry extends Schema.Schema.Type<typeof HistoryEntry> {}

/**
 * The answer to a one-shot replication. CouchDB reports its counts in `history` (the latest session first) and
 * answers `noChanges` when there was nothing to do; PouchDB-based servers also report them at the top level.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReplicationResult = Schema.Struct({
  ok: Schema.Boolean,
  sessionId: Schema.optional(Schema.String).pipe(Schema.fromKey("session_id")),
  sourceLastSeq: Schema.optional(Database.Sequence).pipe(Schema.fromKey("source_last_seq")),
  replicationIdVersion: Schema.optional(Schema.Number).pipe(Schema.fromKey("replication_id_version")),
  noChanges: Schema.optional(Schema.Boolean).pipe(Schema.fromKey("no_changes")),
  history: Schema.optionalWith(Schema.Array(HistoryEntry), { default: () => [] }),
  docsRead: Schema.optional(Schema.Number).pipe(Schema.fromKey("docs_read")),
  docsWritten: Schema.optional(Schema.Number).pipe(Schema.fromKey("docs_written")),
  docWriteFailures: Schema.optional(Schema.Number).pipe(Schema.fromKey("doc_write_failures")),
  lastSeq: Schema.optional(Database.Sequence).pipe(Schema.fromKey("last_seq"))
}).annotations({ identifier: "ReplicationResult" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ReplicationResult extends Schema.Schema.Type<typeof ReplicationResult> {}

/**
 * The answer to starting or cancelling a continuous replication: `localId` is the replication's id
 * (`_local_id`), to give to `cancelReplication`. (PouchDB Server sends no id.)
 *
 * @since 0.1.0
 * @category schemas
 */
export const ContinuousReplication = Schema.Struct({
  ok: Schema.Boolean,
  localId: Schema.optional(Schema.String).pipe(Schema.fromKey("_local_id"))
}).annotations({ identifier: "ContinuousReplication" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ContinuousReplication extends Schema.Schema.Type<typeof ContinuousReplication> {}

/**
 * A `_replicator` document as read back, with the replicator's state. `source` and `target` are the endpoints'
 * URLs without credentials (whatever the document stores).
 *
 * `state` is what the replicator wrote: CouchDB 3 writes only final states (`completed`, `failed`) and keeps the
 * running state in `/_scheduler/docs` (see `Replicator.status`); older servers write `triggered` and `error`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReplicationDocument = Schema.Struct({
  _id: Schema.String,
  _rev: Schema.optional(Schema.String),
  source: Schema.optional(Schema.String),
  target: Schema.optional(Schema.String),
  continuous: Schema.optional(Schema.Boolean),
  createTarget: Schema.optional(Schema.Boolean).pipe(Schema.fromKey("create_target")),
  docIds: Schema.optional(Schema.Array(Schema.String)).pipe(Schema.fromKey("doc_ids")),
  selector: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  filter: Schema.optional(Schema.String),
  state: Schema.optional(Schema.String).pipe(Schema.fromKey("_replication_state")),
  stateTime: Schema.optional(Schema.Union(Schema.String, Schema.Number)).pipe(
    Schema.fromKey("_replication_state_time")
  ),
  stateReason: Schema.optional(Schema.String).pipe(Schema.fromKey("_replication_state_reason")),
  replicationId: Schema.optional(Schema.String).pipe(Schema.fromKey("_replication_id")),
  stats: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })).pipe(
    Schema.fromKey("_replication_stats")
  )
}).annotations({ identifier: "ReplicationDocument" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ReplicationDocument extends Schema.Schema.Type<typeof ReplicationDocument> {}

/**
 * The progress of a replication job, as the scheduler reports it (`info`). Every field is optional: a failed
 * document has only `error`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReplicationInfo = Schema.Struct({
  revisionsChecked: Schema.optional(Schema.Number).pipe(Schema.fromKey("revisions_checked")),
  missingRevisionsFound: Schema.optional(Schema.Number).pipe(Schema.fromKey("missing_revisions_found")),
  docsRead: Schema.optional(Schema.Number).pipe(Schema.fromKey("docs_read")),
  docsWritten: Schema.optional(Schema.Number).pipe(Schema.fromKey("docs_written")),
  changesPending: Schema.optional(Schema.NullOr(Schema.Number)).pipe(Schema.fromKey("changes_pending")),
  docWriteFailures: Schema.optional(Schema.Number).pipe(Schema.fromKey("doc_write_failures")),
  checkpointedSourceSeq: Schema.optional(Database.Sequence).pipe(Schema.fromKey("checkpointed_source_seq")),
  sourceSeq: Schema.optional(Database.Sequence).pipe(Schema.fromKey("source_seq")),
  throughSeq: Schema.optional(Database.Sequence).pipe(Schema.fromKey("through_seq")),
  error: Schema.optional(Schema.Unknown)
}).annotations({ identifier: "ReplicationInfo" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ReplicationInfo extends Schema.Schema.Type<typeof ReplicationInfo> {}

/**
 * A replication document as the scheduler sees it (`/_scheduler/docs`): its `state` (`initializing`, `running`,
 * `pending`, `crashing`, `error`, `completed`, `failed`), progress and errors. Read leniently: every field but
 * `docId` may be missing, and a `null` one reads as missing (a cluster answers `"state": null` for a document
 * whose replication no node has picked up yet). `source` and `target` are URLs without credentials.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SchedulerDoc = Schema.Struct({
  database: Schema.optionalWith(Schema.String, { nullable: true }),
  docId: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("doc_id")),
  id: Schema.optional(Schema.NullOr(Schema.String)),
  node: Schema.optionalWith(Schema.String, { nullable: true }),
  source: Schema.optionalWith(Schema.String, { nullable: true }),
  target: Schema.optionalWith(Schema.String, { nullable: true }),
  state: Schema.optionalWith(Schema.String, { nullable: true }),
  info: Schema.optional(Schema.NullOr(ReplicationInfo)),
  errorCount: Schema.optional(Schema.Number).pipe(Schema.fromKey("error_count")),
  lastUpdated: Schema.optional(Schema.String).pipe(Schema.fromKey("last_updated")),
  startTime: Schema.optional(Schema.String).pipe(Schema.fromKey("start_time"))
}).annotations({ identifier: "SchedulerDoc" })

/**
 * @since 0.1.0
 * @category models
 */
export interface SchedulerDoc extends Schema.Schema.Type<typeof SchedulerDoc> {}

/**
 * `GET /_scheduler/docs`: the replication documents and their states.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SchedulerDocs = Schema.Struct({
  totalRows: Schema.optional(Schema.Number).pipe(Schema.fromKey("total_rows")),
  offset: Schema.optional(Schema.Number),
  docs: Schema.Array(SchedulerDoc)
}).annotations({ identifier: "SchedulerDocs" })

/**
 * @since 0.1.0
 * @category models
 */
export interface SchedulerDocs extends Schema.Schema.Type<typeof SchedulerDocs> {}

/**
 * One event in a job's history (`added`, `started`, `crashed`, `stopped`, ...).
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobEvent = Schema.Struct({
  type: Schema.String,
  timestamp: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.NullOr(Schema.String))
}).annotations({ identifier: "JobEvent" })

/**
 * @since 0.1.0
 * @category models
 */
export interface JobEvent extends Schema.Schema.Type<typeof JobEvent> {}

/**
 * A running (or pending) replication job (`/_scheduler/jobs`). `docId` and `database` are set for jobs of
 * `_replicator` documents, `null` for `/_replicate` ones. Read leniently.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SchedulerJob = Schema.Struct({
  id: Schema.String,
  database: Schema.optional(Schema.NullOr(Schema.String)),
  docId: Schema.optional(Schema.NullOr(Schema.String)).pipe(Schema.fromKey("doc_id")),
  pid: Schema.optional(Schema.NullOr(Schema.String)),
  node: Schema.optional(Schema.String),
  source: Schema.optional(Schema.String),
  target: Schema.optional(Schema.String),
  user: Schema.optional(Schema.NullOr(Schema.String)),
  info: Schema.optional(Schema.NullOr(ReplicationInfo)),
  history: Schema.optionalWith(Schema.Array(JobEvent), { default: () => [] }),
  startTime: Schema.optional(Schema.String).pipe(Schema.fromKey("start_time"))
}).annotations({ identifier: "SchedulerJob" })

/**
 * @since 0.1.0
 * @category models
 */
export interface SchedulerJob extends Schema.Schema.Type<typeof SchedulerJob> {}

/**
 * `GET /_scheduler/jobs`: the replication jobs.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SchedulerJobs = Schema.Struct({
  totalRows: Schema.optional(Schema.Number).pipe(Schema.fromKey("total_rows")),
  offset: Schema.optional(Schema.Number),
  jobs: Schema.Array(SchedulerJob)
}).annotations({ identifier: "SchedulerJobs" })

/**
 * @since 0.1.0
 * @category models
 */
export interface SchedulerJobs extends Schema.Schema.Type<typeof SchedulerJobs> {}

/**
 * What `replicate` and `cancelReplication` can fail with: a refused argument (an endpoint that is neither a
 * database name nor an `http(s)` URL, options that are not JSON), 400 for options the server refuses, 403, and
 * 404 when the source (or, without `createTarget`, the target) does not exist (`db_not_found`) or there is no
 * such replication to cancel.
 *
 * @since 0.1.0
 * @category models
 */
export type ReplicateError =
  | CouchError.RequestError
  | CouchError.InvalidArgumentError
  | CouchError.BadRequestError
  | CouchError.ForbiddenError
  | CouchError.NotFoundError

/**
 * What reading a `_replicator` document can fail with (404 when it does not exist).
 *
 * @since 0.1.0
 * @category models
 */
export type ReadError =
  | CouchError.RequestError
  | CouchError.InvalidArgumentError
  | CouchError.ForbiddenError
  | CouchError.NotFoundError

/**
 * What writing or deleting a `_replicator` document can fail with: 400 and 403 (the replicator database's
 * validation refuses the document), 404 (no `_replicator` database), 409.
 *
 * @since 0.1.0
 * @category models
 */
export type WriteError = Database.WriteError

/**
 * What the scheduler endpoints can fail with: 404 also when the server has no scheduler (CouchDB before 2.1,
 * PouchDB Server).
 *
 * @since 0.1.0
 * @category models
 */
export type SchedulerError =
  | CouchError.RequestError
  | CouchError.BadRequestError
  | CouchError.ForbiddenError
  | CouchError.NotFoundError

/**
 * `POST /_replicate`. One-shot by default: the request waits until the replication is done and answers its
 * {@link ReplicationResult}. With `continuous: true` the server starts it and answers its id at once; with
 * `cancel: true` as well, it cancels that replication.
 *
 * @since 0.1.0
 * @category models
 */
export interface Replicate {
  (source: Endpoint, target: Endpoint, options: ContinuousOptions): Effect.Effect<ContinuousReplication, ReplicateError>
  (source: Endpoint, target: Endpoint, options?: ReplicateOptions): Effect.Effect<ReplicationResult, ReplicateError>
}

/**
 * Persistent replications: documents of the `_replicator` database.
 *
 * @since 0.1.0
 * @category models
 */
export interface Replicator {
  /** `PUT /_replicator/{id}`: a replication that the server runs (again after a restart) until it is deleted. */
  readonly create: (
    id: string,
    source: Endpoint,
    target: Endpoint,
    options?: DocumentOptions
  ) => Effect.Effect<Document.WriteResult, WriteError>
  /** `GET /_replicator/{id}`: the document with the state the replicator recorded. */
  readonly get: (id: string) => Effect.Effect<ReplicationDocument, ReadError>
  /** `GET /_scheduler/docs/_replicator/{id}`: the scheduler's state of the document (CouchDB 2.1+). */
  readonly status: (id: string) => Effect.Effect<SchedulerDoc, SchedulerError | CouchError.InvalidArgumentError>
  /**
   * Deletes the document, which stops its replication. Reads the current revision first, and reads it again
   * when the replicator updated the document in between (409).
   */
  readonly remove: (id: string) => Effect.Effect<Document.WriteResult, WriteError>
}

/**
 * Paging of the scheduler endpoints.
 *
 * @since 0.1.0
 * @category models
 */
export interface SchedulerOptions {
  /** At most this many entries. */
  readonly limit?: number | undefined
  /** Skip this many entries first. */
  readonly skip?: number | undefined
}

/**
 * The replication scheduler (CouchDB 2.1+): what runs and what the `_replicator` documents are doing.
 *
 * @since 0.1.0
 * @category models
 */
export interface Scheduler {
  /** `GET /_scheduler/jobs`: the replication jobs. */
  readonly jobs: (options?: SchedulerOptions) => Effect.Effect<SchedulerJobs, SchedulerError>
  /** `GET /_scheduler/docs`: the documents of `_replicator` and their states. */
  readonly docs: (options?: SchedulerOptions) => Effect.Effect<SchedulerDocs, SchedulerError>
}
