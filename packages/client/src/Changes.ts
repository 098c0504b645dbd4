/**
 * The changes feed (`_changes`) as a Stream, and a follower that resumes after faults.
 *
 * Sequences are opaque: never parsed or compared, only passed back as `since`. Delivery is at least once: a feed
 * resumed from a checkpoint can repeat changes the consumer already saw, so handle each change idempotently.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import type * as Stream from "effect/Stream"
import type * as Database from "./Database.js"

/**
 * Which changes to deliver: by document id (sent by POST), by Mango selector (POST), design documents only, the
 * documents a view's map function emits for, or a design document's filter function with its query parameters.
 *
 * @since 0.1.0
 * @category models
 */
export type ChangesFilter =
  | { readonly _tag: "DocIds"; readonly docIds: ReadonlyArray<string> }
  | { readonly _tag: "Selector"; readonly selector: Readonly<Record<string, unknown>> }
  | { readonly _tag: "Design" }
  | { readonly _tag: "View"; readonly designDoc: string; readonly view: string }
  | {
    readonly _tag: "Function"
    readonly designDoc: string
    readonly name: string
    readonly params?: Readonly<Record<string, string>> | undefined
  }

/**
 * @since 0.1.0
 * @category constructors
 */
export const docIds = (ids: ReadonlyArray<string>): ChangesFilter => ({ _tag: "DocIds", docIds: ids })

/**
 * @since 0.1.0
 * @category constructors
 */
