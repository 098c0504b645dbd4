// The consumer test's browser program (scripts/consumer-test.mjs, step 3): bundled by esbuild from the packed
// tarballs installed in the scratch project, loaded in headless Chromium from a page on another origin than the
// embedded server (so every request is cross-origin: CORS with credentials). A cookie session over
// FetchHttpClient with `credentials: "include"`; create, put, get, head, a typed modify, a paged `_all_docs`, a
// continuous changes feed, an attachment uploaded from a stream and read back, a cookie that lapses. It logs one
// line, `effect-couch-browser: <json>`, which run.mjs waits for.
import { CouchAuth, CouchSession } from "@effect-couch/client"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpBody from "@effect/platform/HttpBody"
// effect's modules by path: with the `effect` barrel, esbuild's bundle of this program is 75% larger (fast-check
// and much else come along)
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

interface Config {
  readonly url: string
  readonly username: string
  readonly password: string
}

const Item = Schema.Struct({ _id: Schema.String, _rev: Schema.optional(Schema.String), n: Schema.Number })

// the browser keeps the session cookie; cross-origin, fetch sends it only with credentials: "include"
const Http = FetchHttpClient.layer.pipe(
  Layer.provide(Layer.succeed(FetchHttpClient.RequestInit, { credentials: "include" }))
)

const check = (condition: boolean, what: string) => condition ? Effect.void : Effect.dieMessage(`check failed: ${what}`)

/** 64 KiB in 16 chunks, each byte a function of its offset. */
const byteAt = (offset: number) => (offset * 31 + (offset >> 8)) % 256
const chunkSize = 4096
const chunkCount = 16
const upload = Stream.range(0, chunkCount - 1).pipe(
  Stream.map((index) => Uint8Array.from({ length: chunkSize }, (_, i) => byteAt(index * chunkSize + i)))
)

const program = (config: Config) =>
  Effect.gen(function*() {
    const couch = yield* CouchSession.make({ url: config.url, auth: CouchAuth.cookie(config.username, config.password) })
    const me = yield* couch.session
    yield* check(me.userCtx.name === config.username, `logged in as ${config.username} (got ${me.userCtx.name})`)

    // documents
    const db = yield* couch.create(`browser-${Date.now().toString(36)}`)
    const items = db.withSchema(Item)
    const first = yield* items.put({ _id: "a", n: 1 })
    yield* items.put({ _id: "b", n: 2 })
    yield* items.put({ _id: "c", n: 3 })
    const a = yield* items.get("a")
    yield* check(a.n === 1 && a._rev === first.rev, "a read back")
    const rev = yield* db.head("a") // from the ETag, which CORS must expose
    yield* check(rev === first.rev, `head gives a's revision from its ETag (got ${rev})`)
    yield* items.modify("b", (doc) => ({ ...doc, n: 20 }))
    const rows = Chunk.toReadonlyArray(yield* Stream.runCollect(items.allDocs({ includeDocs: true, pageSize: 2 })))
    const seen = rows.map((row) => row._tag === "Row" ? `${row.id}=${row.doc?.n}` : row._tag).join(",")
    yield* check(seen === "a=1,b=20,c=3", `_all_docs in pages of 2 (got ${seen})`)

    // a continuous feed, open while two documents are written
    const { updateSeq } = yield* db.info
    const feed = yield* db.changes({ feed: "continuous", since: updateSeq, heartbeat: "5 seconds" }).pipe(
      Stream.filter((event) => event._tag === "Change"),
      Stream.take(2),
      Stream.runCollect,
      Effect.fork
    )
    yield* Effect.sleep("200 millis")
    yield* items.put({ _id: "d", n: 4 })
    yield* items.put({ _id: "e", n: 5 })
    const changes = Chunk.toReadonlyArray(yield* Fiber.join(feed).pipe(Effect.timeout("20 seconds")))
    const changed = changes.map((event) => event._tag === "Change" ? event.id : "").join(",")
    yield* check(changed === "d,e", `the continuous feed delivered d and e (got ${changed})`)

    // an attachment uploaded from a stream (the browser cannot stream a request body over HTTP/1.1: the client
    // reads it first) and read back as a stream
    const attachment = yield* db.attachment("files", "data.bin")
    const total = chunkSize * chunkCount
    yield* attachment.put(upload, { contentType: "application/octet-stream", contentLength: total })
    const info = yield* attachment.head()
    yield* check(info.contentLength === total, `the attachment's length (got ${info.contentLength})`)
    yield* check(info.digest?.startsWith("md5-") === true, `the attachment's digest (got ${info.digest})`)
    const body = yield* attachment.get()
    const read = yield* Stream.runFold(body.stream, { bytes: 0, wrong: 0 }, (acc, chunk) => {
      for (let i = 0; i < chunk.length; i++) if (chunk[i] !== byteAt(acc.bytes + i)) acc.wrong++
      acc.bytes += chunk.length
      return acc
    })
    yield* check(read.bytes === total && read.wrong === 0, `the attachment read back (${read.bytes} bytes, ${read.wrong} wrong)`)

    // the cookie lapses (a 2-second lifetime, then 3 seconds idle): the browser's session learns it from a 401 to an
    // admin-only request, logs in once more and sends the request again
    const timeout = yield* couch.client.put("/_node/_local/_config/chttpd_auth/timeout", {
      body: HttpBody.unsafeJson("2")
    })
    yield* check(timeout.status === 200, `the cookie lifetime set (status ${timeout.status})`)
    yield* Effect.sleep("3 seconds")
    const names = yield* couch.keys()
    yield* check(names.includes(db.name), "_all_dbs, after logging in again, lists the database")
    const again = yield* couch.session
    yield* check(again.userCtx.name === config.username, "logged in again")

    yield* db.delete
    return {
      ok: true as const,
      navigatorProduct: navigator.product,
      documents: rows.length,
      changes: changes.length,
      attachmentBytes: read.bytes,
      // the first login, and the one after the cookie lapsed
      expectedLogins: 2
    }
  }).pipe(Effect.scoped)

const report = (result: unknown) => console.log(`effect-couch-browser: ${JSON.stringify(result)}`)

const config = (await (await fetch("/config.json")).json()) as Config
Effect.runPromise(program(config).pipe(Effect.provide(Http))).then(report, (error: unknown) =>
  report({ ok: false, error: String(error), stack: error instanceof Error ? error.stack : undefined }))
