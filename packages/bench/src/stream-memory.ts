/**
 * Memory over long streams, the client's alone: a synthetic server (a fake `HttpClient` that makes its answers as
 * they are read) gives
 *
 * - `changes`: a continuous `_changes` feed of N changes with their documents, read with
 *   `db.changes({ feed: "continuous", includeDocs: true })`;
 * - `all-docs`: an `_all_docs?include_docs=true` of N documents, answering each page request (`startkey`,
 *   `limit`) from the key, read with `db.allDocs({ includeDocs: true, pageSize: 1000 })`;
 * - `changes-one-request`: a normal `_changes` feed of N changes with their documents in one answer, read with
 *   `db.changes({ includeDocs: true, oneRequest: true })` (as by default);
 * - `all-docs-one-request`: the `_all_docs` of N documents in one answer, `db.allDocs({ includeDocs: true,
 *   oneRequest: true })` (as by default);
 * - `follow`: the continuous feed read by a follower, `db.follow({ includeDocs: true })`, stopped after N changes.
 *
 * Every 100,000 items the heap is measured after a GC. A client that keeps nothing per item shows the same heap
 * from the first sample to the last.
 *
 *   pnpm --filter @effect-couch/bench stream-memory [mode] [items]     (default: every mode, 1,000,000)
 */
import { CouchSession, type Database } from "@effect-couch/client"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"

const modes = ["changes", "all-docs", "changes-one-request", "all-docs-one-request", "follow"] as const
type Mode = typeof modes[number]
const asked = process.argv[2]
const isMode = (value: string | undefined): value is Mode => modes.some((mode) => mode === value)
const chosen: ReadonlyArray<Mode> = isMode(asked) ? [asked] : modes
const total = Number(process.argv[asked === undefined || chosen.length === 1 ? 3 : 2] ?? 1_000_000) || 1_000_000
const every = 100_000
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)

const rev = "1-967a00dff5e02add41819138abb3284d"
const id = (i: number) => `doc-${String(i).padStart(8, "0")}`
const doc = (i: number) => ({ _id: id(i), _rev: rev, n: i, name: `document ${i}`, tags: ["bench", i % 2 === 0 ? "even" : "odd"] })

/** A body made as it is pulled, `lines` at a time. */
const pulled = (count: number, line: (i: number) => string, head = "", tail = "") => {
  const encoder = new TextEncoder()
  let i = 0
  let started = false
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!started) {
        started = true
        if (head !== "") return controller.enqueue(encoder.encode(head))
      }
      if (i >= count) {
        if (tail !== "") controller.enqueue(encoder.encode(tail))
        return controller.close()
      }
      const lines: Array<string> = []
      for (let k = 0; k < 200 && i < count; k++, i++) lines.push(line(i))
      controller.enqueue(encoder.encode(lines.join("") ))
    }
  })
}

const change = (i: number) =>
  JSON.stringify({ seq: `${i}-g1AAAABXeJzLYWBgYMpgTmHgz8tPSTV0MDQy1zMA`, id: id(i), changes: [{ rev }], doc: doc(i) })

/** The continuous feed: one change a line. */
const feed = () => pulled(total, (i) => change(i) + "\n")

/** The normal feed in one answer, as CouchDB lays it out (a change a line). */
const normalFeed = () =>
  pulled(total, (i) => `${i === 0 ? "" : ",\n"}${change(i)}`, `{"results":[\n`, `\n],\n"last_seq":"${total}-g1","pending":0}\n`)

/** A page of `_all_docs` from `startkey`, `limit` rows, as CouchDB lays it out (a row a line). */
const allDocsPage = (request: HttpClientRequest.HttpClientRequest) => {
  const params = new URLSearchParams(request.urlParams.map(([k, v]) => [k, v]))
  const startkey = params.get("startkey")
  const from = startkey === null ? 0 : Number((JSON.parse(startkey) as string).slice(4))
  const count = Math.max(0, Math.min(Number(params.get("limit") ?? total), total - from))
  return pulled(
    count,
    (k) => `${k === 0 ? "" : ",\r\n"}${JSON.stringify({ id: id(from + k), key: id(from + k), value: { rev }, doc: doc(from + k) })}`,
    `{"total_rows":${total},"offset":${from},"rows":[\r\n`,
    "\r\n]}\n"
  )
}

const client = HttpClient.make((request) =>
  Effect.succeed(
    HttpClientResponse.fromWeb(
      request,
      new Response(
        !request.url.endsWith("/_changes") ?
          allDocsPage(request) :
          request.urlParams.some(([key, value]) => key === "feed" && value === "continuous") ?
          feed() :
          normalFeed(),
        {
          headers: { "content-type": "application/json" }
        }
      )
    )
  )
)

const measure = (mode: Mode, db: Database.Database) =>
  Effect.gen(function*() {
    const streams: Record<Mode, Stream.Stream<unknown, unknown>> = {
      "changes": db.changes({ feed: "continuous", includeDocs: true }),
      "all-docs": db.allDocs({ includeDocs: true, pageSize: 1000 }),
      "changes-one-request": db.changes({ includeDocs: true, oneRequest: true }),
      "all-docs-one-request": db.allDocs({ includeDocs: true, oneRequest: true }),
      "follow": Stream.unwrap(
        Effect.map(db.follow({ includeDocs: true }), (follower) => Stream.take(follower.changes, total))
      )
    }
    const stream = streams[mode]
    let count = 0
    const start = performance.now()
    process.stdout.write(`${mode}: ${total.toLocaleString("en")} items\n`)
    yield* Stream.runForEach(stream, () =>
      Effect.sync(() => {
        count++
        if (count % every === 0) {
          globalThis.gc?.()
          const { heapUsed, rss } = process.memoryUsage()
          process.stdout.write(`  ${count.toLocaleString("en")}: heap ${mib(heapUsed)} MiB, rss ${mib(rss)} MiB\n`)
        }
      }))
    const seconds = (performance.now() - start) / 1000
    process.stdout.write(`  ${count.toLocaleString("en")} in ${seconds.toFixed(1)} s (${(seconds * 1e6 / count).toFixed(1)} µs each)\n`)
  })

if (globalThis.gc === undefined) process.stdout.write("(run with --expose-gc for heap sizes after a GC)\n")
Effect.runPromise(
  Effect.gen(function*() {
    const db = yield* Effect.flatMap(CouchSession.CouchSession, (couch) => couch.use("bench"))
    for (const mode of chosen) yield* measure(mode, db)
  }).pipe(
    Effect.provide(
      CouchSession.layer({ url: "http://couch.invalid", retry: false }).pipe(
        Layer.provide(Layer.succeed(HttpClient.HttpClient, client))
      )
    )
  )
)
