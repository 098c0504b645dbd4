import { CouchTestServer } from "@effect-couch/testing"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import { CouchError } from "../src/index.js"
import * as Design from "../src/internal/design.js"
import { TestLive, testDatabase } from "./support.js"

const map = "function (doc) { emit(doc._id, 1) }"

/** Design documents CouchDB 3.5 refuses (400 invalid_design_doc, measured on 3.5.2), each with what is wrong. */
const refusedByCouchDB: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
  ["a map that is not a string", { views: { v: { map: 1 } } }],
  ["a view without a map", { views: { v: { reduce: "_sum" } } }],
  ["an unknown built-in reduce", { views: { v: { map, reduce: "_nope" } } }],
  ["a rank past 100", { views: { v: { map, reduce: "_top_101" } } }],
  ["a reduce that is not a string", { views: { v: { map, reduce: 5 } } }],
  ["a language that is not a string", { language: 5 }],
  ["a validate_doc_update that is not a string", { validate_doc_update: 5 }],
  ["options that are not an object", { options: 5 }],
  ["a partitioned option that is not a boolean", { options: { partitioned: "yes" } }],
  ["an update handler that is neither string nor object", { updates: { u: 5 } }],
  ["filters that are not an object", { filters: "x" }],
  ["rewrites that are neither string nor array", { rewrites: 5 }]
]

/** Well-formed design documents (every field CouchDB reads). */
const wellFormed = FastCheck.record({
  views: FastCheck.dictionary(
    FastCheck.stringMatching(/^[a-z]{1,8}$/),
    FastCheck.record({
      map: FastCheck.constant(map),
      reduce: FastCheck.constantFrom("_sum", "_count", "_stats", "_approx_count_distinct", "_top_3", "_bottom_100", "_first", "_last", "function (k, v) { return v.length }")
    }, { requiredKeys: ["map"] }),
    { maxKeys: 3 }
  ),
  language: FastCheck.constant("javascript"),
  validate_doc_update: FastCheck.constant("function (newDoc) {}"),
  updates: FastCheck.dictionary(FastCheck.stringMatching(/^[a-z]{1,8}$/), FastCheck.constant("function (doc, req) { return [doc, 'ok'] }"), { maxKeys: 2 }),
  filters: FastCheck.dictionary(FastCheck.stringMatching(/^[a-z]{1,8}$/), FastCheck.constant("function (doc) { return true }"), { maxKeys: 2 }),
  options: FastCheck.record({ include_design: FastCheck.boolean(), local_seq: FastCheck.boolean() }, { requiredKeys: [] }),
  autoupdate: FastCheck.boolean(),
  lib: FastCheck.constant({ util: "exports.one = 1" })
}, { requiredKeys: [] })

describe("design document checks", () => {
  it.prop("a well-formed design document has no problem", [wellFormed], ([doc]) => {
    assert.isUndefined(Design.designProblem({ _id: "_design/app", ...doc }))
  })

  it.prop(
    "a well-formed design document with one field of the wrong type, or an unknown field, has one",
    [wellFormed, FastCheck.constantFrom(...refusedByCouchDB), FastCheck.stringMatching(/^[a-z]{1,10}$/)],
    ([doc, [, bad], unknown]) => {
      const views = { ...(doc.views ?? {}), ...(bad["views"] as Record<string, unknown> | undefined) }
      assert.isDefined(Design.designProblem({ ...doc, ...bad, ...(bad["views"] === undefined ? {} : { views }) }))
      const known = ["views", "language", "options", "validate_doc_update", "updates", "filters", "shows", "lists", "rewrites", "autoupdate", "indexes", "nouveau", "lib"]
      if (!known.includes(unknown)) assert.isDefined(Design.designProblem({ ...doc, [unknown]: 1 }))
    }
  )
})

layer(TestLive, { timeout: "60 seconds" })("design documents against the server", (it) => {
  it.scoped("what CouchDB refuses is refused before any request, and the server agrees", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const db = yield* testDatabase("ddoc")
      for (const [what, fields] of refusedByCouchDB) {
        const error = yield* Effect.flip(db.put({ _id: "_design/bad", ...fields }))
        assert.instanceOf(error, CouchError.InvalidArgumentError, what)
        assert.strictEqual((error as CouchError.InvalidArgumentError).argument, "design document", what)
      }
      // nothing was written
      const lookup = yield* Effect.either(db.get("_design/bad"))
      assert.isTrue(Either.isLeft(lookup) && lookup.left instanceof CouchError.NotFoundError)
      // bulkDocs sends what it is given: the server's own verdict on the same documents
      const verdicts = yield* db.bulkDocs(refusedByCouchDB.map(([, fields], i) => ({ _id: `_design/bad${i}`, ...fields })))
      if (server.capabilities.designValidation) {
        verdicts.forEach((verdict, i) => {
          assert.isTrue(Either.isLeft(verdict) && verdict.left.error === "invalid_design_doc", refusedByCouchDB[i]![0])
        })
      }
    }))

  it.scoped("a field CouchDB does not read (a misspelt views) is refused; the server would store it", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("ddoc")
      const error = yield* Effect.flip(db.put({ _id: "_design/typo", view: { v: { map } } }))
      assert.instanceOf(error, CouchError.InvalidArgumentError)
      assert.include((error as CouchError.InvalidArgumentError).description, `"view"`)
      const [stored] = yield* db.bulkDocs([{ _id: "_design/typo", view: { v: { map } } }])
      assert.isTrue(Either.isRight(stored!))
    }))

  it.scoped("well-formed design documents are written, and ensureView checks its definition", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("ddoc")
      const written = yield* db.put({
        _id: "_design/app",
        language: "javascript",
        views: { n: { map, reduce: "_count" }, lib: { util: "exports.one = 1" } },
        validate_doc_update: "function (newDoc) {}",
        updates: { touch: "function (doc, req) { return [doc, 'ok'] }" },
        filters: { all: "function (doc) { return true }" },
        options: { include_design: false },
        lib: { helpers: "exports.two = 2" }
      })
      assert.match(written.rev, /^1-/)
      const refused = yield* Effect.flip(db.ensureView("app", "bad", { map, reduce: "_median" }))
      assert.instanceOf(refused, CouchError.InvalidArgumentError)
      assert.strictEqual(yield* db.ensureView("app", "top", { map, reduce: "_sum" }), "updated")
    }))
})
