/**
 * What every feed of the server shares (a database's `_changes`, the server's `_db_updates`): continuous (NDJSON)
 * and eventsource (SSE) bodies read as events in one stream stage, and the follower that reads connection after
 * connection from its checkpoint (a reader fiber into a queue, a watchdog per connection, the checkpoint moved
 * per handled event, only transient failures retried).
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
import * as Stream from "effect/Stream"
import * as Take from "effect/Take"
import * as CouchError from "../CouchError.js"
import type * as Database from "../Database.js"
import { writeBounded } from "./chunks.js"
import * as Lines from "./lines.js"
import * as Request from "./request.js"
import * as Sse from "./sse.js"

/** What the texts of one piece of a feed give: its events at once, or (for an async schema) an effect. */
export type Parsed<B, E> = Either.Either<ReadonlyArray<B>, E> | Effect.Effect<ReadonlyArray<B>, E>

/** How a feed's body is split into texts: `push` a piece, `end` for what the last piece left. */
export interface Texts {
  readonly push: (chunk: Chunk.Chunk<Uint8Array>) => ReadonlyArray<string>
  readonly end: () => ReadonlyArray<string>
}

/**
 * The events of a continuous or eventsource feed, up to its last sequence, in one stream stage: each piece of the
 * body is split into texts (`texts`, which keeps what spans pieces), parsed and decoded (`parse`) and handed on
 * as one chunk, with no effect per piece unless a document needs asynchronous decoding. The feed ends at its
 * `LastSeq` event, the rest of the body unread.
 */
