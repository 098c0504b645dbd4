import { Arbitraries, CouchTestServer } from "@effect-couch/testing"
import { assert, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { CouchAuth, CouchError, CouchSession, Database, Document } from "../src/index.js"
import { winnerOf } from "../src/internal/settle.js"
import { eventually, TestLive, testDatabase } from "./support.js"

const leftOf = <A, E>(either: Either.Either<A, E>): E | undefined => Either.isLeft(either) ? either.left : undefined

const Person = Schema.Struct({
  _id: Schema.String,
  _rev: Schema.optional(Schema.String),
  name: Schema.String,
  age: Schema.Int,
  born: Schema.DateFromString
})

layer(TestLive, { excludeTestServices: true })("documents", (it) => {
  it.scoped("put, get, head and remove a document through its revisions", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      const first = yield* db.put({ _id: "alice", age: 30 })
      assert.strictEqual(first.id, "alice")
      assert.match(first.rev, /^1-/)
      const doc = yield* db.get("alice")
      assert.deepStrictEqual(doc, { _id: "alice", _rev: first.rev, age: 30 })
      assert.strictEqual(yield* db.head("alice"), first.rev)
      const second = yield* db.put({ ...doc, age: 31 })
      assert.match(second.rev, /^2-/)
      assert.strictEqual((yield* db.get("alice", { rev: first.rev })).age, 30)
      const withInfo = yield* db.get("alice", { revsInfo: true, revs: true })
      assert.isArray(withInfo._revs_info)
      assert.isObject(withInfo._revisions)
      const stale = yield* Effect.either(db.put({ ...doc, age: 99 }))
      assert.instanceOf(leftOf(stale), CouchError.ConflictError)
      const missingRev = yield* Effect.either(db.put({ _id: "alice", age: 1 }))
      assert.instanceOf(leftOf(missingRev), CouchError.ConflictError)
      const removed = yield* db.remove("alice", second.rev)
      assert.match(removed.rev, /^3-/)
      const gone = leftOf(yield* Effect.either(db.get("alice")))
      assert.instanceOf(gone, CouchError.NotFoundError)
      const server = yield* CouchTestServer.CouchTestServer
      if (server.capabilities.deletedReason) assert.strictEqual(gone?._tag === "NotFoundError" ? gone.reason : "", "deleted")
      const never = leftOf(yield* Effect.either(db.get("never-was")))
      assert.instanceOf(never, CouchError.NotFoundError)
      assert.strictEqual(never?._tag === "NotFoundError" ? never.reason : "", "missing")
      assert.instanceOf(leftOf(yield* Effect.either(db.head("never-was"))), CouchError.NotFoundError)
    }))

  it.scoped("post stores a document under a server-assigned id", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      const written = yield* db.post({ kind: "auto" })
      assert.isString(written.id)
      assert.strictEqual((yield* db.get(written.id)).kind, "auto")
    }))

  it.scoped("copy duplicates a document to another id", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const db = yield* testDatabase()
      const source = yield* db.put({ _id: "source", value: 1 })
      const copied = yield* db.copy("source", "target", { rev: source.rev })
      if (server.capabilities.copyReturnsIdRev) assert.strictEqual(copied.id, "target")
      assert.strictEqual((yield* db.get("target")).value, 1)
      const target = yield* db.get("target")
      yield* db.copy("source", "target", { destinationRev: target._rev })
      const clash = yield* Effect.either(db.copy("source", "target"))
      assert.instanceOf(leftOf(clash), CouchError.ConflictError)
      // CouchDB percent-decodes the Destination header and reads + as a space: each id must land exactly
      const destinations = ["pct%41", "copy/", "copy+plus", "copy plus", "100%", "q?a=1#f", "café", "a?rev=1-x", "𝄞"]
      for (const destination of destinations) {
        const written = yield* db.copy("source", destination)
        if (server.capabilities.copyReturnsIdRev) assert.strictEqual(written.id, destination)
        const copy = yield* db.get(destination)
        assert.deepStrictEqual([copy._id, copy.value], [destination, 1])
      }
      assert.instanceOf(leftOf(yield* Effect.either(db.get("pctA"))), CouchError.NotFoundError)
      assert.instanceOf(leftOf(yield* Effect.either(db.get("copy"))), CouchError.NotFoundError)
      const overwrite = yield* db.get("copy+plus")
      yield* db.copy("source", "copy+plus", { destinationRev: overwrite._rev })
      assert.match((yield* db.get("copy+plus"))._rev as string, /^2-/)
      // design documents keep their prefix, as source and as destination
      yield* db.put({ _id: "_design/from", language: "javascript" })
      yield* db.copy("_design/from", "_design/to x")
      assert.strictEqual((yield* db.get("_design/to x"))._id, "_design/to x")
      const refused = yield* Effect.either(db.copy("source", "_all_docs"))
      assert.instanceOf(leftOf(refused), CouchError.InvalidArgumentError)
    }))

  it.scoped("modify retries on conflicts: concurrent increments all land, and leave no conflict (on a cluster too)", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      yield* db.put({ _id: "counter", n: 0 })
      yield* Effect.forEach(
        Array.from({ length: 8 }),
        () => db.modify("counter", (doc) => ({ ...doc, n: (doc.n as number) + 1 }), {}),
        { concurrency: "unbounded" }
      )
      const counter = yield* db.get("counter", { conflicts: true, r: 3 })
      assert.strictEqual(counter.n, 8)
      assert.isUndefined(counter._conflicts)
    }))

  it.scoped.prop(
    "the winner modify settles on, among a document's leaves, is the one the server picks",
    [FastCheck.uniqueArray(
      FastCheck.record({
        position: FastCheck.integer({ min: 1, max: 4 }),
        hash: FastCheck.stringMatching(/^[0-9a-f]{32}$/),
        deleted: FastCheck.boolean()
      }),
      { minLength: 1, maxLength: 5, selector: (leaf) => leaf.hash }
    )],
    ([leaves]) =>
      Effect.gen(function*() {
        const db = yield* testDatabase("winner")
        // each leaf on a history of its own (ancestors unique to it), written as replication writes them
        const docs = leaves.map((leaf, i) => ({
          _id: "w",
          _rev: `${leaf.position}-${leaf.hash}`,
          ...(leaf.deleted ? { _deleted: true } : {}),
          _revisions: {
            start: leaf.position,
            ids: [leaf.hash, ...Array.from({ length: leaf.position - 1 }, (_, k) => `${i}${k}`.padStart(32, "a"))]
          }
        }))
        yield* db.bulkDocs(docs, { newEdits: false })
        const expected = winnerOf(docs.map((doc) => ({ ok: doc })))!
        const read = yield* Effect.either(db.get("w"))
        if (expected.winner._deleted === true) assert.instanceOf(leftOf(read), CouchError.NotFoundError)
        else assert.strictEqual(Either.getOrThrow(read)._rev, expected.winner._rev)
      }),
    { fastCheck: { numRuns: 25 } }
  )

  it.scoped("upsert creates or replaces whatever the revision: new, stale, deleted, concurrent, typed, local", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      const created = yield* db.upsert({ _id: "u", v: 1 })
      assert.match(created.rev, /^1-/)
      // no revision, a stale one: replaced all the same
      yield* db.upsert({ _id: "u", v: 2 })
      const replaced = yield* db.upsert({ _id: "u", _rev: created.rev, v: 3 })
      assert.match(replaced.rev, /^3-/)
      assert.strictEqual((yield* db.get("u")).v, 3)
      // a deleted document is written again
      yield* db.remove("u", replaced.rev)
      yield* db.upsert({ _id: "u", v: 4 })
      assert.strictEqual((yield* db.get("u")).v, 4)
      // concurrent writers: every one lands, the last one wins
      const results = yield* Effect.forEach(
        Array.from({ length: 6 }, (_, i) => i),
        (i) => db.upsert({ _id: "race", writer: i }),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.length, 6)
      const server = yield* CouchTestServer.CouchTestServer
      const race = yield* db.get("race", { conflicts: true })
      // on one node the writers are serialised; on a cluster writers accepted from the same revision can leave
      // conflicts (last writer wins only among the writes one copy saw: see the README's Clusters section)
      if (!server.capabilities.cluster) assert.isUndefined(race._conflicts)
      assert.include([0, 1, 2, 3, 4, 5], race.writer)
      // typed, through the schema; and a local document, whose revision is read from the document
      const people = db.withSchema(Person)
      yield* people.upsert({ _id: "ada", name: "Ada", age: 36, born: new Date("1815-12-10T00:00:00.000Z") })
      yield* people.upsert({ _id: "ada", name: "Ada", age: 37, born: new Date("1815-12-10T00:00:00.000Z") })
      assert.strictEqual((yield* people.get("ada")).age, 37)
      yield* db.upsert({ _id: "_local/state", v: 1 })
      yield* db.upsert({ _id: "_local/state", v: 2 })
      assert.strictEqual((yield* db.getLocal("state")).v, 2)
    }))

  it.scoped("local documents are read, written and removed; design documents keep their prefix", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      const local = yield* db.putLocal("checkpoint", { seq: 42 })
      assert.strictEqual((yield* db.getLocal("checkpoint")).seq, 42)
      yield* db.removeLocal("checkpoint", local.rev)
      // (a cluster's read right after the delete may reach a copy that has not seen it)
      const gone = yield* eventually(Effect.either(db.getLocal("checkpoint")), Either.isLeft)
      assert.instanceOf(leftOf(gone), CouchError.NotFoundError)
      const design = yield* db.put({ _id: "_design/app", views: { all: { map: "function (doc) { emit(doc._id) }" } } })
      assert.strictEqual(design.id, "_design/app")
      assert.strictEqual((yield* db.get("_design/app"))._id, "_design/app")
      const info = yield* eventually(db.info, (info) => info.docCount >= 1)
      assert.strictEqual(info.docCount, 1)
    }))

  it.scoped("a validate_doc_update rejection is ForbiddenError with the function's message", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      yield* db.put({
        _id: "_design/rules",
        validate_doc_update:
          "function (newDoc) { if (newDoc.bad) { throw({ forbidden: 'bad documents are not allowed' }) } }"
      })
      const refused = leftOf(yield* Effect.either(db.put({ _id: "x", bad: true })))
      assert.instanceOf(refused, CouchError.ForbiddenError)
      assert.strictEqual(refused?._tag === "ForbiddenError" ? refused.reason : "", "bad documents are not allowed")
    }))

  it.scoped("ids that cannot be addressed, and values that are not JSON, are refused before any request", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      for (const id of ["", "_all_docs", "_security", "..", ".", "_design/", "_design/..", "_local/.", "a\ud800b"]) {
        assert.instanceOf(leftOf(yield* Effect.either(db.get(id))), CouchError.InvalidArgumentError, id)
        assert.instanceOf(leftOf(yield* Effect.either(db.put({ _id: id }))), CouchError.InvalidArgumentError, id)
      }
      const cycle: { _id: string; self?: unknown } = { _id: "cycle" }
      cycle.self = cycle
      for (const doc of [{ _id: "f", f: () => 1 }, { _id: "b", b: 1n }, { _id: "u", a: [undefined] }, cycle, { _id: "n", n: NaN }]) {
        assert.instanceOf(leftOf(yield* Effect.either(db.put(doc))), CouchError.InvalidArgumentError)
      }
      assert.strictEqual((yield* db.info).docCount, 0)
    }))

  it.scoped.prop("any id round-trips and reaches exactly its document", [Arbitraries.documentId, Arbitraries.jsonDocument], ([id, body]) =>
    Effect.gen(function*() {
      const db = yield* testDatabase("ids")
      // a design document's fields are checked: the body goes under `lib`, where any JSON may be
      const fields = id.startsWith("_design/") ? { lib: body } : body
      const written = yield* db.put({ ...fields, _id: id })
      assert.strictEqual(written.id, id)
      const read = yield* db.get(id)
      assert.deepStrictEqual(read, { ...fields, _id: id, _rev: written.rev })
      assert.strictEqual(yield* db.head(id), written.rev)
      // nothing else was written: the database holds exactly this document, under this id
      const local = id.startsWith("_local/")
      assert.strictEqual((yield* db.info).docCount, local ? 0 : 1)
      if (!local) {
        const page = yield* db.allDocsPage({ keys: [id] })
        assert.deepStrictEqual(page.rows.map((row) => row._tag === "Row" ? row.id : `!${row.key}`), [id])
      }
      yield* db.remove(id, written.rev)
      assert.instanceOf(leftOf(yield* Effect.either(db.get(id))), CouchError.NotFoundError)
    }), { fastCheck: { numRuns: 60 } })
})

