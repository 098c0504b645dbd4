/**
 * Search: Nouveau and Clouseau against a fake search server (a node HTTP server in this file that answers
 * `_nouveau`, `_search` and their siblings in the shapes CouchDB 3.5 documents and its source sends, bookmarks
 * across pages and errors included), and against the test server for what it answers without a search server.
 */
import * as Http from "node:http"
import type * as Net from "node:net"
import { CouchTestServer } from "@effect-couch/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { CouchError, CouchSession, Document, Search } from "../src/index.js"
import { spanRecorder } from "./fake.js"
import { TestLive, testDatabase } from "./support.js"

// The fake search server

interface Animal {
  readonly _id: string
  readonly name: string
  readonly diet: string
  readonly class: string
  readonly min_length: number
}

const animals: ReadonlyArray<Animal> = [
  { _id: "aardvark", name: "Aardvark", diet: "carnivore", class: "mammal", min_length: 1 },
  { _id: "badger", name: "Badger", diet: "omnivore", class: "mammal", min_length: 0.6 },
  { _id: "elephant", name: "African elephant", diet: "herbivore", class: "mammal", min_length: 3.2 },
  { _id: "giraffe", name: "Giraffe", diet: "herbivore", class: "mammal", min_length: 5 },
  { _id: "kookaburra", name: "Kookaburra", diet: "carnivore", class: "bird", min_length: 0.28 },
  { _id: "lemur", name: "Lemur", diet: "herbivore", class: "mammal", min_length: 0.5 },
  { _id: "llama", name: "Llama", diet: "herbivore", class: "mammal", min_length: 1.6 },
  { _id: "p:panda", name: "Red panda", diet: "herbivore", class: "mammal", min_length: 0.5 },
  { _id: "p:python", name: "Python", diet: "carnivore", class: "reptile", min_length: 3 }
]

/** How the fake answers: normally, or as CouchDB does when its search server is missing. */
type Mode = "ok" | "clouseauMissing" | "ouEstClouseau" | "nouveauDisabled" | "nouveauDown" | "proxy503Once"

interface Seen {
  readonly method: string
  readonly path: string
  readonly body: Record<string, unknown> | undefined
}

/** The parameters each engine reads from a POST body (dreyfus_httpd and nouveau_httpd of CouchDB 3.5). */
const clouseauParameters = new Set([
  "q", "query", "bookmark", "limit", "sort", "include_docs", "include_fields", "counts", "drilldown", "ranges",
  "highlight_fields", "highlight_pre_tag", "highlight_post_tag", "highlight_number", "highlight_size", "stale",
  "stable", "group_field", "group_limit", "group_sort"
])
const nouveauParameters = new Set([
  "q", "bookmark", "limit", "sort", "include_docs", "locale", "counts", "ranges", "top_n", "update"
])

const sendJson = (response: Http.ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { "content-type": "application/json", "x-couch-request-id": "fake-request" })
  response.end(JSON.stringify(body))
}

class Refusal {
  constructor(readonly status: number, readonly error: string, readonly reason: string) {}
}

/** `*:*`, `field:value` and `a AND b`: enough Lucene for the tests. */
const matcher = (q: string): (doc: Animal) => boolean => {
  if (q.includes("((")) throw new Refusal(400, "query_parse_error", `Cannot parse '${q}'`)
  const terms = q.split(" AND ").map((term) => term.trim())
  return (doc) =>
    terms.every((term) => {
      if (term === "*:*") return true
      const [field, value] = term.includes(":") ? term.split(":", 2) : ["default", term]
      const held = field === "default" ? doc.name : (doc as unknown as Record<string, unknown>)[field!]
      return String(held).toLowerCase() === value!.toLowerCase()
    })
}

const bookmarkOf = (offset: number) => Buffer.from(JSON.stringify({ offset })).toString("base64url")
const offsetOf = (bookmark: unknown) =>
  typeof bookmark === "string" ? (JSON.parse(Buffer.from(bookmark, "base64url").toString()) as { offset: number }).offset : 0

const sortHits = (docs: ReadonlyArray<Animal>, sort: unknown): ReadonlyArray<Animal> => {
  const keys = (sort === undefined ? [] : Array.isArray(sort) ? sort : [sort]) as ReadonlyArray<string>
  return [...docs].sort((a, b) => {
    for (const key of keys) {
      const descending = key.startsWith("-")
      const field = key.replace(/^-/, "").replace(/<.*>$/, "") as keyof Animal
      const order = a[field] < b[field] ? -1 : a[field] > b[field] ? 1 : 0
      if (order !== 0) return descending ? -order : order
    }
    return a._id < b._id ? -1 : a._id > b._id ? 1 : 0
  })
}

const countsOf = (docs: ReadonlyArray<Animal>, fields: unknown) =>
  Object.fromEntries((fields as ReadonlyArray<keyof Animal>).map((field) => {
    const counts: Record<string, number> = {}
    for (const doc of docs) counts[String(doc[field])] = (counts[String(doc[field])] ?? 0) + 1
    return [field, counts]
  }))

