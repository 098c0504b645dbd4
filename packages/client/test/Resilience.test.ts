import { CouchTestServer } from "@effect-couch/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import * as Tls from "node:tls"
import * as Undici from "undici"
import { CouchAuth, CouchError, CouchSession } from "../src/index.js"
import { fakeClient, json } from "./fake.js"
import { proxy } from "./proxy.js"
import { TestLive, testDatabase } from "./support.js"

const leftOf = <A, E>(either: Either.Either<A, E>): E | undefined => Either.isLeft(either) ? either.left : undefined

const sessionThrough = (url: string, options: Partial<CouchSession.Options> = {}) =>
  Effect.flatMap(CouchTestServer.CouchTestServer, (server) =>
    CouchSession.make({ url, auth: CouchAuth.basic(server.admin.username, server.admin.password), ...options }))

const waitClosed = (open: Effect.Effect<number>) =>
  open.pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (count) => count === 0 }),
    Effect.timeout("5 seconds"),
    Effect.either,
    Effect.map(Either.isRight)
  )

describe("timeouts", () => {
  it.live("withTimeout bounds each request of an effect, overriding the session's default", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() => json(200, { couchdb: "Welcome", version: "3" }))
      const result = yield* Effect.scoped(
        Effect.gen(function*() {
          const couch = yield* CouchSession.make({
            url: "http://couch.test",
            retry: false,
            transformClient: HttpClient.transformResponse(Effect.delay("300 millis"))
          })
          const quick = yield* Effect.either(couch.info.pipe(CouchSession.withTimeout("20 millis")))
          const patient = yield* Effect.either(couch.info)
          return { quick, patient }
        })
      ).pipe(Effect.provide(fake.layer))
      const error = leftOf(result.quick)
      assert.strictEqual(error?._tag === "TransportError" ? error.reason : "", "timeout")
      assert.isTrue(Either.isRight(result.patient))
    }))
})

