/**
 * The changes feed: normal (paged), longpoll, continuous (NDJSON) and eventsource (SSE) feeds parsed
 * incrementally, and the follower that reconnects from its checkpoint.
 */
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Take from "effect/Take"
import type * as Changes from "../Changes.js"
import * as CouchError from "../CouchError.js"
import * as Database from "../Database.js"
import { type Codec, decodeRows, decodeRowsSync } from "./codec.js"
import * as Json from "./json.js"
import * as Lines from "./lines.js"
import * as Names from "./names.js"
import * as Paging from "./paging.js"
import * as Request from "./request.js"
import * as Sse from "./sse.js"
import * as Wire from "./wire.js"

const readErrors = [CouchError.BadRequestError, CouchError.ForbiddenError, CouchError.NotFoundError] as const

/** A change as the server sends it. */
interface ChangeRow {
  readonly seq: Database.Sequence
  readonly id: string
  readonly changes: ReadonlyArray<{ readonly rev: string }>
  readonly deleted?: boolean
  readonly doc?: unknown
}
/** The last line of a continuous feed. */
interface LastSeqLine {
  readonly last_seq: Database.Sequence
  readonly pending?: number
}

const changeRowProblem = (row: unknown): string | undefined => {
  if (!Wire.isObject(row)) return "not an object"
  if (!Wire.isSequence(row.seq)) return "seq is not a string or a number"
  if (typeof row.id !== "string") return "id is not a string"
  const changes = row.changes
  if (!Array.isArray(changes) || !changes.every((change) => Wire.isObject(change) && typeof change.rev === "string")) {
    return "changes is not a list of { rev }"
  }
  return Wire.optionalField(row, "deleted", "a boolean", (deleted) => typeof deleted === "boolean")
}

/** What is wrong with the end of a feed (`last_seq`, `pending`), or the end itself. */
const lastSeqLine = (json: Record<string, unknown>): LastSeqLine | string => {
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

const millis = (duration: Duration.DurationInput | undefined) =>
  duration === undefined ? undefined : Math.max(0, Math.round(Duration.toMillis(duration)))

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
    heartbeat: millis(options.heartbeat),
    timeout: millis(options.timeout)
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

/** What the texts of one piece of a feed give: its events at once, or (for an async schema) an effect. */
type Parsed<B, E> = Either.Either<ReadonlyArray<B>, E> | Effect.Effect<ReadonlyArray<B>, E>

/**
 * The events of a continuous or eventsource feed, up to its last sequence, in one stream stage: each piece of the
 * body is split into texts (`texts`, which keeps what spans pieces), parsed and decoded (`parse`) and handed on
 * as one chunk, with no effect per piece unless a document needs asynchronous decoding. The feed ends at its
 * `LastSeq` event, the rest of the body unread.
 */
const feedEvents = <B extends { readonly _tag: string }, E, R, E2>(
  body: Stream.Stream<Uint8Array, E, R>,
  texts: () => {
    readonly push: (chunk: Chunk.Chunk<Uint8Array>) => ReadonlyArray<string>
    readonly end: () => ReadonlyArray<string>
  },
  parse: (texts: ReadonlyArray<string>) => Parsed<B, E2>
): Stream.Stream<B, E | E2, R> =>
  Stream.suspend(() => {
    const source = texts()
    const emit = (
      events: ReadonlyArray<B>,
      next: Channel.Channel<Chunk.Chunk<B>, Chunk.Chunk<Uint8Array>, E | E2, E, unknown, unknown>
    ): Channel.Channel<Chunk.Chunk<B>, Chunk.Chunk<Uint8Array>, E | E2, E, unknown, unknown> => {
      const last = events.findIndex((event) => event._tag === "LastSeq")
      if (last !== -1) return Channel.write(Chunk.unsafeFromArray(events.slice(0, last + 1)))
      return events.length === 0 ? next : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(events)), next)
    }
    const handle = (
      lines: ReadonlyArray<string>,
      next: Channel.Channel<Chunk.Chunk<B>, Chunk.Chunk<Uint8Array>, E | E2, E, unknown, unknown>
    ): Channel.Channel<Chunk.Chunk<B>, Chunk.Chunk<Uint8Array>, E | E2, E, unknown, unknown> => {
      if (lines.length === 0) return next
      const parsed = parse(lines)
      if (Either.isEither(parsed)) return Either.isLeft(parsed) ? Channel.fail(parsed.left) : emit(parsed.right, next)
      return Channel.flatMap(Channel.fromEffect(parsed), (events) => emit(events, next))
    }
    const loop: Channel.Channel<Chunk.Chunk<B>, Chunk.Chunk<Uint8Array>, E | E2, E, unknown, unknown> = Channel
      .readWithCause({
        onInput: (chunk: Chunk.Chunk<Uint8Array>) => handle(source.push(chunk), loop),
        onFailure: (cause: Cause.Cause<E>) => Channel.failCause(cause),
        onDone: () => handle(source.end(), Channel.void)
      })
    return Stream.pipeThroughChannel(body, loop)
  })

