/**
 * Every public operation is a span, with the database (document, design document, view, partition where they
 * apply); nothing a span, its events, its end or a log says holds a password, a cookie or a token.
 */
import { CouchTestServer } from "@effect-couch/testing"
import * as Cookies from "@effect/platform/Cookies"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { CouchAuth, CouchSession, CouchTransport } from "../src/index.js"
import { fakeClient, json } from "./fake.js"
import { TestLive, throwawayUser } from "./support.js"

/** A tracer that keeps every span it starts (and what is said on it), and a logger that keeps every line. */
const recorder = Effect.gen(function*() {
  const spans: Array<Tracer.Span> = []
  const said: Array<string> = []
  const base = yield* Effect.tracer
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = base.span(name, parent, context, links, startTime, kind, options)
      const event = span.event.bind(span)
      span.event = (eventName, time, attributes) => {
        said.push(eventName, JSON.stringify(attributes ?? {}))
        event(eventName, time, attributes)
      }
      spans.push(span)
      return span
    },
    context: base.context
  })
  const logger = Logger.make(({ annotations, message }) => {
    said.push(JSON.stringify(message), JSON.stringify([...annotations]))
  })
  /** Everything the spans and logs hold, as text: names, attributes, events, the ends (errors included). */
  const texts = () => [
    ...said,
    ...spans.flatMap((span) => [
      span.name,
      JSON.stringify([...span.attributes]),
      span.status._tag === "Ended" && Exit.isFailure(span.status.exit) ?
        `${Cause.pretty(span.status.exit.cause)}\n${JSON.stringify(Cause.failures(span.status.exit.cause))}` :
        ""
    ])
  ]
  const observed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(Effect.withTracer(tracer), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  return { spans, texts, observed }
})