/** A fake search server, its state, and what it saw. */
const fakeSearchServer = Effect.acquireRelease(
  Effect.async<{
    readonly url: string
    readonly seen: Array<Seen>
    readonly state: { mode: Mode; gone: Set<string>; misfit: Set<string> }
    readonly server: Http.Server
  }>((resume) => {
    const seen: Array<Seen> = []
    const state = { mode: "ok" as Mode, gone: new Set<string>(), misfit: new Set<string>() }
    const docOf = (id: string, engine: "clouseau" | "nouveau") => {
      if (state.gone.has(id)) return engine === "nouveau" ? "not_found" : null
      const doc = animals.find((animal) => animal._id === id)!
      return state.misfit.has(id) ? { ...doc, _rev: "1-a", name: 42 } : { ...doc, _rev: "1-a" }
    }
    const server = Http.createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        const path = new URL(request.url ?? "/", "http://fake").pathname
        const text = Buffer.concat(chunks).toString()
        let body: Record<string, unknown> | undefined
        try {
          body = text === "" ? undefined : JSON.parse(text) as Record<string, unknown>
        } catch {
          return sendJson(response, 400, { error: "bad_request", reason: "invalid UTF-8 JSON" })
        }
        seen.push({ method: request.method ?? "", path, body })
        try {
          answer(request, response, path, body)
        } catch (error) {
          if (error instanceof Refusal) return sendJson(response, error.status, { error: error.error, reason: error.reason })
          return sendJson(response, 500, { error: "unknown_error", reason: String(error) })
        }
      })
    })

    const answer = (
      request: Http.IncomingMessage,
      response: Http.ServerResponse,
      path: string,
      body: Record<string, unknown> | undefined
    ) => {
      const clouseau = /_search/.test(path)
      const nouveau = /_nouveau/.test(path)
      if (state.mode === "proxy503Once") {
        state.mode = "ok"
        response.writeHead(503, { "content-type": "text/html" })
        return response.end("<html><body>503 Service Unavailable</body></html>")
      }
      if (clouseau && !path.endsWith("_search_cleanup")) {
        if (state.mode === "clouseauMissing") throw new Refusal(503, "service unavailable", "Search is not available")
        if (state.mode === "ouEstClouseau") {
          throw new Refusal(500, "ou_est_clouseau", "Could not connect to the Clouseau Java service at clouseau@127.0.0.1")
        }
      }
      if (nouveau && !path.endsWith("_nouveau_cleanup")) {
        if (state.mode === "nouveauDisabled") throw new Refusal(404, "not_found", "missing")
        if (state.mode === "nouveauDown") {
          throw new Refusal(500, "unknown_error", "No connection in the pool with enough capacity available to open a new stream.")
        }
      }
      if (request.method === "POST" && request.headers["content-type"] !== "application/json") {
        throw new Refusal(415, "bad_content_type", "Content-Type must be application/json")
      }
      if (path === "/_search_analyze" || path === "/_nouveau_analyze") {
        const { analyzer, text } = body ?? {}
        if (typeof text !== "string" || (typeof analyzer !== "string" && (path === "/_nouveau_analyze" || typeof analyzer !== "object"))) {
          throw new Refusal(400, "bad_request", "'text' and 'analyzer' fields must be non-empty strings")
        }
        const name = typeof analyzer === "string" ? analyzer : (analyzer as { name: string }).name
        const tokens = name === "keyword" ? [text] : text.toLowerCase().split(/[^a-z0-9@.]+/).filter((t) => t !== "")
        return sendJson(response, 200, { tokens })
      }
      const cleanup = path.match(/^\/[^/]+\/(_search_cleanup|_nouveau_cleanup)$/)
      if (cleanup !== null) return sendJson(response, 202, { ok: true })
      const parts = path.match(
        /^\/([^/]+)(?:\/_partition\/([^/]+))?\/_design\/([^/]+)\/(_search|_search_info|_nouveau|_nouveau_info)\/([^/]+)$/
      )
      if (parts === null) throw new Refusal(404, "not_found", "missing")
      const [, , partition, ddoc, endpoint, index] = parts
      if (ddoc !== "zoo") throw new Refusal(404, "not_found", "missing")
      if (index !== "animals") throw new Refusal(404, "not_found", `${index} not found.`)
      if (endpoint === "_search_info") {
        return sendJson(response, 200, {
          name: `_design/${ddoc}/${index}`,
          search_index: { pending_seq: 9, doc_del_count: 0, doc_count: 9, disk_size: 4096, committed_seq: 9 }
        })
      }
      if (endpoint === "_nouveau_info") {
        return sendJson(response, 200, {
          name: `_design/${ddoc}/${index}`,
          search_index: { update_seq: 9, purge_seq: 0, num_docs: 9, disk_size: 4096, signature: "abc123" }
        })
      }
      if (request.method !== "POST") throw new Refusal(405, "method_not_allowed", "Only GET,POST allowed")
      const args = body ?? {}
      const allowed = endpoint === "_search" ? clouseauParameters : nouveauParameters
      // stricter than CouchDB (which ignores what it does not know): a misspelt parameter fails the test
      for (const key of Object.keys(args)) {
        if (!allowed.has(key)) throw new Refusal(400, "bad_request", `unknown parameter ${key}`)
      }
      const q = args.q ?? args.query
      if (typeof q !== "string") {
        throw new Refusal(400, "query_parse_error", endpoint === "_search" ? "Query must include a 'q' or 'query' argument" : "q parameter is mandatory")
      }
      if (partition !== undefined && (args.counts !== undefined || args.ranges !== undefined || args.drilldown !== undefined || args.group_field !== undefined)) {
        throw new Refusal(400, "bad_request", "`partition` and any of `drilldown`, `ranges`, `group_field`, `group_sort`, `group_limit` or `group_by` are incompatible")
      }
      let docs: ReadonlyArray<Animal> = animals.filter(matcher(q)).filter((doc) => partition === undefined || doc._id.startsWith(`${partition}:`))
      for (const [field, value] of (args.drilldown ?? []) as ReadonlyArray<readonly [keyof Animal, string]>) {
        docs = docs.filter((doc) => String(doc[field]) === value)
      }
      docs = sortHits(docs, args.sort)
      const limit = (args.limit ?? 25) as number
      const includeDocs = args.include_docs === true
      if (endpoint === "_nouveau") {
        const offset = offsetOf(args.bookmark)
        const page = docs.slice(offset, offset + limit)
        return sendJson(response, 200, {
          bookmark: page.length === 0 ? (args.bookmark ?? bookmarkOf(0)) : bookmarkOf(offset + page.length),
          total_hits: docs.length,
          total_hits_relation: "EQUAL_TO",
          hits: page.map((doc) => ({
            id: doc._id,
            order: [{ "@type": "float", value: 1.0 }, { "@type": "string", value: doc._id }],
            fields: { name: doc.name, diet: doc.diet },
            ...(includeDocs ? { doc: docOf(doc._id, "nouveau") } : {})
          })),
          counts: args.counts === undefined ? null : countsOf(docs, args.counts),
          ranges: args.ranges === undefined ? null : Object.fromEntries(
            Object.entries(args.ranges as Record<string, ReadonlyArray<Record<string, unknown>>>).map(([field, ranges]) => [
              field,
              Object.fromEntries(ranges.map((range) => [
                range.label,
                docs.filter((doc) => {
                  const value = doc[field as keyof Animal] as number
                  const min = (range.min ?? -Infinity) as number
                  const max = (range.max ?? Infinity) as number
                  return (range.min_inclusive === false ? value > min : value >= min) &&
                    (range.max_inclusive === false ? value < max : value <= max)
                }).length
              ]))
            ])
          ),
          update_latency: 2
        })
      }
      const hit = (doc: Animal, position: number) => ({
        id: doc._id,
        order: [args.sort === undefined ? 1.0 : doc.name, position],
        fields: { name: doc.name, diet: doc.diet },
        ...(args.highlight_fields === undefined ? {} : {
          highlights: Object.fromEntries((args.highlight_fields as ReadonlyArray<string>).map((field) => [
            field,
            [`${args.highlight_pre_tag ?? "<em>"}${String(doc[field as keyof Animal])}${args.highlight_post_tag ?? "</em>"}`]
          ]))
        }),
        ...(includeDocs ? { doc: docOf(doc._id, "clouseau") } : {})
      })
      if (typeof args.group_field === "string") {
        const field = args.group_field as keyof Animal
        const values = [...new Set(docs.map((doc) => String(doc[field])))].sort()
        return sendJson(response, 200, {
          total_rows: docs.length,
          groups: values.slice(0, (args.group_limit ?? 200) as number).map((value) => {
            const members = docs.filter((doc) => String(doc[field]) === value)
            return { by: value, total_rows: members.length, rows: members.slice(0, limit).map(hit) }
          })
        })
      }
      const offset = offsetOf(args.bookmark)
      const page = docs.slice(offset, offset + limit)
      return sendJson(response, 200, {
        total_rows: docs.length,
        bookmark: page.length === 0 ? (args.bookmark ?? bookmarkOf(0)) : bookmarkOf(offset + page.length),
        rows: page.map((doc, i) => hit(doc, offset + i)),
        ...(args.counts === undefined ? {} : { counts: countsOf(docs, args.counts) }),
        ...(args.ranges === undefined ? {} : {
          ranges: Object.fromEntries(
            Object.entries(args.ranges as Record<string, Record<string, string>>).map(([field, ranges]) => [
              field,
              Object.fromEntries(Object.entries(ranges).map(([label, range]) => {
                const [, open, low, high, close] = range.match(/^([[{])\s*(\S+)\s+TO\s+(\S+)\s*([\]}])$/)!
                const value = (doc: Animal) => doc[field as keyof Animal] as number
                return [label, docs.filter((doc) =>
                  (open === "[" ? value(doc) >= Number(low) : value(doc) > Number(low)) &&
                  (close === "]" ? value(doc) <= Number(high) : value(doc) < Number(high))
                ).length]
              }))
            ])
          )
        })
      })
    }

    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, seen, state, server }))
    })
  }),
  ({ server }) => Effect.async<void>((resume) => {
    server.closeAllConnections()
    server.close(() => resume(Effect.void))
  })
)