layer(TestLive, { excludeTestServices: true })("typed documents", (it) => {
  it.scoped("withSchema decodes on read and encodes on write", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      const people = db.withSchema(Person)
      const born = new Date("1990-05-01T00:00:00.000Z")
      const written = yield* people.put({ _id: "p1", name: "Ada", age: 36, born })
      const raw = yield* db.get("p1")
      assert.strictEqual(raw.born, born.toISOString())
      const ada = yield* people.get("p1")
      assert.instanceOf(ada.born, Date)
      assert.strictEqual(ada.born.getTime(), born.getTime())
      assert.strictEqual(ada._rev, written.rev)
    }))

  it.scoped("a document that does not match is a DocumentDecodeError naming the id; either mode keeps the others", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      yield* db.put({ _id: "good", name: "Grace", age: 85, born: "1906-12-09T00:00:00.000Z" })
      yield* db.put({ _id: "bad", name: "Nobody", age: "old" })
      const people = db.withSchema(Person)
      const error = leftOf(yield* Effect.either(people.get("bad")))
      assert.instanceOf(error, Document.DocumentDecodeError)
      assert.strictEqual(error?._tag === "DocumentDecodeError" ? error.id : "", "bad")
      assert.include(error?.message, "age")
      const failing = yield* Effect.either(Stream.runCollect(people.allDocs({ includeDocs: true })))
      assert.instanceOf(leftOf(failing), Document.DocumentDecodeError)
      const rows = Chunk.toReadonlyArray(yield* Stream.runCollect(people.allDocs({ includeDocs: true, decode: "either" })))
      assert.strictEqual(rows.length, 2)
      const docs = rows.flatMap((row) => row._tag === "Row" && row.doc != null ? [row.doc] : [])
      assert.isTrue(Either.isLeft(docs[0]))
      assert.isTrue(Either.isRight(docs[1]))
    }))

  it.scoped("bulkWrite encodes each batch through the schema, synchronously or not; a document that does not encode fails its batch, after the batches before it", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      const people = (from: number, count: number) =>
        Stream.range(from, from + count - 1).pipe(Stream.map((i) => ({
          _id: `p${String(i).padStart(4, "0")}`,
          name: `person ${i}`,
          // a schema's Int refuses 1.5 when it encodes the document
          age: i === 230 ? 1.5 : i % 90,
          born: new Date(Date.UTC(1900 + (i % 120), 0, 1))
        })))
      // a schema whose encoding is asynchronous: each batch is encoded by an effect, not in a loop
      const Later = Schema.Struct({
        ...Person.fields,
        name: Schema.transformOrFail(Schema.String, Schema.String, {
          strict: true,
          decode: ParseResult.succeed,
          encode: (name) => Effect.as(Effect.sleep(0), name)
        })
      })
      for (const [schema, from] of [[Person, 0], [Later, 1000]] as const) {
        const written: Array<string> = []
        const result = yield* db.withSchema(schema).bulkWrite(people(from, 250), { batchSize: 100, concurrency: 1 }).pipe(
          Stream.runForEach((result) => Effect.sync(() => written.push(Either.isRight(result) ? result.right.id : "!"))),
          Effect.either
        )
        if (from === 0) {
          // the third batch holds p0230: the two before it are written and reported, then the failure
          assert.instanceOf(leftOf(result), CouchError.InvalidArgumentError)
          assert.strictEqual(written.length, 200)
          assert.strictEqual(written[199], "p0199")
        } else {
          assert.isTrue(Either.isRight(result))
          assert.strictEqual(written.length, 250)
        }
      }
      const raw = yield* db.get("p1042")
      assert.strictEqual(raw.born, "1982-01-01T00:00:00.000Z")
      const info = yield* eventually(db.info, (info) => info.docCount >= 450)
      assert.strictEqual(info.docCount, 450)
    }))

  it.scoped.prop("any value of a schema round-trips through the server", [Person], ([person]) =>
    Effect.gen(function*() {
      const db = yield* testDatabase("typed")
      const people = db.withSchema(Person)
      const { _rev, ...fresh } = person
      void _rev
      const written = yield* people.put(fresh)
      const read = yield* people.get(fresh._id)
      assert.deepStrictEqual(read, { ...fresh, _rev: written.rev })
    }).pipe(Effect.catchTag("InvalidArgumentError", (e) =>
      // ids the URL cannot carry ("", ".", "..", other "_" ids) are refused: that is the correct answer for them
      e.argument === "document id" ? Effect.void : Effect.fail(e))), { fastCheck: { numRuns: 30 } })
})

