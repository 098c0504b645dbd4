import { CouchTestServer } from "@effect-couch/testing"
import { assert, describe, expect, it, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Crypto from "node:crypto"
import * as V8 from "node:v8"
import * as Vm from "node:vm"
import * as Zlib from "node:zlib"
import type { Attachment } from "../src/index.js"
import { CouchError } from "../src/index.js"
import * as Multipart from "../src/internal/multipart.js"
import { TestLive, testDatabase } from "./support.js"

const concat = (chunks: Iterable<Uint8Array>): Uint8Array => Buffer.concat([...chunks])

/** `count` chunks of `size` bytes, each different, made as they are pulled. */
const generated = (count: number, size: number) =>
  // one chunk per pull (a range is one chunk of all its numbers otherwise: every buffer made at once)
  Stream.range(0, count - 1, 1).pipe(Stream.map((index) => {
    const chunk = new Uint8Array(size)
    chunk.fill(index % 251)
    new DataView(chunk.buffer).setUint32(0, index)
    return chunk
  }))

const md5 = (bytes: Uint8Array) => `md5-${Crypto.createHash("md5").update(bytes).digest("base64")}`

/** Every part's bytes, by name (the handler reads each part to its end). */
const readAll = () => {
  const parts = new Map<string, { readonly part: Attachment.Part; readonly bytes: Uint8Array }>()
  const handler = (part: Attachment.Part) =>
    Effect.map(Stream.runCollect(part.stream), (chunks) => {
      parts.set(part.name, { part, bytes: concat(chunks) })
    })
  return { parts, handler }
}

describe("multipart reader", () => {
  const chunked = (bytes: Uint8Array, sizes: ReadonlyArray<number>) => {
    const chunks: Array<Uint8Array> = []
    let at = 0
    for (let i = 0; at < bytes.length; i++) {
      const size = Math.max(1, sizes[i % sizes.length] ?? 1)
      chunks.push(bytes.subarray(at, at + size))
      at += size
    }
    return chunks
  }
  const pullOf = (chunks: ReadonlyArray<Uint8Array>) => {
    let i = 0
    return Effect.suspend(() =>
      i < chunks.length ? Effect.succeed(Chunk.of(chunks[i++]!)) : Effect.fail(Option.none<never>())
    )
  }

  it.effect.prop(
    "finds a delimiter however the body is cut into chunks, and gives the bytes around it exactly",
    [FastCheck.uint8Array({ maxLength: 200 }), FastCheck.uint8Array({ maxLength: 200 }), FastCheck.array(FastCheck.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 })],
    ([before, after, sizes]) =>
      Effect.gen(function*() {
        const delimiter = Multipart.utf8("\r\n--b0undary")
        // the bytes before the delimiter cannot hold it: they are bytes of a part
        if (Multipart.indexOf(concat([before, delimiter.subarray(0, delimiter.length - 1)]), delimiter, 0) >= 0) return
        const read = Multipart.reader(pullOf(chunked(concat([before, delimiter, after]), sizes)))
        const found = yield* read.until(delimiter, 1000, "a part")
        const rest: Array<Uint8Array> = []
        for (let left = after.length; left > 0;) {
          const bytes = yield* read.take(left, "the rest")
          rest.push(bytes)
          left -= bytes.length
        }
        // what was handed out is still what it was once everything after it was read
        assert.deepStrictEqual([...found], [...before])
        assert.deepStrictEqual([...concat(rest)], [...after])
        assert.strictEqual((yield* read.peek(2)).length, 0)
      })
  )

  it.effect("a body that ends before the delimiter, or holds too much before it, is Malformed", () =>
    Effect.gen(function*() {
      const delimiter = Multipart.utf8("--b")
      const ended = yield* Effect.flip(Multipart.reader(pullOf([Multipart.utf8("abc")])).until(delimiter, 100, "a part"))
      assert.instanceOf(ended, Multipart.Malformed)
      assert.strictEqual((ended as Multipart.Malformed).reason, "truncated")
      const long = yield* Effect.flip(
        Multipart.reader(pullOf(Array.from({ length: 10 }, () => new Uint8Array(50)))).until(delimiter, 100, "a part")
      )
      assert.strictEqual((long as Multipart.Malformed).reason, "malformed")
    }))

  it.prop(
    "a body built of parts is as long as it says, and reads back as those parts",
    [FastCheck.array(FastCheck.uint8Array({ maxLength: 64 }), { maxLength: 5 })],
    ([contents]) => {
      const boundary = Multipart.randomBoundary()
      const built = Multipart.body<never, never>(
        boundary,
        contents.map((bytes) => ({ headers: { "Content-Length": String(bytes.length) }, body: bytes, length: bytes.length }))
      )
      const bytes = concat(Effect.runSync(Stream.runCollect(built.stream)))
      assert.strictEqual(bytes.length, built.length)
      const text = Buffer.from(bytes).toString("latin1")
      assert.isTrue(text.endsWith(`--${boundary}--`))
      assert.strictEqual(text.split(`--${boundary}\r\n`).length - 1, contents.length)
    }
  )

  it("reads a part's file name as CouchDB writes it (quotes left as they are) and a quoted boundary", () => {
    expect(Multipart.filenameOf(`attachment; filename="a"b é.txt"`)).toBe(`a"b é.txt`)
    expect(Multipart.filenameOf(undefined)).toBeUndefined()
    expect(Multipart.boundaryOf(`multipart/related; boundary="abc123"`)).toBe("abc123")
    expect(Multipart.boundaryOf(`multipart/related;boundary=xyz`)).toBe("xyz")
    expect(Multipart.boundaryOf("application/json")).toBeUndefined()
  })
})

