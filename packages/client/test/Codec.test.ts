/**
 * The codecs' loops without effects (`decodeRowsSync`, `encodeAllNow`) give what the effect per document gives: the
 * same values, the same first failure, and the effectful way for a schema that needs async.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { type Codec, decodeRows, decodeRowsSync, either, encodeAllNow, typed, untyped } from "../src/internal/codec.js"

const Doc = Schema.Struct({ _id: Schema.String, n: Schema.NumberFromString })
/** The same, decoded through an asynchronous step. */
const AsyncDoc = Schema.Struct({
  _id: Schema.String,
  n: Schema.transformOrFail(Schema.String, Schema.Number, {
    decode: (s) => Effect.delay(Effect.succeed(Number(s)), "1 millis"),
    encode: (n) => Effect.delay(Effect.succeed(String(n)), "1 millis")
  })
})

/** The codecs, their document types forgotten: the tests hand each the values it reads and writes. */
const codecs: ReadonlyArray<readonly [string, Codec<unknown, unknown>]> = [
  ["untyped", untyped as Codec<unknown, unknown>],
  ["typed", typed(Doc) as unknown as Codec<unknown, unknown>],
  ["typed, async", typed(AsyncDoc) as unknown as Codec<unknown, unknown>],
  ["either", either(typed(Doc)) as unknown as Codec<unknown, unknown>]
]

/** Documents as the typed codecs read them, some of them wrong (`n` not a number). */
const docs = FastCheck.array(
  FastCheck.record({ _id: FastCheck.string(), n: FastCheck.oneof(FastCheck.double({ noNaN: true }), FastCheck.constant("x" as unknown)) }),
  { maxLength: 8 }
)

const outcome = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.runPromise(Effect.either(effect)).then((result) =>
    Either.isRight(result) ? { ok: result.right } : { failed: String((result.left as { description?: unknown }).description ?? result.left) }
  )

describe("codecs without an effect per document", () => {
  for (const [name, codec] of codecs) {
    it(`decodeRowsSync gives what decodeRows gives, or leaves an async schema to it (${name})`, async () => {
      await FastCheck.assert(
        FastCheck.asyncProperty(docs, async (batch) => {
          const rows = batch.map((doc, i) => ({ i, doc: i % 3 === 0 ? undefined : { ...doc, n: String(doc.n) } }))
          const args = [
            codec,
            rows,
            (row: typeof rows[number]) => row.doc,
            (row: typeof rows[number]) => ({ i: row.i }),
            (row: typeof rows[number], doc: unknown) => ({ i: row.i, doc })
          ] as const
          const sync = decodeRowsSync(...args)
          const effectful = await outcome(decodeRows(...args))
          if (sync === undefined) {
            assert.strictEqual(name, "typed, async")
          } else {
            assert.deepStrictEqual(await outcome(sync), effectful)
          }
        }),
        { numRuns: 50 }
      )
    })
  }

  for (const [name, codec] of codecs) {
    it(`encodeAllNow gives what an encode per document gives, the same first failure included, or leaves an async schema to it (${name})`, async () => {
      await FastCheck.assert(
        FastCheck.asyncProperty(docs, async (batch) => {
          // what the codec is given to write: some of it wrong (`n` not a number; for `either`, a Left)
          const values: Array<unknown> = batch.map((doc) => {
            const right = typeof doc.n === "number"
            const value = { _id: doc._id, n: right ? doc.n : "not a number" }
            return name === "either" ? (right ? Either.right(value) : Either.left("not a document")) : value
          })
          // a schema that needs async is left to the effects, the others encode every document in the loop
          const valid = name === "either" ? Either.right({ _id: "a", n: 1 }) : { _id: "a", n: 1 }
          if (name === "typed, async") assert.isUndefined(codec.encodeSync(valid))
          else assert.isDefined(codec.encodeSync(valid))
          const now = encodeAllNow(codec, values)
          const effectful = await outcome(Effect.forEach(values, codec.encode))
          if (now === undefined) {
            // only a schema that needs async leaves the batch to the effects
            assert.strictEqual(name, "typed, async")
          } else {
            assert.deepStrictEqual(await outcome(Either.isRight(now) ? Effect.succeed(now.right) : Effect.fail(now.left)), effectful)
          }
        }),
        { numRuns: 50 }
      )
    })
  }
})