const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`

layer(TestLive, { excludeTestServices: true })("observability", (it) => {
  it.scoped("every public operation of CouchSession, Database, Attachment and Replication is a span; no secret in any", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const admin = yield* CouchSession.CouchSession
      // a user of its own, with a password that cannot occur by chance, admin of a database of its own
      const { name, password } = yield* throwawayUser("observed")
      const dbName = yield* CouchTestServer.database("observed")
      yield* Effect.flatMap(admin.use(dbName), (db) => db.addAdmins({ names: [name] }))

      const cookies: Array<string> = []
      const { observed, spans, texts } = yield* recorder
      yield* observed(Effect.scoped(Effect.gen(function*() {
        const couch = yield* CouchSession.make({
          url: server.url,
          auth: CouchAuth.cookie(name, Redacted.make(password)),
          retry: Schedule.recurs(1),
          transformClient: HttpClient.tap((response) => {
            const cookie = Cookies.getValue(response.cookies, "AuthSession")
            if (Option.isSome(cookie) && cookie.value !== "") cookies.push(cookie.value)
            return Effect.void
          })
        })
        const db = yield* couch.use(dbName)
        const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.ignore(effect)
        const drain = <A, E>(stream: Stream.Stream<A, E>) => Effect.ignore(Stream.runDrain(Stream.take(stream, 5)))
        // the session
        yield* run(couch.info)
        yield* run(couch.session)
        yield* run(couch.checkCredentials)
        yield* run(couch.keys())
        yield* run(couch.create(unique("nope")))
        yield* run(couch.database(dbName))
        yield* run(couch.allDbsInfo())
        yield* run(couch.uuids(1))
        yield* run(couch.up)
        yield* run(couch.activeTasks)
        yield* run(couch.membership)
        yield* run(couch.updateUser(unique("nobody"), { roles: [] }))
        // documents
        const written = yield* db.put({ _id: "doc", n: 1 })
        yield* run(db.get("doc"))
        yield* run(db.head("doc"))
        yield* run(db.getOpenRevisions("doc", "all"))
        yield* run(db.post({ n: 2 }))
        yield* run(db.copy("doc", "doc-copy"))
        yield* run(db.modify("doc", (doc) => ({ ...doc, n: 3 })))
        yield* run(db.bulkDocs([{ _id: "b1" }, { _id: "b2" }]))
        yield* drain(db.bulkWrite(Stream.make({ _id: "w1" }, { _id: "w2" })))
        yield* run(db.bulkGet([{ id: "b1" }]))
        yield* run(db.bulkGetRaw([{ id: "b1" }]))
        yield* drain(db.allDocs())
        yield* run(db.allDocsPage())
        yield* drain(db.designDocs())
        yield* run(db.remove("b2", (yield* db.get("b2"))._rev as string))
        yield* run(db.putLocal("checkpoint", { seq: 1 }))
        // queries
        yield* run(db.ensureView("app", "by_n", { map: "function (doc) { emit(doc.n, null) }" }))
        yield* run(db.find({ selector: { n: { $gt: 0 } } }))
        yield* drain(db.findStream({ selector: { n: { $gt: 0 } } }))
        yield* run(db.explain({ selector: { n: { $gt: 0 } } }))
        yield* drain(db.view("app", "by_n"))
        yield* run(db.viewPage("app", "by_n"))
        yield* drain(db.reduce("app", "by_n"))
        yield* run(db.viewQueries("app", "by_n", [{}]))
        yield* run(db.createIndex({ index: { fields: ["n"] }, name: "by-n", ddoc: "idx" }))
        yield* run(db.indexes)
        yield* run(db.deleteIndex("idx", "by-n"))
        yield* run(db.designInfo("app"))
        // the feed
        yield* drain(db.changes())
        const follower = yield* db.follow({ heartbeat: "200 millis" })
        yield* drain(follower.changes)
        // the database
        yield* run(db.info)
        yield* run(db.exists)
        yield* run(db.security)
        yield* run(db.addMembers({ roles: ["readers"] }))
        yield* run(db.compact)
        yield* run(db.viewCleanup)
        yield* run(db.revsDiff({ doc: [written.rev] }))
        yield* run(db.revsLimit)
        yield* run(db.missingRevs({ doc: [written.rev] }))
        yield* run(couch.node().config)
        // attachments
        const attachment = yield* db.attachment("att-doc", "a.txt")
        const stored = yield* attachment.put("hello", { contentType: "text/plain" })
        yield* run(attachment.head())
        yield* run(Effect.flatMap(attachment.get(), (body) => Stream.runDrain(body.stream)))
        yield* drain(attachment.stream())
        yield* run(attachment.remove(stored.rev))
        // replication (refused or failing for this user: the spans are there all the same)
        yield* run(couch.replicate(unique("missing"), dbName))
        yield* run(couch.replicator.get(unique("rep")))
        yield* run(couch.replicator.status(unique("rep")))
        yield* run(couch.scheduler.jobs())
        yield* run(couch.scheduler.docs())
        yield* run(couch.close)
      })))

      const names = new Set(spans.map((span) => span.name))
      const expected = [
        "CouchSession.info", "CouchSession.session", "CouchSession.checkCredentials", "CouchSession.keys",
        "CouchSession.create", "CouchSession.database", "CouchSession.allDbsInfo", "CouchSession.uuids",
        "CouchSession.up", "CouchSession.activeTasks", "CouchSession.membership", "CouchSession.updateUser",
        "CouchSession.close",
        "Database.put", "Database.get", "Database.head", "Database.getOpenRevisions", "Database.post", "Database.copy",
        "Database.modify", "Database.bulkDocs", "Database.bulkWrite", "Database.bulkGet", "Database.bulkGetRaw", "Database.allDocs",
        "Database.allDocsPage", "Database.designDocs", "Database.remove", "Database.ensureView", "Database.find",
        "Database.findStream", "Database.explain", "Database.view", "Database.viewPage", "Database.reduce",
        "Database.viewQueries", "Database.createIndex", "Database.indexes", "Database.deleteIndex",
        "Database.designInfo", "Database.changes", "Database.follow", "Database.info", "Database.exists",
        "Database.security", "Database.addMembers", "Database.compact", "Database.viewCleanup", "Database.revsDiff",
        "Database.revsLimit", "Database.missingRevs", "CouchNode.config",
        "Attachment.put", "Attachment.head", "Attachment.get", "Attachment.stream", "Attachment.remove",
        "Replication.replicate", "Replication.getDocument", "Replication.documentStatus", "Replication.schedulerJobs",
        "Replication.schedulerDocs"
      ]
      assert.deepStrictEqual(expected.filter((name) => !names.has(name)), [])
      // the database is on each operation of a database (the users' and the replicator's for the session's own
      // reads there); the design document and the view on those of a view
      for (const span of spans) {
        if (span.name.startsWith("Database.") || span.name.startsWith("Attachment.")) {
          assert.include([dbName, "_users", "_replicator"], span.attributes.get("couchdb.database"), span.name)
        }
      }
      assert.isTrue(spans.filter((span) => span.name.startsWith("Database.")).some((span) =>
        span.attributes.get("couchdb.database") === dbName
      ))
      const view = spans.find((span) => span.name === "Database.view")
      assert.strictEqual(view?.attributes.get("couchdb.design"), "app")
      assert.strictEqual(view?.attributes.get("couchdb.view"), "by_n")
      assert.isTrue(spans.some((span) =>
        span.name === "Database.get" && span.attributes.get("couchdb.database") === dbName &&
        span.attributes.get("couchdb.document") === "doc"
      ))
      assert.strictEqual(spans.find((span) => span.name === "Attachment.put")?.attributes.get("couchdb.attachment"), "a.txt")
      // a stream's span lasts as long as the stream: the requests of its pages are its children
      const allDocs = spans.find((span) => span.name === "Database.allDocs")
      assert.isTrue(spans.some((span) => Option.isSome(span.parent) && span.parent.value.spanId === allDocs?.spanId))
      // no secret anywhere
      assert.isAbove(cookies.length, 0)
      for (const text of texts()) {
        assert.notInclude(text, password)
        for (const cookie of cookies) assert.notInclude(text, cookie)
      }
    }))

  it.effect("a bearer token appears in no span, event, end or log", () =>
    Effect.gen(function*() {
      const token = `eyJhbGciOiJIUzI1NiJ9.${Math.random().toString(36).slice(2)}.sig${Date.now().toString(36)}`
      const fake = fakeClient(() => json(401, { error: "unauthorized", reason: "bad token" }))
      const { observed, spans, texts } = yield* recorder
      yield* observed(Effect.scoped(Effect.gen(function*() {
        const couch = yield* CouchSession.make({ url: "http://couch.test", auth: CouchAuth.bearer(Redacted.make(token)), retry: false })
        const db = yield* couch.use("things")
        yield* Effect.ignore(couch.info)
        yield* Effect.ignore(db.get("x"))
        yield* Effect.ignore(Stream.runDrain(db.allDocs()))
      })).pipe(Effect.provide(fake.layer)))
      assert.isAbove(spans.length, 2)
      for (const text of texts()) assert.notInclude(text, token)
    }))

  it.effect("bulkDocs is a span annotated with the answer under a tracer; under Effect's own it says nothing on the caller's span", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() => json(201, [{ ok: true, id: "a", rev: "1-a" }], { "x-couch-request-id": "req-2" }))
      const write = Effect.scoped(Effect.gen(function*() {
        const couch = yield* CouchSession.make({ url: "http://couch.test", auth: CouchAuth.basic("u", Redacted.make("p")) })
        const db = yield* couch.use("things")
        const results = yield* db.bulkDocs([{ _id: "a" }])
        assert.deepStrictEqual(results.map((result) => result._tag), ["Right"])
        return yield* Effect.currentSpan
      })).pipe(Effect.withSpan("caller"), Effect.provide(fake.layer))

      // a tracer provided: the operation's span, the caller's child, holds the method, status and request id
      const { observed, spans } = yield* recorder
      yield* observed(write)
      const bulk = spans.find((span) => span.name === "Database.bulkDocs")
      assert.isDefined(bulk)
      assert.strictEqual(Option.getOrUndefined(bulk!.parent)?.spanId, spans.find((span) => span.name === "caller")?.spanId)
      assert.strictEqual(bulk!.attributes.get("http.request.method"), "POST")
      assert.strictEqual(bulk!.attributes.get("http.response.status_code"), 201)
      assert.strictEqual(bulk!.attributes.get("couchdb.request_id"), "req-2")

      // Effect's own tracer: no span of its own, and the request's attributes are not put on the caller's
      const caller = yield* write
      assert.strictEqual(caller.name, "caller")
      assert.deepStrictEqual([...caller.attributes.keys()], [])
    }))

  it.effect("a document read is a span under the caller's, annotated with the answer, over the client or a transport", () =>
    Effect.gen(function*() {
      const answer = () => json(200, { _id: "x", _rev: "1-a" }, { "x-couch-request-id": "req-1" })
      const fake = fakeClient(answer)
      // a transport answering the same, carried by the fake client
      const carried = Layer.effect(
        HttpClient.HttpClient,
        Effect.map(HttpClient.HttpClient, (client) =>
          CouchTransport.withTransport(client, {
            send: () =>
              Effect.succeed({
                status: 200,
                headers: { "content-type": "application/json", "x-couch-request-id": "req-1" },
                body: Effect.succeed(new TextEncoder().encode(JSON.stringify({ _id: "x", _rev: "1-a" }))),
                stream: Stream.empty
              })
          }))
      ).pipe(Layer.provide(fake.layer))
      for (const [via, clientLayer] of [["client", fake.layer], ["transport", carried]] as const) {
        const { observed, spans } = yield* recorder
        yield* observed(Effect.scoped(Effect.gen(function*() {
          const couch = yield* CouchSession.make({ url: "http://couch.test", auth: CouchAuth.basic("u", Redacted.make("p")) })
          const db = yield* couch.use("things")
          const doc = yield* db.get("x").pipe(Effect.withSpan("caller"))
          assert.strictEqual(doc._id, "x")
        })).pipe(Effect.provide(clientLayer)))
        const caller = spans.find((span) => span.name === "caller")
        const get = spans.find((span) => span.name === "Database.get")
        assert.isDefined(get, via)
        assert.strictEqual(Option.getOrUndefined(get!.parent)?.spanId, caller?.spanId, via)
        assert.strictEqual(get!.attributes.get("http.response.status_code"), 200, via)
        assert.strictEqual(get!.attributes.get("http.request.method"), "GET", via)
        assert.strictEqual(get!.attributes.get("couchdb.request_id"), "req-1", via)
        assert.strictEqual(get!.attributes.get("couchdb.document"), "x", via)
        assert.strictEqual(get!.status._tag, "Ended", via)
        const requests = spans.filter((span) => span.name.startsWith("http.client"))
        if (via === "client") {
          // the platform's span of the request is the read's child
          assert.strictEqual(requests.length, 1)
          assert.strictEqual(Option.getOrUndefined(requests[0].parent)?.spanId, get!.spanId)
        } else {
          assert.strictEqual(requests.length, 0)
        }
      }
    }))
})
