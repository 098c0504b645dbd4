/**
 * How pages and feeds are read off the wire: rows checked without a schema per row, documents decoded in a loop
 * (or one effect at a time for a schema that needs it), feed lines split across any chunk boundary, one-request
 * reads that go on after a broken answer, view pages that go on from the key as sent, and a follower's connections
 * (silence, reconnection, reading ahead of its consumer). Against fake servers: every cut and timing is chosen.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { type Changes, CouchError, CouchSession, type Database } from "../src/index.js"
import { fakeClient, json } from "./fake.js"

const withDatabase = <A, E>(
  fake: ReturnType<typeof fakeClient>,
  f: (db: Database.Database) => Effect.Effect<A, E>,
  options: { readonly retry?: false | undefined } = { retry: false }
) =>
  Effect.scoped(
    Effect.flatMap(CouchSession.make({ url: "http://couch.test", ...options }), (couch) =>
      Effect.flatMap(couch.use("db"), f))
  ).pipe(Effect.provide(fake.layer))

const row = (i: number, doc: Record<string, unknown> = { _id: `doc${i}`, _rev: "1-a", n: i }) => ({
  id: `doc${i}`,
  key: `doc${i}`,
  value: { rev: "1-a" },
  doc
})

const allDocsAnswer = (rows: ReadonlyArray<unknown>) => json(200, { total_rows: rows.length, offset: 0, rows })

const Numbered = Schema.Struct({ _id: Schema.String, _rev: Schema.String, n: Schema.Number })

/** The same documents, decoded by a schema that can only decode asynchronously. */
const SlowNumbered = Schema.transformOrFail(Numbered, Numbered, {
  strict: true,
  decode: (doc) => Effect.as(Effect.sleep("1 millis"), doc),
  encode: ParseResult.succeed
})

const leftOf = <A, E>(either: Either.Either<A, E>) => Either.isLeft(either) ? either.left : undefined