/** Whether a line of a continuous feed carries something (blank lines are heartbeats). */
const isNotBlank = (line: string) => {
  if (line === "") return false
  // a line that starts with a visible ASCII character (a change starts with `{`) is not blank: no trim needed
  const first = line.charCodeAt(0)
  return (first > 32 && first < 127) || line.trim() !== ""
}

/** The texts of a continuous feed: its lines that are not blank (blank lines are heartbeats). */
const continuousTexts = (onPiece: (() => void) | undefined) => () => {
  const splitter = Lines.lineSplitter()
  return {
    push: (chunk: Chunk.Chunk<Uint8Array>) => {
      onPiece?.()
      return splitter.push(chunk).filter(isNotBlank)
    },
    end: () => splitter.end().filter(isNotBlank)
  }
}

/** The texts of an eventsource feed: the JSON of its `message` events (heartbeat events are not messages). */
const eventSourceTexts = () => {
  const splitter = Lines.lineSplitter()
  const parser = Sse.eventParser()
  const messages = (lines: ReadonlyArray<string>) => {
    const texts: Array<string> = []
    for (const line of lines) {
      const event = parser.line(line)
      if (event !== undefined && event.event === "message") texts.push(event.data)
    }
    return texts
  }
  return {
    push: (chunk: Chunk.Chunk<Uint8Array>) => messages(splitter.push(chunk)),
    end: () => messages(splitter.end())
  }
}

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
  ): Parsed<Changes.ChangeEvent<A>, CouchError.ResponseDecodeError | D> => {
    const rows: Array<ChangeRow | LastSeqLine> = new Array(texts.length)
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i]
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        return Either.left(Request.decodeFailure(transport, request, "malformed", `a feed line is not JSON: ${text.slice(0, 200)}`))
      }
      const line = feedLine(json)
      if (typeof line === "string") return Either.left(Request.decodeFailure(transport, request, "malformed", `a feed line: ${line}`))
      rows[i] = line
    }
    return decodeRowsSync(codec, rows, lineDoc, plainEvent<A>, eventWithDoc<A>) ??
      decodeRows(codec, rows, lineDoc, plainEvent<A>, eventWithDoc<A>)
  }

  /** A continuous or eventsource feed; `onPiece` is told of every piece of the body (heartbeats too). */
  const streamed = (
    request: Request.Request,
    feed: "continuous" | "eventsource",
    onPiece?: () => void
  ): Stream.Stream<Changes.ChangeEvent<A>, Database.ReadError | D> =>
    // the request's timeout (the session's) bounds the wait for the answer's headers, which a continuous or
    // eventsource feed sends at once; the body's silence is the heartbeat's and the follower's idleTimeout's business
    Stream.unwrap(
      Request.execute(transport, request, readErrors, (response) => Effect.succeed(response.stream))
    ).pipe(
      Stream.mapError((error) =>
        error._tag === "ResponseError" ?
          Request.decodeFailure(transport, request, "truncated", `the feed broke off: ${error.description ?? error.reason}`) :
          error
      ),
      (bytes) =>
        feedEvents(
          bytes,
          feed === "continuous" ? continuousTexts(onPiece) : eventSourceTexts,
          (texts) => parseLines(request, texts)
        )
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
        // a descending feed cannot be paged by `since`
        return options.oneRequest === true || options.descending === true ?
          oneRequest(options, "normal") :
          paged(options)
      case "longpoll":
        return oneRequest(options, "longpoll")
      case "continuous":
      case "eventsource":
        return streamed(feedRequest(root, options, feed, options.since, options.limit), feed)
    }
  }

  /** Exponential from 100 ms, capped at 10 s, jittered, at most 20 attempts without progress (about 2.5 min). */
  const defaultFollowSchedule = Schedule.exponential("100 millis").pipe(
    Schedule.either(Schedule.spaced("10 seconds")),
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(20))
  )

  /**
   * Errors after which reconnecting can help: no answer, a server failure, a rate limit, a feed that broke off.
   * A feed that is not what CouchDB sends (a malformed line, an HTML page) is permanent: reconnecting from the
   * checkpoint would read it again.
   */
  const retryable = (error: unknown) =>
    Request.isTransient(error) ||
    (error instanceof CouchError.ResponseDecodeError && error.reason === "truncated")

  type FeedError = Database.ReadError | D

  /** Where a follower's feed is: the sequence to go on from, the body pieces read, the changes handed on. */
  interface FeedPosition {
    since: Database.Sequence | "now" | undefined
    pieces: number
    changes: number
  }

  /**
   * Reads one connection of a follower's continuous feed into the queue, from `position.since`, moving it to what
   * it reads. It ends when the feed ends or has been open `reconnectAfter`, and fails when the feed fails or stays
   * silent past `idleTimeout`. A watchdog checks both once per connection: racing every read against a timer, and
   * the stream against a clock, cost ~200 µs per change. Silence counts only while the reader waits for the
   * server, not while it waits for the consumer.
   */
  const readConnection = (
    options: Changes.FollowOptions & { readonly heartbeat: Duration.DurationInput },
    position: FeedPosition,
    queue: Queue.Enqueue<Take.Take<Changes.ChangeEvent<A>, FeedError>>,
    idleTimeout: number,
    reconnectAfter: number
  ): Effect.Effect<void, FeedError> => {
    const from = position.since
    const request = feedRequest(root, options, "continuous", from, undefined)
    let handingOn = false
    // a change at the sequence the connection started from is one already handed on (`since` is exclusive): a
    // server that sends it again makes no progress. Only the first change of a connection can be such a repeat,
    // so chunks are looked at until one change has come
    let firstChange = from !== undefined
    const fresh = (read: Chunk.Chunk<Changes.ChangeEvent<A>>) => {
      if (!firstChange) return read
      const change = Chunk.findFirst(read, (event) => event._tag === "Change")
      if (Option.isNone(change)) return read
      firstChange = false
      return change.value._tag === "Change" && change.value.seq === from ? Chunk.filter(read, (event) => event !== change.value) : read
    }
    const reader = streamed(request, "continuous", () => void position.pieces++).pipe(
      Stream.runForEachChunk((read) => {
        const events = fresh(read)
        if (Chunk.isEmpty(events)) return Effect.void
        handingOn = true
        // the position moves once the events are queued: a connection ended while it waits re-reads them
        return Effect.map(Queue.offer(queue, Take.chunk(events)), () => {
          handingOn = false
          const last = Chunk.unsafeLast(events)
          position.since = sequenceAfter(last)
          position.changes += Chunk.reduce(events, 0, (n, event) => event._tag === "Change" ? n + 1 : n)
        })
      })
    )
    const idle = new CouchError.TransportError({
      method: request.method,
      url: Request.fullUrl(transport, request),
      reason: "timeout",
      description: "the feed sent neither a change nor a heartbeat in time"
    })
    const tick = Math.max(1, Math.min(idleTimeout / 4, reconnectAfter / 4, 1000))
    const watch = (openedAt: number, seen: number, silentSince: number): Effect.Effect<void, FeedError> =>
      Effect.flatMap(Effect.zipRight(Effect.sleep(tick), Clock.currentTimeMillis), (now) => {
        if (now - openedAt >= reconnectAfter) return Effect.void
        const quiet = position.pieces === seen && !handingOn
        if (quiet && now - silentSince >= idleTimeout) return Effect.fail(idle)
        return watch(openedAt, position.pieces, quiet ? silentSince : now)
      })
    // a feed the server ends without a new change is a connection failure: following it again at once would spin
    const ended = new CouchError.TransportError({
      method: request.method,
      url: Request.fullUrl(transport, request),
      reason: "connection",
      description: "the server ended the feed without a new change"
    })
    const changesBefore = position.changes
    return Effect.raceFirst(
      Effect.zipRight(reader, Effect.suspend(() => position.changes === changesBefore ? Effect.fail(ended) : Effect.void)),
      Effect.flatMap(Clock.currentTimeMillis, (now) => watch(now, position.pieces, now))
    )
  }

  const follow = (
    options: Changes.FollowOptions = {}
  ): Effect.Effect<Changes.Follower<A, FeedError>> =>
    Effect.sync(() => {
      // the sequence after the last event handed to the consumer: moved by the stage that hands events on, read
      // by `checkpoint`
      const handed: { checkpoint: Database.Sequence | "now" | undefined } = { checkpoint: options.since }
      const heartbeat = options.heartbeat ?? "30 seconds"
      const feedOptions = { ...options, heartbeat }
      const idleTimeout = Duration.toMillis(options.idleTimeout ?? Duration.times(Duration.decode(heartbeat), 3))
      const reconnectAfter = Duration.toMillis(options.reconnectAfter ?? "60 seconds")
      const policy = Schedule.whileInput(options.schedule ?? defaultFollowSchedule, retryable)
      /**
       * Connection after connection into the queue. One kept `reconnectAfter` is followed at once; one that fails
       * with an error reconnecting can cure, or that the server ended without handing on a new change, after the
       * schedule's delay. The schedule starts over only when changes past the checkpoint were handed on since the
       * last failure. An error retrying cannot cure, or the schedule's end, is handed to the consumer.
       */
      const feed = (queue: Queue.Enqueue<Take.Take<Changes.ChangeEvent<A>, FeedError>>, since: Database.Sequence | "now" | undefined) =>
        Effect.gen(function*() {
          const position: FeedPosition = { since, pieces: 0, changes: 0 }
          const driver = yield* Schedule.driver(policy)
          let changesAtFailure = 0
          while (true) {
            const exit = yield* Effect.exit(readConnection(feedOptions, position, queue, idleTimeout, reconnectAfter))
            if (Exit.isSuccess(exit)) continue
            // heartbeats, or a server repeating the change at the checkpoint, are no progress
            if (position.changes !== changesAtFailure) yield* driver.reset
            changesAtFailure = position.changes
            const failure = Cause.failureOption(exit.cause)
            const retry = Option.isSome(failure) ? yield* Effect.either(driver.next(failure.value)) : undefined
            if (retry === undefined || Either.isLeft(retry)) return yield* Queue.offer(queue, Take.failCause(exit.cause))
          }
        })
      /**
       * Hands the changes on one at a time, the checkpoint moved to each as it is handed on: a checkpoint read
       * while a change is handled is that change's (moving it a chunk at a time would skip the rest of the chunk
       * after a crash). One channel step per change, no effect: the consumer's pull is what moves it.
       */
      const oneByOne: Channel.Channel<
        Chunk.Chunk<Changes.Change<A>>,
        Chunk.Chunk<Changes.ChangeEvent<A>>,
        FeedError,
        FeedError,
        unknown,
        unknown
      > = Channel.readWithCause({
        onInput: (chunk: Chunk.Chunk<Changes.ChangeEvent<A>>) => handOn(Chunk.toReadonlyArray(chunk), 0),
        onFailure: (cause: Cause.Cause<FeedError>) => Channel.failCause(cause),
        onDone: () => Channel.void
      })
      const handOn = (
        events: ReadonlyArray<Changes.ChangeEvent<A>>,
        from: number
      ): Channel.Channel<Chunk.Chunk<Changes.Change<A>>, Chunk.Chunk<Changes.ChangeEvent<A>>, FeedError, FeedError, unknown, unknown> => {
        for (let i = from; i < events.length; i++) {
          const event = events[i]
          handed.checkpoint = sequenceAfter(event)
          if (event._tag === "Change") {
            return Channel.zipRight(Channel.write(Chunk.of(event)), Channel.suspend(() => handOn(events, i + 1)))
          }
        }
        return oneByOne
      }
      const changes = Stream.unwrapScoped(Effect.gen(function*() {
        // the consumer takes what a reader fiber of its own puts here; the queue bounds how far it reads ahead
        const queue = yield* Effect.acquireRelease(
          Queue.bounded<Take.Take<Changes.ChangeEvent<A>, FeedError>>(16),
          Queue.shutdown
        )
        yield* Effect.forkScoped(feed(queue, handed.checkpoint))
        return Stream.pipeThroughChannel(Stream.flattenTake(Stream.fromQueue(queue, { maxChunkSize: 1 })), oneByOne)
      }))
      return { changes, checkpoint: Effect.sync(() => handed.checkpoint) }
    })

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
