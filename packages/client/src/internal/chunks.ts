/**
 * How long a chunk of the library's streams may be. `Stream.runFold` (through `Sink.fold`, effect 3.x) recurses once
 * per element of a chunk: a chunk of some 5,000 elements or more can overflow the stack of whoever folds it. Every
 * stream that builds its chunks itself (a page, the rows of a piece of an answer, a feed's events, a batch's
 * results) hands them on in chunks of at most {@link maxChunkSize}.
 */
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"

/** The most elements a chunk of the library's streams holds: Effect's default chunk size. */
export const maxChunkSize = 4096

/** Splits a list into consecutive pieces of at most `size` elements. */
export const chunksOf = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  const pieces: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) pieces.push(items.slice(i, i + size))
  return pieces
}

/** `elements` cut into chunks of at most {@link maxChunkSize}, none when there are none. */
export const bounded = <A>(elements: ReadonlyArray<A>): Array<Chunk.Chunk<A>> => {
  if (elements.length === 0) return []
  if (elements.length <= maxChunkSize) return [Chunk.unsafeFromArray(elements as Array<A>)]
  return chunksOf(elements, maxChunkSize).map((piece) => Chunk.unsafeFromArray(piece as Array<A>))
}

/** A channel that writes `elements` in chunks of at most {@link maxChunkSize} (nothing when there are none). */
export const writeBounded = <A>(elements: ReadonlyArray<A>): Channel.Channel<Chunk.Chunk<A>, unknown, never, unknown, void, unknown> => {
  if (elements.length === 0) return Channel.void
  if (elements.length <= maxChunkSize) return Channel.write(Chunk.unsafeFromArray(elements as Array<A>))
  return Channel.writeAll(...bounded(elements))
}