describe("_all_docs pages", () => {
  it.live("rows decode with a synchronous schema and with one that needs effects, in order", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() => allDocsAnswer([row(1), row(2), { key: "gone", error: "not_found" }, row(3)]))
      for (const schema of [Numbered, SlowNumbered]) {
        const rows = yield* withDatabase(fake, (db) =>
          Stream.runCollect(db.withSchema(schema).allDocs({ includeDocs: true, keys: ["doc1", "doc2", "gone", "doc3"] })))
        assert.deepStrictEqual(
          Chunk.toReadonlyArray(rows).map((row) => row._tag === "Row" ? row.doc?.n : row.error),
          [1, 2, "not_found", 3]
        )
      }
    }))

  it.live("a document that does not match fails the page, or is a Left in either mode", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() => allDocsAnswer([row(1), row(2, { _id: "doc2", _rev: "1-a", n: "two" }), row(3)]))
      for (const schema of [Numbered, SlowNumbered]) {
        const failed = yield* withDatabase(fake, (db) =>
          Effect.either(Stream.runCollect(db.withSchema(schema).allDocs({ includeDocs: true }))))
        const error = leftOf(failed)
        assert.strictEqual(error?._tag, "DocumentDecodeError")
        assert.strictEqual(error?._tag === "DocumentDecodeError" ? error.id : undefined, "doc2")
        const either = yield* withDatabase(fake, (db) =>
          Stream.runCollect(db.withSchema(schema).allDocs({ includeDocs: true, decode: "either" })))
        assert.deepStrictEqual(
          Chunk.toReadonlyArray(either).map((row) => row._tag === "Row" && row.doc != null && Either.isRight(row.doc)),
          [true, false, true]
        )
      }
    }))

  it.effect("a page of 10,000 rows folds without overflowing the stack (chunks stay at most 4,096 long)", () =>
    Effect.gen(function*() {
      const rows = Array.from({ length: 10_000 }, (_, i) => row(i))
      const fake = fakeClient(() => allDocsAnswer(rows))
      const [count, longest] = yield* withDatabase(fake, (db) =>
        Stream.runFold(
          Stream.chunks(db.allDocs({ includeDocs: true, pageSize: 10_000, limit: 10_000 })),
          [0, 0] as readonly [number, number],
          ([count, longest], chunk) => [count + chunk.length, Math.max(longest, chunk.length)] as const
        ))
      assert.strictEqual(count, 10_000)
      assert.isAtMost(longest, 4096)
      const folded = yield* withDatabase(fake, (db) =>
        Stream.runFold(db.allDocs({ pageSize: 10_000, limit: 10_000 }), 0, (n) => n + 1))
      assert.strictEqual(folded, 10_000)
    }))

  it.effect.prop(
    "in one request, the rows are read as the answer arrives, wherever it is cut",
    [FastCheck.array(FastCheck.nat(), { maxLength: 30 }), FastCheck.boolean()],
    ([cuts, couchLayout]) =>
      Effect.gen(function*() {
        const rows = Array.from({ length: 300 }, (_, i) => row(i, { _id: `doc${i}`, _rev: "1-a", n: i, text: "ünï €😀 ]}\"," }))
        const text = couchLayout ?
          `{"total_rows":300,"offset":0,"rows":[\r\n${rows.map((r) => JSON.stringify(r)).join(",\r\n")}\r\n]}\n` :
          JSON.stringify({ total_rows: 300, offset: 0, rows })
        const fake = fakeClient(() => chunked(cut(new TextEncoder().encode(text), cuts)))
        const read = yield* withDatabase(fake, (db) =>
          Stream.runCollect(db.withSchema(Numbered).allDocs({ includeDocs: true, oneRequest: true })))
        assert.deepStrictEqual(Chunk.toReadonlyArray(read).map((row) => row._tag === "Row" ? row.doc?.n : -1), rows.map((_, i) => i))
        assert.strictEqual(fake.seen.length, 1)
      })
  )

  it.effect("in one request, a malformed row or an answer cut short is a ResponseDecodeError", () =>
    Effect.gen(function*() {
      const bad = fakeClient(() => chunked([new TextEncoder().encode(`{"rows":[${JSON.stringify(row(1))},{"id":7,"key":"x","value":{"rev":"1-a"}}]}`)]))
      const badRow = leftOf(yield* withDatabase(bad, (db) => Effect.either(Stream.runCollect(db.allDocs({ oneRequest: true })))))
      assert.instanceOf(badRow, CouchError.ResponseDecodeError)
      assert.include(badRow instanceof CouchError.ResponseDecodeError ? badRow.description : "", "rows[1]")
      const short = fakeClient(() => chunked([new TextEncoder().encode(`{"rows":[${JSON.stringify(row(1))},`)]))
      const cutShort = leftOf(yield* withDatabase(short, (db) => Effect.either(Stream.runCollect(db.allDocs({ oneRequest: true })))))
      assert.instanceOf(cutShort, CouchError.ResponseDecodeError)
      assert.include(cutShort instanceof CouchError.ResponseDecodeError ? cutShort.description : "", "ended before its rows")
    }))

  it.effect("a malformed row is a ResponseDecodeError that names it", () =>
    Effect.gen(function*() {
      for (const bad of [{ id: "x", key: "x", value: { rev: 1 } }, "a string", { id: 7, key: "x", value: { rev: "1-a" } }, { id: "x" }]) {
        const fake = fakeClient(() => allDocsAnswer([row(1), bad]))
        const result = yield* withDatabase(fake, (db) => Effect.either(Stream.runCollect(db.allDocs())))
        const error = leftOf(result)
        assert.instanceOf(error, CouchError.ResponseDecodeError)
        assert.include(error instanceof CouchError.ResponseDecodeError ? error.description : "", "rows[1]")
      }
    }))
})

const change = (i: number) => ({ seq: `${i}-g1`, id: `doc${i}`, changes: [{ rev: "1-a" }] })

/** A response whose body arrives in the given pieces. */
const chunked = (pieces: ReadonlyArray<Uint8Array>) =>
  new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const piece of pieces) controller.enqueue(piece)
        controller.close()
      }
    }),
    { status: 200, headers: { "content-type": "application/json" } }
  )

/** Cuts bytes at the given offsets. */
const cut = (bytes: Uint8Array, offsets: ReadonlyArray<number>) => {
  const points = [...new Set(offsets.map((offset) => offset % (bytes.length + 1)))].sort((a, b) => a - b)
  const pieces: Array<Uint8Array> = []
  let from = 0
  for (const point of [...points, bytes.length]) {
    pieces.push(bytes.subarray(from, point))
    from = point
  }
  return pieces
}

