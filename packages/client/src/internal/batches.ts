/**
 * A stream written in batches, several in flight, its results in order: the engine of `bulkWrite`.
 *
 * The stream's consumer drives it: each pull forks the writes of full batches until `concurrency` are in flight,
 * reads the source for the batches after them, then waits for the oldest write, gives its slot to the next batch
 * and emits its results. No fiber of its own reads the source, and no queue or semaphore stands between the reader
 * and the writes: a batch costs the fork of its write and nothing else. It does what `Stream.grouped` followed by `Stream.mapEffect(write, { concurrency })` does
 * without its machinery per element (no `Chunk` rechunking, no race and no deferred per element, no input bridge
 * between fibers).
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { bounded } from "./chunks.js"

/**
 * `source` in arrays of `size` (the last one shorter), each given to `write` once it is full, at most
 * `concurrency` writes in flight; emits each batch's results in the order of the batches.
 *
 * - The source is read a chunk at a time, once no batch waits for a slot: the chunk is cut into batches at once,
 *   and each full batch is given to `write` then. Memory stays bounded by the batches in flight and the writes
 *   of one chunk of the source; a consumer that stops pulling stops the reading.
 * - When the source fails, the batch it was filling is not written; the results of the batches written before
 *   are emitted, then the stream fails with the source's failure.
 * - When a write fails, the stream fails with its failure once the results of the batches before it are
 *   emitted; the writes still in flight are interrupted (what they wrote stays written).
 * - `write` is called as soon as its batch is full (the source's last batch: when the source ends), in the fiber
 *   that reads the source, and the batch is not kept after it returns: what it does before it returns its effect
 *   (`bulkWrite` encodes the batch) is done then, and the batch's elements can be let go of while its effect
 *   waits for a slot and while it runs. The effect is run when a slot is free.
 */
export const writeInBatches = <A, E, R, B, E2>(
  source: Stream.Stream<A, E, R>,
  options: { readonly size: number; readonly concurrency: number },
  write: (batch: Array<A>) => Effect.Effect<ReadonlyArray<B>, E2>
): Stream.Stream<B, E | E2, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    // every write lives in the stream's scope: the stream's end, whatever ends it, interrupts them
    const scope = yield* Effect.scope
    const pull = yield* Stream.toPull(source)
    const size = Math.max(1, options.size)
    const concurrency = Math.max(1, options.concurrency)

    /** The writes in flight, oldest first. */
    const writing: Array<Fiber.RuntimeFiber<ReadonlyArray<B>, E2>> = []
    /** The writes of the full batches (and of the source's last) that wait for a free slot, oldest first. */
    const ready: Array<Effect.Effect<ReadonlyArray<B>, E2>> = []
    /** The batch being filled: the rest of the last chunk read, short of a batch. */
    let filling: Array<A> = []
    /** How the source ended: its end, or its failure. */
    let ended: Exit.Exit<void, E> | undefined

    /**
     * Cuts a chunk of the source into batches: each full one is given to `write` now, the rest is kept in
     * `filling`. Nothing keeps the chunk after it: its elements can be let go of while the writes wait.
     */
    const cut = (chunk: Chunk.Chunk<A>): void => {
      const elements = Chunk.toReadonlyArray(chunk)
      let at = 0
      if (filling.length > 0) {
        at = Math.min(size - filling.length, elements.length)
        for (let i = 0; i < at; i++) filling.push(elements[i]!)
        if (filling.length < size) return
        ready.push(write(filling))
        filling = []
      }
      for (; elements.length - at >= size; at += size) ready.push(write(elements.slice(at, at + size)))
      filling = elements.slice(at)
    }

    /** Reads the source until a batch is ready, or until it ends (its shorter last batch is then ready). */
    const readBatch: Effect.Effect<void, never, R> = Effect.suspend(() =>
      ready.length > 0 ? Effect.void : Effect.matchCauseEffect(pull, {
        onSuccess: (chunk) => {
          cut(chunk)
          return readBatch
        },
        onFailure: (cause) =>
          Effect.sync(() => {
            Option.match(Cause.flipCauseOption(cause), {
              onNone: () => {
                // the source ended: its last, shorter batch
                ended = Exit.void
                if (filling.length > 0) ready.push(write(filling))
              },
              // the source failed: the batch it was filling is dropped
              onSome: (failure) => {
                ended = Exit.failCause(failure)
              }
            })
            filling = []
          })
      })
    )

    /** Forks each ready write while a slot is free, and reads the batch after them. */
    const advance: Effect.Effect<void, never, R> = Effect.suspend(() => {
      if (ready.length > 0) {
        if (writing.length >= concurrency) return Effect.void
        return Effect.flatMap(Effect.forkIn(ready.shift()!, scope), (fiber) => {
          writing.push(fiber)
          return advance
        })
      }
      return ended === undefined ? Effect.zipRight(readBatch, advance) : Effect.void
    })

    // the chunks of a batch's results still to emit (`Stream.runFold` recurses once per element of a chunk)
    let pending: Array<Chunk.Chunk<B>> = []
    const emit = (results: ReadonlyArray<B>): Chunk.Chunk<B> => {
      const [first = Chunk.empty<B>(), ...rest] = bounded(results)
      pending = rest
      return first
    }
    const next: Effect.Effect<Chunk.Chunk<B>, Option.Option<E | E2>, R> = Effect.suspend(() => {
      const waiting = pending.shift()
      if (waiting !== undefined) return Effect.succeed(waiting)
      return Effect.flatMap(advance, () => {
        const oldest = writing.shift()
        if (oldest === undefined) {
          // nothing in flight and nothing ready: the source has ended
          return Exit.isSuccess(ended!) ? Effect.fail(Option.none()) : Effect.failCause(Cause.map(ended!.cause, Option.some))
        }
        // awaited, not joined: a write's fiber refs are not the consumer's. Its slot is given to the ready batch
        // before its results go out, so a slow consumer does not keep it empty.
        return Effect.matchEffect(Effect.flatten(Fiber.await(oldest)), {
          onFailure: (failure) => Effect.fail(Option.some(failure)),
          onSuccess: (results) => Effect.as(advance, emit(results))
        })
      })
    })
    return Stream.repeatEffectChunkOption(next)
  }))