class Fake extends Effect.Service<Fake>()("test/FakeSearchServer", { scoped: fakeSearchServer }) {}

/** A session on the fake server (with the default retry schedule), and the fake. */
const FakeLive = Layer.scoped(
  CouchSession.CouchSession,
  Effect.flatMap(Fake, (fake) => CouchSession.make({ url: fake.url }))
).pipe(Layer.provideMerge(Layer.merge(Fake.Default, NodeHttpClient.layerUndici)))

const AnimalSchema = Schema.Struct({
  _id: Schema.String,
  _rev: Schema.optional(Schema.String),
  name: Schema.String,
  diet: Schema.String,
  class: Schema.String,
  min_length: Schema.Number
})

const StoredFields = Schema.Struct({ name: Schema.String, diet: Schema.Literal("carnivore", "herbivore", "omnivore") })

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)
const leftOf = <A, E>(either: Either.Either<A, E>): E => {
  if (Either.isRight(either)) throw new Error(`expected a failure, got ${JSON.stringify(either.right)}`)
  return either.left
}

/** A fresh start for each test: normal answers, nothing seen. */
const reset = Effect.map(Fake, (fake) => {
  fake.seen.length = 0
  fake.state.mode = "ok"
  fake.state.gone.clear()
  fake.state.misfit.clear()
  return fake
})