describe("one request or pages", () => {
  // a fake `_all_docs` of `count` rows and a fake `_changes` of `count` changes that honour `startkey`, `since`,
  // `limit` and `keys`
  const database = (count: number) =>
    fakeClient((seen) => {
      const params = seen.url.searchParams
      const limit = params.has("limit") ? Number(params.get("limit")) : Infinity
      if (seen.url.pathname.endsWith("/_changes")) {
        const since = params.has("since") ? Number.parseInt(params.get("since")!, 10) : 0
        const results = Array.from({ length: Math.max(0, Math.min(count - since, limit)) }, (_, i) => change(since + i + 1))
        return json(200, { results, last_seq: results.at(-1)?.seq ?? `${since}-g1`, pending: 0 })
      }
      const start = params.has("startkey") ? Number(JSON.parse(params.get("startkey")!).slice(3)) : 0
      const rows = Array.from({ length: count }, (_, i) => row(i)).slice(start).slice(0, limit)
      return allDocsAnswer(seen.method === "POST" ? [row(0)] : rows)
    })
  const sizes = (fake: ReturnType<typeof database>): ReadonlyArray<string> =>
    fake.seen.map((seen) => `${seen.method} ${seen.url.searchParams.get("limit") ?? "all"}`)

  it.effect("_all_docs and the normal feed are one request unless a pageSize (or oneRequest: false) asks for pages", () =>
    Effect.gen(function*() {
      const count = 25
      const ids = (rows: Chunk.Chunk<Database.AllDocsRow<unknown> | Database.AllDocsErrorRow>) =>
        Chunk.toReadonlyArray(rows).map((row) => row._tag === "Row" ? row.id : "!")
      const all = Array.from({ length: count }, (_, i) => `doc${i}`)
      const reads = [
        [{}, ["GET all"]],
        [{ oneRequest: true }, ["GET all"]],
        [{ pageSize: 10 }, ["GET 11", "GET 11", "GET 11"]],
        [{ oneRequest: false }, ["GET 1001"]],
        [{ pageSize: 10, oneRequest: true }, ["GET all"]]
      ] as const
      for (const [options, requests] of reads) {
        const fake = database(count)
        assert.deepStrictEqual(ids(yield* withDatabase(fake, (db) => Stream.runCollect(db.allDocs(options)))), all)
        assert.deepStrictEqual(sizes(fake), requests, JSON.stringify(options))
      }
      // a list of keys goes in pieces of pageSize (default 1000), or whole with oneRequest
      const keys = Array.from({ length: 2500 }, (_, i) => `doc${i}`)
      for (const [options, requests] of [[{}, 3], [{ pageSize: 500 }, 5], [{ oneRequest: true }, 1]] as const) {
        const fake = database(count)
        yield* withDatabase(fake, (db) => Stream.runDrain(db.allDocs({ ...options, keys })))
        assert.deepStrictEqual(sizes(fake), Array.from({ length: requests }, () => "POST all"), JSON.stringify(options))
      }
      const feeds = [
        [{}, ["GET all"]],
        [{ pageSize: 10 }, ["GET 10", "GET 10", "GET 10"]],
        [{ oneRequest: false }, ["GET 1000"]],
        [{ pageSize: 10, descending: true }, ["GET all"]]
      ] as const
      for (const [options, requests] of feeds) {
        const fake = database(count)
        const events = Chunk.toReadonlyArray(yield* withDatabase(fake, (db) => Stream.runCollect(db.changes(options))))
        assert.strictEqual(events.filter((event) => event._tag === "Change").length, count, JSON.stringify(options))
        assert.deepStrictEqual(events.at(-1), { _tag: "LastSeq", lastSeq: `${count}-g1`, pending: 0 })
        assert.deepStrictEqual(sizes(fake), requests, JSON.stringify(options))
      }
    }))
})

describe("long pieces", () => {
  /** The lengths of the chunks a stream hands on, and whether `Stream.runFold` gets through it. */
  const chunksOf = <A, E>(stream: Stream.Stream<A, E>) =>
    Effect.all({
      lengths: Effect.map(Stream.runCollect(Stream.map(Stream.chunks(stream), (chunk) => chunk.length)), Chunk.toReadonlyArray),
      folded: Stream.runFold(stream, 0, (count) => count + 1)
    })

  it.effect("the rows of one piece of 30,000 reach the consumer in chunks of at most 4,096, which Stream.runFold folds", () =>
    Effect.gen(function*() {
      // a reader slower than the connection is handed everything received meanwhile (up to a megabyte) in one go
      const rows = Array.from({ length: 30_000 }, (_, i) => ({ id: `d${i}`, key: `d${i}`, value: { rev: "1-a" } }))
      const fake = fakeClient(() => allDocsAnswer(rows))
      const { folded, lengths } = yield* withDatabase(fake, (db) => chunksOf(db.allDocs()))
      assert.strictEqual(folded, 30_000)
      assert.deepStrictEqual(lengths, [...Array.from({ length: 7 }, () => 4096), 30_000 - 7 * 4096])
    }))

  it.effect("the changes of one piece of a continuous feed of 20,000 lines too", () =>
    Effect.gen(function*() {
      const lines = [...Array.from({ length: 20_000 }, (_, i) => JSON.stringify(change(i))), JSON.stringify({ last_seq: "x", pending: 0 })]
      const fake = fakeClient(() => chunked([new TextEncoder().encode(lines.join("\n") + "\n")]))
      const { folded, lengths } = yield* withDatabase(fake, (db) => chunksOf(db.changes({ feed: "continuous" })))
      assert.strictEqual(folded, 20_001)
      assert.isTrue(lengths.every((length) => length <= 4096))
      assert.strictEqual(lengths.reduce((sum, length) => sum + length, 0), 20_001)
    }))
})

