import { CouchAuth, CouchError, CouchSession, CouchTransport } from "@effect-couch/client"
import { CouchTestServer } from "@effect-couch/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { NodeCouchTransport } from "../src/index.js"

/** The client of the layer, with every request its transport sends counted. */
const counted = Effect.gen(function*() {
  const agent = yield* NodeCouchTransport.makeAgent()
  const client = NodeCouchTransport.makeClient(agent)
  const transport = CouchTransport.fromClient(client)
  assert.isDefined(transport)
  const sent: Array<string> = []
  const counting = CouchTransport.withTransport(client, {
    send: (request) => {
      sent.push(`${request.method} ${new URL(request.url).pathname}`)
      return transport!.send(request)
    }
  })
  return { client: counting, sent }
})

/** A server on a free port whose handler the test gives; closed with the scope. */
const server = (handler: Http.RequestListener) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const http = Http.createServer(handler)
      http.listen(0, "127.0.0.1", () => resume(Effect.succeed(http)))
    }),
    (http) => Effect.sync(() => http.closeAllConnections()).pipe(
      Effect.zipRight(Effect.async<void>((resume) => {
        http.close(() => resume(Effect.void))
      }))
    )
  ).pipe(Effect.map((http) => `http://127.0.0.1:${(http.address() as AddressInfo).port}`))

layer(CouchTestServer.layer, { excludeTestServices: true })("against the test server", (it) => {
  it.scoped("a session given the layer's client sends through the transport: reads, writes, streams", () =>
    Effect.gen(function*() {
      const test = yield* CouchTestServer.CouchTestServer
      const { client, sent } = yield* counted
      const couch = yield* CouchSession.make({
        url: test.url,
        auth: CouchAuth.basic(test.admin.username, test.admin.password)
      }).pipe(Effect.provideService(HttpClient.HttpClient, client))
      const name = yield* CouchTestServer.database("node")
      const db = yield* couch.use(name)
      const written = yield* db.put({ _id: "a", n: 1 })
      const read = yield* db.get("a")
      assert.strictEqual(read._rev, written.rev)
      const missing = yield* Effect.flip(db.get("nope"))
      assert.strictEqual(missing._tag, "NotFoundError")
      // a streamed upload and download of 3 MiB: past the transport's high-water mark, so read with pauses
      const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251)
      const attachment = yield* db.attachment("a", "blob")
      const put = yield* attachment.put(
        Stream.fromIterable([bytes.subarray(0, 1_000_000), bytes.subarray(1_000_000)]),
        { rev: written.rev, contentType: "application/octet-stream" }
      )
      const back = yield* Stream.runCollect(attachment.stream({ rev: put.rev }))
      const joined = Buffer.concat(Chunk.toReadonlyArray(back))
      assert.strictEqual(joined.length, bytes.length)
      assert.isTrue(joined.equals(Buffer.from(bytes)))
      const rows = yield* Stream.runCollect(db.allDocs({ oneRequest: true }))
      assert.strictEqual(Chunk.size(rows), 1)
      assert.includeMembers(sent, [`PUT /${name}/a`, `GET /${name}/a`, `GET /${name}/nope`])
      assert.isTrue(sent.some((line) => line === `PUT /${name}/a/blob`))
      assert.isTrue(sent.some((line) => line === `GET /${name}/_all_docs`))
    }))

  it.scoped("a cookie session, and a session with transformClient, send through the client instead", () =>
    Effect.gen(function*() {
      const test = yield* CouchTestServer.CouchTestServer
      const { client, sent } = yield* counted
      const cookie = yield* CouchSession.make({
        url: test.url,
        auth: CouchAuth.cookie(test.admin.username, test.admin.password)
      }).pipe(Effect.provideService(HttpClient.HttpClient, client))
      const info = yield* cookie.session
      assert.strictEqual(info.userCtx.name, test.admin.username)
      const transformed = yield* CouchSession.make({
        url: test.url,
        auth: CouchAuth.basic(test.admin.username, test.admin.password),
        transformClient: (c) => c
      }).pipe(Effect.provideService(HttpClient.HttpClient, client))
      yield* transformed.info
      assert.deepStrictEqual(sent, [])
    }))
})

