/**
 * The changes feed: normal (paged), longpoll, continuous (NDJSON) and eventsource (SSE) feeds parsed
 * incrementally, and the follower that reconnects from its checkpoint (both on `feed.ts`, which `_db_updates`
 * shares).
 */
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Changes from "../Changes.js"
import type * as CouchError from "../CouchError.js"
import * as Database from "../Database.js"
import { type Codec, decodeRows, decodeRowsSync } from "./codec.js"
import * as Feed from "./feed.js"
import * as Json from "./json.js"
import * as Names from "./names.js"
import * as Paging from "./paging.js"
import { readErrors } from "./endpoint.js"
import * as Request from "./request.js"
import * as Wire from "./wire.js"

/**
 * A change as the server sends it, `{ seq, id, changes: [{ rev }], deleted?, doc? }`: the source of truth that
 * {@link changeRowProblem}, the check run on every change, is held to by a property test.
 */
export const ChangeRow = Schema.Struct({
  seq: Database.Sequence,
  id: Schema.String,
  changes: Schema.Array(Schema.Struct({ rev: Schema.String })),
  deleted: Schema.optional(Schema.Boolean),
  doc: Schema.optional(Schema.Unknown)
}).annotations({ identifier: "ChangeRow" })
type ChangeRow = typeof ChangeRow.Type

/**
 * The end of a feed, `{ last_seq, pending? }` (the last line of a continuous one, what follows the changes of a
 * normal one): the source of truth that {@link lastSeqLine} is held to by a property test.
 */
export const LastSeqLine = Schema.Struct({
  last_seq: Database.Sequence,
  pending: Schema.optional(Schema.Number)
}).annotations({ identifier: "LastSeqLine" })
type LastSeqLine = typeof LastSeqLine.Type

/**
 * What is wrong with a change, or `undefined` when it is a {@link ChangeRow}: checked in a loop, as a schema per
 * change would cost more than the rest of a feed's reading.
 */
export const changeRowProblem = (row: unknown): string | undefined => {
  if (!Wire.isObject(row)) return "not an object"
  if (!Wire.isSequence(row.seq)) return "seq is not a string or a number"
  if (typeof row.id !== "string") return "id is not a string"
  const changes = row.changes
  if (!Array.isArray(changes) || !changes.every((change) => Wire.isObject(change) && typeof change.rev === "string")) {
    return "changes is not a list of { rev }"
  }
  return Wire.optionalField(row, "deleted", "a boolean", Wire.isBoolean)
}

/** What is wrong with the end of a feed (`last_seq`, `pending`), or the end itself: a {@link LastSeqLine}. */
export const lastSeqLine = (json: Record<string, unknown>): LastSeqLine | string => {
  if (!Wire.isSequence(json.last_seq)) return "last_seq is not a string or a number"
  return Wire.optionalField(json, "pending", "a number", (pending) => typeof pending === "number") ??
    (json as unknown as LastSeqLine)
}

/** A line of a continuous or eventsource feed: a change, the last sequence, or what is wrong with it. */
const feedLine = (json: unknown): ChangeRow | LastSeqLine | string =>
  Wire.isObject(json) && "last_seq" in json && !("id" in json) ?
    lastSeqLine(json) :
    changeRowProblem(json) ?? (json as unknown as ChangeRow)

const NormalAnswer = Schema.Struct({
  results: Wire.checkedArray<ChangeRow>("results", changeRowProblem),
  last_seq: Database.Sequence,
  pending: Schema.optional(Schema.Number)
})

/** The request of a feed: filters that carry a list or a selector go by POST. */
const feedRequest = (
  root: string,
  options: Changes.ChangesOptions,
  feed: string,
  since: Database.Sequence | "now" | undefined,
  limit: number | undefined
): Request.Request => {
  const filter = options.filter
  const params: Record<string, string | number | undefined> = {
    feed,
    since: since === undefined ? undefined : String(since),
    limit,
    descending: options.descending === undefined ? undefined : String(options.descending),
    include_docs: options.includeDocs === undefined ? undefined : String(options.includeDocs),
    conflicts: options.conflicts === undefined ? undefined : String(options.conflicts),
    attachments: options.attachments === undefined ? undefined : String(options.attachments),
    style: options.style,
    seq_interval: options.seqInterval,
    heartbeat: Feed.millis(options.heartbeat),
    timeout: Feed.millis(options.timeout)
  }
  const path = `${root}/_changes`
  switch (filter?._tag) {
    case undefined:
      return { method: "GET", path, params }
    case "DocIds":
      return {
        method: "POST",
        path,
        params: { ...params, filter: "_doc_ids" },
        body: Json.bodyUnchecked({ doc_ids: filter.docIds }),
        idempotent: true
      }
    case "Selector":
      return {
        method: "POST",
        path,
        params: { ...params, filter: "_selector" },
        body: Json.bodyUnchecked({ selector: filter.selector }),
        idempotent: true
      }
    case "Design":
      return { method: "GET", path, params: { ...params, filter: "_design" } }
    case "View":
      return {
        method: "GET",
        path,
        params: { ...params, filter: "_view", view: `${Names.designName(filter.designDoc)}/${filter.view}` }
      }
    case "Function":
      return {
        method: "GET",
        path,
        params: { ...filter.params, ...params, filter: `${Names.designName(filter.designDoc)}/${filter.name}` }
      }
  }
}