layer(FakeLive)("Nouveau, against a fake search server", (it) => {
  it.effect("one page: hits with their order and stored fields, the total, the bookmark; the request as documented", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      const db = yield* (yield* CouchSession.CouchSession).use("zoo")
      const page = yield* db.nouveau("zoo", "animals", { query: "diet:herbivore", limit: 2, sort: "-min_length" })
      assert.strictEqual(page.totalHits, 5)
      assert.strictEqual(page.totalHitsRelation, "EQUAL_TO")
      assert.deepStrictEqual(page.hits.map((hit) => hit.id), ["giraffe", "elephant"])
      assert.deepStrictEqual(page.hits[0]!.order, [{ type: "float", value: 1 }, { type: "string", value: "giraffe" }])
      assert.deepStrictEqual(page.hits[0]!.fields, { name: "Giraffe", diet: "herbivore" })
      assert.isUndefined(page.hits[0]!.doc)
      assert.isNull(page.counts)
      assert.strictEqual(page.updateLatency, 2)
      assert.deepStrictEqual(fake.seen, [{
        method: "POST",
        path: "/zoo/_design/zoo/_nouveau/animals",
        body: { q: "diet:herbivore", limit: 2, sort: "-min_length" }
      }])
      // the bookmark starts the next page
      const next = yield* db.nouveau("zoo", "animals", { query: "diet:herbivore", limit: 2, sort: "-min_length", bookmark: page.bookmark })
      assert.deepStrictEqual(next.hits.map((hit) => hit.id), ["llama", "lemur"])
    }))

  it.effect("counts and ranges (open bounds, exclusive ends) come back per field; topN and locale are sent", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      const db = yield* (yield* CouchSession.CouchSession).use("zoo")
      const page = yield* db.nouveau("zoo", "animals", {
        query: "*:*",
        counts: ["diet"],
        ranges: { min_length: [{ label: "small", max: 1, maxInclusive: false }, { label: "large", min: 1 }] },
        topN: 5,
        locale: "de",
        update: false
      })
      assert.deepStrictEqual(page.counts, { diet: { carnivore: 3, omnivore: 1, herbivore: 5 } })
      assert.deepStrictEqual(page.ranges, { min_length: { small: 4, large: 5 } })
      assert.deepStrictEqual(fake.seen[0]!.body, {
        q: "*:*",
        counts: ["diet"],
        ranges: { min_length: [{ label: "small", max: 1, max_inclusive: false }, { label: "large", min: 1 }] },
        top_n: 5,
        locale: "de",
        update: false
      })
    }))

  it.effect("a typed database decodes each hit's document; a fields schema decodes the stored fields", () =>
    Effect.gen(function*() {
      yield* reset
      const db = yield* (yield* CouchSession.CouchSession).use("zoo")
      const zoo = db.withSchema(AnimalSchema)
      const page = yield* zoo.nouveau("zoo", "animals", { query: "class:bird", includeDocs: true }, { fields: StoredFields })
      const hit = page.hits[0]!
      // typed: `doc` is an Animal, `fields.diet` one of the literals
      const diet: "carnivore" | "herbivore" | "omnivore" = hit.fields.diet
      assert.strictEqual(diet, "carnivore")
      assert.strictEqual(hit.doc?.min_length, 0.28)
      assert.strictEqual(hit.doc?._rev, "1-a")
    }))

  it.effect("a document that does not match the schema fails with DocumentDecodeError; stored fields that do not, ResponseDecodeError", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      fake.state.misfit.add("kookaburra")
      const zoo = (yield* (yield* CouchSession.CouchSession).use("zoo")).withSchema(AnimalSchema)
      const decode = leftOf(yield* Effect.either(zoo.nouveau("zoo", "animals", { query: "class:bird", includeDocs: true })))
      assert.instanceOf(decode, Document.DocumentDecodeError)
      assert.strictEqual((decode as Document.DocumentDecodeError).id, "kookaburra")
      const fields = leftOf(yield* Effect.either(zoo.nouveau("zoo", "animals", { query: "*:*" }, {
        fields: Schema.Struct({ name: Schema.Number })
      })))
      assert.instanceOf(fields, CouchError.ResponseDecodeError)
      assert.strictEqual((fields as CouchError.ResponseDecodeError).reason, "malformed")
    }))

  it.effect("a hit whose document is gone has doc null (Nouveau sends \"not_found\")", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      fake.state.gone.add("kookaburra")
      const zoo = (yield* (yield* CouchSession.CouchSession).use("zoo")).withSchema(AnimalSchema)
      const page = yield* zoo.nouveau("zoo", "animals", { query: "class:bird", includeDocs: true })
      assert.isNull(page.hits[0]!.doc)
    }))

  it.effect("nouveauStream follows the bookmark until a short page, asking for the next page only when it is wanted", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      const db = yield* (yield* CouchSession.CouchSession).use("zoo")
      const all = yield* collect(db.nouveauStream("zoo", "animals", { query: "*:*", limit: 4 }))
      assert.deepStrictEqual(all.map((hit) => hit.id), animals.map((animal) => animal._id))
      // 9 hits, 4 a page: 4, 4, then 1 (short: the end)
      assert.strictEqual(fake.seen.length, 3)
      assert.deepStrictEqual(fake.seen.map((seen) => seen.body?.bookmark), [undefined, fake.seen[1]!.body?.bookmark, fake.seen[2]!.body?.bookmark])
      assert.notStrictEqual(fake.seen[1]!.body?.bookmark, fake.seen[2]!.body?.bookmark)
      fake.seen.length = 0
      // a page that ends exactly at the end: one more request, an empty page with the same bookmark
      const herbivores = yield* collect(db.nouveauStream("zoo", "animals", { query: "diet:herbivore", limit: 5 }))
      assert.strictEqual(herbivores.length, 5)
      assert.strictEqual(fake.seen.length, 2)
      fake.seen.length = 0
      // lazily: taking 3 of pages of 2 asks for 2 pages
      const first = yield* collect(Stream.take(db.nouveauStream("zoo", "animals", { query: "*:*", limit: 2 }), 3))
      assert.strictEqual(first.length, 3)
      assert.strictEqual(fake.seen.length, 2)
    }))

  it.effect("a partition's search is under /_partition/{p}/ and leaves out the other partitions", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      const db = yield* (yield* CouchSession.CouchSession).use("zoo")
      const partition = yield* db.partition("p")
      const page = yield* partition.nouveau("zoo", "animals", { query: "*:*" })
      assert.deepStrictEqual(page.hits.map((hit) => hit.id), ["p:panda", "p:python"])
      assert.strictEqual(fake.seen[0]!.path, "/zoo/_partition/p/_design/zoo/_nouveau/animals")
      // @ts-expect-error no facets in a partition
      yield* Effect.either(partition.nouveau("zoo", "animals", { query: "*:*", counts: ["diet"] }))
    }))

  it.effect("nouveauInfo and nouveauCleanup", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      const db = yield* (yield* CouchSession.CouchSession).use("zoo")
      const info = yield* db.nouveauInfo("_design/zoo", "animals")
      assert.deepStrictEqual(info, {
        name: "_design/zoo/animals",
        searchIndex: { updateSeq: 9, purgeSeq: 0, numDocs: 9, diskSize: 4096, signature: "abc123" }
      })
      yield* db.nouveauCleanup
      assert.deepStrictEqual(fake.seen.map((seen) => `${seen.method} ${seen.path}`), [
        "GET /zoo/_design/zoo/_nouveau_info/animals",
        "POST /zoo/_nouveau_cleanup"
      ])
    }))

  it.effect("nouveauAnalyze gives the tokens", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      const couch = yield* CouchSession.CouchSession
      assert.deepStrictEqual(yield* couch.nouveauAnalyze("standard", "ablanks@renovations.com Hello"), [
        "ablanks@renovations.com",
        "hello"
      ])
      assert.deepStrictEqual(fake.seen[0], {
        method: "POST",
        path: "/_nouveau_analyze",
        body: { analyzer: "standard", text: "ablanks@renovations.com Hello" }
      })
    }))

  it.effect("Nouveau disabled: queries are NotFoundError (as for a missing design document), nouveauAnalyze SearchUnavailableError", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      fake.state.mode = "nouveauDisabled"
      const couch = yield* CouchSession.CouchSession
      const db = yield* couch.use("zoo")
      const query = leftOf(yield* Effect.either(db.nouveau("zoo", "animals", { query: "*:*" })))
      assert.instanceOf(query, CouchError.NotFoundError)
      const analyze = leftOf(yield* Effect.either(couch.nouveauAnalyze("standard", "hi")))
      assert.instanceOf(analyze, Search.SearchUnavailableError)
      assert.strictEqual(analyze._tag, "SearchUnavailableError")
      assert.strictEqual((analyze as Search.SearchUnavailableError).status, 404)
      assert.isTrue(CouchError.isCouchError(analyze))
    }))

  it.effect("Nouveau's server down (500 No connection in the pool): SearchUnavailableError, not retried", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      fake.state.mode = "nouveauDown"
      const db = yield* (yield* CouchSession.CouchSession).use("zoo")
      const error = leftOf(yield* Effect.either(db.nouveau("zoo", "animals", { query: "*:*" })))
      assert.instanceOf(error, Search.SearchUnavailableError)
      assert.strictEqual((error as Search.SearchUnavailableError).status, 500)
      assert.strictEqual((error as Search.SearchUnavailableError).requestId, "fake-request")
      assert.strictEqual(fake.seen.length, 1)
    }))

  it.effect("a missing index is NotFoundError; a query Lucene cannot parse, BadRequestError; a NaN limit, InvalidArgumentError before sending", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      const db = yield* (yield* CouchSession.CouchSession).use("zoo")
      const missing = leftOf(yield* Effect.either(db.nouveau("zoo", "nope", { query: "*:*" })))
      assert.instanceOf(missing, CouchError.NotFoundError)
      assert.strictEqual((missing as CouchError.NotFoundError).reason, "nope not found.")
      const unparsable = leftOf(yield* Effect.either(db.nouveau("zoo", "animals", { query: "((" })))
      assert.instanceOf(unparsable, CouchError.BadRequestError)
      assert.strictEqual((unparsable as CouchError.BadRequestError).error, "query_parse_error")
      fake.seen.length = 0
      const nan = leftOf(yield* Effect.either(db.nouveau("zoo", "animals", { query: "*:*", limit: Number.NaN })))
      assert.instanceOf(nan, CouchError.InvalidArgumentError)
      assert.strictEqual(fake.seen.length, 0)
    }))
  it.effect("every operation is a span with the database, design document and index (and the partition)", () =>
    Effect.gen(function*() {
      yield* reset
      const { spans, tracer } = yield* spanRecorder
      const couch = yield* CouchSession.CouchSession
      const db = yield* couch.use("zoo")
      const partition = yield* db.partition("p")
      yield* Effect.gen(function*() {
        yield* db.nouveau("_design/zoo", "animals", { query: "*:*" })
        yield* collect(partition.nouveauStream("zoo", "animals", { query: "*:*" }))
        yield* db.nouveauInfo("zoo", "animals")
        yield* db.nouveauCleanup
        yield* couch.nouveauAnalyze("standard", "hi")
      }).pipe(Effect.withTracer(tracer))
      const named = (name: string) => spans.find((span) => span.name === name)!
      assert.deepStrictEqual(Object.fromEntries(named("Database.nouveau").attributes), {
        "couchdb.database": "zoo",
        "couchdb.design": "zoo",
        "couchdb.index": "animals",
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "couchdb.request_id": "fake-request"
      })
      assert.strictEqual(named("Database.nouveauStream").attributes.get("couchdb.partition"), "p")
      assert.strictEqual(named("Database.nouveauInfo").attributes.get("couchdb.index"), "animals")
      assert.strictEqual(named("Database.nouveauCleanup").attributes.get("couchdb.database"), "zoo")
      assert.strictEqual(named("CouchSession.nouveauAnalyze").attributes.get("http.response.status_code"), 200)
    }))
})

