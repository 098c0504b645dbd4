import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { vi } from "vitest"
import { CouchError, CouchSession } from "../src/index.js"
import { json } from "./fake.js"
import { TestLive, testDatabase } from "./support.js"

/**
 * For the scope: a browser's `navigator` (HTML's NavigatorID: `product` is "Gecko" in every browser), where a
 * stream cannot be a request body over HTTP/1.1.
 */
const inBrowser = Effect.acquireRelease(
  Effect.sync(() => vi.stubGlobal("navigator", { product: "Gecko", userAgent: "Mozilla/5.0 (X11; Linux x86_64)" })),
  () => Effect.sync(() => vi.unstubAllGlobals())
)

/** A fake server that records each request's body as the client hands it over, and answers a write. */
const recording = () => {
  const bodies: Array<HttpClientRequest.HttpClientRequest["body"]> = []
  const client = HttpClient.make((request) => {
    bodies.push(request.body)
    return Effect.succeed(
      HttpClientResponse.fromWeb(request, json(201, { ok: true, id: "doc", rev: "1-a" }))
    )
  })
  return { bodies, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

const attachmentOf = Effect.gen(function*() {
  const couch = yield* CouchSession.make({ url: "http://couch.test", retry: false })
  const db = yield* couch.use("files")
  return yield* db.attachment("doc", "a.bin")
})

const chunks = Stream.make(Uint8Array.of(1, 2), Uint8Array.of(3), Uint8Array.of(4, 5, 6))

class StreamFailed extends Data.TaggedError("StreamFailed")<{}> {}

describe("a streamed upload on a browser's platform", () => {
  it.scoped("is read to its end and sent as bytes, with or without contentLength", () =>
    Effect.gen(function*() {
      yield* inBrowser
      const server = recording()
      const attachment = yield* Effect.provide(attachmentOf, server.layer)
      yield* attachment.put(chunks, { contentType: "application/octet-stream", contentLength: 6 })
      yield* attachment.put(chunks, { contentType: "application/octet-stream" })
      assert.strictEqual(server.bodies.length, 2)
      for (const body of server.bodies) {
        assert.strictEqual(body._tag, "Uint8Array")
        if (body._tag === "Uint8Array") {
          assert.deepStrictEqual([...body.body], [1, 2, 3, 4, 5, 6])
          assert.strictEqual(body.contentType, "application/octet-stream")
        }
      }
    }))

  it.scoped("a length other than contentLength is InvalidArgumentError, and nothing is sent", () =>
    Effect.gen(function*() {
      yield* inBrowser
      const server = recording()
      const attachment = yield* Effect.provide(attachmentOf, server.layer)
      for (const contentLength of [5, 7]) {
        const result = yield* Effect.either(attachment.put(chunks, { contentType: "text/plain", contentLength }))
        const error = Either.isLeft(result) ? result.left : undefined
        assert.instanceOf(error, CouchError.InvalidArgumentError)
        assert.match(error?.message ?? "", new RegExp(`gave 6 bytes, not the ${contentLength} of contentLength`))
      }
      assert.strictEqual(server.bodies.length, 0)
    }))

  it.scoped("a stream that fails fails the upload with its own error, and nothing is sent", () =>
    Effect.gen(function*() {
      yield* inBrowser
      const server = recording()
      const attachment = yield* Effect.provide(attachmentOf, server.layer)
      const failing = Stream.concat(chunks, Stream.fail(new StreamFailed()))
      const result = yield* Effect.either(attachment.put(failing, { contentType: "text/plain" }))
      assert.instanceOf(Either.isLeft(result) ? result.left : undefined, StreamFailed)
      assert.strictEqual(server.bodies.length, 0)
    }))

  it.scoped("elsewhere (Node) a stream is still handed to the client as a stream", () =>
    Effect.gen(function*() {
      const server = recording()
      const attachment = yield* Effect.provide(attachmentOf, server.layer)
      yield* attachment.put(chunks, { contentType: "application/octet-stream", contentLength: 6 })
      assert.deepStrictEqual(server.bodies.map((body) => body._tag), ["Stream"])
    }))
})

layer(TestLive, { excludeTestServices: true })("a streamed upload on a browser's platform, against the server", (it) => {
  it.scoped("round trip: the bytes read back are the stream's", () =>
    Effect.gen(function*() {
      yield* inBrowser
      const db = yield* testDatabase("browser-upload")
      const attachment = yield* db.attachment("doc", "data.bin")
      const big = Stream.range(0, 99).pipe(Stream.map((i) => Uint8Array.from({ length: 1000 }, (_, j) => (i + j) % 251)))
      const { rev } = yield* attachment.put(big, { contentType: "application/octet-stream", contentLength: 100_000 })
      assert.match(rev, /^1-/)
      const body = yield* attachment.get()
      assert.strictEqual(body.contentLength, 100_000)
      const read = yield* Stream.runFold(body.stream, [] as Array<number>, (acc, chunk) => {
        for (const byte of chunk) acc.push(byte)
        return acc
      })
      assert.strictEqual(read.length, 100_000)
      assert.isTrue(read.every((byte, index) => byte === (Math.floor(index / 1000) + (index % 1000)) % 251))
    }))
})