describe("the transport on its own", () => {
  it.scoped("interrupting a request aborts it: the server sees its connection close", () =>
    Effect.gen(function*() {
      const closed = yield* Deferred.make<void>()
      const arrived = yield* Deferred.make<void>()
      const url = yield* server((request) => {
        Deferred.unsafeDone(arrived, Effect.void)
        request.socket.on("close", () => Deferred.unsafeDone(closed, Effect.void))
      })
      const agent = yield* NodeCouchTransport.makeAgent()
      const transport = NodeCouchTransport.make(agent)
      const fiber = yield* Effect.fork(transport.send({ method: "GET", url: `${url}/db/doc`, headers: {}, body: undefined }))
      yield* Deferred.await(arrived)
      yield* Fiber.interrupt(fiber)
      yield* Deferred.await(closed).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "not aborted" }))
    }))

  it.scoped("interrupting the reader of a streamed body aborts the request", () =>
    Effect.gen(function*() {
      const closed = yield* Deferred.make<void>()
      const url = yield* server((request, response) => {
        request.socket.on("close", () => Deferred.unsafeDone(closed, Effect.void))
        response.writeHead(200, { "content-type": "application/json" })
        response.write("{\"a\":1}\n")
      })
      const agent = yield* NodeCouchTransport.makeAgent()
      const answer = yield* NodeCouchTransport.make(agent).send({
        method: "GET",
        url: `${url}/db/_changes`,
        headers: {},
        body: undefined
      })
      // a body still arriving is not there to take whole
      assert.isUndefined(answer.received)
      const first = yield* Stream.runHead(answer.stream)
      assert.isTrue(first._tag === "Some")
      yield* Deferred.await(closed).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "not aborted" }))
    }))

  it.scoped("undici's own timeouts, when its agent has them, fail with the reason timeout", () =>
    Effect.gen(function*() {
      const url = yield* server(() => {
        // never answers
      })
      const agent = yield* NodeCouchTransport.makeAgent({ headersTimeout: 200 })
      const silent = yield* Effect.flip(
        NodeCouchTransport.make(agent).send({ method: "GET", url: `${url}/`, headers: {}, body: undefined })
      )
      assert.strictEqual(silent.reason, "timeout")
    }))

  it.scoped("sessions map failures to TransportError with the same reasons", () =>
    Effect.gen(function*() {
      const url = yield* server(() => {
        // never answers
      })
      const agent = yield* NodeCouchTransport.makeAgent()
      const client = NodeCouchTransport.makeClient(agent)
      const slow = yield* CouchSession.make({ url, timeout: "200 millis", retry: false }).pipe(
        Effect.provideService(HttpClient.HttpClient, client)
      )
      const timedOut = yield* Effect.flip(slow.info)
      assert.instanceOf(timedOut, CouchError.TransportError)
      assert.strictEqual((timedOut as CouchError.TransportError).reason, "timeout")
      const refused = yield* CouchSession.make({ url: "http://127.0.0.1:1", retry: false }).pipe(
        Effect.provideService(HttpClient.HttpClient, client)
      )
      const failed = yield* Effect.flip(refused.info)
      assert.instanceOf(failed, CouchError.TransportError)
      assert.strictEqual((failed as CouchError.TransportError).reason, "connection")
      assert.include((failed as CouchError.TransportError).description ?? "", "ECONNREFUSED")
    }))

  it.scoped("a small body of a known length arrives whole with its answer; a HEAD's length announces no body", () =>
    Effect.gen(function*() {
      const doc = JSON.stringify({ _id: "doc", _rev: "1-a", text: "é".repeat(1000) })
      const url = yield* server((request, response) => {
        const bytes = Buffer.from(doc)
        response.writeHead(200, { "content-type": "application/json", "content-length": String(bytes.length) })
        // sent in two writes: the answer waits for both
        if (request.method === "HEAD") return response.end()
        response.write(bytes.subarray(0, 100))
        setTimeout(() => response.end(bytes.subarray(100)), 50)
      })
      const agent = yield* NodeCouchTransport.makeAgent()
      const transport = NodeCouchTransport.make(agent)
      const answer = yield* transport.send({ method: "GET", url: `${url}/db/doc`, headers: {}, body: undefined })
      assert.strictEqual(answer.status, 200)
      // handed on whole: a reader takes it without a step, and reading it again (or as `body`) gives the same bytes
      assert.strictEqual(new TextDecoder().decode(answer.received), doc)
      assert.strictEqual(answer.received, answer.received)
      assert.strictEqual(new TextDecoder().decode(yield* answer.body), doc)
      const head = yield* transport.send({ method: "HEAD", url: `${url}/db/doc`, headers: {}, body: undefined })
      assert.strictEqual(head.headers["content-length"], String(Buffer.byteLength(doc)))
      assert.strictEqual((yield* head.body).length, 0)
    }))

  it.scoped("a small body that breaks off fails the request; interrupting while it arrives aborts it", () =>
    Effect.gen(function*() {
      const closed = yield* Deferred.make<void>()
      const url = yield* server((request, response) => {
        response.writeHead(200, { "content-type": "application/json", "content-length": "1000" })
        response.write("{\"_id\":")
        if (request.url === "/db/broken") return setTimeout(() => request.socket.destroy(), 20)
        request.socket.on("close", () => Deferred.unsafeDone(closed, Effect.void))
      })
      const agent = yield* NodeCouchTransport.makeAgent()
      const transport = NodeCouchTransport.make(agent)
      const broken = yield* Effect.flip(transport.send({ method: "GET", url: `${url}/db/broken`, headers: {}, body: undefined }))
      assert.strictEqual(broken.reason, "body")
      const fiber = yield* Effect.fork(transport.send({ method: "GET", url: `${url}/db/slow`, headers: {}, body: undefined }))
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(fiber)
      yield* Deferred.await(closed).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "not aborted" }))
    }))

  it.scoped("a session reading a small body that breaks off fails with a TransportError", () =>
    Effect.gen(function*() {
      const url = yield* server((request, response) => {
        response.writeHead(200, { "content-type": "application/json", "content-length": "1000" })
        response.write("{\"_id\":")
        setTimeout(() => request.socket.destroy(), 20)
      })
      const agent = yield* NodeCouchTransport.makeAgent()
      const couch = yield* CouchSession.make({ url, retry: false }).pipe(
        Effect.provideService(HttpClient.HttpClient, NodeCouchTransport.makeClient(agent))
      )
      const db = yield* couch.use("db")
      const failed = yield* Effect.flip(db.get("doc"))
      assert.instanceOf(failed, CouchError.TransportError)
      assert.strictEqual((failed as CouchError.TransportError).reason, "connection")
    }))
})