describe("continuous feed lines", () => {
  const count = 6
  // heartbeats, CRLF line ends, a document with multi-byte characters and no newline after the last line
  const feed = new TextEncoder().encode(
    [
      ...Array.from({ length: count }, (_, i) => JSON.stringify({ ...change(i), doc: { _id: `doc${i}`, text: "ünï €😀" } })),
      "",
      "",
      JSON.stringify({ last_seq: `${count - 1}-g1`, pending: 0 })
    ].join("\r\n").replace("\r\n\r\n", "\n\n")
  )

  it.effect.prop(
    "a feed cut into pieces anywhere, even inside a character, parses to the same events",
    [FastCheck.array(FastCheck.nat(), { maxLength: 40 })],
    ([offsets]) =>
      Effect.gen(function*() {
        const fake = fakeClient(() => chunked(cut(feed, offsets)))
        const events = yield* withDatabase(fake, (db) =>
          Stream.runCollect(db.changes({ feed: "continuous", includeDocs: true })))
        const list = Chunk.toReadonlyArray(events)
        assert.strictEqual(list.length, count + 1)
        list.slice(0, count).forEach((event, i) => {
          assert.strictEqual(event._tag === "Change" ? event.id : undefined, `doc${i}`)
          assert.strictEqual(event._tag === "Change" ? (event.doc as { text?: string } | undefined)?.text : undefined, "ünï €😀")
        })
        assert.deepStrictEqual(list[count], { _tag: "LastSeq", lastSeq: `${count - 1}-g1`, pending: 0 })
      })
  )

  it.effect("a line that is not a change is a ResponseDecodeError", () =>
    Effect.gen(function*() {
      for (const line of ["{\"seq\":1}", "[1,2]", "{\"id\":\"a\",\"seq\":1,\"changes\":[{}]}", "not json"]) {
        const fake = fakeClient(() => chunked([new TextEncoder().encode(`${JSON.stringify(change(1))}\n${line}\n`)]))
        const result = yield* withDatabase(fake, (db) => Effect.either(Stream.runCollect(db.changes({ feed: "continuous" }))))
        assert.instanceOf(leftOf(result), CouchError.ResponseDecodeError)
      }
    }))
})

describe("follower checkpoint", () => {
  it.effect("read while a change is handled, it is that change's sequence, even when many arrive in one chunk", () =>
    Effect.gen(function*() {
      const body = new TextEncoder().encode(Array.from({ length: 25 }, (_, i) => JSON.stringify(change(i))).join("\n") + "\n")
      const fake = fakeClient(() => chunked([body]))
      const handled = yield* withDatabase(fake, (db) =>
        Effect.flatMap(db.follow({ heartbeat: "1 second" }), (follower) =>
          follower.changes.pipe(
            Stream.take(25),
            Stream.mapEffect((event) => Effect.map(follower.checkpoint, (checkpoint) => [event.seq, checkpoint] as const)),
            Stream.runCollect
          )))
      assert.strictEqual(handled.length, 25)
      for (const [seq, checkpoint] of handled) assert.strictEqual(checkpoint, seq)
    }))
})

/** An answer whose body breaks off (the connection fails) after the given bytes. */
const breaking = (bytes: Uint8Array) => {
  let sent = false
  return new Response(
    new ReadableStream<Uint8Array>({
      // erroring the stream drops what it holds: the bytes are read first
      pull(controller) {
        if (sent) controller.error(new Error("other side closed"))
        else controller.enqueue(bytes)
        sent = true
      }
    }),
    { status: 200, headers: { "content-type": "application/json" } }
  )
}

/**
 * A fake server whose answers break off: the answer to the n-th request is cut `breaks[n]` bytes into its rows,
 * after its first `minRows` rows at least (so that every attempt delivers something new), then the connection
 * fails. Answers carry the rows `rowsFor` gives for the request, as CouchDB lays them out. `broken` counts the
 * answers that broke.
 */