layer(TestLive, { excludeTestServices: true })("bulk", (it) => {
  it.scoped("bulkDocs answers one result per document, in order, with typed failures", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      yield* db.put({ _id: "taken", v: 0 })
      const results = yield* db.bulkDocs([{ _id: "a", v: 1 }, { _id: "taken", v: 2 }, { _id: "b", v: 3 }])
      assert.strictEqual(results.length, 3)
      assert.isTrue(Either.isRight(results[0]))
      const failure = leftOf(results[1])
      assert.instanceOf(failure, Document.WriteFailure)
      assert.strictEqual(failure?.id, "taken")
      assert.strictEqual(failure?.error, "conflict")
      assert.isTrue(Either.isRight(results[2]))
    }))

  it.scoped("bulkGet answers each request, found or not", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      const a = yield* db.put({ _id: "a", v: 1 })
      const results = yield* db.bulkGet([{ id: "a" }, { id: "a", rev: a.rev }, { id: "zzz" }])
      assert.strictEqual(results.length, 3)
      const first = results[0].docs[0]
      assert.isTrue(Either.isRight(first) && first.right.v === 1)
      assert.isTrue(Either.isLeft(results[2].docs[0]))
    }))

  it.scoped("bulkWrite writes a stream in batches and yields every result in order", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      const count = 2_345
      const docs = Stream.range(0, count - 1).pipe(
        Stream.map((i) => ({ _id: `doc-${String(i).padStart(6, "0")}`, i }))
      )
      const results = Chunk.toReadonlyArray(
        yield* Stream.runCollect(db.bulkWrite(docs, { batchSize: 500, concurrency: 3 }))
      )
      assert.strictEqual(results.length, count)
      results.forEach((result, i) => {
        assert.isTrue(Either.isRight(result))
        if (Either.isRight(result)) assert.strictEqual(result.right.id, `doc-${String(i).padStart(6, "0")}`)
      })
      assert.strictEqual((yield* db.info).docCount, count)
    }))

  it.scoped("bulkWrite with a batch size or concurrency that is not a positive integer: InvalidArgumentError, nothing read or sent", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      let pulled = 0
      const docs = Stream.range(0, 9).pipe(Stream.map((i) => {
        pulled += 1
        return { _id: `doc-${i}` }
      }))
      for (const options of [{ batchSize: 0 }, { batchSize: 2.5 }, { batchSize: Number.NaN }, { concurrency: 0 }, { concurrency: -1 }]) {
        const failure = yield* Effect.flip(Stream.runDrain(db.bulkWrite(docs, options)))
        assert.instanceOf(failure, CouchError.InvalidArgumentError)
        assert.strictEqual((failure as CouchError.InvalidArgumentError).argument, "batchSize" in options ? "batchSize" : "concurrency")
      }
      assert.strictEqual(pulled, 0)
      assert.strictEqual((yield* db.info).docCount, 0)
    }))

  it.scoped("bulkWrite whose source fails sends no partial batch: the batches before it land, then the failure", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      const docs = Stream.range(0, 249).pipe(
        Stream.map((i) => ({ _id: `doc-${String(i).padStart(4, "0")}`, i })),
        Stream.concat(Stream.fail("the source broke" as const))
      )
      const emitted: Array<string> = []
      const result = yield* db.bulkWrite(docs, { batchSize: 100, concurrency: 3 }).pipe(
        Stream.runForEach((written) => Effect.sync(() => emitted.push(Either.isRight(written) ? written.right.id : "!"))),
        Effect.either
      )
      assert.deepStrictEqual(leftOf(result), "the source broke")
      // the two whole batches were written and reported; the 50 documents of the third were never sent
      assert.strictEqual(emitted.length, 200)
      assert.strictEqual(emitted[199], "doc-0199")
      // (a cluster's info may lag the writes: the count is read until it settles, and must then be 200)
      const info = yield* eventually(db.info, (info) => info.docCount >= 200)
      assert.strictEqual(info.docCount, 200)
    }))

  it.scoped("bulkWrite with a document JSON cannot hold: the batch before it lands and is reported, then InvalidArgumentError; nothing of its batch is sent", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      // each batch is encoded when it is given its slot: the bad one fails there, after the batch before it
      const docs = Stream.range(0, 249).pipe(
        Stream.map((i) => ({ _id: `doc-${String(i).padStart(4, "0")}`, n: i === 150 ? BigInt(i) : i }))
      )
      const emitted: Array<string> = []
      const result = yield* db.bulkWrite(docs, { batchSize: 100, concurrency: 1 }).pipe(
        Stream.runForEach((written) => Effect.sync(() => emitted.push(Either.isRight(written) ? written.right.id : "!"))),
        Effect.either
      )
      const failure = leftOf(result)
      assert.instanceOf(failure, CouchError.InvalidArgumentError)
      assert.strictEqual((failure as CouchError.InvalidArgumentError).argument, "documents")
      assert.include((failure as CouchError.InvalidArgumentError).description, "$.docs[50].n is a BigInt")
      assert.strictEqual(emitted.length, 100)
      assert.strictEqual(emitted[99], "doc-0099")
      const info = yield* eventually(db.info, (info) => info.docCount >= 100)
      assert.strictEqual(info.docCount, 100)
      const after = yield* db.allDocs({ startkey: "doc-0100" }).pipe(Stream.runCollect)
      assert.strictEqual(Chunk.size(after), 0)
    }))
})