/** The sequence to go on from after an event. */
const sequenceAfter = <A>(event: Changes.ChangeEvent<A>): Database.Sequence =>
  event._tag === "Change" ? event.seq : event.lastSeq

/** A change without its document. */
const plainChange = <A>(row: ChangeRow): Changes.Change<A> => ({
  _tag: "Change",
  id: row.id,
  seq: row.seq,
  changes: row.changes,
  deleted: row.deleted === true
})

/** The document a change carries, to decode (deletions keep none). */
const changeDoc = (row: ChangeRow): unknown => row.doc === null || row.deleted === true ? undefined : row.doc

/** A change with its decoded document, made in one object. */
const changeWithDoc = <A>(row: ChangeRow, doc: A): Changes.Change<A> => ({
  _tag: "Change",
  id: row.id,
  seq: row.seq,
  changes: row.changes,
  deleted: row.deleted === true,
  doc
})

/** The feed's changes, decoding documents with the codec. */
const toChanges = <A, D>(codec: Codec<A, D>, rows: ReadonlyArray<ChangeRow>) =>
  decodeRows(codec, rows, changeDoc, plainChange<A>, changeWithDoc<A>)

/** The document of a feed line to decode: none for the last sequence. */
const lineDoc = (row: ChangeRow | LastSeqLine): unknown => "last_seq" in row ? undefined : changeDoc(row)

/** The event of a feed line without a document. */
const plainEvent = <A>(row: ChangeRow | LastSeqLine): Changes.ChangeEvent<A> =>
  "last_seq" in row ? { _tag: "LastSeq", lastSeq: row.last_seq, pending: row.pending } : plainChange(row)

/** The event of a feed line with its decoded document. */
const eventWithDoc = <A>(row: ChangeRow | LastSeqLine, doc: A): Changes.ChangeEvent<A> =>
  changeWithDoc(row as ChangeRow, doc)