layer(TestLive, { timeout: "120 seconds" })("documents with their attachments (multipart/related)", (it) => {
  const names = ["notes.txt", `a"b é.txt`, "1", "dir/photo.bin"]

  it.scoped("written in one request and read back: every byte, the stubs, the digests", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("mp")
      const photo = generated(16, 4096) // 64 KiB
      const photoBytes = concat(yield* Stream.runCollect(photo))
      const written = yield* db.putWithAttachments({ _id: "album", title: "summer" }, [
        { name: names[0]!, contentType: "text/plain", content: "hello, world ".repeat(100) },
        { name: names[1]!, contentType: "text/plain; charset=utf-8", content: "é".repeat(10) },
        { name: names[2]!, contentType: "application/octet-stream", content: Uint8Array.from([0, 1, 2, 255]) },
        { name: names[3]!, contentType: "image/jpeg", content: photo, contentLength: photoBytes.length }
      ])
      assert.match(written.rev, /^1-/)
      const { handler, parts } = readAll()
      const doc = yield* db.getWithAttachments("album", handler)
      assert.strictEqual(doc["title"], "summer")
      assert.deepStrictEqual([...parts.keys()].sort(), [...names].sort())
      const expected: Record<string, Uint8Array> = {
        [names[0]!]: Buffer.from("hello, world ".repeat(100)),
        [names[1]!]: Buffer.from("é".repeat(10)),
        [names[2]!]: Uint8Array.from([0, 1, 2, 255]),
        [names[3]!]: photoBytes
      }
      const stubs = doc["_attachments"] as Record<string, Record<string, unknown>>
      for (const name of names) {
        const { bytes, part } = parts.get(name)!
        assert.deepStrictEqual(Buffer.from(bytes), Buffer.from(expected[name]!), name)
        assert.strictEqual(part.length, expected[name]!.length)
        // CouchDB's digest of an attachment it keeps compressed is not the MD5 of its bytes: the stub's is the one
        assert.strictEqual(part.digest, stubs[name]!["digest"])
        if (!part.contentType.startsWith("text/")) assert.strictEqual(part.digest, md5(expected[name]!))
        assert.isUndefined(part.encoding)
        assert.strictEqual(stubs[name]!["stub"], true)
        assert.isUndefined(stubs[name]!["follows"])
        // the same bytes as the attachment's own endpoint gives
        const single = yield* db.attachment("album", name)
        const body = yield* single.get()
        assert.deepStrictEqual(Buffer.from(concat(yield* Stream.runCollect(body.stream))), Buffer.from(expected[name]!))
      }
      assert.strictEqual(parts.get(names[1]!)!.part.contentType, "text/plain; charset=utf-8")
      // the document read back can be written back as it is (its attachments are stubs)
      const again = yield* db.put(doc)
      assert.match(again.rev, /^2-/)
    }))

  it.scoped("a document without attachments is the document, and no handler runs", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("mp")
      yield* db.put({ _id: "plain", n: 1 })
      let calls = 0
      const doc = yield* db.getWithAttachments("plain", () => Effect.sync(() => calls++))
      assert.strictEqual(doc["n"], 1)
      assert.strictEqual(calls, 0)
      const missing = yield* Effect.flip(db.getWithAttachments("nope", () => Effect.void))
      assert.instanceOf(missing, CouchError.NotFoundError)
    }))

  it.scoped("what a handler leaves unread is skipped: the next part is whole", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("mp")
      const big = Buffer.alloc(200_000, 7)
      yield* db.putWithAttachments({ _id: "d" }, [
        { name: "a.bin", contentType: "application/octet-stream", content: big },
        { name: "b.bin", contentType: "application/octet-stream", content: Buffer.from("the second") }
      ])
      const seen: Array<[string, number]> = []
      yield* db.getWithAttachments("d", (part) =>
        part.name === "a.bin" ?
          Effect.map(Stream.runCollect(Stream.take(part.stream, 1)), (chunks) => {
            seen.push([part.name, concat(chunks).length])
          }) :
          Effect.map(Stream.runCollect(part.stream), (chunks) => {
            seen.push([part.name, concat(chunks).length])
            assert.strictEqual(Buffer.from(concat(chunks)).toString(), "the second")
          }))
      assert.deepStrictEqual(seen.map(([name]) => name).sort(), ["a.bin", "b.bin"])
      const first = seen.find(([name]) => name === "a.bin")!
      assert.isTrue(first[1] > 0 && first[1] <= big.length)
    }))

  it.scoped("attsSince: only the attachments added since that revision follow, the others stay stubs", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("mp")
      const first = yield* db.putWithAttachments({ _id: "d" }, [
        { name: "old.bin", contentType: "application/octet-stream", content: Buffer.from("old") }
      ])
      const current = yield* db.get("d")
      yield* db.putWithAttachments({ ...current }, [
        { name: "new.bin", contentType: "application/octet-stream", content: Buffer.from("new") }
      ])
      const { handler, parts } = readAll()
      const doc = yield* db.getWithAttachments("d", handler, { attsSince: [first.rev] })
      assert.deepStrictEqual([...parts.keys()], ["new.bin"])
      assert.strictEqual(Buffer.from(parts.get("new.bin")!.bytes).toString(), "new")
      const stubs = doc["_attachments"] as Record<string, Record<string, unknown>>
      assert.strictEqual(stubs["old.bin"]!["stub"], true)
      assert.strictEqual(stubs["new.bin"]!["stub"], true)
    }))

  it.scoped("text CouchDB keeps compressed arrives decompressed, or as sent with decompress: false", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("mp")
      const text = "a line of text that compresses well\n".repeat(500)
      yield* db.putWithAttachments({ _id: "t" }, [{ name: "log.txt", contentType: "text/plain", content: text }])
      const decoded = readAll()
      yield* db.getWithAttachments("t", decoded.handler)
      assert.strictEqual(Buffer.from(decoded.parts.get("log.txt")!.bytes).toString(), text)
      assert.isUndefined(decoded.parts.get("log.txt")!.part.encoding)
      const raw = readAll()
      yield* db.getWithAttachments("t", raw.handler, { decompress: false })
      const { bytes, part } = raw.parts.get("log.txt")!
      const server = yield* CouchTestServer.CouchTestServer
      if (server.kind === "couchdb") {
        // CouchDB 3.5 stores text/* compressed and sends it as stored (measured on 3.5.2)
        assert.strictEqual(part.encoding, "gzip")
        assert.isTrue(bytes.length < text.length)
        assert.strictEqual(Zlib.gunzipSync(bytes).toString(), text)
      } else {
        assert.isUndefined(part.encoding)
        assert.strictEqual(Buffer.from(bytes).toString(), text)
      }
    }))

  it.scoped("bad uploads are refused before any request: no document is written", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("mp")
      const refused = (uploads: ReadonlyArray<Attachment.Upload<never, never>>) =>
        Effect.flip(db.putWithAttachments({ _id: "x" }, uploads))
      const stream = Stream.succeed(Uint8Array.from([1, 2, 3]))
      const cases = [
        [{ name: "s.bin", contentType: "application/octet-stream", content: stream }],
        [{ name: "_s.bin", contentType: "application/octet-stream", content: "x" }],
        [{ name: "a//b", contentType: "application/octet-stream", content: "x" }],
        [{ name: "a", contentType: "text/é", content: "x" }],
        [{ name: "a", contentType: "text/plain\r\nX-Injected: 1", content: "x" }],
        [{ name: "a", contentType: "text/plain", content: "x" }, { name: "a", contentType: "text/plain", content: "y" }],
        [{ name: "a", contentType: "text/plain", content: "xyz", contentLength: 2 }]
      ]
      for (const uploads of cases) {
        const error = yield* refused(uploads)
        assert.instanceOf(error, CouchError.InvalidArgumentError, JSON.stringify(uploads.map((u) => u.name)))
      }
      const announced = yield* Effect.flip(db.putWithAttachments({
        _id: "x",
        _attachments: { "ghost.bin": { follows: true, content_type: "text/plain", length: 3 } }
      }, []))
      assert.instanceOf(announced, CouchError.InvalidArgumentError)
      // a stream that is not as long as it says fails the write, and nothing is stored
      const short = yield* Effect.flip(db.putWithAttachments({ _id: "x" }, [
        { name: "s.bin", contentType: "application/octet-stream", content: stream, contentLength: 4 }
      ]))
      assert.instanceOf(short, CouchError.InvalidArgumentError)
      const long = yield* Effect.flip(db.putWithAttachments({ _id: "x" }, [
        { name: "s.bin", contentType: "application/octet-stream", content: stream, contentLength: 2 }
      ]))
      assert.instanceOf(long, CouchError.InvalidArgumentError)
      const lookup = yield* Effect.either(db.get("x"))
      assert.isTrue(Either.isLeft(lookup) && lookup.left instanceof CouchError.NotFoundError)
    }))

  it.scoped("an update keeps the document's other attachments, and a stale revision is ConflictError", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("mp")
      yield* db.putWithAttachments({ _id: "d" }, [{ name: "keep.txt", contentType: "text/plain", content: "kept" }])
      const current = yield* db.get("d")
      const second = yield* db.putWithAttachments(current, [
        { name: "add.bin", contentType: "application/octet-stream", content: Buffer.from([9]) }
      ])
      assert.match(second.rev, /^2-/)
      const { handler, parts } = readAll()
      yield* db.getWithAttachments("d", handler)
      assert.deepStrictEqual([...parts.keys()].sort(), ["add.bin", "keep.txt"])
      assert.strictEqual(Buffer.from(parts.get("keep.txt")!.bytes).toString(), "kept")
      const stale = yield* Effect.flip(db.putWithAttachments(current, [
        { name: "late.bin", contentType: "application/octet-stream", content: Buffer.from([1]) }
      ]))
      assert.instanceOf(stale, CouchError.ConflictError)
    }))

  it.scoped("open revisions with their attachments: every leaf's parts, with the document they belong to", () =>
    Effect.gen(function*() {
      const db = yield* testDatabase("mp")
      const first = yield* db.putWithAttachments({ _id: "d", n: 1 }, [
        { name: "a.txt", contentType: "text/plain", content: "in both" }
      ])
      const one = yield* db.get("d")
      const mine = yield* db.putWithAttachments({ ...one, n: 2 }, [
        { name: "b.bin", contentType: "application/octet-stream", content: Buffer.from([1, 2, 3]) }
      ])
      // another branch from revision 1, as a replicator writes it: only c.bin
      const written = yield* db.bulkDocs([{
        _id: "d",
        _rev: "2-" + "b".repeat(32),
        _revisions: { start: 2, ids: ["b".repeat(32), first.rev.slice(2)] },
        n: 3,
        _attachments: { "c.bin": { content_type: "application/octet-stream", data: Buffer.from([9, 9]).toString("base64") } }
      }], { newEdits: false })
      assert.isTrue(written.every(Either.isRight))
      const seen: Array<string> = []
      const revisions = yield* db.getOpenRevisionsWithAttachments("d", "all", (part, doc) =>
        Effect.map(Stream.runCollect(part.stream), (chunks) => {
          seen.push(`${String(doc["n"])}:${part.name}=${Buffer.from(concat(chunks)).toString("hex")}`)
        }))
      assert.deepStrictEqual(revisions.map((revision) => revision._tag), ["Found", "Found"])
      const revs = revisions.map((revision) => revision._tag === "Found" ? revision.doc["_rev"] : undefined).sort()
      assert.deepStrictEqual(revs, [mine.rev, "2-" + "b".repeat(32)].sort())
      assert.deepStrictEqual(seen.sort(), [
        `2:a.txt=${Buffer.from("in both").toString("hex")}`,
        "2:b.bin=010203",
        "3:c.bin=0909"
      ])
      for (const revision of revisions) {
        if (revision._tag === "Found") {
          const stubs = revision.doc["_attachments"] as Record<string, Record<string, unknown>>
          assert.isTrue(Object.values(stubs).every((stub) => stub["stub"] === true && stub["data"] === undefined))
        }
      }
      // a revision the document does not have is Missing
      const missing = yield* db.getOpenRevisionsWithAttachments("d", ["9-" + "c".repeat(32), mine.rev], () => Effect.void)
      assert.deepStrictEqual(missing.map((revision) => revision._tag).sort(), ["Found", "Missing"])
    }))

  it.scoped("64 MiB up and down in one multipart request each, with the heap flat", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      // the embedded server keeps attachments in this process's memory: its heap says nothing of the client's
      const chunks = server.kind === "couchdb" ? 1024 : 64 // 64 MiB, or 4 MiB
      const size = 65_536
      const db = yield* testDatabase("mp")
      // what the process holds after a full collection, every 8 MiB moved: garbage not yet collected is not held
      V8.setFlagsFromString("--expose-gc")
      const gc = Vm.runInNewContext("gc") as () => void
      const held = () => {
        gc()
        const usage = process.memoryUsage()
        return usage.heapUsed + usage.arrayBuffers
      }
      let peak = 0
      let moved = 0
      const sample = (bytes: number) => {
        moved += bytes
        if (moved >= 8 * 1024 * 1024) {
          moved = 0
          peak = Math.max(peak, held())
        }
      }
      const baseline = held()
      const upload = generated(chunks, size).pipe(Stream.tap((chunk) => Effect.sync(() => sample(chunk.length))))
      yield* db.putWithAttachments({ _id: "big" }, [
        { name: "big.bin", contentType: "application/octet-stream", content: upload, contentLength: chunks * size }
      ], { timeout: "5 minutes" })
      const peakUp = peak
      peak = 0
      const hash = Crypto.createHash("sha256")
      let bytes = 0
      yield* db.getWithAttachments("big", (part) =>
        Stream.runForEach(part.stream, (chunk) =>
          Effect.sync(() => {
            hash.update(chunk)
            bytes += chunk.length
            sample(chunk.length)
          })))
      const expected = Crypto.createHash("sha256")
      yield* Stream.runForEach(generated(chunks, size), (chunk) => Effect.sync(() => expected.update(chunk)))
      assert.strictEqual(bytes, chunks * size)
      assert.strictEqual(hash.digest("hex"), expected.digest("hex"))
      if (server.kind === "couchdb") {
        // 64 MiB moved each way; what the process held beyond its start stayed a fraction of it
        expect({ up: peakUp - baseline < 16 * 1024 * 1024, down: peak - baseline < 16 * 1024 * 1024 }, `held beyond the start: ${peakUp - baseline} B up, ${peak - baseline} B down`)
          .toEqual({ up: true, down: true })
      }
    }), { timeout: 300_000 })
})
