import { CouchTestServer } from "@effect-couch/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Crypto from "node:crypto"
import { Attachment, CouchError, CouchSession, type Database } from "../src/index.js"
import { json } from "./fake.js"
import { TestLive, testDatabase } from "./support.js"

const leftOf = <A, E>(either: Either.Either<A, E>): E | undefined => Either.isLeft(either) ? either.left : undefined

const concat = (chunks: Iterable<Uint8Array>): Uint8Array => {
  const list = [...chunks]
  const out = new Uint8Array(list.reduce((n, chunk) => n + chunk.length, 0))
  let offset = 0
  for (const chunk of list) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

const collect = <E, R>(stream: Stream.Stream<Uint8Array, E, R>) => Effect.map(Stream.runCollect(stream), concat)

const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i)

/** `count` chunks of `size` pseudo-random bytes, produced lazily, each a different block. */
const generated = (count: number, size: number, onChunk: (index: number) => void = () => {}) => {
  const block = Crypto.createHash("sha512")
  const seed = new Uint8Array(size)
  for (let i = 0; i < size; i += 64) seed.set(block.copy().update(String(i)).digest().subarray(0, Math.min(64, size - i)), i)
  return Stream.range(0, count - 1, 1).pipe(
    Stream.map((index) => {
      onChunk(index)
      const chunk = Uint8Array.from(seed)
      new DataView(chunk.buffer).setUint32(0, index)
      return chunk
    })
  )
}

const sha256 = <E, R>(stream: Stream.Stream<Uint8Array, E, R>) =>
  Effect.map(
    Stream.runFold(stream, { hash: Crypto.createHash("sha256"), bytes: 0, chunks: 0, largest: 0 }, (acc, chunk) => {
      acc.hash.update(chunk)
      return { ...acc, bytes: acc.bytes + chunk.length, chunks: acc.chunks + 1, largest: Math.max(acc.largest, chunk.length) }
    }),
    (acc) => ({ digest: acc.hash.digest("hex"), bytes: acc.bytes, chunks: acc.chunks, largest: acc.largest })
  )

const md5Digest = (bytes: Uint8Array) => `md5-${Crypto.createHash("md5").update(bytes).digest("base64")}`

class SourceFailed extends Data.TaggedError("SourceFailed")<{ readonly at: number }> {}

/** Attachment names as hostile as URLs get: `/`, spaces, unicode, `+`, `%`, `?`, `#`; never a leading `_`. */
const segment = FastCheck.string({
  unit: FastCheck.oneof(
    FastCheck.constantFrom(" ", "+", "%", "?", "#", "&", "=", ";", ":", "@", "'", "\"", "\\", "é", "中", "𝄞", "😀", "~", "."),
    FastCheck.constantFrom(..."abcXYZ019-_")
  ),
  minLength: 1,
  maxLength: 6
}).filter((s) => s !== "." && s !== "..")
const attachmentName = FastCheck.array(segment, { minLength: 1, maxLength: 3 })
  .map((segments) => segments.join("/"))
  .filter((name) => !name.startsWith("_"))

