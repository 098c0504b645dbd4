import { CouchTestServer } from "@effect-couch/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { CouchAuth, CouchError, CouchSession, DbUpdates } from "../src/index.js"
import * as DbUpdatesImpl from "../src/internal/dbUpdates.js"
import { eventually, TestLive, throwawayUser } from "./support.js"

const leftOf = <A, E>(effect: Effect.Effect<A, E>) => Effect.flip(effect)

/** A name of this test run's own, for databases whose events the tests look for. */
const uniqueName = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`

/** The `_global_changes` database that `_db_updates` reads, created for the suite when the server lacks it. */
const withGlobalChanges = Effect.gen(function*() {
  const couch = yield* CouchSession.CouchSession
  const created = yield* couch.create("_global_changes").pipe(
    Effect.as(true),
    Effect.catchTag("PreconditionFailedError", () => Effect.succeed(false))
  )
  return created
})

/** The updates of `dbName` among events. */
const updatesOf = (events: Chunk.Chunk<DbUpdates.DbUpdateEvent>, dbName: string) =>
  Chunk.toReadonlyArray(events).filter((event): event is DbUpdates.DbUpdate =>
    event._tag === "DbUpdate" && event.dbName === dbName
  )

/** The current end of the server's feed: the last sequence of an empty `since=now` read. */
const now = Effect.gen(function*() {
  const couch = yield* CouchSession.CouchSession
  const events = yield* Stream.runCollect(couch.dbUpdates({ since: "now" }))
  const last = Chunk.last(events)
  assert.isTrue(last._tag === "Some" && last.value._tag === "LastSeq")
  return last._tag === "Some" && last.value._tag === "LastSeq" ? last.value.lastSeq : ""
})

layer(TestLive, { excludeTestServices: true, timeout: 60_000 })("_db_updates", (it) => {
  it.scoped("normal feed: the creation, update and deletion of a database, in order, then the last sequence", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const couch = yield* CouchSession.CouchSession
      if (!server.capabilities.dbUpdates) {
        // the embedded server has no such feed: 400 with no body
        assert.instanceOf(yield* leftOf(Stream.runCollect(couch.dbUpdates())), CouchError.BadRequestError)
        return
      }
      yield* withGlobalChanges
      const since = yield* now
      const name = uniqueName("dbu")
      const db = yield* couch.create(name)
      yield* db.put({ _id: "a" })
      // events are recorded a moment after they happen ([global_changes] max_write_delay): wait for them
      const afterWrite = yield* eventually(
        Stream.runCollect(couch.dbUpdates({ since })),
        (events) => updatesOf(events, name).some((event) => event.type === "updated")
      )
      // a cluster's nodes record their copies' events each: they arrive in no set order (measured on a 3-node
      // CouchDB 3.5.2, an update recorded by another node came after the deletion)
      const written = updatesOf(afterWrite, name).map((event) => event.type)
      if (server.capabilities.cluster) assert.includeMembers(written, ["created", "updated"])
      else assert.deepStrictEqual(written.slice(0, 2), ["created", "updated"])
      assert.strictEqual(Chunk.unsafeLast(afterWrite)._tag, "LastSeq")
      yield* db.delete
      const afterDelete = yield* eventually(
        Stream.runCollect(couch.dbUpdates({ since })),
        (events) => updatesOf(events, name).some((event) => event.type === "deleted")
      )
      const deleted = updatesOf(afterDelete, name).map((event) => event.type)
      if (server.capabilities.cluster) assert.include(deleted, "deleted")
      else assert.strictEqual(deleted.at(-1), "deleted")
      // `limit`, and `descending`: the newest first
      const one = yield* Stream.runCollect(couch.dbUpdates({ since, limit: 1 }))
      assert.deepStrictEqual(Chunk.toReadonlyArray(one).map((event) => event._tag), ["DbUpdate", "LastSeq"])
      const newest = yield* Stream.runCollect(couch.dbUpdates({ descending: true, limit: 2 }))
      assert.strictEqual(Chunk.size(newest), 3)
      // the sequence of an event reads the events after it (other databases' events may come between)
      const first = Chunk.unsafeHead(one)
      assert.strictEqual(first._tag, "DbUpdate")
      const firstSeq = first._tag === "DbUpdate" ? first.seq : ""
      const rest = yield* Stream.runCollect(couch.dbUpdates({ since: firstSeq }))
      assert.isFalse(Chunk.some(rest, (event) => event._tag === "DbUpdate" && event.seq === firstSeq))
      const after = updatesOf(rest, name).map((event) => event.type)
      if (server.capabilities.cluster) assert.include(after, "deleted")
      else assert.strictEqual(after.at(-1), "deleted")
    }))

  it.scoped("longpoll waits for the next event; continuous gives events as they happen, and ends after its limit", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.dbUpdates) return
      const couch = yield* CouchSession.CouchSession
      yield* withGlobalChanges
      const name = uniqueName("dbu-poll")
      const poll = yield* Effect.fork(Stream.runCollect(couch.dbUpdates({ feed: "longpoll", since: "now", timeout: "20 seconds" })))
      // read until this test's database shows (a shared server's feed may never be idle long enough for a timeout)
      const continuous = yield* Effect.fork(Stream.runCollect(
        couch.dbUpdates({ feed: "continuous", since: "now" }).pipe(
          Stream.takeUntil((event) => event._tag === "DbUpdate" && event.dbName === name)
        )
      ))
      yield* Effect.sleep("500 millis")
      const db = yield* couch.create(name)
      yield* Effect.addFinalizer(() => Effect.ignore(db.delete))
      const polled = yield* Fiber.join(poll)
      // a longpoll ends with the first events recorded, which may be another database's
      assert.isAbove(Chunk.size(polled), 1)
      assert.strictEqual(Chunk.unsafeLast(polled)._tag, "LastSeq")
      const streamed = yield* Fiber.join(continuous)
      assert.deepStrictEqual(updatesOf(streamed, name).map((event) => event.type), ["created"])
      // a continuous feed with a limit ends with its last sequence
      const limited = yield* Stream.runCollect(couch.dbUpdates({ feed: "continuous", limit: 1 }))
      assert.deepStrictEqual(Chunk.toReadonlyArray(limited).map((event) => event._tag), ["DbUpdate", "LastSeq"])
    }))

  it.scoped("a follower hands on every database created, and its checkpoint resumes after the last one", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.dbUpdates) return
      const couch = yield* CouchSession.CouchSession
      yield* withGlobalChanges
      const since = yield* now
      const names = [uniqueName("dbu-f1"), uniqueName("dbu-f2"), uniqueName("dbu-f3")]
      const follower = yield* couch.followDbUpdates({ since, heartbeat: "1 second", reconnectAfter: "2 seconds" })
      // until every name was seen: delivery is at least once (on a cluster, a reconnection can repeat events)
      const seen = yield* Effect.fork(follower.updates.pipe(
        Stream.filter((event) => names.includes(event.dbName) && event.type === "created"),
        Stream.mapAccum(new Set<string>(), (done, event) => {
          const next = new Set(done).add(event.dbName)
          return [next, { event, all: next.size === names.length }]
        }),
        Stream.takeUntil(({ all }) => all),
        Stream.map(({ event }) => event),
        Stream.runCollect
      ))
      for (const name of names) {
        const db = yield* couch.create(name)
        yield* Effect.addFinalizer(() => Effect.ignore(db.delete))
        yield* Effect.sleep("700 millis")
      }
      const created = Chunk.toReadonlyArray(yield* Fiber.join(seen))
      // in feed order, which on a cluster interleaves the shards of _global_changes: compared as sets
      assert.deepStrictEqual([...new Set(created.map((event) => event.dbName))].sort(), [...names].sort())
      // the checkpoint is the last event handed on
      assert.strictEqual(yield* follower.checkpoint, created.at(-1)?.seq)
    }))

  it.scoped("a user who is not a server admin is refused: UnauthorizedError (401, as CouchDB 3.5.2 answers)", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.dbUpdates) return
      const user = yield* throwawayUser("dbu")
      const session = yield* CouchSession.make({ url: server.url, auth: CouchAuth.basic(user.name, user.password) })
      const error = yield* leftOf(Stream.runCollect(session.dbUpdates()))
      assert.instanceOf(error, CouchError.UnauthorizedError)
      assert.strictEqual(error instanceof CouchError.UnauthorizedError ? error.reason : "", "You are not a server admin.")
      // a follower does not retry what retrying cannot cure
      const follower = yield* session.followDbUpdates()
      assert.instanceOf(yield* leftOf(Stream.runCollect(follower.updates)), CouchError.UnauthorizedError)
    }))

  it.scoped("a malformed since is a BadRequestError", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.dbUpdates) return
      const couch = yield* CouchSession.CouchSession
      yield* withGlobalChanges
      const error = yield* leftOf(Stream.runCollect(couch.dbUpdates({ since: "not-a-sequence" })))
      assert.instanceOf(error, CouchError.BadRequestError)
    }))
})

// -----------------------------------------------------------------------------
// A fake server: the follower's reconnections, the normal feed's resumption
// -----------------------------------------------------------------------------

const encoder = new TextEncoder()
const update = (i: number) => ({ db_name: `db${i}`, type: "created", seq: `${i}-g` })

/** An answer of the fake server: lines of a body that ends, or breaks off after them, or a status. */
type FakeAnswer =
  | { readonly lines: ReadonlyArray<string>; readonly then: "end" | "break" }
  | { readonly status: number; readonly body: unknown }

const bodyOf = (answer: Extract<FakeAnswer, { readonly lines: ReadonlyArray<string> }>) => {
  // a piece a pull: an error in `start` would drop the pieces queued before it
  let next = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const piece = answer.lines[next++]
      if (piece !== undefined) controller.enqueue(encoder.encode(piece))
      else if (answer.then === "end") controller.close()
      else controller.error(new Error("socket hang up"))
    }
  })
}

/** A session on a fake server whose `n`-th answer is `answers(n, url)`, and the URLs it was asked. */
const fakeSession = (answers: (n: number, url: URL) => FakeAnswer, retry: boolean) => {
  const urls: Array<URL> = []
  const client = HttpClient.make((request, url) => {
    urls.push(url)
    const answer = answers(urls.length - 1, url)
    if ("status" in answer) {
      return Effect.succeed(HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify(answer.body), { status: answer.status, headers: { "content-type": "application/json" } })
      ))
    }
    return answer.lines.length === 0 && answer.then === "break" ?
      Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error("connection refused") })) :
      Effect.succeed(HttpClientResponse.fromWeb(
        request,
        new Response(bodyOf(answer), { status: 200, headers: { "content-type": "application/json" } })
      ))
  })
  const session = CouchSession.make({
    url: "http://couch.test",
    ...(retry ? { retry: Schedule.spaced("1 millis").pipe(Schedule.intersect(Schedule.recurs(3))) } : { retry: false })
  }).pipe(Effect.provide(Layer.succeed(HttpClient.HttpClient, client)))
  return { urls, session }
}

const line = (value: unknown) => `${JSON.stringify(value)}\n`

describe("_db_updates on a fake server", () => {
  it.scoped("a follower reconnects from the event it handed on last, after a break, a refused connection and a 503", () =>
    Effect.gen(function*() {
      const { session, urls } = fakeSession((n) => {
        switch (n) {
          case 0:
            return { lines: [line(update(1)), "\n", line(update(2))], then: "break" }
          case 1:
            return { lines: [], then: "break" }
          case 2:
            return { status: 503, body: { error: "service_unavailable", reason: "busy" } }
          case 3:
            // the event at the checkpoint again (since is exclusive on CouchDB, not on every server), then new ones
            return { lines: [line(update(2)), line(update(3)), line({ last_seq: "3-g" })], then: "end" }
          default:
            return { lines: [line(update(n)), line({ last_seq: `${n}-g` })], then: "end" }
        }
      }, false)
      const couch = yield* session
      const follower = yield* couch.followDbUpdates({ since: "0-g", schedule: Schedule.spaced("1 millis") })
      const events = yield* Stream.runCollect(Stream.take(follower.updates, 4))
      assert.deepStrictEqual(Chunk.toReadonlyArray(events).map((event) => event.dbName), ["db1", "db2", "db3", "db4"])
      assert.strictEqual(yield* follower.checkpoint, "4-g")
      const sinces = urls.map((url) => url.searchParams.get("since"))
      assert.deepStrictEqual(sinces.slice(0, 5), ["0-g", "2-g", "2-g", "2-g", "3-g"])
      assert.isTrue(urls.every((url) => url.pathname === "/_db_updates" && url.searchParams.get("feed") === "continuous"))
      // the follower asks for heartbeats, 30 s by default
      assert.strictEqual(urls[0]?.searchParams.get("heartbeat"), "30000")
    }))

  it.scoped("a follower stops at an error retrying cannot cure (401 and a malformed line), without reconnecting", () =>
    Effect.gen(function*() {
      const unauthorized = fakeSession(() => ({ status: 401, body: { error: "unauthorized", reason: "You are not a server admin." } }), false)
      const follower = yield* Effect.flatMap(unauthorized.session, (couch) => couch.followDbUpdates())
      assert.instanceOf(yield* leftOf(Stream.runCollect(follower.updates)), CouchError.UnauthorizedError)
      assert.strictEqual(unauthorized.urls.length, 1)
      const malformed = fakeSession(() => ({ lines: [line(update(1)), line({ db_name: 7, type: "created", seq: "2-g" })], then: "end" }), false)
      const second = yield* Effect.flatMap(malformed.session, (couch) => couch.followDbUpdates())
      const error = yield* leftOf(Stream.runCollect(second.updates))
      assert.instanceOf(error, CouchError.ResponseDecodeError)
      assert.include(error instanceof CouchError.ResponseDecodeError ? error.description : "", "db_name is not a string")
      assert.strictEqual(malformed.urls.length, 1)
    }))

  it.scoped("a normal feed whose answer breaks off goes on after its last event, its limit counted", () =>
    Effect.gen(function*() {
      const { session, urls } = fakeSession((n) =>
        n === 0 ?
          { lines: ["{\"results\":[\n", `${JSON.stringify(update(1))},\r\n`, `${JSON.stringify(update(2))},\r\n`], then: "break" } :
          { lines: [`{"results":[\n${JSON.stringify(update(3))}\n],\n"last_seq":"3-g"}\n`], then: "end" }, true)
      const couch = yield* session
      const events = yield* Stream.runCollect(couch.dbUpdates({ limit: 3 }))
      assert.deepStrictEqual(Chunk.toReadonlyArray(events), [
        { _tag: "DbUpdate", dbName: "db1", type: "created", seq: "1-g" },
        { _tag: "DbUpdate", dbName: "db2", type: "created", seq: "2-g" },
        { _tag: "DbUpdate", dbName: "db3", type: "created", seq: "3-g" },
        { _tag: "LastSeq", lastSeq: "3-g", pending: undefined }
      ])
      assert.deepStrictEqual(urls.map((url) => [url.searchParams.get("since"), url.searchParams.get("limit")]), [[null, "3"], ["2-g", "1"]])
    }))

  it.scoped("options go on the query string: feed, since, limit, descending, heartbeat and timeout in ms", () =>
    Effect.gen(function*() {
      const { session, urls } = fakeSession(() => ({ lines: [line({ last_seq: "9-g" })], then: "end" }), false)
      const couch = yield* session
      const events = yield* Stream.runCollect(
        couch.dbUpdates({ feed: "continuous", since: "now", limit: 5, heartbeat: "2 seconds", timeout: "1 minute" })
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(events), [{ _tag: "LastSeq", lastSeq: "9-g", pending: undefined }])
      assert.deepStrictEqual(Object.fromEntries(urls[0]?.searchParams ?? []), {
        feed: "continuous",
        since: "now",
        limit: "5",
        heartbeat: "2000",
        timeout: "60000"
      })
    }))
})

describe("the DbUpdate codec", () => {
  const decode = Schema.decodeUnknownEither(DbUpdates.DbUpdate)
  const encode = Schema.encodeSync(DbUpdates.DbUpdate)

  it.prop("an event round-trips through the wire form, and the feed's line reader reads that form as the schema does", {
    event: DbUpdates.DbUpdate
  }, ({ event }) => {
    const wire = encode(event)
    assert.deepStrictEqual(Object.keys(wire).sort(), ["db_name", "seq", "type"])
    assert.deepStrictEqual(decode(wire), Either.right(event))
    assert.deepStrictEqual(DbUpdatesImpl.feedLine(wire), event)
  })

  it.prop("a line the schema refuses, the line reader refuses too", {
    value: Schema.Struct({
      db_name: Schema.Union(Schema.String, Schema.Number, Schema.Null),
      type: Schema.Union(Schema.String, Schema.Boolean),
      seq: Schema.Union(Schema.String, Schema.Number, Schema.Null)
    })
  }, ({ value }) => {
    const bySchema = decode(value)
    const byReader = DbUpdatesImpl.feedLine(value)
    assert.strictEqual(typeof byReader === "string", Either.isLeft(bySchema))
  })
})