layer(TestLive, { excludeTestServices: true })("_all_docs", (it) => {
  const seed = (count: number) =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      const ids = Array.from({ length: count }, (_, i) => `k${String(i).padStart(4, "0")}`)
      yield* db.bulkDocs(ids.map((id, i) => ({ _id: id, i })))
      // a cluster's _all_docs reads one copy of each shard, which may not have the write yet: wait until every
      // row is seen three reads in a row
      yield* db.allDocsPage().pipe(
        Effect.filterOrFail((page) => page.rows.length === count, () => "not yet" as const),
        Effect.repeat({ times: 2 }),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100, while: (error) => error === "not yet" })
      )
      return { db, ids }
    })

  it.scoped("streams every row exactly once and in order, over many pages, both ways, with ranges and keys", () =>
    Effect.gen(function*() {
      const { db, ids } = yield* seed(53)
      const collect = (options: Parameters<typeof db.allDocs>[0]) =>
        Effect.map(Stream.runCollect(db.allDocs(options)), (rows) =>
          Chunk.toReadonlyArray(rows).map((row) => row._tag === "Row" ? row.id : `!${row.key}`))
      assert.deepStrictEqual(yield* collect({ pageSize: 7 }), ids)
      assert.deepStrictEqual(yield* collect({ pageSize: 7, descending: true }), [...ids].reverse())
      assert.deepStrictEqual(yield* collect({ pageSize: 5, startkey: "k0010", endkey: "k0030" }), ids.slice(10, 31))
      assert.deepStrictEqual(
        yield* collect({ pageSize: 5, startkey: "k0010", endkey: "k0030", inclusiveEnd: false }),
        ids.slice(10, 30)
      )
      assert.deepStrictEqual(yield* collect({ pageSize: 4, limit: 9, skip: 3 }), ids.slice(3, 12))
      assert.deepStrictEqual(
        yield* collect({ pageSize: 2, keys: ["k0050", "nope", "k0001"] }),
        ["k0050", "!nope", "k0001"]
      )
      const withDocs = Chunk.toReadonlyArray(yield* Stream.runCollect(db.allDocs({ pageSize: 10, includeDocs: true })))
      assert.strictEqual(withDocs.length, 53)
      assert.isTrue(withDocs.every((row, i) => row._tag === "Row" && row.doc?.i === i))
      // in one request, read as the answer arrives: the same rows
      assert.deepStrictEqual(yield* collect({ oneRequest: true }), ids)
      assert.deepStrictEqual(yield* collect({ oneRequest: true, descending: true, limit: 9, skip: 3 }), [...ids].reverse().slice(3, 12))
      assert.deepStrictEqual(yield* collect({ oneRequest: true, keys: ["k0050", "nope", "k0001"] }), ["k0050", "!nope", "k0001"])
      const oneWithDocs = Chunk.toReadonlyArray(yield* Stream.runCollect(db.allDocs({ oneRequest: true, includeDocs: true })))
      assert.deepStrictEqual(oneWithDocs, withDocs)
      const page = yield* db.allDocsPage({ limit: 5, skip: 2 })
      assert.strictEqual(page.totalRows, 53)
      assert.strictEqual(page.offset, 2)
      assert.strictEqual(page.rows.length, 5)
    }))

  it.scoped("allDocsQueries: several _all_docs, _design_docs and _local_docs queries in one request, a page each", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.multiQuery) return
      const db = yield* testDatabase()
      yield* db.bulkDocs([{ _id: "a" }, { _id: "b" }, { _id: "c" }, { _id: "_design/x", lib: {} }])
      yield* db.putLocal("_local/l1", { n: 1 })
      const ids = (page: Database.AllDocsPage<Document.Document>) =>
        page.rows.map((row) => row._tag === "Row" ? row.id : `!${row.key}`)
      const [first, byKeys, withDocs] = yield* db.allDocsQueries([
        { startkey: "a", limit: 2 },
        { keys: ["c", "nope"] },
        { startkey: "b", endkey: "b", includeDocs: true, updateSeq: true }
      ])
      assert.deepStrictEqual(ids(first!), ["a", "b"])
      assert.deepStrictEqual(ids(byKeys!), ["c", "!nope"])
      const row = withDocs!.rows[0]!
      assert.isTrue(row._tag === "Row" && row.doc?._id === "b")
      assert.isDefined(withDocs!.updateSeq)
      const [design] = yield* db.allDocsQueries([{}], { from: "design" })
      assert.deepStrictEqual(ids(design!), ["_design/x"])
      if (server.capabilities.localDocsEndpoint) {
        const [local] = yield* db.allDocsQueries([{}], { from: "local" })
        assert.deepStrictEqual(ids(local!), ["_local/l1"])
      }
    }))

  it.scoped("designDocuments: false leaves the design documents out, so a typed read never decodes one", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      const Item = Schema.Struct({ _id: Schema.String, _rev: Schema.String, n: Schema.Number })
      yield* db.bulkDocs([
        { _id: "_design/a", views: {} },
        { _id: "_design/b", language: "javascript" },
        ...["A", "Z", "a", "m", "z", "~"].map((id, n) => ({ _id: id, n }))
      ])
      const ids = (options: Database.AllDocsOptions) =>
        Effect.map(
          Stream.runCollect(db.withSchema(Item).allDocs({ ...options, designDocuments: false, includeDocs: true, pageSize: 2 })),
          (rows) => Chunk.toReadonlyArray(rows).map((row) => row._tag === "Row" ? row.id : `!${row.key}`)
        )
      // a cluster's _all_docs may not show every write at once
      const all = yield* eventually(ids({}), (read) => read.length === 6)
      assert.deepStrictEqual(all, ["A", "Z", "a", "m", "z", "~"])
      assert.deepStrictEqual(yield* ids({ descending: true }), ["~", "z", "m", "a", "Z", "A"])
      assert.deepStrictEqual(yield* ids({ skip: 1, limit: 3 }), ["Z", "a", "m"])
      assert.deepStrictEqual(yield* ids({ startkey: "Z", endkey: "m" }), ["Z", "a", "m"])
      assert.deepStrictEqual(yield* ids({ startkey: "_design/a", endkey: "z" }), ["a", "m", "z"])
      assert.deepStrictEqual(yield* ids({ startkey: "m", endkey: "Z", descending: true }), ["m", "a", "Z"])
      assert.deepStrictEqual(yield* ids({ keys: ["z", "_design/a", "A"] }), ["z", "A"])
      assert.deepStrictEqual(yield* ids({ oneRequest: true }), all)
      // included by default: the typed read then meets the design documents
      const failed = yield* Effect.either(Stream.runDrain(db.withSchema(Item).allDocs({ includeDocs: true })))
      assert.strictEqual(leftOf(failed)?._tag, "DocumentDecodeError")
    }))

  it.scoped.prop(
    "paging returns exactly the rows of one unpaged request",
    [FastCheck.integer({ min: 0, max: 40 }), FastCheck.integer({ min: 1, max: 12 }), FastCheck.boolean()],
    ([count, pageSize, descending]) =>
      Effect.gen(function*() {
        const { db } = yield* seed(count)
        const unpaged = (yield* db.allDocsPage({ descending })).rows
        const paged = Chunk.toReadonlyArray(yield* Stream.runCollect(db.allDocs({ pageSize, descending })))
        assert.deepStrictEqual(paged, unpaged)
      }),
    { fastCheck: { numRuns: 15 } }
  )
})

