/**
 * Memory over a long continuous feed: a synthetic `_changes?feed=continuous` of N changes with their documents
 * (generated as it is read, through a fake `HttpClient`, so only the client's memory is measured) read with
 * `db.changes({ feed: "continuous", includeDocs: true })`; every 100,000 changes the heap is measured after a GC.
 * A client that keeps nothing per change shows the same heap from the first sample to the last.
 *
 *   pnpm --filter @effect-couch/bench feed-memory [changes]     (default 1,000,000)
 */
import { CouchSession } from "@effect-couch/client"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"

const total = Number(process.argv[2] ?? 1_000_000)
const every = 100_000
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)

/** The feed's body, 200 lines a chunk, made as it is pulled. */
const feed = () => {
  const encoder = new TextEncoder()
  let i = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i >= total) return controller.close()
      const lines: Array<string> = []
      for (let k = 0; k < 200 && i < total; k++, i++) {
        lines.push(JSON.stringify({
          seq: `${i}-g1AAAABXeJzLYWBgYMpgTmHgz8tPSTV0MDQy1zMAQsMcoARTIkOS`,
          id: `doc-${i}`,
          changes: [{ rev: "1-967a00dff5e02add41819138abb3284d" }],
          doc: { _id: `doc-${i}`, _rev: "1-967a00dff5e02add41819138abb3284d", n: i, name: `document ${i}` }
        }))
      }
      controller.enqueue(encoder.encode(lines.join("\n") + "\n"))
    }
  })
}

const client = HttpClient.make((request) =>
  Effect.succeed(
    HttpClientResponse.fromWeb(request, new Response(feed(), { headers: { "content-type": "application/json" } }))
  )
)

const program = Effect.gen(function*() {
  const db = yield* Effect.flatMap(CouchSession.CouchSession, (couch) => couch.use("feed"))
  let count = 0
  const start = performance.now()
  yield* Stream.runForEach(db.changes({ feed: "continuous", includeDocs: true }), () =>
    Effect.sync(() => {
      count++
      if (count % every === 0) {
        globalThis.gc?.()
        const { heapUsed, rss } = process.memoryUsage()
        process.stdout.write(`${count.toLocaleString("en")} changes: heap ${mib(heapUsed)} MiB, rss ${mib(rss)} MiB\n`)
      }
    }))
  process.stdout.write(`${count.toLocaleString("en")} changes in ${((performance.now() - start) / 1000).toFixed(1)} s\n`)
})

if (globalThis.gc === undefined) process.stdout.write("(run with --expose-gc for heap sizes after a GC)\n")
Effect.runPromise(
  program.pipe(
    Effect.provide(
      CouchSession.layer({ url: "http://couch.invalid", retry: false }).pipe(
        Layer.provide(Layer.succeed(HttpClient.HttpClient, client))
      )
    )
  )
)