/** The changes operations of a database. */
export const make = <A, D>(
  transport: Request.Transport,
  root: string,
  codec: Codec<A, D>,
  attributes: Readonly<Record<string, string>>
) => {
  /**
   * Lines of a continuous or eventsource feed as events: parsed and checked in a loop, decoded in the same loop
   * where the codec allows (an effect only for a schema that needs async).
   */
  const parseLines = (
    request: Request.Request,
    texts: ReadonlyArray<string>
  ): Feed.Parsed<Changes.ChangeEvent<A>, CouchError.ResponseDecodeError | D> => {
    const parsed = Feed.parseTexts(transport, request, texts, feedLine)
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    const rows = parsed.right
    return decodeRowsSync(codec, rows, lineDoc, plainEvent<A>, eventWithDoc<A>) ??
      decodeRows(codec, rows, lineDoc, plainEvent<A>, eventWithDoc<A>)
  }

  /** A continuous or eventsource feed; `onPiece` is told of every piece of the body (heartbeats too). */
  const streamed = (
    request: Request.Request,
    feed: "continuous" | "eventsource",
    onPiece?: () => void
  ): Stream.Stream<Changes.ChangeEvent<A>, Database.ReadError | D> =>
    Feed.streamed(
      transport,
      request,
      readErrors,
      feed === "continuous" ? Feed.continuousTexts(onPiece) : Feed.eventSourceTexts,
      (texts) => parseLines(request, texts)
    )

  /** One page of the normal feed, read whole: paging needs its `last_seq` before it goes on. */
  const page = (options: Changes.ChangesOptions, since: Database.Sequence | "now" | undefined, limit: number) =>
    Request.json(transport, feedRequest(root, options, "normal", since, limit), NormalAnswer, readErrors).pipe(
      Effect.flatMap((answer) => Effect.map(toChanges(codec, answer.results), (changes) => ({ answer, changes })))
    )

  /** A normal or longpoll feed in one request, its changes read as the answer arrives, then its last sequence. */
  const oneRequest = (
    options: Changes.ChangesOptions,
    feed: "normal" | "longpoll"
  ): Stream.Stream<Changes.ChangeEvent<A>, Database.ReadError | D> => {
    const request = feedRequest(root, options, feed, options.since, options.limit)
    // a longpoll waits for a change: the session's request timeout does not apply
    return Wire.streamedRows(transport, feed === "longpoll" ? { ...request, timeout: Duration.infinity } : request, readErrors, {
      field: "results",
      problem: changeRowProblem,
      build: (rows: ReadonlyArray<ChangeRow>): Effect.Effect<ReadonlyArray<Changes.ChangeEvent<A>>, D> =>
        toChanges(codec, rows),
      rest: (answer) => {
        const last = lastSeqLine(answer)
        return typeof last === "string" ? last : [{ _tag: "LastSeq", lastSeq: last.last_seq, pending: last.pending }]
      },
      // a broken answer goes on after the last change delivered, in a normal feed (a longpoll that delivered
      // changes has no reason to wait); a descending feed cannot
      resume: options.descending === true ? undefined : {
        request: (last: ChangeRow, delivered) =>
          feedRequest(root, options, "normal", last.seq, options.limit === undefined ? undefined : options.limit - delivered)
      }
    })
  }

  interface PageState {
    readonly since: Database.Sequence | "now" | undefined
    readonly remaining: number
  }

  const paged = (options: Changes.ChangesOptions): Stream.Stream<Changes.ChangeEvent<A>, Database.ReadError | D> => {
    const pageSize = Math.max(1, options.pageSize ?? 1000)
    return Paging.paginate<PageState, Changes.ChangeEvent<A>, Database.ReadError | D, never>(
      { since: options.since, remaining: options.limit ?? Infinity },
      (state) => {
        const want = Math.min(pageSize, state.remaining)
        return Effect.map(page(options, state.since, want), ({ answer, changes }) => {
          const done = changes.length < want || state.remaining - changes.length <= 0
          const events: Array<Changes.ChangeEvent<A>> = done ?
            [...changes, { _tag: "LastSeq", lastSeq: answer.last_seq, pending: answer.pending }] :
            changes
          return [
            Chunk.unsafeFromArray(events),
            done ? Option.none() : Option.some({ since: answer.last_seq, remaining: state.remaining - changes.length })
          ] as const
        })
      }
    )
  }

  const changes = (options: Changes.ChangesOptions = {}): Stream.Stream<Changes.ChangeEvent<A>, Database.ReadError | D> => {
    const feed = options.feed ?? "normal"
    switch (feed) {
      case "normal":
        // in pages only when asked for; a descending feed cannot be paged by `since`
        return Paging.inPages(options) && options.descending !== true ? paged(options) : oneRequest(options, "normal")
      case "longpoll":
        return oneRequest(options, "longpoll")
      case "continuous":
      case "eventsource":
        return streamed(feedRequest(root, options, feed, options.since, options.limit), feed)
    }
  }

  type FeedError = Database.ReadError | D

  const follow = (options: Changes.FollowOptions = {}): Effect.Effect<Changes.Follower<A, FeedError>> =>
    Effect.map(
      Feed.follow<Changes.ChangeEvent<A>, Changes.Change<A>, FeedError>({
        transport,
        request: (since, heartbeat) => feedRequest(root, { ...options, heartbeat }, "continuous", since, undefined),
        connect: (request, onPiece) => streamed(request, "continuous", onPiece),
        isItem: (event): event is Changes.Change<A> => event._tag === "Change",
        seqOf: (change) => change.seq,
        after: sequenceAfter
      }, options),
      ({ checkpoint, items }) => ({ changes: items, checkpoint })
    )

  return {
    // a stream's span covers its whole life; a follower's, the life of its changes stream
    changes: (options?: Changes.ChangesOptions) =>
      changes(options).pipe(
        Stream.withSpan("Database.changes", { attributes: { ...attributes, "couchdb.feed": options?.feed ?? "normal" } })
      ),
    follow: (options?: Changes.FollowOptions) =>
      Effect.map(follow(options), (follower): Changes.Follower<A, FeedError> => ({
        ...follower,
        changes: follower.changes.pipe(Stream.withSpan("Database.follow", { attributes }))
      }))
  }
}