layer(TestLive, { excludeTestServices: true })("security and maintenance", (it) => {
  it.scoped("members are enforced: a user who is not a member is refused", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const couch = yield* CouchSession.CouchSession
      const db = yield* testDatabase()
      const name = `u${Date.now()}${Math.floor(Math.random() * 1e6)}`
      yield* couch.createUser({ name, password: "pw-123456" })
      yield* Effect.addFinalizer(() => Effect.ignore(couch.deleteUser(name)))
      const written = yield* db.addMembers({ names: ["someone-else"] })
      assert.deepStrictEqual(written.members?.names, ["someone-else"])
      // on a cluster a read right after the write may still see the old object (a shard copy not updated yet)
      const security = yield* db.security.pipe(
        Effect.filterOrFail((read) => read.members?.names?.includes("someone-else") === true, () => "not yet" as const),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50, while: (error) => error === "not yet" })
      )
      assert.deepStrictEqual(security.members?.names, ["someone-else"])
      const outsider = yield* CouchSession.make({ url: server.url, auth: CouchAuth.basic(name, "pw-123456") })
      const asOutsider = yield* outsider.use(db.name)
      const refused = leftOf(yield* Effect.either(asOutsider.allDocsPage()))
      assert.isTrue(refused instanceof CouchError.ForbiddenError || refused instanceof CouchError.UnauthorizedError)
      // a member who is not an admin of the database cannot write its security object (CouchDB 3.5 answers 500
      // no_majority: every shard copy refused it)
      yield* db.addMembers({ names: [name] })
      const memberWrite = leftOf(yield* Effect.either(asOutsider.setSecurity({ members: { names: [name, "me-too"] } })))
      assert.strictEqual(memberWrite?._tag, "ForbiddenError")
      yield* db.removeMembers({ names: ["someone-else", name] })
      const emptied = yield* eventually(db.security, (read) => read.members?.names?.length === 0)
      assert.deepStrictEqual(emptied.members?.names, [])
    }))

  it.scoped("purge removes revisions for good", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.purge) return
      const db = yield* testDatabase()
      const a = yield* db.put({ _id: "a" })
      const purged = yield* db.purge({ a: [a.rev] })
      assert.deepStrictEqual(purged.purged, { a: [a.rev] })
      assert.strictEqual((yield* db.info).docCount, 0)
    }))

  it.scoped("_design_docs lists the design documents only", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.designDocsEndpoint) return
      const db = yield* testDatabase()
      yield* db.bulkDocs([{ _id: "plain" }, { _id: "_design/a" }, { _id: "_design/b" }])
      const rows = Chunk.toReadonlyArray(yield* Stream.runCollect(db.designDocs({ pageSize: 1 })))
      assert.deepStrictEqual(rows.map((row) => row.key), ["_design/a", "_design/b"])
    }))

  it.scoped("_local_docs lists the local documents only, paged by key, with their bodies when asked", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.localDocsEndpoint) return
      const db = yield* testDatabase()
      yield* db.put({ _id: "plain" })
      for (const id of ["c", "a b", "b/slash"]) yield* db.putLocal(id, { v: id })
      const rows = Chunk.toReadonlyArray(yield* Stream.runCollect(db.localDocs({ pageSize: 1, includeDocs: true })))
      assert.deepStrictEqual(rows.map((row) => row.key), ["_local/a b", "_local/b/slash", "_local/c"])
      assert.deepStrictEqual(rows.map((row) => row._tag === "Row" ? (row.doc as { v?: unknown } | undefined)?.v : undefined), ["a b", "b/slash", "c"])
      const page = Chunk.toReadonlyArray(yield* Stream.runCollect(db.localDocs({ startkey: "_local/b", limit: 1 })))
      assert.deepStrictEqual(page.map((row) => row.key), ["_local/b/slash"])
    }))

  it.scoped("compact, viewCleanup, revsDiff, revsLimit", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase()
      const a = yield* db.put({ _id: "a" })
      yield* db.compact
      yield* db.viewCleanup
      const diff = yield* db.revsDiff({ a: [a.rev, "9-deadbeef"] })
      assert.deepStrictEqual(diff.a.missing, ["9-deadbeef"])
      yield* db.setRevsLimit(77)
      assert.strictEqual(yield* db.revsLimit, 77)
    }))

  it.scoped("missingRevs, purgedInfosLimit, shards and the shard of an id", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const db = yield* testDatabase()
      const a = yield* db.put({ _id: "a/b c" })
      // what the database has is left out; what it lacks is listed, by document
      assert.deepStrictEqual(
        yield* db.missingRevs({ "a/b c": [a.rev, "9-deadbeef"], absent: ["1-abc"] }),
        { "a/b c": ["9-deadbeef"], absent: ["1-abc"] }
      )
      assert.deepStrictEqual(yield* db.missingRevs({ "a/b c": [a.rev] }), {})
      if (!server.capabilities.shards) return
      assert.strictEqual(yield* db.purgedInfosLimit, 1000)
      yield* db.setPurgedInfosLimit(500)
      assert.strictEqual(yield* db.purgedInfosLimit, 500)
      const shards = yield* db.shards
      const ranges = Object.keys(shards)
      assert.isAtLeast(ranges.length, 1)
      const shard = yield* db.shardOf("a/b c")
      assert.include(ranges, shard.range)
      assert.deepStrictEqual([...shard.nodes].sort(), [...shards[shard.range]!].sort())
      assert.instanceOf(yield* Effect.flip(db.shardOf("")), CouchError.InvalidArgumentError)
    }))

  it.scoped("purgedInfos lists the purges, syncShards, deleteIndexes removes Mango indexes in one request", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.shards) return
      const db = yield* testDatabase()
      assert.deepStrictEqual(yield* db.purgedInfos, [])
      const written = yield* db.put({ _id: "gone" })
      yield* db.purge({ gone: [written.rev] })
      assert.deepStrictEqual(yield* db.purgedInfos, [{ id: "gone", revs: [written.rev] }])
      yield* db.syncShards
      yield* db.createIndex({ index: { fields: ["a"] }, ddoc: "by-a", name: "a" })
      yield* db.createIndex({ index: { fields: ["b"] }, ddoc: "by-b", name: "b" })
      const deletion = yield* db.deleteIndexes(["by-a", "_design/by-b", "nope"])
      assert.deepStrictEqual(deletion.success.map((entry) => entry.id).sort(), ["_design/by-a", "_design/by-b"])
      assert.deepStrictEqual(deletion.fail, [{ id: "_design/nope", error: "not_found" }])
      assert.deepStrictEqual((yield* db.indexes).map((index) => index.name), ["_all_docs"])
      // measured on CouchDB 3.5.2: _sync_shards of a missing database is 404, a non-admin's is 401
      const missing = yield* (yield* CouchSession.CouchSession).use(`${db.name}-missing`)
      assert.instanceOf(yield* Effect.flip(missing.syncShards), CouchError.NotFoundError)
      assert.instanceOf(yield* Effect.flip(missing.purgedInfos), CouchError.NotFoundError)
    }))
})