layer(TestLive, { excludeTestServices: true })("attachments", (it) => {
  it.scoped("put, head, get and remove round-trip every byte value", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("att")
      const att = yield* db.attachment("doc", "bytes.bin")
      // no rev: the document is created with its attachment
      const written = yield* att.put(allBytes, { contentType: "application/octet-stream" })
      assert.strictEqual(written.id, "doc")
      assert.match(written.rev, /^1-/)

      const info = yield* att.head()
      assert.strictEqual(info.contentType, "application/octet-stream")
      assert.strictEqual(info.contentLength, 256)
      assert.strictEqual(info.digest, md5Digest(allBytes))

      const body = yield* att.get()
      assert.strictEqual(body.partial, false)
      assert.isUndefined(body.range)
      assert.strictEqual(body.contentType, "application/octet-stream")
      assert.strictEqual(body.contentLength, 256)
      assert.deepStrictEqual(yield* collect(body.stream), allBytes)
      assert.deepStrictEqual(yield* collect(att.stream()), allBytes)

      // the stub in the document agrees
      const doc = yield* db.get("doc")
      const stub = (doc._attachments as Record<string, Attachment.Stub>)["bytes.bin"]
      assert.strictEqual(stub.digest, info.digest)
      assert.strictEqual(stub.length, 256)
      assert.strictEqual(stub.stub, true)

      // a second attachment and a replacement, each with the current rev
      const text = yield* db.attachment("doc", "notes/read me.txt")
      const second = yield* text.put("héllo ✓ wörld", { contentType: "text/plain", rev: written.rev })
      assert.match(second.rev, /^2-/)
      const textBody = yield* text.get()
      assert.strictEqual(textBody.contentType, "text/plain")
      assert.strictEqual(new TextDecoder().decode(yield* collect(textBody.stream)), "héllo ✓ wörld")
      const third = yield* att.put(allBytes.slice().reverse(), { contentType: "image/x-test", rev: second.rev })
      assert.deepStrictEqual(yield* collect(att.stream()), allBytes.slice().reverse())
      assert.strictEqual((yield* att.head()).contentType, "image/x-test")
      // the old revision still has the old body
      assert.deepStrictEqual(yield* collect(att.stream({ rev: written.rev })), allBytes)

      const removed = yield* att.remove(third.rev)
      assert.match(removed.rev, /^4-/)
      assert.instanceOf(leftOf(yield* Effect.either(att.get())), CouchError.NotFoundError)
      assert.instanceOf(leftOf(yield* Effect.either(att.head())), CouchError.NotFoundError)
      // the document and its other attachment stay
      assert.deepStrictEqual(Object.keys((yield* db.get("doc"))._attachments as object), ["notes/read me.txt"])
    }))

  it.scoped("an empty attachment round-trips", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("att")
      const att = yield* db.attachment("doc", "empty")
      yield* att.put(new Uint8Array(0), { contentType: "application/octet-stream" })
      const body = yield* att.get()
      assert.strictEqual(body.contentLength, 0)
      assert.deepStrictEqual(yield* collect(body.stream), new Uint8Array(0))
    }))

  it.scoped("missing documents, attachments and revisions are NotFoundError; stale revisions ConflictError", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("att")
      const ghost = yield* db.attachment("no-such-doc", "a.txt")
      assert.instanceOf(leftOf(yield* Effect.either(ghost.get())), CouchError.NotFoundError)
      assert.instanceOf(leftOf(yield* Effect.either(ghost.head())), CouchError.NotFoundError)
      assert.instanceOf(leftOf(yield* Effect.either(Stream.runDrain(ghost.stream()))), CouchError.NotFoundError)

      const { rev } = yield* db.put({ _id: "plain" })
      const missing = yield* db.attachment("plain", "a.txt")
      const notFound = leftOf(yield* Effect.either(missing.get()))
      assert.instanceOf(notFound, CouchError.NotFoundError)
      assert.strictEqual(notFound?._tag === "NotFoundError" ? notFound.status : 0, 404)

      // a write needs the current revision: none, or a stale one, is a conflict
      assert.instanceOf(leftOf(yield* Effect.either(missing.put("x", { contentType: "text/plain" }))), CouchError.ConflictError)
      const added = yield* missing.put("x", { contentType: "text/plain", rev })
      const stale = yield* Effect.either(missing.put("y", { contentType: "text/plain", rev }))
      assert.instanceOf(leftOf(stale), CouchError.ConflictError)
      // a remove at a revision without the attachment: CouchDB 3.5 answers 404 "Document is missing attachment"
      const staleRemove = leftOf(yield* Effect.either(missing.remove(rev)))
      assert.instanceOf(staleRemove, CouchError.NotFoundError)
      assert.strictEqual(staleRemove?._tag === "NotFoundError" ? staleRemove.reason : "", "Document is missing attachment")
      assert.strictEqual((yield* missing.head()).contentLength, 1)
      // a remove at a stale revision that has the attachment is a conflict
      const other = yield* db.attachment("plain", "b.txt")
      const newer = yield* other.put("z", { contentType: "text/plain", rev: added.rev })
      assert.instanceOf(leftOf(yield* Effect.either(missing.remove(added.rev))), CouchError.ConflictError)
      assert.strictEqual((yield* missing.head()).contentLength, 1)
      yield* missing.remove(newer.rev)
      assert.instanceOf(leftOf(yield* Effect.either(missing.head())), CouchError.NotFoundError)

      // a database that does not exist
      const couch = yield* CouchSession.CouchSession
      const nowhere = yield* (yield* couch.use("no-such-database-for-attachments")).attachment("doc", "a")
      assert.instanceOf(leftOf(yield* Effect.either(nowhere.get())), CouchError.NotFoundError)
      assert.instanceOf(
        leftOf(yield* Effect.either(nowhere.put("x", { contentType: "text/plain" }))),
        CouchError.NotFoundError
      )
    }))

  it.scoped.prop(
    "any name (with /, spaces, unicode, +, %, ?, #) reaches exactly its attachment",
    [attachmentName, FastCheck.uint8Array({ maxLength: 64 })],
    ([name, bytes]) =>
      Effect.gen(function*() {
        const db = yield* testDatabase("names")
        const att = yield* db.attachment("doc/with slash", name)
        const { rev } = yield* att.put(bytes, { contentType: "application/octet-stream" })
        assert.deepStrictEqual(yield* collect(att.stream()), bytes)
        assert.strictEqual((yield* att.head()).contentLength, bytes.length)
        // stored under exactly this name, and nothing else
        const doc = yield* db.get("doc/with slash")
        assert.deepStrictEqual(Object.keys(doc._attachments as object), [name])
        yield* att.remove(rev)
        assert.deepStrictEqual(Object.keys((yield* db.get("doc/with slash"))._attachments ?? {}), [])
      }),
    { fastCheck: { numRuns: 30 } }
  )

  it.scoped("design documents carry attachments", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("att")
      const att = yield* db.attachment("_design/app", "static/index.html")
      yield* att.put("<h1>hi</h1>", { contentType: "text/html" })
      assert.strictEqual(new TextDecoder().decode(yield* collect(att.stream())), "<h1>hi</h1>")
      assert.deepStrictEqual(Object.keys((yield* db.get("_design/app"))._attachments as object), ["static/index.html"])
    }))

  it.scoped("a few MiB streamed up in bounded chunks and down lazily", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("big")
      const chunkSize = 64 * 1024
      const count = 64 // 4 MiB
      const expected = yield* sha256(generated(count, chunkSize))
      let produced = 0
      const source = generated(count, chunkSize, () => produced++)
      const att = yield* db.attachment("big", "blob.bin")
      // no length: sent chunked
      const first = yield* att.put(source, { contentType: "application/octet-stream" })
      assert.strictEqual(produced, count)
      const body = yield* att.get()
      assert.strictEqual(body.contentLength, count * chunkSize)
      const received = yield* sha256(body.stream)
      assert.strictEqual(received.digest, expected.digest)
      assert.strictEqual(received.bytes, count * chunkSize)
      // it arrived in many chunks, not as one buffer
      assert.isAbove(received.chunks, 1)
      assert.isBelow(received.largest, count * chunkSize)

      // with a length: sent with Content-Length
      const again = yield* att.put(generated(count, chunkSize), {
        contentType: "application/octet-stream",
        rev: first.rev,
        contentLength: count * chunkSize
      })
      assert.match(again.rev, /^2-/)
      assert.strictEqual((yield* sha256(att.stream())).digest, expected.digest)
    }))

  it.scoped("taking the start of a large body and stopping leaves the session usable", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("big")
      const att = yield* db.attachment("big", "blob.bin")
      yield* att.put(generated(64, 64 * 1024), { contentType: "application/octet-stream" })
      for (let i = 0; i < 20; i++) {
        const head = yield* collect(Stream.take(att.stream(), 1))
        assert.isAbove(head.length, 0)
      }
      assert.strictEqual((yield* att.head()).contentLength, 64 * 64 * 1024)
    }))

  it.scoped("a failing source stream fails the upload with its own error and writes nothing", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("att")
      const att = yield* db.attachment("doc", "broken.bin")
      const source = Stream.concat(
        generated(4, 16 * 1024),
        Stream.fail(new SourceFailed({ at: 4 }))
      )
      const result = yield* Effect.either(att.put(source, { contentType: "application/octet-stream" }))
      const error = leftOf(result)
      assert.instanceOf(error, SourceFailed)
      assert.strictEqual(error?._tag === "SourceFailed" ? error.at : -1, 4)
      assert.instanceOf(leftOf(yield* Effect.either(db.get("doc"))), CouchError.NotFoundError)
    }))

  it.scoped("Range: a part of the body, or the whole body said to be whole", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const db = yield* testDatabase("range")
      const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255)
      const att = yield* db.attachment("doc", "r.bin")
      yield* att.put(bytes, { contentType: "application/octet-stream" })
      const part = yield* att.get({ range: { start: 10, end: 19 } })
      if (server.capabilities.rangeRequests) {
        assert.isTrue(part.partial)
        assert.deepStrictEqual(part.range, { start: 10, end: 19, size: 1000 })
        assert.strictEqual(part.contentLength, 10)
        assert.deepStrictEqual(yield* collect(part.stream), bytes.slice(10, 20))
        const tail = yield* att.get({ range: { start: 990 } })
        assert.isTrue(tail.partial)
        assert.deepStrictEqual(yield* collect(tail.stream), bytes.slice(990))
        const beyond = leftOf(yield* Effect.either(att.get({ range: { start: 5000 } })))
        assert.instanceOf(beyond, CouchError.RangeNotSatisfiableError)
      } else {
        // the server ignores Range: the whole body, and the result says so
        assert.isFalse(part.partial)
        assert.isUndefined(part.range)
        assert.deepStrictEqual(yield* collect(part.stream), bytes)
      }
    }))

  it.scoped("inline attachments: written with inline, read back with decodeInline", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("inline")
      yield* db.put({
        _id: "note",
        _attachments: {
          "a.txt": Attachment.inline("text/plain", "hello ✓"),
          "dir/b.bin": Attachment.inline("application/octet-stream", allBytes)
        }
      })
      const doc = yield* db.get("note", { attachments: true })
      assert.strictEqual(new TextDecoder().decode(yield* Attachment.decodeInlineFrom(doc, "a.txt")), "hello ✓")
      assert.deepStrictEqual(yield* Attachment.decodeInlineFrom(doc, "dir/b.bin"), allBytes)
      // the same bytes through the attachment endpoint
      assert.deepStrictEqual(yield* collect((yield* db.attachment("note", "dir/b.bin")).stream()), allBytes)
      assert.strictEqual(
        (yield* (yield* db.attachment("note", "a.txt")).head()).contentType,
        "text/plain"
      )
      // and streamed attachments read back inline
      const streamed = yield* db.attachment("note", "c.bin")
      yield* streamed.put(Stream.make(allBytes.subarray(0, 100), allBytes.subarray(100)), {
        contentType: "application/octet-stream",
        rev: doc._rev
      })
      assert.deepStrictEqual(
        yield* Attachment.decodeInlineFrom(yield* db.get("note", { attachments: true }), "c.bin"),
        allBytes
      )
      // a stub has no data
      const stubbed = yield* db.get("note")
      assert.instanceOf(leftOf(Attachment.decodeInlineFrom(stubbed, "a.txt")), CouchError.InvalidArgumentError)
      assert.instanceOf(leftOf(Attachment.decodeInlineFrom(stubbed, "nope")), CouchError.InvalidArgumentError)
    }))
})