export const selector = (selector: Readonly<Record<string, unknown>>): ChangesFilter => ({
  _tag: "Selector",
  selector
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const design: ChangesFilter = { _tag: "Design" }

/**
 * @since 0.1.0
 * @category constructors
 */
export const view = (designDoc: string, view: string): ChangesFilter => ({ _tag: "View", designDoc, view })

/**
 * @since 0.1.0
 * @category constructors
 */
export const filterFunction = (
  designDoc: string,
  name: string,
  params?: Readonly<Record<string, string>>
): ChangesFilter => ({ _tag: "Function", designDoc, name, params })

/**
 * Options of `changes`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChangesOptions {
  /**
   * `normal` (default: read in one request, or in pages with `pageSize`; constant memory either way), `longpoll`
   * (wait for the next change),
   * `continuous` (one change a line, as they happen) or `eventsource` (Server-Sent Events).
   */
  readonly feed?: "normal" | "longpoll" | "continuous" | "eventsource" | undefined
  /** Start after this sequence; `"now"` for changes from now on. */
  readonly since?: Database.Sequence | "now" | undefined
  /** At most this many changes. */
  readonly limit?: number | undefined
  /** Newest changes first (such a feed is read in one request, and not resumed when it breaks). */
  readonly descending?: boolean | undefined
  /** Include each changed document (decoded with the schema of a typed database; not for deletions). */
  readonly includeDocs?: boolean | undefined
  /** With `includeDocs`: include each document's `_conflicts`. */
  readonly conflicts?: boolean | undefined
  /** With `includeDocs`: include attachment bodies inline (base64). */
  readonly attachments?: boolean | undefined
  /** `main_only` (default) or `all_docs` (every leaf revision). */
  readonly style?: "main_only" | "all_docs" | undefined
  /** Compute the sequence only every N changes (faster on clusters). */
  readonly seqInterval?: number | undefined
  /** Ask the server to send a blank line this often while idle (continuous and eventsource feeds). */
  readonly heartbeat?: Duration.DurationInput | undefined
  /** How long the server waits for a change before ending the feed (longpoll, continuous). */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * Which changes to deliver: {@link docIds} and {@link selector} (sent in a POST body), {@link design},
   * {@link view} or {@link filterFunction}.
   */
  readonly filter?: ChangesFilter | undefined
  /**
   * Read the `normal` feed in pages of this many changes, a request each (a page read whole, then delivered, by
   * `since`), instead of in one request: every request is short, whatever the time the consumer takes.
   */
  readonly pageSize?: number | undefined
  /**
   * `true` (the default): read the `normal` feed in one request, change by change as the answer arrives
   * (constant memory): one request and less work for the server than pages. When the connection breaks
   * mid-answer and the session retries, the feed goes on from the last change delivered; otherwise the stream
   * fails with a `ResponseDecodeError`. `false`: in pages of `pageSize` (default 1000). A `descending` feed is
   * always read in one request (and not resumed).
   */
  readonly oneRequest?: boolean | undefined
}

/**
 * One change: the document's id, the sequence, the changed revisions, whether it is a deletion, and the
 * document when asked for.
 *
 * @since 0.1.0
 * @category models
 */
export interface Change<A> {
  /** Tells a change from the end of the feed ({@link LastSeq}). */
  readonly _tag: "Change"
  /** The changed document's id. */
  readonly id: string
  /** The change's sequence: give it back as `since` to read the changes after it. */
  readonly seq: Database.Sequence
  /** The document's changed leaf revisions: the winning one, or every leaf with `style: "all_docs"`. */
  readonly changes: ReadonlyArray<{ readonly rev: string }>
  /** Whether the change deleted the document. */
  readonly deleted: boolean
  /** With `includeDocs`: the document as of this change (absent for a deletion). */
  readonly doc?: A | undefined
}

/**
 * The end of a feed: the last sequence, to pass back as `since`, and how many changes are still pending.
 *
 * @since 0.1.0
 * @category models
 */
export interface LastSeq {
  /** Tells the end of the feed from a change. */
  readonly _tag: "LastSeq"
  /** The feed's last sequence: give it back as `since` to read the changes that came after this feed. */
  readonly lastSeq: Database.Sequence
  /** How many changes after `lastSeq` this feed left out (with `limit`), when the server says. */
  readonly pending: number | undefined
}

/**
 * What a changes stream delivers: changes, then (when the feed ends) its last sequence.
 *
 * @since 0.1.0
 * @category models
 */
export type ChangeEvent<A> = Change<A> | LastSeq

/**
 * Options of `follow`.
 *
 * @since 0.1.0
 * @category models
 */
export interface FollowOptions
  extends Omit<ChangesOptions, "feed" | "limit" | "descending" | "pageSize" | "oneRequest">
{
  /**
   * How to wait between reconnections after a transient failure: no answer, a timeout, 429, a 5xx, a feed that
   * broke off or that the server ended without a new change (default: exponential from 100 ms, capped at 10 s,
   * jittered, at most 20 attempts in a row, about 2.5 minutes of the server failing). It starts over each time a
   * change past the checkpoint is handed on; when it ends, the stream fails with the last error. A feed that is
   * not what CouchDB sends (a malformed line, an HTML page: `ResponseDecodeError` with reason `malformed`) is not
   * retried. Give `Schedule.spaced("10 seconds")` to keep trying forever.
   */
  readonly schedule?: Schedule.Schedule<unknown> | undefined
  /**
   * How long the feed may stay silent (no change, no heartbeat) before it counts as dropped (default: 3
   * heartbeats, or 90 s). Time the follower spends waiting for its consumer does not count.
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /**
   * How long one connection is kept before the follower reconnects from its checkpoint (default 60 s). A
   * heartbeat keeps a feed open even when its database is deleted or the credentials are revoked on some
   * servers: reconnecting regularly notices that.
   */
  readonly reconnectAfter?: Duration.DurationInput | undefined
}

/**
 * A follower: a never-ending stream of changes that reconnects from its checkpoint, and that checkpoint.
 *
 * @since 0.1.0
 * @category models
 */
export interface Follower<A, E> {
  /** The changes, at least once, in feed order; fails only with an error that retrying cannot cure. */
  readonly changes: Stream.Stream<Change<A>, E>
  /** The sequence of the last change delivered (or `since`): persist it to resume later. */
  readonly checkpoint: Effect.Effect<Database.Sequence | "now" | undefined>
}
