import { CouchTestServer } from "@effect-couch/testing"
import { assert, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Changes, CouchAuth, CouchError, CouchSession } from "../src/index.js"
import { proxy } from "./proxy.js"
import { eventually, TestLive, testDatabase } from "./support.js"

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)
const ids = (events: ReadonlyArray<Changes.ChangeEvent<unknown>>) =>
  events.flatMap((event) => event._tag === "Change" ? [event.id] : [])

/** Consumes a follower's changes in a fiber of its own until it has seen `total` distinct ids. */
const watchIds = <E>(changes: Stream.Stream<{ readonly id: string }, E>, total: number) => {
  const seen = new Set<string>()
  return Effect.map(
    changes.pipe(
      Stream.tap((change) => Effect.sync(() => seen.add(change.id))),
      Stream.takeUntil(() => seen.size >= total),
      Stream.runDrain,
      Effect.fork
    ),
    (consumer) => ({ consumer, seen })
  )
}

const Item = Schema.Struct({ _id: Schema.String, _rev: Schema.optional(Schema.String), n: Schema.Number })

layer(TestLive, { excludeTestServices: true })("changes", (it) => {
  it.scoped("a normal feed is read in pages, then gives its last sequence to resume from", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("changes")
      yield* db.bulkDocs(Array.from({ length: 25 }, (_, i) => ({ _id: `d${String(i).padStart(2, "0")}`, n: i })))
      const events = yield* collect(db.changes({ pageSize: 7 }))
      assert.strictEqual(ids(events).length, 25)
      assert.strictEqual(new Set(ids(events)).size, 25)
      const last = events[events.length - 1]
      assert.strictEqual(last._tag, "LastSeq")
      if (last._tag !== "LastSeq") return
      const none = yield* collect(db.changes({ since: last.lastSeq }))
      assert.deepStrictEqual(ids(none), [])
      yield* db.put({ _id: "later", n: 99 })
      const later = yield* eventually(collect(db.changes({ since: last.lastSeq })), (events) => ids(events).length > 0)
      assert.deepStrictEqual(ids(later), ["later"])
      assert.strictEqual(ids(yield* collect(db.changes({ limit: 10, pageSize: 4 }))).length, 10)
    }))

  it.scoped("in one request, a normal feed gives the same changes and last sequence; descending and limit too", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("changes")
      yield* db.bulkDocs(Array.from({ length: 25 }, (_, i) => ({ _id: `d${String(i).padStart(2, "0")}`, n: i })))
      yield* db.put({ _id: "d03", _rev: (yield* db.get("d03"))._rev, n: 103 })
      const paged = yield* collect(db.changes({ pageSize: 7, includeDocs: true }))
      const whole = yield* collect(db.changes({ oneRequest: true, includeDocs: true }))
      // a sharded database (CouchDB's default q=2) interleaves its shards' changes: two reads of one feed may
      // list them in different orders, with different sequences (a change's sequence says where every shard's
      // feed stood), so they are compared as sets, without their sequences
      const changesOf = (events: ReadonlyArray<Changes.ChangeEvent<unknown>>) =>
        events.flatMap((event) => event._tag === "Change" ? [{ ...event, seq: undefined }] : [])
          .sort((a, b) => a.id < b.id ? -1 : 1)
      assert.deepStrictEqual(changesOf(whole), changesOf(paged))
      assert.strictEqual(ids(whole).length, 25)
      assert.strictEqual(new Set(ids(whole)).size, 25)
      const last = whole[whole.length - 1]
      assert.strictEqual(last._tag, "LastSeq")
      if (last._tag !== "LastSeq") return
      assert.deepStrictEqual(ids(yield* collect(db.changes({ oneRequest: true, since: last.lastSeq }))), [])
      // newest first: a shard's latest changes (which shard comes first is the server's choice)
      const newestFirst = ids(yield* collect(db.changes({ descending: true, limit: 3 })))
      assert.strictEqual(new Set(newestFirst).size, 3)
      assert.isTrue(newestFirst.every((id) => ids(whole).includes(id)))
      const newest = ids(yield* collect(db.changes({ descending: true })))
      assert.deepStrictEqual([...newest].sort(), [...ids(whole)].sort())
      const firstFive = ids(yield* collect(db.changes({ oneRequest: true, limit: 5 })))
      assert.strictEqual(new Set(firstFive).size, 5)
      assert.isTrue(firstFive.every((id) => ids(whole).includes(id)))
    }))

  it.scoped("includeDocs decodes documents with the schema; deletions carry no document", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("changes")
      const items = db.withSchema(Item)
      const a = yield* items.put({ _id: "a", n: 1 })
      yield* items.put({ _id: "b", n: 2 })
      yield* db.remove("a", a.rev)
      const events = yield* collect(items.changes({ includeDocs: true }))
      const changes = events.filter((event): event is Changes.Change<typeof Item.Type> => event._tag === "Change")
      const byId = new Map(changes.map((change) => [change.id, change]))
      assert.isTrue(byId.get("a")?.deleted)
      assert.isUndefined(byId.get("a")?.doc)
      assert.strictEqual(byId.get("b")?.doc?.n, 2)
    }))

  it.scoped("a longpoll feed from now waits for the next change", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("changes")
      yield* db.put({ _id: "before" })
      const fiber = yield* Effect.fork(collect(db.changes({ feed: "longpoll", since: "now", timeout: "10 seconds" })))
      yield* Effect.sleep("300 millis")
      yield* db.put({ _id: "after" })
      const events = yield* Fiber.join(fiber)
      assert.deepStrictEqual(ids(events), ["after"])
    }))

  it.scoped("a continuous feed delivers changes as they happen and ends with its last sequence", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const db = yield* testDatabase("changes")
      yield* db.put({ _id: "first" })
      const seen = yield* collect(db.changes({ feed: "continuous", limit: 3, heartbeat: "100 millis" }).pipe(
        Stream.tap((event) => event._tag === "Change" && event.id === "first" ? db.put({ _id: "second" }) : Effect.void),
        Stream.tap((event) => event._tag === "Change" && event.id === "second" ? db.put({ _id: "third" }) : Effect.void)
      ))
      assert.deepStrictEqual(ids(seen), ["first", "second", "third"])
      if (server.capabilities.lastSeqLine) assert.strictEqual(seen[seen.length - 1]._tag, "LastSeq")
      if (server.capabilities.changesTimeout) {
        const ended = yield* collect(db.changes({ feed: "continuous", since: "now", timeout: "200 millis" }))
        assert.deepStrictEqual(ids(ended), [])
      }
    }))

  it.scoped("an eventsource feed is parsed from Server-Sent Events", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.eventsource) return
      const db = yield* testDatabase("changes")
      yield* db.bulkDocs([{ _id: "x" }, { _id: "y" }])
      const events = yield* collect(db.changes({ feed: "eventsource", heartbeat: "100 millis" }).pipe(Stream.take(2)))
      assert.deepStrictEqual(ids(events).sort(), ["x", "y"])
    }))

  it.scoped("filters: doc ids, selector, design documents, a view, a filter function with parameters", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("changes")
      yield* db.bulkDocs([
        { _id: "a", kind: "fruit" },
        { _id: "b", kind: "veg" },
        { _id: "c", kind: "fruit" },
        {
          _id: "_design/f",
          views: { fruit: { map: "function (doc) { if (doc.kind === 'fruit') emit(doc._id) }" } },
          filters: { kind: "function (doc, req) { return doc.kind === req.query.kind }" }
        }
      ])
      const filtered = (filter: Changes.ChangesFilter) => Effect.map(collect(db.changes({ filter })), (events) => ids(events).sort())
      assert.deepStrictEqual(yield* filtered(Changes.docIds(["c", "b"])), ["b", "c"])
      assert.deepStrictEqual(yield* filtered(Changes.selector({ kind: "veg" })), ["b"])
      assert.deepStrictEqual(yield* filtered(Changes.design), ["_design/f"])
      assert.deepStrictEqual(yield* filtered(Changes.view("f", "fruit")), ["a", "c"])
      assert.deepStrictEqual(yield* filtered(Changes.filterFunction("f", "kind", { kind: "veg" })), ["b"])
      const missing = yield* Effect.either(collect(db.changes({ filter: Changes.filterFunction("nope", "x") })))
      assert.instanceOf(Either.isLeft(missing) ? missing.left : undefined, CouchError.NotFoundError)
    }))
})

