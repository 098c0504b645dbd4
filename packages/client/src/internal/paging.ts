/**
 * Key paging as a Stream: page after page by `startkey` + `startkey_docid`, never by `skip`, so that memory stays
 * constant and rows sharing a key across a page boundary are neither lost nor repeated.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

/** Where a page starts: the key and document id of its first row. */
export interface Cursor {
  readonly key: unknown
  readonly id: string | undefined
}

/** What one page request asks for. */
export interface PageRequest {
  /** Where to start, after the first page. */
  readonly cursor: Cursor | undefined
  /** How many rows to ask for (one more than the page holds, to find the next cursor). */
  readonly limit: number
  /** Rows to skip: the caller's `skip`, on the first page only. */
  readonly skip: number | undefined
}

interface State {
  readonly cursor: Cursor | undefined
  readonly remaining: number
  readonly skip: number | undefined
}

/** Streams every row of a key-ordered endpoint, `pageSize` rows a request. */
export const byKey = <Row, E, R>(options: {
  readonly pageSize: number
  readonly limit: number | undefined
  readonly skip: number | undefined
  readonly fetch: (request: PageRequest) => Effect.Effect<ReadonlyArray<Row>, E, R>
  readonly cursorOf: (row: Row) => Cursor
}): Stream.Stream<Row, E, R> => {
  const pageSize = Math.max(1, Math.floor(options.pageSize))
  const initial: State = { cursor: undefined, remaining: options.limit ?? Infinity, skip: options.skip }
  return Stream.paginateChunkEffect(initial, (state) => {
    const want = Math.min(pageSize, state.remaining)
    if (want <= 0) return Effect.succeed([Chunk.empty<Row>(), Option.none<State>()] as const)
    return Effect.map(
      options.fetch({ cursor: state.cursor, limit: want + 1, skip: state.skip }),
      (rows) => {
        if (rows.length <= want) return [Chunk.unsafeFromArray(rows), Option.none<State>()] as const
        const next: State = { cursor: options.cursorOf(rows[want]), remaining: state.remaining - want, skip: undefined }
        return [Chunk.unsafeFromArray(rows.slice(0, want)), Option.some(next)] as const
      }
    )
  })
}

/** Splits a list into consecutive pieces of at most `size` elements. */
export const chunksOf = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  const pieces: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) pieces.push(items.slice(i, i + size))
  return pieces
}