layer(TestLive, { excludeTestServices: true })("faults against the test server", (it) => {
  it.scoped("interrupting a fiber aborts its request and frees the connection", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const db = yield* testDatabase("fault")
      const watcher = yield* proxy(server.url)
      const viaProxy = yield* (yield* sessionThrough(watcher.url)).use(db.name)
      const fiber = yield* Effect.fork(Stream.runDrain(viaProxy.changes({ feed: "longpoll", since: "now" })))
      yield* Effect.sleep("200 millis")
      assert.strictEqual(yield* watcher.open, 1)
      yield* Fiber.interrupt(fiber)
      assert.isTrue(yield* waitClosed(watcher.open), "a connection stayed open")
    }))

  it.scoped("a scope that closes mid-stream closes the stream's response", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const db = yield* testDatabase("fault")
      yield* db.bulkDocs([{ _id: "a" }, { _id: "b" }])
      const watcher = yield* proxy(server.url)
      const viaProxy = yield* (yield* sessionThrough(watcher.url)).use(db.name)
      const first = yield* Effect.scoped(
        Effect.flatMap(Stream.toPull(viaProxy.changes({ feed: "continuous", heartbeat: "100 millis" })), (pull) => pull)
      )
      assert.strictEqual(first.length >= 1, true)
      assert.isTrue(yield* waitClosed(watcher.open), "the feed's connection stayed open")
    }))

  it.scoped("1,000 concurrent operations on one session over a bounded pool: none lost, none duplicated", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const db = yield* testDatabase("burst")
      const watcher = yield* proxy(server.url)
      // the pool: at most 16 connections, whatever the number of fibers
      const pooled = yield* Layer.build(NodeHttpClient.layerUndiciWithoutDispatcher.pipe(
        Layer.provide(Layer.scoped(
          NodeHttpClient.Dispatcher,
          Effect.acquireRelease(
            Effect.sync(() => new Undici.Agent({ connections: 16 })),
            (agent) => Effect.promise(() => agent.destroy())
          )
        ))
      ))
      const couch = yield* CouchSession.make({
        url: watcher.url,
        auth: CouchAuth.basic(server.admin.username, server.admin.password)
      }).pipe(Effect.provide(pooled))
      const shared = yield* couch.use(db.name)
      const ids = Array.from({ length: 1000 }, (_, i) => `doc-${i}`)
      const written = yield* Effect.forEach(ids, (id) => shared.put({ _id: id, id }), { concurrency: 1000 })
      assert.isTrue(written.every((result, i) => result.id === ids[i] && result.rev.startsWith("1-")))
      const read = yield* Effect.forEach(ids, (id) => shared.get(id), { concurrency: 1000 })
      assert.isTrue(read.every((doc, i) => doc._id === ids[i] && doc.id === ids[i]))
      assert.strictEqual((yield* db.info).docCount, 1000)
      const peak = yield* watcher.peak
      assert.isTrue(peak >= 2 && peak <= 16, `connections open at once: ${peak}`)
    }))

  it.scoped("a session survives the server going away and coming back", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const watcher = yield* proxy(server.url)
      const couch = yield* sessionThrough(watcher.url, { retry: false })
      yield* couch.info
      yield* watcher.goAway
      const during = leftOf(yield* Effect.either(couch.info))
      assert.instanceOf(during, CouchError.TransportError)
      yield* watcher.restore
      const after = yield* couch.info
      assert.isString(after.version)
      // with the default retries, a short outage is not even seen
      const patient = yield* sessionThrough(watcher.url)
      yield* watcher.goAway
      const fiber = yield* Effect.fork(patient.info)
      yield* Effect.sleep("150 millis")
      yield* watcher.restore
      assert.isString((yield* Fiber.join(fiber)).version)
    }))

  it.scoped("a cookie session survives a restart of the server itself, and its documents are there after it", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (server.restart === undefined) return
      const db = yield* testDatabase("restart")
      yield* db.put({ _id: "before" })
      const couch = yield* CouchSession.make({
        url: server.url,
        auth: CouchAuth.cookie(server.admin.username, server.admin.password),
        retry: false
      })
      const restarted = yield* Effect.fork(server.restart("500 millis"))
      yield* Effect.sleep("100 millis")
      assert.instanceOf(leftOf(yield* Effect.either(couch.info)), CouchError.TransportError)
      yield* Fiber.join(restarted)
      yield* couch.checkCredentials
      const same = yield* couch.use(db.name)
      assert.strictEqual((yield* same.get("before"))._id, "before")
    }))

  it.scoped("https URLs work with a custom CA for a self-signed certificate", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const fixtures = Path.join(import.meta.dirname, "fixtures")
      const ca = Fs.readFileSync(Path.join(fixtures, "localhost.crt"))
      const upstream = new URL(server.url)
      const tls = yield* Effect.acquireRelease(
        Effect.async<Tls.Server>((resume) => {
          const tlsServer = Tls.createServer({ key: Fs.readFileSync(Path.join(fixtures, "localhost.key")), cert: ca }, (socket) => {
            const remote = Net.connect(Number(upstream.port), upstream.hostname)
            socket.pipe(remote).pipe(socket)
            socket.on("error", () => remote.destroy())
            remote.on("error", () => socket.destroy())
          })
          tlsServer.listen(0, "127.0.0.1", () => resume(Effect.succeed(tlsServer)))
        }),
        (tlsServer) => Effect.sync(() => tlsServer.close())
      )
      const port = (tls.address() as Net.AddressInfo).port
      const url = `https://127.0.0.1:${port}`
      const trusting = NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(NodeHttpClient.makeAgentLayer({ ca })))
      const info = yield* Effect.flatMap(sessionThrough(url), (couch) => couch.info).pipe(Effect.provide(trusting))
      assert.isString(info.version)
      // without the CA, the certificate is refused: a TransportError, not a crash
      const refused = yield* Effect.flatMap(sessionThrough(url, { retry: false }), (couch) => couch.info).pipe(
        Effect.provide(NodeHttpClient.layer),
        Effect.either
      )
      assert.instanceOf(leftOf(refused), CouchError.TransportError)
    }))
})

describe("observability", () => {
  it.effect("each public operation is a span with the database, document, method, status and request id, never a secret", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.Span> = []
      const base = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind, options) => {
          const span = base.span(name, parent, context, links, startTime, kind, options)
          spans.push(span)
          return span
        },
        context: base.context
      })
      const secret = "s3cret-pa55word"
      const fake = fakeClient(() =>
        json(200, { _id: "doc-1", _rev: "1-a" }, { "x-couch-request-id": "req-42" })
      )
      yield* Effect.scoped(
        Effect.gen(function*() {
          const couch = yield* CouchSession.make({
            url: "http://couch.test",
            auth: CouchAuth.basic("admin", Redacted.make(secret))
          })
          const db = yield* couch.use("inventory")
          yield* db.get("doc-1")
        })
      ).pipe(Effect.provide(fake.layer), Effect.withTracer(tracer))
      const get = spans.find((span) => span.name === "Database.get")
      assert.isDefined(get)
      assert.strictEqual(get?.attributes.get("couchdb.database"), "inventory")
      assert.strictEqual(get?.attributes.get("couchdb.document"), "doc-1")
      assert.strictEqual(get?.attributes.get("http.request.method"), "GET")
      assert.strictEqual(get?.attributes.get("http.response.status_code"), 200)
      assert.strictEqual(get?.attributes.get("couchdb.request_id"), "req-42")
      for (const span of spans) {
        for (const value of span.attributes.values()) assert.notInclude(String(value), secret)
      }
    }))
})