layer(TestLive, { excludeTestServices: true })("follow", (it) => {
  const sessionThrough = (url: string) =>
    Effect.flatMap(CouchTestServer.CouchTestServer, (server) =>
      CouchSession.make({ url, auth: CouchAuth.basic(server.admin.username, server.admin.password) }))

  it.scoped("a follower sees every document written while its connection is cut again and again", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const db = yield* testDatabase("follow")
      const cutter = yield* proxy(server.url)
      const viaProxy = yield* (yield* sessionThrough(cutter.url)).use(db.name)
      const total = 60
      const follower = yield* viaProxy.follow({
        heartbeat: "200 millis",
        schedule: Schedule.spaced("20 millis")
      })
      const { consumer, seen } = yield* watchIds(follower.changes, total)
      let cuts = 0
      for (let i = 0; i < total; i++) {
        yield* db.put({ _id: `doc-${i}` })
        if (i % 10 === 5) {
          cuts += (yield* cutter.cut) > 0 ? 1 : 0
          yield* Effect.sleep("30 millis")
        }
      }
      yield* Fiber.join(consumer).pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(seen.size, total)
      assert.isTrue(cuts >= 3, `connections cut: ${cuts}`)
      assert.isDefined(yield* follower.checkpoint)
    }))

  it.scoped("a follower sees every document written while the server restarts again and again", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (server.restart === undefined) return
      const restart = server.restart
      const db = yield* testDatabase("restart")
      const follower = yield* db.follow({ heartbeat: "200 millis", schedule: Schedule.spaced("50 millis") })
      const total = 40
      const { consumer, seen } = yield* watchIds(follower.changes, total)
      // the writer waits out each restart: its writes fail with TransportError while the server is away
      let failedWrites = 0
      const write = (id: string) =>
        db.put({ _id: id }).pipe(
          Effect.tapErrorTag("TransportError", () => Effect.sync(() => failedWrites++)),
          Effect.retry({ schedule: Schedule.spaced("50 millis"), while: (error) => error._tag === "TransportError" }),
          // a write whose answer was lost in the restart may have landed: the retry then meets it
          Effect.catchTag("ConflictError", () => Effect.void)
        )
      for (let i = 0; i < total; i++) {
        if (i % 10 === 5) yield* Effect.fork(restart("300 millis"))
        yield* write(`doc-${i}`)
        yield* Effect.sleep("20 millis")
      }
      yield* Fiber.join(consumer).pipe(Effect.timeout("30 seconds"))
      assert.strictEqual(seen.size, total)
      assert.isTrue(failedWrites >= 3, `writes that met the server away: ${failedWrites}`)
    }))

  it.scoped("a one-request read whose connection is cut goes on where it stopped: every row once, every change at least once", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const db = yield* testDatabase("resume")
      // ~16 MiB of documents: more than the sockets on the way hold, so that the answer is still arriving when cut
      const padding = "x".repeat(4000)
      const total = 4000
      for (let start = 0; start < total; start += 500) {
        yield* db.bulkDocs(Array.from({ length: 500 }, (_, i) => ({ _id: `doc-${String(start + i).padStart(5, "0")}`, padding })))
      }
      const cutter = yield* proxy(server.url)
      const viaProxy = yield* (yield* sessionThrough(cutter.url)).use(db.name)
      const cutAt = new Set([300, 1500, 2700])
      let cuts = 0
      const cutWhenAt = (n: number) => cutAt.has(n) ? Effect.map(cutter.cut, (cut) => void (cuts += cut > 0 ? 1 : 0)) : Effect.void
      let rowsSeen = 0
      const rows = yield* viaProxy.allDocs({ includeDocs: true, oneRequest: true }).pipe(
        Stream.tap(() => cutWhenAt(++rowsSeen)),
        Stream.map((row) => row._tag === "Row" ? row.id : row.key),
        Stream.runCollect
      )
      assert.isTrue(cuts >= 2, `answers cut while arriving: ${cuts}`)
      assert.deepStrictEqual(Chunk.toReadonlyArray(rows), Array.from({ length: total }, (_, i) => `doc-${String(i).padStart(5, "0")}`))
      // a map view whose keys are shared by ten rows each: a cut inside a key resumes from that key, dropping its
      // rows already delivered (on a sharded database too: the rows of a view come ordered by key, then id)
      yield* db.put({ _id: "_design/resume", views: { by_group: { map: "function (doc) { emit(doc._id.slice(0, 8), null) }" } } })
      cuts = 0
      rowsSeen = 0
      const viewRows = yield* viaProxy.view("resume", "by_group", { oneRequest: true, includeDocs: true }).pipe(
        Stream.tap(() => cutWhenAt(++rowsSeen)),
        Stream.map((row) => row.id),
        Stream.runCollect
      )
      assert.isTrue(cuts >= 2, `views cut while arriving: ${cuts}`)
      assert.deepStrictEqual(Chunk.toReadonlyArray(viewRows), Array.from({ length: total }, (_, i) => `doc-${String(i).padStart(5, "0")}`))
      cuts = 0
      rowsSeen = 0
      const changes = yield* viaProxy.changes({ oneRequest: true, includeDocs: true }).pipe(
        Stream.tap(() => cutWhenAt(++rowsSeen)),
        Stream.runCollect
      )
      assert.isTrue(cuts >= 2, `feeds cut while arriving: ${cuts}`)
      // a sequence resumes exactly on one node; a cluster may repeat some changes (at least once)
      assert.strictEqual(new Set(ids(Chunk.toReadonlyArray(changes))).size, total + 1)
      assert.strictEqual(Chunk.unsafeLast(changes)._tag, "LastSeq")
    }), { timeout: 60_000 })

  it.scoped("a follower's checkpoint, read while a change is handled, is that change's sequence", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("checkpoint")
      yield* db.bulkDocs(Array.from({ length: 25 }, (_, i) => ({ _id: `doc-${i}` })))
      const follower = yield* db.follow({ heartbeat: "200 millis" })
      const handled = yield* follower.changes.pipe(
        Stream.take(25),
        Stream.mapEffect((change) => Effect.map(follower.checkpoint, (checkpoint) => [change.seq, checkpoint] as const)),
        collect
      )
      assert.strictEqual(handled.length, 25)
      for (const [seq, checkpoint] of handled) assert.deepStrictEqual(checkpoint, seq)
    }))

  it.scoped("a follower of a deleted database stops with NotFoundError", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("follow")
      yield* db.put({ _id: "x" })
      const follower = yield* db.follow({
        heartbeat: "100 millis",
        schedule: Schedule.spaced("20 millis"),
        reconnectAfter: "300 millis"
      })
      const fiber = yield* Effect.fork(Stream.runDrain(follower.changes))
      yield* Effect.sleep("200 millis")
      yield* db.delete
      const result = yield* Fiber.join(fiber).pipe(Effect.either, Effect.timeout("10 seconds"))
      assert.instanceOf(Either.isLeft(result) ? result.left : undefined, CouchError.NotFoundError)
    }))

  it.scoped("interrupting the consumer closes the feed's connection", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const db = yield* testDatabase("follow")
      const watcher = yield* proxy(server.url)
      const viaProxy = yield* (yield* sessionThrough(watcher.url)).use(db.name)
      const fiber = yield* Effect.fork(Stream.runDrain(viaProxy.changes({ feed: "continuous", heartbeat: "100 millis" })))
      yield* Effect.sleep("300 millis")
      assert.isTrue((yield* watcher.open) >= 1)
      yield* Fiber.interrupt(fiber)
      const closed = yield* watcher.open.pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (open) => open === 0 }),
        Effect.timeout("5 seconds"),
        Effect.either
      )
      assert.isTrue(Either.isRight(closed), "the connection stayed open")
    }))
})