const breakingServer = (options: {
  readonly breaks: ReadonlyArray<number>
  readonly field: string
  readonly minRows: number
  readonly rowsFor: (url: URL) => ReadonlyArray<unknown>
  readonly rest: string
}) => {
  let broken = 0
  const fake = fakeClient((seen) => {
    const rows = options.rowsFor(seen.url).map((row) => JSON.stringify(row))
    const head = `{"${options.field}":[\r\n`
    const bytes = new TextEncoder().encode(`${head}${rows.join(",\r\n")}\r\n]${options.rest}}\n`)
    if (broken >= options.breaks.length || rows.length <= options.minRows) return chunked([bytes])
    const minEnd = head.length + rows.slice(0, options.minRows).reduce((length, row) => length + row.length + 3, 0)
    return breaking(bytes.subarray(0, minEnd + options.breaks[broken++] % (bytes.length - minEnd)))
  })
  return { ...fake, broken: () => broken }
}
const jsonParam = (url: URL, name: string) => {
  const value = url.searchParams.get(name)
  return value === null ? undefined : JSON.parse(value)
}

/** The rows a fake server answers a request with: from its `startkey` (as `atOrAfter` compares), at most `limit`. */
const fromStartkey = <R, K>(rows: ReadonlyArray<R>, url: URL, atOrAfter: (row: R, startkey: K) => boolean) => {
  const start: K | undefined = jsonParam(url, "startkey")
  const limit = jsonParam(url, "limit")
  const from = rows.filter((row) => start === undefined || atOrAfter(row, start))
  return limit === undefined ? from : from.slice(0, limit)
}

describe("one-request reads that break off", () => {
  const docs = Array.from({ length: 120 }, (_, i) => {
    const id = `doc${String(i).padStart(3, "0")}`
    return { id, key: id, value: { rev: "1-a" }, doc: { _id: id, _rev: "1-a", n: i } }
  })
  const breaks = FastCheck.array(FastCheck.nat(), { maxLength: 4 })

  it.effect.prop("_all_docs goes on from the last document delivered: every row once, in order", [breaks], ([cuts]) =>
    Effect.gen(function*() {
      const fake = breakingServer({
        breaks: cuts,
        field: "rows",
        // the first row of a resumed answer is the last one delivered
        minRows: 2,
        rowsFor: (url) => fromStartkey(docs, url, (row, start: string) => row.key >= start),
        rest: ""
      })
      const read = yield* withDatabase(fake, (db) =>
        Stream.runCollect(db.withSchema(Numbered).allDocs({ includeDocs: true, oneRequest: true, limit: 100 })), {})
      assert.deepStrictEqual(Chunk.toReadonlyArray(read).map((row) => row._tag === "Row" ? row.doc?.n : -1), docs.slice(0, 100).map((_, i) => i))
      assert.strictEqual(fake.seen.length, fake.broken() + 1)
    }))

  it.effect.prop("a view goes on from the last key, without repeating the rows of that key", [breaks], ([cuts]) =>
    Effect.gen(function*() {
      // seven rows a key: a break inside a run of one key resumes at that key
      const rows = docs.map((r, i) => ({ id: r.id, key: [Math.floor(i / 7)], value: i }))
      const fake = breakingServer({
        breaks: cuts,
        field: "rows",
        // a resumed answer starts with up to 6 rows already delivered
        minRows: 8,
        rowsFor: (url) => fromStartkey(rows, url, (row, start: ReadonlyArray<number>) => row.key[0] >= start[0]),
        rest: `,"total_rows":${rows.length},"offset":0`
      })
      const read = yield* withDatabase(fake, (db) =>
        Stream.runCollect(db.view("d", "v", { oneRequest: true, limit: 110 }, { value: Schema.Number })), {})
      assert.deepStrictEqual(Chunk.toReadonlyArray(read).map((row) => row.value), rows.slice(0, 110).map((r) => r.value))
      assert.strictEqual(fake.seen.length, fake.broken() + 1)
    }))

  it.effect.prop("a changes feed goes on after the last change delivered, and ends with its last sequence", [breaks], ([cuts]) =>
    Effect.gen(function*() {
      const changes = Array.from({ length: 80 }, (_, i) => change(i + 1))
      const fake = breakingServer({
        breaks: cuts,
        field: "results",
        minRows: 1,
        rowsFor: (url) => changes.slice(Number.parseInt(url.searchParams.get("since") ?? "0", 10)),
        rest: `,"last_seq":"80-g1","pending":0`
      })
      const read = Chunk.toReadonlyArray(yield* withDatabase(fake, (db) => Stream.runCollect(db.changes({ oneRequest: true })), {}))
      assert.deepStrictEqual(read.map((event) => event._tag === "Change" ? event.seq : event.lastSeq), [
        ...changes.map((c) => c.seq),
        "80-g1"
      ])
      assert.strictEqual(fake.seen.length, fake.broken() + 1)
      assert.strictEqual(fake.seen[0].url.searchParams.get("since"), null)
    }))

  it.effect("a break fails the stream without a retry policy, or before anything was delivered", () =>
    Effect.gen(function*() {
      const noRetry = breakingServer({ breaks: [5], field: "rows", minRows: 1, rowsFor: () => docs, rest: "" })
      const failed = leftOf(yield* withDatabase(noRetry, (db) => Effect.either(Stream.runCollect(db.allDocs({ oneRequest: true })))))
      assert.include(failed instanceof CouchError.ResponseDecodeError ? failed.description : "", "broke off")
      assert.strictEqual(noRetry.seen.length, 1)
      const early = fakeClient(() => breaking(new TextEncoder().encode(`{"rows":[{"id":"a"`)))
      const none = leftOf(yield* withDatabase(early, (db) => Effect.either(Stream.runCollect(db.allDocs({ oneRequest: true }))), {}))
      assert.include(none instanceof CouchError.ResponseDecodeError ? none.description : "", "broke off")
      assert.strictEqual(early.seen.length, 1)
    }))
})