layer(FakeLive)("Clouseau, against a fake search server", (it) => {
  it.effect("one page: rows with order and fields, highlights, the documents; the request as documented", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      const zoo = (yield* (yield* CouchSession.CouchSession).use("zoo")).withSchema(AnimalSchema)
      const page = yield* zoo.search("zoo", "animals", {
        query: "class:mammal AND diet:herbivore",
        sort: ["name<string>"],
        limit: 2,
        includeDocs: true,
        includeFields: ["name", "diet"],
        highlightFields: ["name"],
        highlightPreTag: "**",
        highlightPostTag: "**",
        highlightNumber: 1,
        highlightSize: 30,
        stale: "ok"
      }, { fields: StoredFields })
      assert.strictEqual(page.totalRows, 5)
      assert.deepStrictEqual(page.rows.map((row) => row.id), ["elephant", "giraffe"])
      assert.deepStrictEqual(page.rows[0]!.order, ["African elephant", 0])
      assert.deepStrictEqual(page.rows[0]!.highlights, { name: ["**African elephant**"] })
      assert.strictEqual(page.rows[0]!.doc?.min_length, 3.2)
      assert.deepStrictEqual(fake.seen[0], {
        method: "POST",
        path: "/zoo/_design/zoo/_search/animals",
        body: {
          q: "class:mammal AND diet:herbivore",
          sort: ["name<string>"],
          limit: 2,
          include_docs: true,
          include_fields: ["name", "diet"],
          highlight_fields: ["name"],
          highlight_pre_tag: "**",
          highlight_post_tag: "**",
          highlight_number: 1,
          highlight_size: 30,
          stale: "ok"
        }
      })
    }))

  it.effect("counts, drilldown and ranges (Lucene ranges per label)", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      const db = yield* (yield* CouchSession.CouchSession).use("zoo")
      const page = yield* db.search("zoo", "animals", {
        query: "*:*",
        counts: ["class"],
        drilldown: [["diet", "carnivore"]],
        ranges: { min_length: { short: "[0 TO 1}", long: "[1 TO Infinity]" } }
      })
      assert.deepStrictEqual(page.rows.map((row) => row.id), ["aardvark", "kookaburra", "p:python"])
      assert.deepStrictEqual(page.counts, { class: { mammal: 1, bird: 1, reptile: 1 } })
      assert.deepStrictEqual(page.ranges, { min_length: { short: 1, long: 2 } })
      assert.deepStrictEqual(fake.seen[0]!.body?.drilldown, [["diet", "carnivore"]])
    }))

  it.effect("searchGroups: the hits grouped by a field's value, with the documents decoded", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      const zoo = (yield* (yield* CouchSession.CouchSession).use("zoo")).withSchema(AnimalSchema)
      const grouped = yield* zoo.searchGroups("zoo", "animals", {
        query: "*:*",
        groupField: "class",
        groupLimit: 2,
        groupSort: "class<string>",
        limit: 1,
        includeDocs: true
      })
      assert.strictEqual(grouped.totalRows, 9)
      assert.deepStrictEqual(grouped.groups.map((group) => [group.by, group.totalRows, group.rows.map((row) => row.id)]), [
        ["bird", 1, ["kookaburra"]],
        ["mammal", 7, ["aardvark"]]
      ])
      assert.strictEqual(grouped.groups[1]!.rows[0]!.doc?.name, "Aardvark")
      assert.deepStrictEqual(fake.seen[0]!.body, {
        q: "*:*",
        group_field: "class",
        group_limit: 2,
        group_sort: "class<string>",
        limit: 1,
        include_docs: true
      })
    }))

  it.effect("searchStream pages by bookmark in pages of `limit` (default 200)", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      const db = yield* (yield* CouchSession.CouchSession).use("zoo")
      const all = yield* collect(db.searchStream("zoo", "animals", { query: "*:*", limit: 2 }))
      assert.deepStrictEqual(all.map((hit) => hit.id), animals.map((animal) => animal._id))
      assert.strictEqual(fake.seen.length, 5)
      fake.seen.length = 0
      yield* collect(db.searchStream("zoo", "animals", { query: "*:*" }))
      assert.deepStrictEqual(fake.seen.map((seen) => seen.body?.limit), [200])
    }))

  it.effect("a partition's search: its path; a hit whose document is gone has doc null", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      fake.state.gone.add("p:python")
      const partition = yield* (yield* (yield* CouchSession.CouchSession).use("zoo")).withSchema(AnimalSchema).partition("p")
      const page = yield* partition.search("zoo", "animals", { query: "*:*", includeDocs: true })
      assert.deepStrictEqual(page.rows.map((row) => [row.id, row.doc?.name ?? null]), [["p:panda", "Red panda"], ["p:python", null]])
      assert.strictEqual(fake.seen[0]!.path, "/zoo/_partition/p/_design/zoo/_search/animals")
      const streamed = yield* collect(partition.searchStream("zoo", "animals", { query: "diet:carnivore", limit: 1 }))
      assert.deepStrictEqual(streamed.map((hit) => hit.id), ["p:python"])
    }))

  it.effect("searchInfo, searchCleanup, searchAnalyze (an analyzer name or an object)", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      const couch = yield* CouchSession.CouchSession
      const db = yield* couch.use("zoo")
      assert.deepStrictEqual(yield* db.searchInfo("zoo", "animals"), {
        name: "_design/zoo/animals",
        searchIndex: { pendingSeq: 9, docDelCount: 0, docCount: 9, diskSize: 4096, committedSeq: 9 }
      })
      yield* db.searchCleanup
      assert.deepStrictEqual(yield* couch.searchAnalyze("keyword", "ablanks@renovations.com"), ["ablanks@renovations.com"])
      assert.deepStrictEqual(yield* couch.searchAnalyze({ name: "english", stopwords: ["the"] }, "Running"), ["running"])
      assert.deepStrictEqual(fake.seen.map((seen) => `${seen.method} ${seen.path}`), [
        "GET /zoo/_design/zoo/_search_info/animals",
        "POST /zoo/_search_cleanup",
        "POST /_search_analyze",
        "POST /_search_analyze"
      ])
      assert.deepStrictEqual(fake.seen[3]!.body, { analyzer: { name: "english", stopwords: ["the"] }, text: "Running" })
    }))

  it.effect("no Clouseau (503 Search is not available): SearchUnavailableError for every endpoint, not retried", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      fake.state.mode = "clouseauMissing"
      const couch = yield* CouchSession.CouchSession
      const db = yield* couch.use("zoo")
      const failures = [
        leftOf(yield* Effect.either(db.search("zoo", "animals", { query: "*:*" }))),
        leftOf(yield* Effect.either(db.searchGroups("zoo", "animals", { query: "*:*", groupField: "class" }))),
        leftOf(yield* Effect.either(db.searchInfo("zoo", "animals"))),
        leftOf(yield* Effect.either(couch.searchAnalyze("standard", "hi"))),
        leftOf(yield* Effect.either(Stream.runDrain(db.searchStream("zoo", "animals", { query: "*:*" }))))
      ]
      for (const failure of failures) {
        assert.instanceOf(failure, Search.SearchUnavailableError)
        assert.strictEqual((failure as Search.SearchUnavailableError).status, 503)
        assert.strictEqual((failure as Search.SearchUnavailableError).reason, "Search is not available")
      }
      // one request each: the session's retry schedule does not retry this answer
      assert.strictEqual(fake.seen.length, 5)
      // the cleanup is answered without Clouseau
      yield* db.searchCleanup
    }))

  it.effect("Clouseau unreachable (500 ou_est_clouseau): SearchUnavailableError; a proxy's 503 is still retried", () =>
    Effect.gen(function*() {
      const fake = yield* reset
      fake.state.mode = "ouEstClouseau"
      const db = yield* (yield* CouchSession.CouchSession).use("zoo")
      const error = leftOf(yield* Effect.either(db.search("zoo", "animals", { query: "*:*" })))
      assert.instanceOf(error, Search.SearchUnavailableError)
      assert.strictEqual((error as Search.SearchUnavailableError).error, "ou_est_clouseau")
      assert.match(error.message, /ou_est_clouseau.*\(no search server\)/)
      fake.seen.length = 0
      fake.state.mode = "proxy503Once"
      // the retry's delay passes on the test clock
      const fiber = yield* Effect.fork(db.search("zoo", "animals", { query: "*:*", limit: 1 }))
      // the first answer arrives on the real clock, then its retry waits on the test clock
      for (let i = 0; i < 100 && fiber.unsafePoll() === null; i++) {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
        yield* TestClock.adjust("1 second")
      }
      const page = yield* Fiber.join(fiber)
      assert.strictEqual(page.rows.length, 1)
      assert.strictEqual(fake.seen.length, 2)
    }))
})

