/**
 * The server's database events (`GET /_db_updates`): which databases were created, updated or deleted, as a
 * `Stream` (`CouchSession.dbUpdates`) and as a follower that resumes from its checkpoint
 * (`CouchSession.followDbUpdates`), like a database's changes feed.
 *
 * A server admin's feed: CouchDB 3 answers anyone else 401 (`UnauthorizedError`). It reads the `_global_changes`
 * database, which `POST /_cluster_setup` creates with the other system databases when asked to
 * (`ensureDbsExist`); a server without it answers 404 `Database does not exist.` (`NotFoundError`). Events are
 * recorded a moment after they happen (`[global_changes] max_write_delay`, 500 ms by default), and a database
 * written to many times in that moment gives one `updated` event. Sequences are opaque, as in `_changes`, and
 * delivery is at least once.
 *
 * @example
 * ```ts
 * import { CouchSession } from "@effect-couch/client"
 * import { Effect, Stream } from "effect"
 *
 * // the names of the databases created since `since`, read in one request
 * const created = (since: string) =>
 *   Effect.gen(function*() {
 *     const couch = yield* CouchSession.CouchSession
 *     return yield* couch.dbUpdates({ since }).pipe(
 *       Stream.filter((event) => event._tag === "DbUpdate" && event.type === "created"),
 *       Stream.map((event) => event._tag === "DbUpdate" ? event.dbName : ""),
 *       Stream.runCollect
 *     )
 *   })
 * ```
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as Changes from "./Changes.js"
import type * as CouchError from "./CouchError.js"
import * as Database from "./Database.js"

/**
 * What happened to a database: `created`, `updated` (documents written; one event for a burst of writes) or
 * `deleted`, the types CouchDB 3.5 sends. Another text is kept as it is, for a server that sends more.
 *
 * @since 0.1.0
 * @category models
 */
export type DbUpdateType = "created" | "updated" | "deleted" | (string & {})

/**
 * @since 0.1.0
 * @category schemas
 */
export const DbUpdateType: Schema.Schema<DbUpdateType, string> = Schema.Union(
  Schema.Literal("created", "updated", "deleted"),
  Schema.String
).annotations({ identifier: "DbUpdateType" })

/**
 * One event of the feed, read from the wire's `{ "db_name", "type", "seq" }` (the tag is added when decoded and
 * left out when encoded).
 *
 * @since 0.1.0
 * @category schemas
 */
export const DbUpdate = Schema.Struct({
  dbName: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("db_name")),
  type: DbUpdateType,
  seq: Database.Sequence
}).pipe(Schema.attachPropertySignature("_tag", "DbUpdate")).annotations({ identifier: "DbUpdate" })

/**
 * @since 0.1.0
 * @category models
 */
export interface DbUpdate {
  /** Tells an event from the end of the feed ({@link Changes.LastSeq}). */
  readonly _tag: "DbUpdate"
  /** The database's name (system databases such as `_dbs` too). */
  readonly dbName: string
  /** What happened to it. */
  readonly type: DbUpdateType
  /** The event's sequence: give it back as `since` to read the events after it. */
  readonly seq: Database.Sequence
}

/**
 * What a `dbUpdates` stream delivers: events, then (when the feed ends) its last sequence.
 *
 * @since 0.1.0
 * @category models
 */
export type DbUpdateEvent = DbUpdate | Changes.LastSeq

/**
 * Options of `dbUpdates`.
 *
 * @since 0.1.0
 * @category models
 */
export interface DbUpdatesOptions {
  /**
   * `normal` (default: the events so far, read in one request as the answer arrives, constant memory),
   * `longpoll` (wait for the next event) or `continuous` (one event a line, as they happen). The server's
   * `eventsource` feed is not offered: CouchDB 3.5.2 sends its rows untransformed (`{"id":"created:db",...}`).
   */
  readonly feed?: "normal" | "longpoll" | "continuous" | undefined
  /** Start after this sequence; `"now"` for events from now on. */
  readonly since?: Database.Sequence | "now" | undefined
  /** At most this many events. */
  readonly limit?: number | undefined
  /** Newest events first (a `normal` feed; not resumed when it breaks). */
  readonly descending?: boolean | undefined
  /** Ask the server to send a blank line this often while idle (longpoll, continuous). */
  readonly heartbeat?: Duration.DurationInput | undefined
  /**
   * How long the server waits for an event before ending the feed (longpoll, continuous; 60 s by default). A
   * `heartbeat` keeps a continuous feed open past it.
   */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The errors of the feed: 400 for a bad `since` or `limit`, 404 for a server without `_global_changes` (or without
 * the endpoint), and what every request can meet (401 for a user who is not a server admin).
 *
 * @since 0.1.0
 * @category errors
 */
export type DbUpdatesError = CouchError.RequestError | CouchError.BadRequestError | CouchError.NotFoundError

/**
 * Options of `followDbUpdates`: those of a database's follower that the server's feed has.
 *
 * @since 0.1.0
 * @category models
 */
export interface FollowOptions
  extends Pick<Changes.FollowOptions, "since" | "heartbeat" | "schedule" | "idleTimeout" | "reconnectAfter">
{}

/**
 * A follower of the server's events: a never-ending stream that reconnects from its checkpoint, and that
 * checkpoint.
 *
 * @since 0.1.0
 * @category models
 */
export interface Follower {
  /** The events, at least once, in feed order; fails only with an error that retrying cannot cure. */
  readonly updates: Stream.Stream<DbUpdate, DbUpdatesError>
  /** The sequence of the last event delivered (or `since`): persist it to resume later. */
  readonly checkpoint: Effect.Effect<Database.Sequence | "now" | undefined>
}
