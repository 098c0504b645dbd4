/**
 * The engine of `bulkWrite`: a stream written in batches, several in flight, its results in order. Against writes
 * of our own whose timing is chosen (they yield a drawn number of times), so every interleaving of the reader, the
 * writes and the stream's consumer is reached; the server round trip is in Documents.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { writeInBatches } from "../src/internal/batches.js"

/** Writes that record the batches they were given and how many were in flight at once; each yields `delays[i]` times. */
const recorder = (delays: ReadonlyArray<number>) => {
  const batches: Array<ReadonlyArray<number>> = []
  let inFlight = 0
  let mostInFlight = 0
  const write = (batch: Array<number>) =>
    Effect.suspend(() => {
      const index = batches.length
      batches.push([...batch])
      inFlight += 1
      mostInFlight = Math.max(mostInFlight, inFlight)
      return Effect.repeatN(Effect.yieldNow(), delays.length === 0 ? 0 : delays[index % delays.length]!).pipe(
        Effect.as(batch.map((n) => n * 10)),
        Effect.ensuring(Effect.sync(() => {
          inFlight -= 1
        }))
      )
    })
  return { write, batches, mostInFlight: () => mostInFlight, inFlight: () => inFlight }
}

/** `elements` as a stream cut into chunks of the drawn sizes. */
const chunked = (elements: ReadonlyArray<number>, sizes: ReadonlyArray<number>) => {
  const chunks: Array<Chunk.Chunk<number>> = []
  for (let at = 0, i = 0; at < elements.length; i++) {
    const size = sizes.length === 0 ? elements.length : sizes[i % sizes.length]!
    chunks.push(Chunk.unsafeFromArray(elements.slice(at, at + size)))
    at += size
  }
  return Stream.fromChunks(...chunks)
}

const elementsOf = (count: number) => Array.from({ length: count }, (_, i) => i)

/** How many times each write yields before it answers (cycled through the writes). */
const writeDelays = FastCheck.array(FastCheck.integer({ min: 0, max: 8 }), { maxLength: 8 })

