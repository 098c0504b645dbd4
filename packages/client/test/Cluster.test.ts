/**
 * What a cluster answers that a single node never does: 202 Accepted for writes that fewer than `w` copies
 * confirmed. Against a fake server (the suite's servers are single nodes unless COUCHDB_URL names a cluster).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
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

describe("read-modify-write on a cluster", () => {
  it.effect("modify whose write was accepted (202) but lost to a concurrent one removes its revision and applies its change again on the winner", () =>
    Effect.gen(function*() {
      const puts: Array<unknown> = []
      let conflicted = false
      const fake = fakeClient((seen) => {
        const path = seen.url.pathname
        if (path !== "/db/counter") return json(404, { error: "not_found" })
        if (seen.method === "GET" && seen.url.searchParams.get("open_revs") === "all") {
          // the settling read of every leaf: another writer's 2-theirs won, ours is a losing leaf (until removed)
          const theirs = { ok: { _id: "counter", _rev: "2-theirs", _revisions: { start: 2, ids: ["theirs", "base"] } } }
          const mine = conflicted ?
            { ok: { _id: "counter", _rev: "3-gone", _deleted: true, _revisions: { start: 3, ids: ["gone", "mine", "base"] } } } :
            { ok: { _id: "counter", _rev: "2-mine", _revisions: { start: 2, ids: ["mine", "base"] } } }
          return json(200, [mine, theirs])
        }
        if (seen.method === "GET") {
          return json(200, puts.length === 0 ? { _id: "counter", _rev: "1-base", n: 0 } : { _id: "counter", _rev: "2-theirs", n: 1 })
        }
        if (seen.method === "DELETE") {
          conflicted = true
          return json(200, { ok: true, id: "counter", rev: "3-gone" })
        }
        puts.push(seen.url.searchParams.toString())
        return puts.length === 1 ?
          json(202, { ok: true, id: "counter", rev: "2-mine" }) :
          json(201, { ok: true, id: "counter", rev: "3-both" })
      })
      const written = yield* withDatabase(fake, (db) =>
        db.modify("counter", (doc) => ({ ...doc, n: (doc.n as number) + 1 }), { schedule: Schedule.recurs(3) }))
      assert.deepStrictEqual(written, { id: "counter", rev: "3-both" })
      const deletes = fake.seen.filter((seen) => seen.method === "DELETE")
      assert.deepStrictEqual(deletes.map((seen) => seen.url.searchParams.get("rev")), ["2-mine"])
      assert.strictEqual(puts.length, 2)
    }))

  it.effect("modify whose accepted write is on the winning branch keeps it", () =>
    Effect.gen(function*() {
      const fake = fakeClient((seen) => {
        if (seen.method === "GET" && seen.url.searchParams.get("open_revs") === "all") {
          // someone already wrote on top of ours: ours is an ancestor of the winner, the only leaf
          return json(200, [{ ok: { _id: "c", _rev: "3-next", _revisions: { start: 3, ids: ["next", "mine", "base"] } } }])
        }
        if (seen.method === "GET") return json(200, { _id: "c", _rev: "1-base", n: 0 })
        return json(202, { ok: true, id: "c", rev: "2-mine" })
      })
      const written = yield* withDatabase(fake, (db) => db.modify("c", (doc) => ({ ...doc, n: 1 })))
      assert.deepStrictEqual(written, { id: "c", rev: "2-mine", accepted: true })
      assert.isFalse(fake.seen.some((seen) => seen.method === "DELETE"))
    }))

  it.effect("modify whose accepted write won removes the other leaves, then reads again until none is left", () =>
    Effect.gen(function*() {
      const removed = new Set<string>()
      const leaf = (rev: string, deleted = false) => ({
        ok: { _id: "c", _rev: rev, ...(deleted ? { _deleted: true } : {}), _revisions: { start: 2, ids: [rev.slice(2), "base"] } }
      })
      const fake = fakeClient((seen) => {
        if (seen.method === "GET" && seen.url.searchParams.get("open_revs") === "all") {
          // ours (2-ff...) wins over 2-aa (greater id) and over the deleted 2-zz; 2-aa is there until removed
          return json(200, [leaf("2-ff"), ...(removed.has("2-aa") ? [] : [leaf("2-aa")]), leaf("2-zz", true)])
        }
        if (seen.method === "GET") return json(200, { _id: "c", _rev: "1-base", n: 0 })
        if (seen.method === "DELETE") {
          removed.add(seen.url.searchParams.get("rev")!)
          return json(200, { ok: true, id: "c", rev: "3-x" })
        }
        return json(202, { ok: true, id: "c", rev: "2-ff" })
      })
      const written = yield* withDatabase(fake, (db) => db.modify("c", (doc) => ({ ...doc, n: 1 })))
      assert.deepStrictEqual(written, { id: "c", rev: "2-ff", accepted: true })
      assert.deepStrictEqual([...removed], ["2-aa"])
      assert.strictEqual(fake.seen.filter((seen) => seen.url.searchParams.get("open_revs") === "all").length, 2)
    }))
})