export const feedEvents = <B extends { readonly _tag: string }, E, R, E2>(
  body: Stream.Stream<Uint8Array, E, R>,
  texts: () => Texts,
  parse: (texts: ReadonlyArray<string>) => Parsed<B, E2>
): Stream.Stream<B, E | E2, R> =>
  Stream.suspend(() => {
    const source = texts()
    const emit = (
      events: ReadonlyArray<B>,
      next: Channel.Channel<Chunk.Chunk<B>, Chunk.Chunk<Uint8Array>, E | E2, E, unknown, unknown>
    ): Channel.Channel<Chunk.Chunk<B>, Chunk.Chunk<Uint8Array>, E | E2, E, unknown, unknown> => {
      const last = events.findIndex((event) => event._tag === "LastSeq")
      if (last !== -1) return writeBounded(events.slice(0, last + 1))
      return events.length === 0 ? next : Channel.zipRight(writeBounded(events), next)
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
export const continuousTexts = (onPiece: (() => void) | undefined) => (): Texts => {
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
export const eventSourceTexts = (): Texts => {
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

/**
 * The lines of a feed parsed as JSON and checked by `line` (what is wrong with one, as text, or its row), in a
 * loop; the first bad line is a `ResponseDecodeError` (reason `malformed`).
 */
export const parseTexts = <W>(
  transport: Request.Transport,
  request: Request.Request,
  texts: ReadonlyArray<string>,
  line: (json: unknown) => W | string
): Either.Either<Array<W>, CouchError.ResponseDecodeError> => {
  const rows: Array<W> = new Array(texts.length)
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i]
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return Either.left(Request.decodeFailure(transport, request, "malformed", `a feed line is not JSON: ${text.slice(0, 200)}`))
    }
    const row = line(json)
    if (typeof row === "string") return Either.left(Request.decodeFailure(transport, request, "malformed", `a feed line: ${row}`))
    rows[i] = row
  }
  return Either.right(rows)
}

/**
 * A continuous or eventsource feed's request, its body read as events by `parse` (`texts` splits it); a body that
 * breaks off is a `ResponseDecodeError` with reason `truncated`.
 */
export const streamed = <B extends { readonly _tag: string }, E2, const Errors extends ReadonlyArray<CouchError.StatusErrorClass>>(
  transport: Request.Transport,
  request: Request.Request,
  errors: Errors,
  texts: () => Texts,
  parse: (texts: ReadonlyArray<string>) => Parsed<B, E2>
): Stream.Stream<B, E2 | Request.ErrorsOf<Errors> | CouchError.RequestError> =>
  // the request's timeout (the session's) bounds the wait for the answer's headers, which a continuous or
  // eventsource feed sends at once; the body's silence is the heartbeat's and the follower's idleTimeout's business
  Stream.unwrap(
    Request.execute(transport, request, errors, (response) => Effect.succeed(response.stream))
  ).pipe(
    Stream.mapError((error) =>
      error._tag === "ResponseError" ?
        Request.decodeFailure(transport, request, "truncated", `the feed broke off: ${error.description ?? error.reason}`) :
        error
    ),
    (bytes) => feedEvents(bytes, texts, parse)
  )

/** The duration in whole milliseconds, as a query parameter, or nothing. */
export const millis = (duration: Duration.DurationInput | undefined) =>
  duration === undefined ? undefined : Math.max(0, Math.round(Duration.toMillis(duration)))

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

/** What a follower is told by its caller: where to start, and how it waits, watches and reconnects. */
export interface FollowOptions {
  readonly since?: Database.Sequence | "now" | undefined
  readonly heartbeat?: Duration.DurationInput | undefined
  readonly schedule?: Schedule.Schedule<unknown> | undefined
  readonly idleTimeout?: Duration.DurationInput | undefined
  readonly reconnectAfter?: Duration.DurationInput | undefined
}

/** How a follower reads one feed: its events, which of them it hands on, the sequence after each. */
export interface FollowFeed<Ev extends { readonly _tag: string }, Item extends Ev, E> {
  /** The session's transport: for the URL of connection errors. */
  readonly transport: Request.Transport
  /** The request of a continuous feed from `since` with `heartbeat`: for connection errors' method and URL. */
  readonly request: (since: Database.Sequence | "now" | undefined, heartbeat: Duration.DurationInput) => Request.Request
  /** The events of that request's feed; `onPiece` is told of every piece of the body (heartbeats too). */
  readonly connect: (request: Request.Request, onPiece: () => void) => Stream.Stream<Ev, E>
  /** Whether an event is one the follower hands on (the others, such as the last sequence, move the checkpoint only). */
  readonly isItem: (event: Ev) => event is Item
  /** The sequence of a handed-on event. */
  readonly seqOf: (item: Item) => Database.Sequence
  /** The sequence to go on from after any event. */
  readonly after: (event: Ev) => Database.Sequence
}

/** Where a follower's feed is: the sequence to go on from, the body pieces read, the events handed on. */
interface FeedPosition {
  since: Database.Sequence | "now" | undefined
  pieces: number
  items: number
}

/**
 * A follower of a feed: a never-ending stream of its items that reconnects from its checkpoint, and that
 * checkpoint (the sequence after the last item handed to the consumer, or `since`).
 */
export const follow = <Ev extends { readonly _tag: string }, Item extends Ev, E>(
  feedOf: FollowFeed<Ev, Item, E>,
  options: FollowOptions
): Effect.Effect<{
  readonly items: Stream.Stream<Item, E | CouchError.TransportError>
  readonly checkpoint: Effect.Effect<Database.Sequence | "now" | undefined>
}> =>
  Effect.sync(() => {
    type FeedError = E | CouchError.TransportError
    // the sequence after the last event handed to the consumer: moved by the stage that hands events on, read
    // by `checkpoint`
    const handed: { checkpoint: Database.Sequence | "now" | undefined } = { checkpoint: options.since }
    const heartbeat = options.heartbeat ?? "30 seconds"
    const idleTimeout = Duration.toMillis(options.idleTimeout ?? Duration.times(Duration.decode(heartbeat), 3))
    const reconnectAfter = Duration.toMillis(options.reconnectAfter ?? "60 seconds")
    const policy = Schedule.whileInput(options.schedule ?? defaultFollowSchedule, retryable)

    /**
     * Reads one connection of the feed into the queue, from `position.since`, moving it to what it reads. It ends
     * when the feed ends or has been open `reconnectAfter`, and fails when the feed fails or stays silent past
     * `idleTimeout`. A watchdog checks both once per connection: racing every read against a timer, and the stream
     * against a clock, cost ~200 µs per change. Silence counts only while the reader waits for the server, not
     * while it waits for the consumer.
     */
    const readConnection = (
      position: FeedPosition,
      queue: Queue.Enqueue<Take.Take<Ev, FeedError>>
    ): Effect.Effect<void, FeedError> => {
      const from = position.since
      const request = feedOf.request(from, heartbeat)
      let handingOn = false
      // an item at the sequence the connection started from is one already handed on (`since` is exclusive): a
      // server that sends it again makes no progress. Only the first item of a connection can be such a repeat,
      // so chunks are looked at until one item has come
      let firstItem = from !== undefined
      const fresh = (read: Chunk.Chunk<Ev>) => {
        if (!firstItem) return read
        const item = Chunk.findFirst(read, feedOf.isItem)
        if (Option.isNone(item)) return read
        firstItem = false
        return feedOf.seqOf(item.value) === from ? Chunk.filter(read, (event) => event !== item.value) : read
      }
      const reader = feedOf.connect(request, () => void position.pieces++).pipe(
        Stream.runForEachChunk((read) => {
          const events = fresh(read)
          if (Chunk.isEmpty(events)) return Effect.void
          handingOn = true
          // the position moves once the events are queued: a connection ended while it waits re-reads them
          return Effect.map(Queue.offer(queue, Take.chunk(events)), () => {
            handingOn = false
            position.since = feedOf.after(Chunk.unsafeLast(events))
            position.items += Chunk.reduce(events, 0, (n, event) => feedOf.isItem(event) ? n + 1 : n)
          })
        })
      )
      const idle = new CouchError.TransportError({
        method: request.method,
        url: Request.fullUrl(feedOf.transport, request),
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
      // a feed the server ends without a new item is a connection failure: following it again at once would spin
      const ended = new CouchError.TransportError({
        method: request.method,
        url: Request.fullUrl(feedOf.transport, request),
        reason: "connection",
        description: "the server ended the feed without a new change"
      })
      const itemsBefore = position.items
      return Effect.raceFirst(
        Effect.zipRight(reader, Effect.suspend(() => position.items === itemsBefore ? Effect.fail(ended) : Effect.void)),
        Effect.flatMap(Clock.currentTimeMillis, (now) => watch(now, position.pieces, now))
      )
    }

    /**
     * Connection after connection into the queue. One kept `reconnectAfter` is followed at once; one that fails
     * with an error reconnecting can cure, or that the server ended without handing on a new item, after the
     * schedule's delay. The schedule starts over only when items past the checkpoint were handed on since the
     * last failure. An error retrying cannot cure, or the schedule's end, is handed to the consumer.
     */
    const feed = (queue: Queue.Enqueue<Take.Take<Ev, FeedError>>, since: Database.Sequence | "now" | undefined) =>
      Effect.gen(function*() {
        const position: FeedPosition = { since, pieces: 0, items: 0 }
        const driver = yield* Schedule.driver(policy)
        let itemsAtFailure = 0
        while (true) {
          const exit = yield* Effect.exit(readConnection(position, queue))
          if (Exit.isSuccess(exit)) continue
          // heartbeats, or a server repeating the item at the checkpoint, are no progress
          if (position.items !== itemsAtFailure) yield* driver.reset
          itemsAtFailure = position.items
          const failure = Cause.failureOption(exit.cause)
          const retry = Option.isSome(failure) ? yield* Effect.either(driver.next(failure.value)) : undefined
          if (retry === undefined || Either.isLeft(retry)) return yield* Queue.offer(queue, Take.failCause(exit.cause))
        }
      })

    /**
     * Hands the items on one at a time, the checkpoint moved to each as it is handed on: a checkpoint read while
     * an item is handled is that item's (moving it a chunk at a time would skip the rest of the chunk after a
     * crash). One channel step per item, no effect: the consumer's pull is what moves it.
     */
    const oneByOne: Channel.Channel<Chunk.Chunk<Item>, Chunk.Chunk<Ev>, FeedError, FeedError, unknown, unknown> = Channel
      .readWithCause({
        onInput: (chunk: Chunk.Chunk<Ev>) => handOn(Chunk.toReadonlyArray(chunk), 0),
        onFailure: (cause: Cause.Cause<FeedError>) => Channel.failCause(cause),
        onDone: () => Channel.void
      })
    const handOn = (
      events: ReadonlyArray<Ev>,
      from: number
    ): Channel.Channel<Chunk.Chunk<Item>, Chunk.Chunk<Ev>, FeedError, FeedError, unknown, unknown> => {
      for (let i = from; i < events.length; i++) {
        const event = events[i]
        handed.checkpoint = feedOf.after(event)
        if (feedOf.isItem(event)) {
          return Channel.zipRight(Channel.write(Chunk.of(event)), Channel.suspend(() => handOn(events, i + 1)))
        }
      }
      return oneByOne
    }
    const items = Stream.unwrapScoped(Effect.gen(function*() {
      // the consumer takes what a reader fiber of its own puts here; the queue bounds how far it reads ahead
      const queue = yield* Effect.acquireRelease(Queue.bounded<Take.Take<Ev, FeedError>>(16), Queue.shutdown)
      yield* Effect.forkScoped(feed(queue, handed.checkpoint))
      return Stream.pipeThroughChannel(Stream.flattenTake(Stream.fromQueue(queue, { maxChunkSize: 1 })), oneByOne)
    }))
    return { items, checkpoint: Effect.sync(() => handed.checkpoint) }
  })