describe("writeInBatches", () => {
  it.effect.prop(
    "writes every element once, in batches of the size asked (the last shorter), at most `concurrency` at once, and emits the results in order",
    [
      FastCheck.integer({ min: 0, max: 300 }),
      FastCheck.integer({ min: 1, max: 40 }),
      FastCheck.integer({ min: 1, max: 6 }),
      FastCheck.array(FastCheck.integer({ min: 1, max: 50 }), { maxLength: 6 }),
      writeDelays
    ],
    ([count, size, concurrency, chunkSizes, delays]) =>
      Effect.gen(function*() {
        const elements = elementsOf(count)
        const writes = recorder(delays)
        const results = yield* Stream.runCollect(
          writeInBatches(chunked(elements, chunkSizes), { size, concurrency }, writes.write)
        )
        assert.deepStrictEqual(Chunk.toReadonlyArray(results), elements.map((n) => n * 10))
        assert.deepStrictEqual(writes.batches.flat(), elements)
        writes.batches.forEach((batch, i) => {
          assert.strictEqual(batch.length, i === writes.batches.length - 1 ? count - size * i : size)
        })
        assert.isAtMost(writes.mostInFlight(), concurrency)
        assert.strictEqual(writes.inFlight(), 0)
      })
  )

  it.effect.prop(
    "a failing source: the batches written before it are emitted, the one it was filling is never written, then its failure",
    [
      FastCheck.integer({ min: 0, max: 200 }),
      FastCheck.integer({ min: 1, max: 30 }),
      FastCheck.integer({ min: 1, max: 5 }),
      writeDelays
    ],
    ([count, size, concurrency, delays]) =>
      Effect.gen(function*() {
        const writes = recorder(delays)
        const emitted: Array<number> = []
        const source = Stream.concat(Stream.fromIterable(elementsOf(count)), Stream.fail("the source broke" as const))
        const result = yield* writeInBatches(source, { size, concurrency }, writes.write).pipe(
          Stream.runForEach((n) => Effect.sync(() => emitted.push(n))),
          Effect.either
        )
        assert.deepStrictEqual(result, Either.left("the source broke" as const))
        const whole = Math.floor(count / size) * size
        assert.deepStrictEqual(writes.batches.flat(), elementsOf(whole))
        assert.deepStrictEqual(emitted, elementsOf(whole).map((n) => n * 10))
      })
  )

  it.effect("a failing write fails the stream after the results of the batches before it; the writes in flight are interrupted", () =>
    Effect.gen(function*() {
      const interrupted: Array<number> = []
      const write = (batch: Array<number>) =>
        batch[0] === 20 ?
          Effect.fail("the write failed" as const) :
          batch[0]! > 20 ?
          // writes after the failing one never finish on their own
          Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => interrupted.push(batch[0]!)))) :
          Effect.succeed(batch)
      const emitted: Array<number> = []
      const result = yield* writeInBatches(Stream.fromIterable(elementsOf(100)), { size: 10, concurrency: 4 }, write).pipe(
        Stream.runForEach((n) => Effect.sync(() => emitted.push(n))),
        Effect.either
      )
      assert.deepStrictEqual(result, Either.left("the write failed" as const))
      assert.deepStrictEqual(emitted, elementsOf(20))
      // the writes after it that were in flight were interrupted: 30 (sent with it), and any sent since (at most
      // four writes at once, the failed one among them)
      assert.include(interrupted, 30)
      assert.isAtMost(interrupted.length, 3)
      assert.isTrue(interrupted.every((first) => first > 20))
    }))

  it.effect.prop(
    "the source is read a chunk at a time, each full batch given to `write` at once; a consumer that stops pulling stops the reading",
    [
      FastCheck.integer({ min: 1, max: 20 }),
      FastCheck.integer({ min: 1, max: 5 }),
      FastCheck.integer({ min: 1, max: 50 }),
      FastCheck.integer({ min: 0, max: 6 }),
      writeDelays
    ],
    ([size, concurrency, chunkSize, pulls, delays]) =>
      Effect.scoped(Effect.gen(function*() {
        let read = 0
        // an endless source, in chunks of `chunkSize`, that counts what was taken from it
        const source = Stream.repeatEffectChunk(Effect.sync(() => {
          const chunk = Chunk.makeBy(chunkSize, (i) => read + i)
          read += chunkSize
          return chunk
        }))
        const writes = recorder(delays)
        // the batches given to `write`: its effect runs later, when the batch gets a slot
        let given = 0
        const write = (batch: Array<number>) => {
          given += 1
          return writes.write(batch)
        }
        const pull = yield* Stream.toPull(writeInBatches(source, { size, concurrency }, write))
        for (let taken = 0; taken < pulls; taken++) {
          const results = yield* pull
          assert.deepStrictEqual(Chunk.toReadonlyArray(results), writes.batches[taken]!.map((n) => n * 10))
          // however long the consumer waits, nothing more is read
          yield* Effect.repeatN(Effect.yieldNow(), 10)
          // the batches taken and those in flight, then the last chunk read and what was left of the one before
          assert.isAtMost(read, (taken + 1 + concurrency) * size + (size - 1) + chunkSize)
          assert.isAtMost(writes.batches.length, taken + 1 + concurrency)
          // every full batch read was given to `write`: only the one being filled was not
          assert.isBelow(read - given * size, size)
        }
      }))
  )

  it.effect("a source that dies fails the stream with its defect", () =>
    Effect.gen(function*() {
      const writes = recorder([])
      const source = Stream.concat(Stream.fromIterable(elementsOf(5)), Stream.dieMessage("the source died"))
      const exit = yield* Effect.exit(Stream.runCollect(writeInBatches(source, { size: 2, concurrency: 2 }, writes.write)))
      assert.isTrue(Exit.isFailure(exit) && exit.cause._tag === "Die")
      assert.deepStrictEqual(writes.batches, [[0, 1], [2, 3]])
    }))

  it.effect("interrupting the stream interrupts the writes in flight (its source never ends)", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted: Array<number> = []
      const write = (batch: Array<number>) =>
        Effect.zipRight(
          Deferred.succeed(started, undefined),
          Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => interrupted.push(batch[0]!))))
        )
      const fiber = yield* Effect.fork(
        Stream.runDrain(writeInBatches(
          Stream.concat(Stream.fromIterable(elementsOf(30)), Stream.never),
          { size: 10, concurrency: 2 },
          write
        ))
      )
      yield* Deferred.await(started)
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(interrupted.sort((a, b) => a - b), [0, 10])
    }))

  it.effect("batches of 20,000 are emitted in chunks that Stream.runFold folds without running out of stack", () =>
    Effect.gen(function*() {
      const writes = recorder([])
      const results = writeInBatches(Stream.range(0, 39_999), { size: 20_000, concurrency: 2 }, writes.write)
      const sum = yield* Stream.runFold(results, 0, (total, n) => total + n)
      assert.strictEqual(sum, 10 * (39_999 * 40_000) / 2)
      assert.deepStrictEqual(writes.batches.map((batch) => batch.length), [20_000, 20_000])
      const chunks = yield* Stream.runCollect(Stream.chunks(
        writeInBatches(Stream.range(0, 9_999), { size: 10_000, concurrency: 1 }, recorder([]).write)
      ))
      assert.deepStrictEqual(Chunk.toReadonlyArray(chunks).map((chunk) => chunk.length), [4_096, 4_096, 1_808])
    }))

  it.effect("an empty source writes nothing and ends", () =>
    Effect.gen(function*() {
      const writes = recorder([])
      const results = yield* Stream.runCollect(writeInBatches(Stream.empty, { size: 10, concurrency: 4 }, writes.write))
      assert.strictEqual(results.length, 0)
      assert.strictEqual(writes.batches.length, 0)
    }))
})
