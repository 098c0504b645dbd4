/**
 * Key paging as a Stream: page after page by `startkey` + `startkey_docid`, never by `skip`, so that memory stays
 * constant and rows sharing a key across a page boundary are neither lost nor repeated.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { maxChunkSize } from "./chunks.js"

/** Where a page starts: the key and document id of its first row. */
export interface Cursor {
  readonly key: unknown
  readonly id: string | undefined
}

/** What one page request asks for. */
export interface PageRequest {
  /** Where to start (`startkey`, and `startkey_docid` when given), after the first page. */
  readonly start: { readonly key: unknown; readonly docid: string | undefined } | undefined
  /** How many rows to ask for (one more than the page holds, to find the next cursor). */
  readonly limit: number
  /** Rows to skip: the caller's `skip` on the first page (and on every page, added up, by a server without `startkey_docid`). */
  readonly skip: number | undefined
}

interface State {
  readonly cursor: Cursor | undefined
  /** How many rows the stream has delivered. */
  readonly delivered: number
  /** Whether the server honours `startkey_docid`; a server that ignores it is paged by `skip` instead. */
  readonly byDocid: boolean
  readonly remaining: number
  readonly skip: number | undefined
}

/**
 * Whether a stream that can be read in one request or in pages (`_all_docs`, the normal `_changes` feed) reads in
 * pages: only when asked to, by a `pageSize` or by `oneRequest: false`.
 */
export const inPages = (options: { readonly pageSize?: number | undefined; readonly oneRequest?: boolean | undefined }) =>
  options.oneRequest === false || (options.oneRequest !== true && options.pageSize !== undefined)

/** Whether two JSON keys are the same. */
export const sameKey = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b)

/**
 * Streams every row of a key-ordered endpoint, `pageSize` rows a request: each page asks for one row more than it
 * delivers, and that row starts the next page (`startkey` + `startkey_docid`).
 */
export const byKey = <Row, E, R>(options: {
  readonly pageSize: number
  readonly limit: number | undefined
  readonly skip: number | undefined
  readonly fetch: (request: PageRequest) => Effect.Effect<ReadonlyArray<Row>, E, R>
  readonly cursorOf: (row: Row) => Cursor
}): Stream.Stream<Row, E, R> => {
  const pageSize = Math.max(1, Math.floor(options.pageSize))
  const initial: State = {
    cursor: undefined,
    delivered: 0,
    byDocid: true,
    remaining: options.limit ?? Infinity,
    skip: options.skip
  }
  const step = (
    state: State
  ): Effect.Effect<readonly [Chunk.Chunk<Row>, Option.Option<State>], E, R> => {
    const want = Math.min(pageSize, state.remaining)
    if (want <= 0) return Effect.succeed([Chunk.empty<Row>(), Option.none<State>()] as const)
    const cursor = state.cursor
    const request: PageRequest = cursor === undefined ?
      { start: undefined, limit: want + 1, skip: state.skip } :
      state.byDocid ?
      { start: { key: cursor.key, docid: cursor.id }, limit: want + 1, skip: undefined } :
      { start: undefined, limit: want + 1, skip: (options.skip ?? 0) + state.delivered }
    return Effect.flatMap(options.fetch(request), (rows) => {
      if (cursor !== undefined && state.byDocid && cursor.id !== undefined && rows.length > 0) {
        const first = options.cursorOf(rows[0])
        if (first.id !== cursor.id || !sameKey(first.key, cursor.key)) {
          // the server ignored startkey_docid: page by skip instead (slower, but exact)
          return step({ ...state, byDocid: false })
        }
      }
      if (rows.length <= want) return Effect.succeed([Chunk.unsafeFromArray(rows), Option.none<State>()] as const)
      const nextState: State = {
        cursor: options.cursorOf(rows[want]),
        delivered: state.delivered + want,
        byDocid: state.byDocid,
        remaining: state.remaining - want,
        skip: undefined
      }
      return Effect.succeed([Chunk.unsafeFromArray(rows.slice(0, want)), Option.some(nextState)] as const)
    })
  }
  return paginate(initial, step)
}

/** Where a paginated stream is: a page to fetch, or the rest of a long page to hand on before the next fetch. */
type Position<S, A> =
  | { readonly _tag: "Fetch"; readonly state: S }
  | { readonly _tag: "Rest"; readonly rows: Chunk.Chunk<A>; readonly next: Option.Option<S> }

/** A page's first {@link maxChunkSize} rows, and where to go from there. */
const cut = <S, A>(
  rows: Chunk.Chunk<A>,
  next: Option.Option<S>
): readonly [Chunk.Chunk<A>, Option.Option<Position<S, A>>] =>
  rows.length <= maxChunkSize ?
    [rows, Option.map(next, (state) => ({ _tag: "Fetch", state }))] :
    [Chunk.take(rows, maxChunkSize), Option.some({ _tag: "Rest", rows: Chunk.drop(rows, maxChunkSize), next })]

/**
 * A stream of pages: `step` fetches one and says where the next starts; each page reaches the consumer in chunks of
 * at most {@link maxChunkSize}. A page is requested when the consumer has taken the one before it (fetching one page
 * ahead was measured: no faster against the embedded server, and more CPU per row).
 */
export const paginate = <S, A, E, R>(
  initial: S,
  step: (state: S) => Effect.Effect<readonly [Chunk.Chunk<A>, Option.Option<S>], E, R>
): Stream.Stream<A, E, R> =>
  Stream.paginateChunkEffect<Position<S, A>, A, E, R>({ _tag: "Fetch", state: initial }, (position) =>
    position._tag === "Rest" ?
      Effect.succeed(cut(position.rows, position.next)) :
      Effect.map(step(position.state), ([rows, next]) => cut(rows, next)))
