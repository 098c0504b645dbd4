/**
 * `bulkGetRaw` hands on each document of a `_bulk_get` answer as the bytes the server wrote, finding the answer's
 * structure without parsing it: it must accept exactly the answers `bulkGet` accepts, and each document's bytes
 * must parse to the document `bulkGet` gives, whatever the layout of the text.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { CouchAuth, CouchError, CouchSession, type Database } from "../src/index.js"
import { TestLive, testDatabase } from "./support.js"

const decoder = new TextDecoder()

/** Any JSON value, with the strings that test a reader of bytes: quotes, backslashes, brackets, unicode. */
const json: FastCheck.Arbitrary<unknown> = FastCheck.letrec<{ value: unknown }>((tie) => ({
  value: FastCheck.oneof(
    { depthSize: "small", withCrossShrink: true },
    FastCheck.constantFrom(null, true, false, 0, -1.5e-7, 1e300),
    FastCheck.integer(),
    FastCheck.double({ noNaN: true, noDefaultInfinity: true }),
    FastCheck.string({ unit: FastCheck.constantFrom("\"", "\\", "{", "}", "[", "]", ",", ":", "a", "é", "😀", "\n", "\u2028") }),
    FastCheck.string({ unit: "binary" }),
    FastCheck.array(tie("value"), { maxLength: 4 }),
    FastCheck.dictionary(FastCheck.string({ maxLength: 6 }), tie("value"), { maxKeys: 4 })
  )
})).value

/** An entry of a result's `docs`: a document, an error (well formed or not), or neither. */
const entry = FastCheck.oneof(
  FastCheck.record({ ok: json }),
  FastCheck.record({
    error: FastCheck.record({
      id: FastCheck.oneof(FastCheck.string(), FastCheck.integer()),
      rev: FastCheck.string(),
      error: FastCheck.oneof(FastCheck.constantFrom("not_found"), FastCheck.integer()),
      reason: FastCheck.string()
    }, { requiredKeys: ["error"] })
  }),
  FastCheck.record({ ok: json, error: json }),
  FastCheck.dictionary(FastCheck.constantFrom("x", "okay"), json, { maxKeys: 1 })
)

const result = FastCheck.record({
  id: FastCheck.oneof({ weight: 9, arbitrary: FastCheck.string() }, { weight: 1, arbitrary: FastCheck.integer() }),
  docs: FastCheck.oneof({ weight: 9, arbitrary: FastCheck.array(entry, { maxLength: 3 }) }, { weight: 1, arbitrary: json })
}, { requiredKeys: [] })