// Encoding and decoding

const encodedKeys = (value: unknown) => Object.keys(value as object)

describe("search queries and answers as Schemas", () => {
  /** Whether a value holds a `__proto__` key at any depth (one whose value is `undefined` included). */
  const hasProtoKey = (value: unknown): boolean =>
    typeof value === "object" && value !== null &&
    (Object.prototype.hasOwnProperty.call(value, "__proto__") || Object.values(value).some(hasProtoKey))

  /** Values of a schema, without a `__proto__` key (which a Schema record cannot hold as an own key). */
  const arbitrary = <A, I>(schema: Schema.Schema<A, I>) => Arbitrary.make(schema).filter((value) => !hasProtoKey(value))

  it.prop("a Clouseau query encodes to the parameters dreyfus reads, and decodes back", [arbitrary(Search.SearchQuery)], ([query]) => {
    const encoded = Schema.encodeSync(Search.SearchQuery)(query)
    for (const key of encodedKeys(encoded)) assert.isTrue(clouseauParameters.has(key), key)
    assert.strictEqual((encoded as { q: string }).q, query.query)
    assert.deepStrictEqual(Schema.decodeUnknownSync(Search.SearchQuery)(encoded), query)
  })

  it.prop("a grouped query encodes to the parameters dreyfus reads, and decodes back", [arbitrary(Search.GroupedSearchQuery)], ([query]) => {
    const encoded = Schema.encodeSync(Search.GroupedSearchQuery)(query)
    for (const key of encodedKeys(encoded)) assert.isTrue(clouseauParameters.has(key), key)
    assert.strictEqual((encoded as { group_field: string }).group_field, query.groupField)
    assert.deepStrictEqual(Schema.decodeUnknownSync(Search.GroupedSearchQuery)(encoded), query)
  })

  it.prop("a Nouveau query encodes to the parameters nouveau_httpd reads, and decodes back", [arbitrary(Search.NouveauQuery)], ([query]) => {
    const encoded = Schema.encodeSync(Search.NouveauQuery)(query)
    for (const key of encodedKeys(encoded)) assert.isTrue(nouveauParameters.has(key), key)
    for (const ranges of Object.values((encoded as { ranges?: Record<string, ReadonlyArray<object>> }).ranges ?? {})) {
      for (const range of ranges) {
        for (const key of Object.keys(range)) assert.include(["label", "min", "max", "min_inclusive", "max_inclusive"], key)
      }
    }
    assert.deepStrictEqual(Schema.decodeUnknownSync(Search.NouveauQuery)(encoded), query)
  })

  const anyNouveau = Search.nouveauResult(Search.AnyFields)
  const anyClouseau = Search.searchResult(Search.AnyFields)
  const anyGroups = Search.searchGroups(Search.AnyFields)

  it.prop("a Nouveau answer decodes from its wire form", [arbitrary(anyNouveau)], ([result]) => {
    const wire = Schema.encodeSync(anyNouveau)(result) as Record<string, unknown>
    for (const key of encodedKeys(wire)) {
      assert.include(["total_hits", "total_hits_relation", "bookmark", "hits", "counts", "ranges", "update_latency"], key)
    }
    for (const hit of wire.hits as ReadonlyArray<{ order: ReadonlyArray<object> }>) {
      for (const item of hit.order) assert.isTrue("@type" in item)
    }
    assert.deepStrictEqual(Schema.decodeUnknownSync(anyNouveau)(wire), result)
  })

  it.prop("a Clouseau answer, and a grouped one, decode from their wire forms", [arbitrary(anyClouseau), arbitrary(anyGroups)], ([result, groups]) => {
    const wire = Schema.encodeSync(anyClouseau)(result)
    for (const key of encodedKeys(wire)) assert.include(["total_rows", "bookmark", "rows", "counts", "ranges"], key)
    assert.deepStrictEqual(Schema.decodeUnknownSync(anyClouseau)(wire), result)
    const groupsWire = Schema.encodeSync(anyGroups)(groups)
    for (const group of groupsWire.groups) assert.deepStrictEqual(Object.keys(group).sort(), ["by", "rows", "total_rows"])
    assert.deepStrictEqual(Schema.decodeUnknownSync(anyGroups)(groupsWire), groups)
  })

  it.prop("the index definitions a design document holds round-trip", [arbitrary(Search.DesignDocument)], ([design]) => {
    assert.deepStrictEqual(Schema.decodeUnknownSync(Search.DesignDocument)(Schema.encodeSync(Search.DesignDocument)(design)), design)
  })

  it("a wrong analyzer or field type in a design document does not type-check", () => {
    const good: Search.DesignDocument = {
      _id: "_design/zoo",
      indexes: { animals: { index: "function (doc) { index('default', doc.name) }", analyzer: { name: "perfield", default: "english", fields: { diet: "keyword" } } } },
      nouveau: { animals: { index: "function (doc) { index('text', 'name', doc.name) }", default_analyzer: "simple_asciifolding", lucene_version: 10 } }
    }
    // @ts-expect-error not a Clouseau analyzer
    const badAnalyzer: Search.SearchIndexDefinition = { index: "", analyzer: "simple_asciifolding" }
    // @ts-expect-error Nouveau spells it portugese
    const badNouveau: Search.NouveauIndexDefinition = { index: "", default_analyzer: "portuguese" }
    // @ts-expect-error a Nouveau field is text, string, double or stored
    const badType: Search.NouveauFieldType = "number"
    assert.isTrue(Schema.is(Search.DesignDocument)(good))
    assert.isFalse(Schema.is(Search.SearchIndexDefinition)(badAnalyzer))
    assert.isFalse(Schema.is(Search.NouveauIndexDefinition)(badNouveau))
    assert.isFalse(Schema.is(Search.NouveauFieldType)(badType))
  })

  it("Arbitrary queries are not all trivial (the property tests above see every parameter)", () => {
    const seen = new Set<string>()
    for (const query of FastCheck.sample(Arbitrary.make(Search.SearchQuery), 200)) {
      for (const key of encodedKeys(Schema.encodeSync(Search.SearchQuery)(query))) seen.add(key)
    }
    assert.isAtLeast(seen.size, 15)
  })
})