// -----------------------------------------------------------------------------
// Against a fake server: the wire, without a server
// -----------------------------------------------------------------------------

interface Seen {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
  readonly signal: AbortSignal
}

/** A fake client that also hands the request body and the abort signal to the answer. */
const fake = (
  answer: (seen: Seen, body: Stream.Stream<Uint8Array, unknown> | Uint8Array | undefined) => Effect.Effect<Response, unknown>
) => {
  const seen: Array<Seen> = []
  const client = HttpClient.make((request, url, signal) => {
    const entry: Seen = { method: request.method, url, headers: { ...request.headers }, signal }
    seen.push(entry)
    const body = request.body._tag === "Stream" ?
      request.body.stream :
      request.body._tag === "Uint8Array" ?
      request.body.body :
      undefined
    return answer(entry, body).pipe(
      Effect.map((response) => HttpClientResponse.fromWeb(request, response)),
      Effect.mapError((cause) => new HttpClientError.RequestError({ request, reason: "Transport", cause }))
    )
  })
  return { seen, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

const withDatabase = <A, E>(
  layer: Layer.Layer<HttpClient.HttpClient>,
  f: (db: Database.Database) => Effect.Effect<A, E>
) =>
  Effect.scoped(
    Effect.flatMap(CouchSession.make({ url: "http://couch.test" }), (couch) => Effect.flatMap(couch.use("db"), f))
  ).pipe(Effect.provide(layer))

const written = () => json(201, { ok: true, id: "doc", rev: "1-abc" })

describe("attachments on the wire", () => {
  it.effect("names and ids are refused before any request", () =>
    Effect.gen(function*() {
      const server = fake(() => Effect.succeed(written()))
      const refused = yield* withDatabase(server.layer, (db) =>
        Effect.forEach(
          [
            ["doc", ""],
            ["doc", "_hidden"],
            ["doc", "a//b"],
            ["doc", "/a"],
            ["doc", "a/"],
            ["doc", "a/../b"],
            ["doc", "."],
            ["doc", "x\ud800"],
            ["", "a"],
            ["_all_docs", "a"],
            ["_local/x", "a"]
          ] as const,
          ([id, name]) => Effect.flip(db.attachment(id, name))
        ))
      for (const error of refused) assert.instanceOf(error, CouchError.InvalidArgumentError)
      const checks = yield* withDatabase(server.layer, (db) =>
        Effect.gen(function*() {
          const att = yield* db.attachment("doc", "a")
          return [
            yield* Effect.flip(att.get({ range: { start: -1 } })),
            yield* Effect.flip(att.get({ range: { start: 5, end: 4 } })),
            yield* Effect.flip(att.get({ range: { start: 0.5 } })),
            yield* Effect.flip(att.put("x", { contentType: "" })),
            yield* Effect.flip(att.put("x", { contentType: "text/plain\r\nx-evil: 1" })),
            yield* Effect.flip(att.put(Stream.empty, { contentType: "text/plain", contentLength: -1 }))
          ]
        }))
      for (const error of checks) assert.instanceOf(error, CouchError.InvalidArgumentError)
      assert.strictEqual(server.seen.length, 0)
    }))

  it.effect.prop("each segment of a name is encoded, and the server reads back exactly the name", [attachmentName], ([name]) =>
    Effect.gen(function*() {
      const server = fake(() => Effect.succeed(written()))
      yield* withDatabase(server.layer, (db) =>
        Effect.flatMap(db.attachment("a/b+c", name), (att) => att.put("x", { contentType: "text/plain", rev: "1-a" })))
      const { url } = server.seen[0]
      const parts = url.pathname.split("/").slice(1)
      assert.strictEqual(parts[0], "db")
      assert.strictEqual(parts[1], "a%2Fb%2Bc")
      assert.strictEqual(parts.slice(2).map(decodeURIComponent).join("/"), name)
      assert.strictEqual(url.search, "?rev=1-a")
      assert.strictEqual(url.hash, "")
    }))

  it.effect("a range is sent as a Range header; 206 gives the part, 416 RangeNotSatisfiableError", () =>
    Effect.gen(function*() {
      const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i & 255)
      const server = fake((seen) => {
        const range = seen.headers["range"]
        if (range === "bytes=10-19") {
          return Effect.succeed(
            new Response(bytes.slice(10, 20), {
              status: 206,
              headers: {
                "content-type": "application/octet-stream",
                "content-length": "10",
                "content-range": "bytes 10-19/1000",
                etag: "\"AAAAAAAAAAAAAAAAAAAAAA==\""
              }
            })
          )
        }
        if (range === "bytes=990-") {
          return Effect.succeed(
            new Response(bytes.slice(990), { status: 206, headers: { "content-range": "bytes 990-999/*" } })
          )
        }
        if (range === "bytes=2000-") {
          return Effect.succeed(json(416, { error: "requested_range_not_satisfiable", reason: "Requested range not satisfiable" }))
        }
        if (range === "bytes=0-0") {
          return Effect.succeed(new Response("x", { status: 206, headers: { "content-range": "bytes */1000" } }))
        }
        return Effect.succeed(new Response(bytes, { status: 200, headers: { "content-md5": "AAAAAAAAAAAAAAAAAAAAAA==" } }))
      })
      yield* withDatabase(server.layer, (db) =>
        Effect.gen(function*() {
          const att = yield* db.attachment("doc", "r.bin")
          const part = yield* att.get({ range: { start: 10, end: 19 }, rev: "2-x" })
          assert.isTrue(part.partial)
          assert.deepStrictEqual(part.range, { start: 10, end: 19, size: 1000 })
          assert.strictEqual(part.contentLength, 10)
          assert.strictEqual(part.digest, "md5-AAAAAAAAAAAAAAAAAAAAAA==")
          assert.deepStrictEqual(yield* collect(part.stream), bytes.slice(10, 20))
          const tail = yield* att.get({ range: { start: 990 } })
          assert.deepStrictEqual(tail.range, { start: 990, end: 999, size: undefined })
          assert.strictEqual(tail.contentType, "application/octet-stream")
          assert.deepStrictEqual(yield* collect(tail.stream), bytes.slice(990))
          assert.instanceOf(yield* Effect.flip(att.get({ range: { start: 2000 } })), CouchError.RangeNotSatisfiableError)
          assert.instanceOf(yield* Effect.flip(att.get({ range: { start: 0, end: 0 } })), CouchError.ResponseDecodeError)
          const whole = yield* att.get({ range: { start: 5, end: 9 } })
          assert.isFalse(whole.partial)
          assert.strictEqual(whole.digest, "md5-AAAAAAAAAAAAAAAAAAAAAA==")
          assert.deepStrictEqual(yield* collect(whole.stream), bytes)
        }))
      assert.strictEqual(server.seen[0].headers["range"], "bytes=10-19")
      assert.strictEqual(server.seen[0].headers["accept-encoding"], "identity")
      assert.strictEqual(server.seen[0].url.search, "?rev=2-x")
    }))

  it.effect("a stream body reaches the client as a stream, pulled as it is sent", () =>
    Effect.gen(function*() {
      let produced = 0
      let consumed = 0
      let ahead = 0
      const server = fake((_, body) =>
        body === undefined || body instanceof Uint8Array ?
          Effect.succeed(json(400, { error: "bad_request", reason: "expected a stream" })) :
          Effect.as(
            Stream.runForEach(body, () =>
              Effect.sync(() => {
                consumed++
                ahead = Math.max(ahead, produced - consumed)
              })),
            written()
          )
      )
      const result = yield* withDatabase(server.layer, (db) =>
        Effect.gen(function*() {
          const att = yield* db.attachment("doc", "s.bin")
          const chunked = yield* att.put(generated(200, 1024, () => produced++), { contentType: "application/x-test" })
          const sized = yield* att.put(generated(4, 1024), { contentType: "application/x-test", contentLength: 4096 })
          return [chunked, sized]
        }))
      assert.deepStrictEqual(result[0], { id: "doc", rev: "1-abc" })
      assert.strictEqual(consumed, 204)
      assert.strictEqual(produced, 200)
      // never more than a couple of chunks produced ahead of what was sent
      assert.isAtMost(ahead, 2)
      assert.isUndefined(server.seen[0].headers["content-length"])
      assert.strictEqual(server.seen[0].headers["content-type"], "application/x-test")
      assert.strictEqual(server.seen[1].headers["content-length"], "4096")
    }))

  it.live("interrupting the consumer of a body aborts the request", () =>
    Effect.gen(function*() {
      let pulls = 0
      let cancelled = false
      const endless = () =>
        new ReadableStream<Uint8Array>({
          // a chunk per millisecond, like a slow server (a chunk per microtask would starve the timers)
          pull: (controller) =>
            new Promise<void>((resolve) =>
              setTimeout(() => {
                pulls++
                if (!cancelled) controller.enqueue(new Uint8Array(1024))
                resolve()
              }, 1)
            ),
          cancel: () => {
            cancelled = true
          }
        })
      const server = fake(() => Effect.succeed(new Response(endless(), { status: 200 })))
      yield* withDatabase(server.layer, (db) =>
        Effect.gen(function*() {
          const att = yield* db.attachment("doc", "endless")
          // taking a prefix ends the stream early
          assert.strictEqual((yield* collect(Stream.take((yield* att.get()).stream, 3))).length, 3 * 1024)
          assert.isTrue(server.seen[0].signal.aborted)
          // interrupting a running consumer
          const body = yield* att.get()
          assert.isFalse(server.seen[1].signal.aborted)
          const fiber = yield* Effect.fork(Stream.runDrain(body.stream))
          yield* Effect.sleep("20 millis")
          yield* Fiber.interrupt(fiber)
          assert.isTrue(server.seen[1].signal.aborted)
        }))
      assert.isAbove(pulls, 3)
      assert.isTrue(cancelled)
    }))

  it.effect("a body cut off mid-way fails its stream with TransportError", () =>
    Effect.gen(function*() {
      const server = fake(() =>
        Effect.succeed(
          new Response(
            new ReadableStream<Uint8Array>({
              start: (controller) => {
                controller.enqueue(new Uint8Array(10))
                controller.error(new Error("socket hang up"))
              }
            }),
            { status: 200, headers: { "content-length": "100" } }
          )
        )
      )
      const error = yield* withDatabase(server.layer, (db) =>
        Effect.flatMap(db.attachment("doc", "cut"), (att) => Effect.flip(Stream.runDrain(att.stream()))))
      assert.instanceOf(error, CouchError.TransportError)
      assert.strictEqual(error._tag === "TransportError" ? error.reason : "", "connection")
    }))

  it("decodeInline refuses stubs and non-base64 data", () => {
    assert.deepStrictEqual(Either.getOrThrow(Attachment.decodeInline(Attachment.inline("x/y", allBytes))), allBytes)
    assert.deepStrictEqual(
      Either.getOrThrow(Attachment.decodeInline({ content_type: "text/plain", data: "aGVsbG8=" })),
      new TextEncoder().encode("hello")
    )
    assert.instanceOf(leftOf(Attachment.decodeInline({ content_type: "text/plain", stub: true })), CouchError.InvalidArgumentError)
    assert.instanceOf(leftOf(Attachment.decodeInline({ data: "not base64!" })), CouchError.InvalidArgumentError)
    assert.instanceOf(leftOf(Attachment.decodeInline(null)), CouchError.InvalidArgumentError)
    assert.strictEqual(Attachment.inline("text/plain", "hello").data, "aGVsbG8=")
    assert.instanceOf(leftOf(Attachment.decodeInlineFrom({}, "a")), CouchError.InvalidArgumentError)
  })
})