describe("view pages", () => {
  it.effect("go on from the key as the server sent it, whatever the key schema decodes it to", () =>
    Effect.gen(function*() {
      // keys "000" ... "029" decoded to numbers: the next page must start from the string "007", not from 7
      const rows = Array.from({ length: 30 }, (_, i) => ({ id: `d${i}`, key: String(i).padStart(3, "0"), value: i }))
      const fake = fakeClient((seen) =>
        json(200, { total_rows: rows.length, offset: 0, rows: fromStartkey(rows, seen.url, (row, start: string) => row.key >= start) })
      )
      const read = yield* withDatabase(fake, (db) =>
        Stream.runCollect(db.view("d", "v", { pageSize: 7 }, { key: Schema.NumberFromString, value: Schema.Number })))
      assert.deepStrictEqual(Chunk.toReadonlyArray(read).map((row) => row.key), rows.map((_, i) => i))
      assert.deepStrictEqual(fake.seen.map((seen) => seen.url.searchParams.get("startkey")), [null, "\"007\"", "\"014\"", "\"021\"", "\"028\""])
      const grouped = yield* withDatabase(fake, (db) =>
        Stream.runCollect(db.reduce("d", "v", { group: true, pageSize: 10 }, { key: Schema.NumberFromString })))
      assert.deepStrictEqual(Chunk.toReadonlyArray(grouped).map((row) => row.key), rows.map((_, i) => i))
      assert.deepStrictEqual(fake.seen.slice(5).map((seen) => seen.url.searchParams.get("startkey")), [null, "\"010\"", "\"020\""])
    }))
})

/** A feed that sends these lines, one a piece, then stays silent (no heartbeat) until it is closed. */
const silentAfter = (lines: ReadonlyArray<string>) => {
  let sent = 0
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent < lines.length) controller.enqueue(new TextEncoder().encode(`${lines[sent++]}\n`))
        else return new Promise<void>(() => {})
      }
    }),
    { status: 200, headers: { "content-type": "application/json" } }
  )
}

