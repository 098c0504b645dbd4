/**
 * What a cluster answers that a single node never does: 202 Accepted for writes that fewer than `w` copies
 * confirmed. Against a fake server (the suite's servers are single nodes unless COUCHDB_URL names a cluster).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import { CouchSession, type Database } from "../src/index.js"
import { fakeClient, json } from "./fake.js"

const withDatabase = <A, E>(fake: ReturnType<typeof fakeClient>, f: (db: Database.Database) => Effect.Effect<A, E>) =>
  Effect.scoped(
    Effect.flatMap(CouchSession.make({ url: "http://couch.test", retry: false }), (couch) => Effect.flatMap(couch.use("db"), f))
  ).pipe(Effect.provide(fake.layer))

describe("202 Accepted", () => {
  it.effect("a write answered 202 says accepted; one answered 201 does not", () =>
    Effect.gen(function*() {
      for (const status of [201, 202]) {
        const fake = fakeClient((seen) =>
          seen.method === "POST" && seen.url.pathname.endsWith("/_bulk_docs") ?
            json(status, [{ id: "a", rev: "1-a", ok: true }, { id: "b", error: "conflict", reason: "Document update conflict." }]) :
            json(status, { ok: true, id: "a", rev: "2-b" })
        )
        const results = yield* withDatabase(fake, (db) =>
          Effect.gen(function*() {
            const attachment = yield* db.attachment("a", "x.txt")
            return {
              put: yield* db.put({ _id: "a" }),
              post: yield* db.post({ n: 1 }),
              remove: yield* db.remove("a", "1-a"),
              copy: yield* db.copy("a", "b"),
              attachmentPut: yield* attachment.put("x", { contentType: "text/plain", rev: "1-a" }),
              attachmentRemove: yield* attachment.remove("2-b"),
              bulk: yield* db.bulkDocs([{ _id: "a" }, { _id: "b" }]),
              streamed: yield* Stream.runCollect(db.bulkWrite(Stream.make({ _id: "a" }, { _id: "b" })))
            }
          }))
        const accepted = status === 202 ? true : undefined
        for (const single of [results.put, results.post, results.remove, results.copy, results.attachmentPut, results.attachmentRemove]) {
          assert.strictEqual(single.accepted, accepted)
        }
        for (const batch of [results.bulk, [...results.streamed]]) {
          assert.isTrue(Either.isRight(batch[0]) && batch[0].right.accepted === accepted)
          // a refused document is refused, whatever the status
          assert.isTrue(Either.isLeft(batch[1]))
        }
        if (status === 201) assert.deepStrictEqual(results.put, { id: "a", rev: "2-b" })
      }
    }))
})