class Orders extends Context.Tag("test/Orders")<Orders, Database.Database>() {}
class People extends Context.Tag("test/People")<People, Database.Documents<typeof Person.Type, Document.DocumentDecodeError>>() {}

layer(TestLive, { excludeTestServices: true })("databases as services", (it) => {
  it.scoped("Database.layer opens, creates or uses a database from the session in the context; layerSchema types it", () =>
    Effect.gen(function*() {
      const name = yield* CouchTestServer.database("svc")
      const fresh = `svc-new-${Date.now().toString(36)}`
      yield* Effect.addFinalizer(() => Effect.ignore(Effect.flatMap(CouchSession.use(fresh), (db) => db.delete)))
      // open: HEAD, NotFoundError for a database that does not exist
      const missing = yield* Effect.either(Effect.provide(Orders, Database.layer(Orders, `${fresh}-nope`)))
      assert.strictEqual(leftOf(missing)?._tag, "NotFoundError")
      // create: made when missing
      const created = yield* Effect.provide(Effect.flatMap(Orders, (orders) => orders.info), Database.layer(Orders, fresh, { open: "create" }))
      assert.strictEqual(created.dbName, fresh)
      // a typed service
      const born = new Date("1815-12-10T00:00:00.000Z")
      const ada = yield* Effect.provide(
        Effect.flatMap(People, (people) => Effect.zipRight(people.put({ _id: "ada", name: "Ada", age: 36, born }), people.get("ada"))),
        Database.layerSchema(People, name, Person)
      )
      assert.strictEqual(ada.born.getTime(), born.getTime())
      // the accessors take the session from the context
      assert.strictEqual((yield* CouchSession.use(name)).name, name)
      assert.strictEqual((yield* CouchSession.database(name)).name, name)
    }))
})