describe("follower connections", () => {
  const feedFrom = (total: number, perConnection: number) => (seen: { readonly url: URL }) => {
    const since = Number.parseInt(seen.url.searchParams.get("since") ?? "0", 10)
    const lines = Array.from({ length: Math.min(perConnection, total - since) }, (_, i) => JSON.stringify(change(since + i + 1)))
    return silentAfter(lines)
  }

  /** The ids of the first `total` changes a follower delivers to a consumer that spends `busy(id)` on each. */
  const followIds = (
    fake: ReturnType<typeof fakeClient>,
    options: Changes.FollowOptions,
    total: number,
    busy: (id: string) => Duration.DurationInput = () => 0
  ) =>
    withDatabase(fake, (db) =>
      Effect.flatMap(db.follow(options), (follower) =>
        follower.changes.pipe(
          Stream.take(total),
          Stream.tap((change) => Effect.sleep(busy(change.id))),
          Stream.map((change) => change.id),
          Stream.runCollect
        )))

  it.live("a feed silent past idleTimeout is dropped and resumed from the last change read", () =>
    Effect.gen(function*() {
      const fake = fakeClient(feedFrom(6, 2))
      const ids = yield* followIds(fake, { idleTimeout: "150 millis", schedule: Schedule.spaced("10 millis") }, 6)
      assert.deepStrictEqual(Chunk.toReadonlyArray(ids), ["doc1", "doc2", "doc3", "doc4", "doc5", "doc6"])
      assert.deepStrictEqual(fake.seen.slice(0, 3).map((seen) => seen.url.searchParams.get("since")), [null, "2-g1", "4-g1"])
    }))

  it.live("while the consumer is busy, the feed read ahead is kept, and the next connection starts after it", () =>
    Effect.gen(function*() {
      // 40 changes, then silence; the consumer spends 600 ms on the first: the reader, 16 pieces ahead, waits on it
      // longer than idleTimeout (that is not silence); the connection dropped for the silence after the 40th
      // resumes after it, none lost or repeated
      const fake = fakeClient(feedFrom(41, 40))
      const ids = yield* followIds(
        fake,
        { idleTimeout: "300 millis", schedule: Schedule.spaced("10 millis") },
        41,
        (id) => id === "doc1" ? "600 millis" : 0
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(ids), Array.from({ length: 41 }, (_, i) => `doc${i + 1}`))
      assert.strictEqual(fake.seen[1]?.url.searchParams.get("since"), "40-g1")
    }))

  it.live("a connection open reconnectAfter is replaced by one from the last change read, even while the reader waits on the consumer", () =>
    Effect.gen(function*() {
      const fake = fakeClient(feedFrom(30, 30))
      const ids = yield* followIds(fake, { reconnectAfter: "100 millis", idleTimeout: "10 seconds" }, 30, () => "20 millis")
      // at least once: the changes queued when a connection is replaced are not read again, the rest are
      assert.deepStrictEqual(Chunk.toReadonlyArray(ids), Array.from({ length: 30 }, (_, i) => `doc${i + 1}`))
      assert.isAtLeast(fake.seen.length, 3)
    }))
})

describe("a follower that cannot loop forever", () => {
  /** A feed of these lines, ended (a connection the server closes), or broken off after them. */
  const feedOf = (lines: ReadonlyArray<string>, end: "close" | "break" = "close") =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (const line of lines) controller.enqueue(new TextEncoder().encode(`${line}\n`))
          if (end === "close") controller.close()
        },
        pull(controller) {
          // once the lines are read (an error in start would drop them)
          if (end === "break") controller.error(new Error("socket hang up"))
        }
      }),
      { status: 200, headers: { "content-type": "application/json" } }
    )

  /** Runs a follower to its end on the TestClock, moving time on a second at a time, for at most ten minutes. */
  const followToTheEnd = (fake: ReturnType<typeof fakeClient>, options: Changes.FollowOptions = {}) =>
    Effect.gen(function*() {
      const delivered: Array<string> = []
      const fiber = yield* withDatabase(fake, (db) =>
        Effect.flatMap(db.follow({ heartbeat: "1 second", ...options }), (follower) =>
          Stream.runForEach(follower.changes, (change) => Effect.sync(() => delivered.push(change.id))))).pipe(
        Effect.either,
        Effect.fork
      )
      // ten minutes of TestClock time, a second at a time: far more than the default schedule's 2.5 minutes
      for (let i = 0; i < 600 && fiber.unsafePoll() === null; i++) yield* TestClock.adjust("1 second")
      const result = fiber.unsafePoll()
      assert.isNotNull(result, "the follower is still running after ten minutes of TestClock time")
      return { result: yield* Fiber.join(fiber), delivered }
    })

  it.effect("a malformed line ends the stream with ResponseDecodeError (malformed), after one request", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() => feedOf([JSON.stringify(change(1)), JSON.stringify({ ...change(2), seq: { bad: true } })]))
      const { result, delivered } = yield* followToTheEnd(fake)
      const error = leftOf(result)
      assert.instanceOf(error, CouchError.ResponseDecodeError)
      assert.strictEqual(error?._tag === "ResponseDecodeError" ? error.reason : undefined, "malformed")
      assert.deepStrictEqual(delivered, ["doc1"])
      assert.strictEqual(fake.seen.length, 1)
    }))

  it.effect("a server answering 200 with an HTML page ends the stream, after one request", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() =>
        new Response("<html><body>Welcome to the proxy</body></html>\n", { status: 200, headers: { "content-type": "text/html" } })
      )
      const { result, delivered } = yield* followToTheEnd(fake)
      const error = leftOf(result)
      assert.instanceOf(error, CouchError.ResponseDecodeError)
      assert.strictEqual(error?._tag === "ResponseDecodeError" ? error.reason : undefined, "malformed")
      assert.deepStrictEqual(delivered, [])
      assert.strictEqual(fake.seen.length, 1)
    }))

  for (const end of ["close", "break"] as const) {
    it.effect(`a server that ${end === "close" ? "closes" : "cuts"} every connection after the same change gives up: no progress, no reset`, () =>
      Effect.gen(function*() {
        // whatever the since, the same first change: nothing past the checkpoint after the first connection
        const fake = fakeClient(() => feedOf([JSON.stringify(change(1))], end))
        const { result, delivered } = yield* followToTheEnd(fake)
        assert.isTrue(Either.isLeft(result))
        assert.deepStrictEqual(delivered, ["doc1"])
        // the connection that handed on doc1, then the default schedule's 20 retries; a connection the server
        // closes after handing on a change is no failure, so closing takes one connection more before the retries
        assert.strictEqual(fake.seen.length, end === "close" ? 22 : 21)
        assert.deepStrictEqual([...new Set(fake.seen.slice(1).map((seen) => seen.url.searchParams.get("since")))], ["1-g1"])
      }))
  }

  it.effect("a server that cuts every connection after a new change keeps the follower going: progress resets the schedule", () =>
    Effect.gen(function*() {
      const fake = fakeClient((seen) => {
        const since = Number.parseInt(seen.url.searchParams.get("since") ?? "0", 10)
        return since >= 30 ? feedOf([], "break") : feedOf([JSON.stringify(change(since + 1))], "break")
      })
      const { result, delivered } = yield* followToTheEnd(fake)
      assert.isTrue(Either.isLeft(result))
      // 30 changes, one per connection, each resetting the schedule; then 20 retries without progress
      assert.deepStrictEqual(delivered, Array.from({ length: 30 }, (_, i) => `doc${i + 1}`))
      assert.strictEqual(fake.seen.length, 30 + 20)
    }))
})

