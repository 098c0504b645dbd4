import { Arbitraries } from "@effect-couch/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import { CouchError, CouchSession } from "../src/index.js"
import { fakeClient, json } from "./fake.js"

const hostile = FastCheck.oneof(
  Arbitraries.documentId,
  FastCheck.constantFrom(
    "../_security",
    "%2e%2e",
    "..%2F_all_docs",
    "a?rev=1-x",
    "a#b",
    "_design/a/../../_security",
    "_local/../x",
    "a+b c",
    "%",
    "%2F"
  )
)

describe("document ids reach exactly their document", () => {
  it.effect.prop("every id either reaches /db/<its encoding> or is refused before any request", [hostile], ([id]) =>
    Effect.gen(function*() {
      const fake = fakeClient(() => json(200, { _id: id, _rev: "1-a" }))
      const result = yield* Effect.scoped(
        Effect.gen(function*() {
          const couch = yield* CouchSession.make({ url: "http://couch.test/prefix", retry: false })
          const db = yield* couch.use("db")
          return yield* db.get(id)
        })
      ).pipe(Effect.provide(fake.layer), Effect.either)
      if (Either.isLeft(result)) {
        assert.instanceOf(result.left, CouchError.InvalidArgumentError)
        assert.strictEqual(fake.seen.length, 0)
        return
      }
      assert.strictEqual(fake.seen.length, 1)
      const { url } = fake.seen[0]
      assert.strictEqual(url.search, "")
      assert.strictEqual(url.hash, "")
      assert.isTrue(url.pathname.startsWith("/prefix/db/"))
      const rest = url.pathname.slice("/prefix/db/".length)
      const prefix = /^_(design|local)\//.exec(rest)?.[0] ?? ""
      const name = rest.slice(prefix.length)
      // one segment after the prefix, no dot segment, and it decodes to the id
      assert.notInclude(name, "/")
      assert.isFalse(name === "." || name === "..")
      assert.isTrue(prefix !== "" || !name.startsWith("_"))
      assert.strictEqual(prefix + decodeURIComponent(name), id)
    }), { fastCheck: { numRuns: 300 } })
})
