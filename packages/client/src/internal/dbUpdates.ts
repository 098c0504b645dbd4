/**
 * The server's database events (`/_db_updates`): the normal and longpoll feeds read in one request as the answer
 * arrives (`wire.ts`), the continuous feed and the follower on what `_changes` uses (`feed.ts`).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Changes from "../Changes.js"
import * as CouchError from "../CouchError.js"
import type * as Database from "../Database.js"
import type * as DbUpdates from "../DbUpdates.js"
import * as Feed from "./feed.js"
import type * as Request from "./request.js"
import * as Wire from "./wire.js"

const feedErrors = [CouchError.BadRequestError, CouchError.NotFoundError] as const

/** An event as the server sends it. */
interface UpdateRow {
  readonly db_name: string
  readonly type: string
  readonly seq: Database.Sequence
}

/**
 * What is wrong with an event of the feed, or `undefined`: checked in a loop, and held by a property test to the
 * wire side of {@link DbUpdates.DbUpdate}, the schema of an event.
 */
export const updateRowProblem = (row: unknown): string | undefined => {
  if (!Wire.isObject(row)) return "not an object"
  if (typeof row.db_name !== "string") return "db_name is not a string"
  if (typeof row.type !== "string") return "type is not a string"
  return Wire.isSequence(row.seq) ? undefined : "seq is not a string or a number"
}

/** The event of a checked row. */
export const dbUpdate = (row: UpdateRow): DbUpdates.DbUpdate => ({
  _tag: "DbUpdate",
  dbName: row.db_name,
  type: row.type,
  seq: row.seq
})

/** The end of a feed (`{"last_seq": ...}`), or what is wrong with it. */
const lastSeq = (json: Record<string, unknown>): Changes.LastSeq | string =>
  Wire.isSequence(json.last_seq) ?
    { _tag: "LastSeq", lastSeq: json.last_seq as Database.Sequence, pending: undefined } :
    "last_seq is not a string or a number"

/** A line of a continuous feed as an event: an update, the end, or what is wrong with it. */
export const feedLine = (json: unknown): DbUpdates.DbUpdateEvent | string => {
  if (Wire.isObject(json) && "last_seq" in json && !("db_name" in json)) return lastSeq(json)
  return updateRowProblem(json) ?? dbUpdate(json as unknown as UpdateRow)
}

const sequenceAfter = (event: DbUpdates.DbUpdateEvent): Database.Sequence =>
  event._tag === "DbUpdate" ? event.seq : event.lastSeq

const feedRequest = (
  options: DbUpdates.DbUpdatesOptions,
  feed: "normal" | "longpoll" | "continuous",
  since: Database.Sequence | "now" | undefined,
  limit: number | undefined
): Request.Request => ({
  method: "GET",
  path: "/_db_updates",
  params: {
    feed,
    since: since === undefined ? undefined : String(since),
    limit,
    descending: options.descending === undefined ? undefined : String(options.descending),
    heartbeat: Feed.millis(options.heartbeat),
    timeout: Feed.millis(options.timeout)
  },
  // a longpoll or continuous feed waits for events: the session's request timeout bounds only the headers of a
  // continuous one (sent at once), and does not apply to a longpoll
  ...(feed === "longpoll" ? { timeout: Duration.infinity } : {})
})

/** The server-level members of a session for `_db_updates`. */
export const make = (transport: Request.Transport) => {
  const continuous = (request: Request.Request, onPiece?: () => void) =>
    Feed.streamed(
      transport,
      request,
      feedErrors,
      Feed.continuousTexts(onPiece),
      (texts) => Feed.parseTexts(transport, request, texts, feedLine)
    )

  const oneRequest = (options: DbUpdates.DbUpdatesOptions, feed: "normal" | "longpoll") =>
    Wire.streamedRows(transport, feedRequest(options, feed, options.since, options.limit), feedErrors, {
      field: "results",
      problem: updateRowProblem,
      build: (rows: ReadonlyArray<UpdateRow>) => Effect.succeed(rows.map(dbUpdate)),
      rest: (answer): ReadonlyArray<DbUpdates.DbUpdateEvent> | string => {
        const end = lastSeq(answer)
        return typeof end === "string" ? end : [end]
      },
      // a broken answer goes on after the last event delivered; a descending feed cannot
      resume: options.descending === true ? undefined : {
        request: (last: UpdateRow, delivered: number) =>
          feedRequest(options, "normal", last.seq, options.limit === undefined ? undefined : options.limit - delivered)
      }
    })

  const dbUpdates = (
    options: DbUpdates.DbUpdatesOptions = {}
  ): Stream.Stream<DbUpdates.DbUpdateEvent, DbUpdates.DbUpdatesError> => {
    const feed = options.feed ?? "normal"
    return (feed === "continuous" ?
      continuous(feedRequest(options, feed, options.since, options.limit)) :
      oneRequest(options, feed)).pipe(
        Stream.withSpan("CouchSession.dbUpdates", { attributes: { "couchdb.feed": feed } })
      )
  }

  const followDbUpdates = (options: DbUpdates.FollowOptions = {}): Effect.Effect<DbUpdates.Follower> =>
    Effect.map(
      Feed.follow<DbUpdates.DbUpdateEvent, DbUpdates.DbUpdate, DbUpdates.DbUpdatesError>({
        transport,
        request: (since, heartbeat) => feedRequest({ heartbeat }, "continuous", since, undefined),
        connect: (request, onPiece) => continuous(request, onPiece),
        isItem: (event): event is DbUpdates.DbUpdate => event._tag === "DbUpdate",
        seqOf: (update) => update.seq,
        after: sequenceAfter
      }, options),
      ({ checkpoint, items }) => ({
        updates: items.pipe(Stream.withSpan("CouchSession.followDbUpdates")),
        checkpoint
      })
    )

  return { dbUpdates, followDbUpdates }
}