// The test server: what CouchDB answers without a search server

layer(TestLive, { timeout: "60 seconds" })("search on the test server (no search server)", (it) => {
  it.scoped("Clouseau's endpoints are SearchUnavailableError (503), Nouveau's NotFoundError, nouveauAnalyze SearchUnavailableError, the cleanups succeed", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.searchEndpoints) return
      const couch = yield* CouchSession.CouchSession
      const db = yield* testDatabase("search")
      const design: Search.DesignDocument = {
        _id: "_design/zoo",
        indexes: { animals: { index: "function (doc) { index('default', doc.name, { store: true }) }", analyzer: "standard" } },
        nouveau: { animals: { index: "function (doc) { index('text', 'default', doc.name, { store: true }) }", default_analyzer: "standard" } }
      }
      yield* db.put(design)
      yield* db.put({ _id: "giraffe", name: "Giraffe" })
      /** Without a search server: the measured error; with one (a CouchDB with Clouseau or Nouveau): an answer. */
      const unavailableOr = <A, E>(
        effect: Effect.Effect<A, E>,
        expected: typeof CouchError.NotFoundError | typeof Search.SearchUnavailableError,
        status: number,
        check: (a: A) => void
      ) =>
        Effect.map(Effect.either(effect), (result) => {
          if (Either.isRight(result)) return check(result.right)
          const error = result.left as CouchError.NotFoundError | Search.SearchUnavailableError
          assert.strictEqual(error._tag, expected === CouchError.NotFoundError ? "NotFoundError" : "SearchUnavailableError")
          assert.strictEqual(error.status, status)
          if (status === 404) assert.strictEqual(error.reason, "missing")
          if (status === 503) assert.strictEqual(error.reason, "Search is not available")
        })
      yield* unavailableOr(db.search("zoo", "animals", { query: "giraffe" }), Search.SearchUnavailableError, 503, (page) => assert.isAtMost(page.totalRows, 1))
      yield* unavailableOr(db.searchInfo("zoo", "animals"), Search.SearchUnavailableError, 503, (info) => assert.strictEqual(info.name, "_design/zoo/animals"))
      yield* unavailableOr(couch.searchAnalyze("standard", "Hello there"), Search.SearchUnavailableError, 503, (tokens) => assert.deepStrictEqual(tokens, ["hello", "there"]))
      yield* unavailableOr(db.nouveau("zoo", "animals", { query: "giraffe" }), CouchError.NotFoundError, 404, (page) => assert.isAtMost(page.totalHits, 1))
      yield* unavailableOr(db.nouveauInfo("zoo", "animals"), CouchError.NotFoundError, 404, (info) => assert.strictEqual(info.name, "_design/zoo/animals"))
      // `_nouveau_analyze`'s 404 is Nouveau disabled: SearchUnavailableError, not NotFoundError
      yield* unavailableOr(couch.nouveauAnalyze("standard", "Hello there"), Search.SearchUnavailableError, 404, (tokens) => assert.deepStrictEqual(tokens, ["hello", "there"]))
      yield* db.searchCleanup
      yield* db.nouveauCleanup
      // a design document that is not there: NotFoundError, whatever the search server
      const missing = leftOf(yield* Effect.either(db.nouveau("nope", "animals", { query: "*:*" })))
      assert.instanceOf(missing, CouchError.NotFoundError)
    }))
})