/** A `_bulk_get` answer as a server could write it: mostly right, sometimes not; in any layout. */
const answer = FastCheck.tuple(
  FastCheck.oneof(
    { weight: 8, arbitrary: FastCheck.record({ results: FastCheck.array(result, { maxLength: 4 }) }) },
    { weight: 1, arbitrary: FastCheck.record({ results: json, other: json }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: json }
  ),
  FastCheck.constantFrom(undefined, 1, 2, "\t", " \r\n")
).map(([value, space]) => JSON.stringify(value, null, space as string | number | undefined) ?? "null")

/** A session whose server answers every `_bulk_get` with `text`. */
const answering = (text: string) =>
  Layer.succeed(
    HttpClient.HttpClient,
    HttpClient.make((request) =>
      Effect.succeed(HttpClientResponse.fromWeb(request, new Response(text, { headers: { "content-type": "application/json" } })))
    )
  )

const both = (text: string) =>
  Effect.scoped(Effect.gen(function*() {
    const couch = yield* CouchSession.make({ url: "http://couch.test", auth: CouchAuth.basic("u", Redacted.make("p")), retry: false })
    const db = yield* couch.use("things")
    const parsed = yield* Effect.either(db.bulkGet([{ id: "a" }]))
    const raw = yield* Effect.either(db.bulkGetRaw([{ id: "a" }]))
    return { parsed, raw }
  })).pipe(Effect.provide(answering(text)))

/** The raw results with each document parsed: what `bulkGet` gives for the same answer. */
const parsedRaw = (results: ReadonlyArray<Database.BulkGetResult<Uint8Array>>) =>
  results.map((result) => ({
    id: result.id,
    docs: result.docs.map(Either.map((bytes) => JSON.parse(decoder.decode(bytes)) as unknown))
  }))

describe("bulkGetRaw against bulkGet, on the same answers", () => {
  it.effect.prop("either both accept an answer, with the same documents and errors, or both refuse it", [answer], ([text]) =>
    Effect.gen(function*() {
      const { parsed, raw } = yield* both(text)
      assert.strictEqual(Either.isRight(raw), Either.isRight(parsed), text)
      if (Either.isRight(raw) && Either.isRight(parsed)) {
        assert.deepStrictEqual(parsedRaw(raw.right), parsed.right as unknown)
      } else if (Either.isLeft(raw)) {
        assert.instanceOf(raw.left, CouchError.ResponseDecodeError)
        assert.strictEqual((raw.left as CouchError.ResponseDecodeError).reason, "malformed")
      }
    }), { fastCheck: { numRuns: 1500 } })

  it.effect.prop("an answer cut anywhere is refused by both", [answer, FastCheck.nat()], ([text, at]) =>
    Effect.gen(function*() {
      const cut = text.slice(0, at % Math.max(1, text.trimEnd().length))
      const { parsed, raw } = yield* both(cut)
      assert.isTrue(Either.isLeft(parsed) && Either.isLeft(raw), cut)
    }), { fastCheck: { numRuns: 500 } })

  it.effect.prop("an answer followed by more is refused by both", [answer, FastCheck.constantFrom("x", "}", "]", "{}", ",1", "\"a\"")], ([text, more]) =>
    Effect.gen(function*() {
      const { parsed, raw } = yield* both(text + more)
      assert.isTrue(Either.isLeft(parsed) && Either.isLeft(raw), text + more)
    }), { fastCheck: { numRuns: 200 } })

  it.effect("a document's bytes are the server's, even where parsing and writing it again would not be", () =>
    Effect.gen(function*() {
      // numbers and escapes that JSON.stringify would write otherwise
      const doc = "{\"_id\":\"a\",\"n\":1.0e+2,\"s\":\"\\u00e9\\/\"}"
      const { raw } = yield* both(`{"results":[{"id":"a","docs":[{"ok":${doc}}]}]}`)
      assert.isTrue(Either.isRight(raw))
      const bytes = Either.getOrThrow(raw)[0].docs[0]
      assert.strictEqual(decoder.decode(Either.getOrThrow(bytes)), doc)
    }))
})

const Item = Schema.Struct({ _id: Schema.String, _rev: Schema.optional(Schema.String), n: Schema.Number })

layer(TestLive, { excludeTestServices: true })("bulkGetRaw against the test server", (it) => {
  it.scoped("gives every document as its bytes, missing ones as bulkGet does, whatever the database's schema", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("bulkgetraw")
      const docs = FastCheck.sample(Arbitrary.make(Schema.Struct({ text: Schema.String, list: Schema.Array(Schema.Finite) })), 20)
        .map((body, i) => ({ _id: `doc-${i}-é/+?`, n: i, ...body }))
      yield* db.bulkDocs(docs)
      const requests = [...docs.map((doc) => ({ id: doc._id })), { id: "missing" }]
      const parsed = yield* db.bulkGet(requests, { revs: true })
      const raw = yield* db.bulkGetRaw(requests, { revs: true })
      assert.deepStrictEqual(parsedRaw(raw), parsed as unknown)
      assert.strictEqual(raw.length, 21)
      assert.isTrue(Either.isLeft(raw[20].docs[0]))
      // a typed database hands on the same bytes: its schema is not applied
      const typed = yield* db.withSchema(Item).bulkGetRaw(requests.slice(0, 3))
      assert.deepStrictEqual(parsedRaw(typed), parsedRaw(raw.slice(0, 3)).map((result) => ({
        ...result,
        docs: result.docs.map(Either.map((doc) => {
          const { _revisions: _, ...rest } = doc as Record<string, unknown>
          return rest
        }))
      })))
    }))
})