describe("view queries refused before any request", () => {
  it.effect("keys with a key range is InvalidArgumentError (CouchDB would apply the range and ignore the keys)", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() => json(200, { total_rows: 0, offset: 0, rows: [] }))
      const failures = yield* withDatabase(fake, (db) =>
        Effect.all([
          Effect.flip(Stream.runDrain(db.view("d", "v", { keys: ["a"], startkey: "a" }))),
          Effect.flip(Stream.runDrain(db.view("d", "v", { keys: ["a"], endkey: "z", oneRequest: true }))),
          Effect.flip(db.viewPage("d", "v", { keys: ["a"], key: "a" })),
          Effect.flip(Stream.runDrain(db.reduce("d", "v", { keys: ["a"], startkey: "a", group: true }))),
          Effect.flip(db.viewQueries("d", "v", [{ keys: ["a"] }, { keys: ["b"], endkey: "c" }]))
        ]))
      for (const failure of failures) assert.strictEqual(failure._tag, "InvalidArgumentError")
      assert.strictEqual(fake.seen.length, 0)
      // keys alone, or a range alone, are sent
      yield* withDatabase(fake, (db) => Effect.zip(db.viewPage("d", "v", { keys: ["a"] }), db.viewPage("d", "v", { startkey: "a" })))
      assert.strictEqual(fake.seen.length, 2)
    }))
})

describe("security helpers", () => {
  it.effect("adding who is there, or removing who is not, reads the security object and writes nothing", () =>
    Effect.gen(function*() {
      const security = { admins: { names: ["ann"], roles: [] }, members: { names: ["bob"], roles: ["staff"] } }
      const fake = fakeClient((seen) => seen.method === "GET" ? json(200, security) : json(200, { ok: true }))
      const results = yield* withDatabase(fake, (db) =>
        Effect.all([
          db.removeMembers({ names: ["nobody"] }),
          db.addMembers({ names: ["bob"], roles: ["staff"] }),
          db.removeAdmins({ roles: ["gone"] }),
          db.addAdmins({ names: ["ann"] })
        ]))
      assert.deepStrictEqual(results.map((result) => result.members?.names), [["bob"], ["bob"], ["bob"], ["bob"]])
      assert.deepStrictEqual(fake.seen.map((seen) => seen.method), ["GET", "GET", "GET", "GET"])
      // a change is written
      yield* withDatabase(fake, (db) => db.removeMembers({ names: ["bob"] }))
      assert.deepStrictEqual(fake.seen.slice(4).map((seen) => seen.method), ["GET", "PUT"])
    }))
})
