import { CouchTestServer } from "@effect-couch/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type { Database, Replication } from "../src/index.js"
import { CouchAuth, CouchError, CouchSession } from "../src/index.js"
import { TestLive, testDatabase, throwawayUser } from "./support.js"

const leftOf = <A, E>(either: Either.Either<A, E>): E | undefined => Either.isLeft(either) ? either.left : undefined

/**
 * CouchDB's replicator takes `{ url, auth }` (the default form); express-pouchdb's
 * `/_replicate` takes URL strings only, so credentials go in the URL there.
 */
const credentialsFor = (server: CouchTestServer.TestServer): Replication.Credentials | undefined =>
  server.capabilities.couchReplicator ? undefined : "url"

const adminEndpoint = (server: CouchTestServer.TestServer, name: string): Replication.EndpointObject => ({
  url: `${server.url}/${name}`,
  auth: CouchAuth.basic(server.admin.username, server.admin.password)
})

/**
 * Endpoints that authenticate as a user of their own, admin of the given databases, whose password cannot occur by
 * chance in anything the server or the client prints (unlike an admin password such as "password").
 */
const secretUser = (...databases: ReadonlyArray<Database.Database>) =>
  Effect.gen(function*() {
    const server = yield* CouchTestServer.CouchTestServer
    const { name, password } = yield* throwawayUser("replicator")
    for (const database of databases) yield* database.addAdmins({ names: [name] })
    const endpoint = (database: string): Replication.EndpointObject => ({
      url: `${server.url}/${database}`,
      auth: CouchAuth.basic(name, password)
    })
    return { password, endpoint }
  })

const idsAndRevs = (db: Database.Database) =>
  Effect.map(
    db.allDocsPage(),
    (page) => page.rows.flatMap((row) => row._tag === "Row" ? [{ id: row.id, rev: row.value.rev }] : [])
  )

const ids = (db: Database.Database) => Effect.map(idsAndRevs(db), (rows) => rows.map((row) => row.id))

class NotYet extends Data.TaggedError("NotYet")<{ readonly what: string }> {}

/** Runs `effect` until `done` holds of its result: every 50 ms, for at most 10 s. */
const eventually = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>, done: (a: A) => boolean) =>
  effect.pipe(
    Effect.filterOrFail(done, () => new NotYet({ what })),
    Effect.retry({
      while: (error) => error instanceof NotYet,
      schedule: Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(200)))
    })
  )

const uniqueId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`

const twentyDocs = Array.from({ length: 20 }, (_, i) => ({ _id: `doc-${String(i).padStart(2, "0")}`, n: i }))

layer(TestLive, { excludeTestServices: true })("replication against the test server", (it) => {
  it.scoped("a one-shot replication by URL with { url, auth } copies every document", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const couch = yield* CouchSession.CouchSession
      const source = yield* testDatabase("rsrc")
      const target = yield* testDatabase("rtgt")
      const written = yield* source.bulkDocs(twentyDocs)
      assert.isTrue(written.every(Either.isRight))
      const result = yield* couch.replicate(
        adminEndpoint(server, source.name),
        adminEndpoint(server, target.name),
        { credentials: credentialsFor(server) }
      )
      assert.isTrue(result.ok)
      // CouchDB reports the counts of the session in history, PouchDB-based servers at the top level
      assert.strictEqual(result.history[0]?.docsWritten ?? result.docsWritten, 20)
      const copied = yield* idsAndRevs(target)
      assert.strictEqual(copied.length, 20)
      assert.deepStrictEqual(copied, yield* idsAndRevs(source))
    }))

  it.scoped("createTarget creates the target; database names resolve against the session's URL", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const couch = yield* CouchSession.CouchSession
      const source = yield* testDatabase("rsrc")
      yield* source.bulkDocs(twentyDocs.slice(0, 5))
      // a name that is deleted when the test ends, and does not exist now
      const targetName = yield* CouchTestServer.database("rnew")
      yield* Effect.flatMap(couch.use(targetName), (db) => db.delete)
      const result = yield* couch.replicate(source.name, targetName, {
        createTarget: true,
        credentials: credentialsFor(server)
      })
      assert.isTrue(result.ok)
      const target = yield* couch.database(targetName)
      assert.deepStrictEqual(yield* idsAndRevs(target), yield* idsAndRevs(source))
    }))

  it.scoped("docIds copies only those documents", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      // express-pouchdb's /_replicate passes on only `continuous`, `filter` and `query_params`
      if (!server.capabilities.couchReplicator) return
      const couch = yield* CouchSession.CouchSession
      const source = yield* testDatabase("rsrc")
      const target = yield* testDatabase("rtgt")
      yield* source.bulkDocs(twentyDocs)
      yield* couch.replicate(adminEndpoint(server, source.name), adminEndpoint(server, target.name), {
        docIds: ["doc-03", "doc-11"],
        credentials: credentialsFor(server)
      })
      assert.deepStrictEqual(yield* ids(target), ["doc-03", "doc-11"])
    }))

  it.scoped("a missing source is NotFoundError (db_not_found), without the password", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      // express-pouchdb creates a missing source as admin, and a failing replication crashes it
      if (!server.capabilities.couchReplicator) return
      const couch = yield* CouchSession.CouchSession
      const target = yield* testDatabase("rtgt")
      const { endpoint, password } = yield* secretUser(target)
      const result = yield* Effect.either(couch.replicate(endpoint(uniqueId("missing")), endpoint(target.name)))
      const error = leftOf(result)
      // CouchDB 3.5 answers 500 db_not_found: a missing database all the same
      assert.strictEqual(error?._tag, "NotFoundError")
      assert.strictEqual(error?._tag === "NotFoundError" ? error.error : "", "db_not_found")
      assert.notInclude(JSON.stringify(error), password)
      assert.notInclude(String(error), password)
      assert.notInclude(error?.message, password)
    }))

  it.scoped("a continuous replication follows new writes until it is cancelled", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      // express-pouchdb answers a continuous /_replicate with no id and cannot cancel it
      if (!server.capabilities.couchReplicator) return
      const couch = yield* CouchSession.CouchSession
      const source = yield* testDatabase("rsrc")
      const target = yield* testDatabase("rtgt")
      const from = adminEndpoint(server, source.name)
      const to = adminEndpoint(server, target.name)
      const started = yield* couch.replicate(from, to, { continuous: true })
      yield* Effect.addFinalizer(() => Effect.ignore(couch.replicate(from, to, { continuous: true, cancel: true })))
      assert.isTrue(started.ok)
      const localId = started.localId
      assert.isString(localId)
      if (localId === undefined) return
      yield* source.put({ _id: "late" })
      yield* eventually("the write to be replicated", ids(target), (names) => names.includes("late"))
      const jobs = yield* couch.scheduler.jobs()
      assert.isTrue(jobs.jobs.some((job) => job.id === localId))
      const cancelled = yield* couch.cancelReplication(localId)
      assert.isTrue(cancelled.ok)
      yield* eventually("the job to stop", couch.scheduler.jobs(), (now) => now.jobs.every((job) => job.id !== localId))
    }))

  it.scoped("a _replicator document replicates, records its state, and is deleted", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const couch = yield* CouchSession.CouchSession
      const source = yield* testDatabase("rsrc")
      const target = yield* testDatabase("rtgt")
      yield* source.bulkDocs(twentyDocs)
      const id = uniqueId("rep")
      const { endpoint, password } = yield* secretUser(source, target)
      const created = yield* couch.replicator.create(
        id,
        endpoint(source.name),
        endpoint(target.name),
        { docIds: ["doc-01", "doc-07"], credentials: credentialsFor(server) }
      )
      yield* Effect.addFinalizer(() => Effect.ignore(couch.replicator.remove(id)))
      assert.strictEqual(created.id, id)
      const done = yield* eventually("the document to complete", couch.replicator.get(id), (doc) =>
        doc.state === "completed")
      assert.strictEqual(done._id, id)
      // read back without credentials, whatever the document stores
      assert.strictEqual(done.source, `${server.url}/${source.name}`)
      assert.strictEqual(done.target, `${server.url}/${target.name}`)
      assert.deepStrictEqual(done.docIds, ["doc-01", "doc-07"])
      assert.notInclude(JSON.stringify(done), password)
      assert.deepStrictEqual(yield* ids(target), ["doc-01", "doc-07"])
      if (server.capabilities.scheduler) {
        // a cluster's scheduler may not list a fresh document yet, or answer it with "state": null
        const status = yield* eventually(
          "the scheduler to see the document complete",
          Effect.either(couch.replicator.status(id)),
          (status) => Either.isRight(status) && status.right.state === "completed"
        ).pipe(Effect.flatMap((status) => status))
        assert.strictEqual(status.docId, id)
        const docs = yield* eventually(
          "the scheduler to list the document",
          couch.scheduler.docs(),
          (docs) => docs.docs.some((doc) => doc.docId === id)
        )
        assert.isTrue(docs.docs.some((doc) => doc.docId === id))
      }
      yield* couch.replicator.remove(id)
      assert.instanceOf(leftOf(yield* Effect.either(couch.replicator.get(id))), CouchError.NotFoundError)
    }))

  it.scoped("a continuous _replicator document follows new writes, and deleting it stops it", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      // pouchdb-replicator (embedded) reads the deleted document back when its replication stops: an unhandled
      // rejection in the test process
      if (!server.capabilities.couchReplicator) return
      const couch = yield* CouchSession.CouchSession
      const source = yield* testDatabase("rsrc")
      const target = yield* testDatabase("rtgt")
      const id = uniqueId("live")
      yield* couch.replicator.create(id, adminEndpoint(server, source.name), adminEndpoint(server, target.name), {
        continuous: true,
        credentials: credentialsFor(server)
      })
      yield* Effect.addFinalizer(() => Effect.ignore(couch.replicator.remove(id)))
      yield* source.put({ _id: "first" })
      yield* eventually("the first write to be replicated", ids(target), (names) => names.includes("first"))
      yield* couch.replicator.remove(id)
      yield* eventually("the job to stop", couch.scheduler.jobs(), (jobs) => jobs.jobs.every((job) => job.docId !== id))
      yield* source.put({ _id: "after" })
      yield* Effect.sleep("700 millis")
      assert.deepStrictEqual(yield* ids(target), ["first"])
    }))

  it.effect("the scheduler lists jobs and documents (404 on a server without one)", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const couch = yield* CouchSession.CouchSession
      const jobs = yield* Effect.either(couch.scheduler.jobs({ limit: 10 }))
      const docs = yield* Effect.either(couch.scheduler.docs({ limit: 10 }))
      if (server.capabilities.scheduler) {
        assert.isTrue(Either.isRight(jobs) && Array.isArray(jobs.right.jobs))
        assert.isTrue(Either.isRight(docs) && Array.isArray(docs.right.docs))
      } else {
        assert.instanceOf(leftOf(jobs), CouchError.NotFoundError)
        assert.instanceOf(leftOf(docs), CouchError.NotFoundError)
      }
    }))
})

// -----------------------------------------------------------------------------
// Against a fake server: the request sent, the answers decoded, and secrets kept out of errors
// -----------------------------------------------------------------------------

interface Seen {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

const fake = (answer: (seen: Seen) => Response | "reset") => {
  const seen: Array<Seen> = []
  const client = HttpClient.make((request, url) => {
    const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
    const entry: Seen = { method: request.method, url, headers: { ...request.headers }, body }
    seen.push(entry)
    const response = answer(entry)
    return response === "reset" ?
      Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error(body) })) :
      Effect.succeed(HttpClientResponse.fromWeb(request, response))
  })
  return { seen, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

const json = (status: number, body: unknown): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } })

const sessionUrl = "http://couch.test:5984"

/** Runs `f` with a session on the fake server (basic auth `admin` / `session-secret`). */
const withSession = <A, E>(
  server: ReturnType<typeof fake>,
  f: (couch: CouchSession.Service) => Effect.Effect<A, E>
) =>
  Effect.scoped(
    Effect.flatMap(
      CouchSession.make({ url: sessionUrl, auth: CouchAuth.basic("admin", "session-secret"), retry: false }),
      f
    )
  ).pipe(Effect.provide(server.layer))

const bodyOf = (seen: Seen): Record<string, unknown> => JSON.parse(seen.body)

const oneShotAnswer = {
  ok: true,
  session_id: "s1",
  source_last_seq: "20-g1AAAA",
  replication_id_version: 4,
  history: [{ session_id: "s1", start_last_seq: 0, end_last_seq: "20-g1AAAA", docs_read: 20, docs_written: 20 }]
}

describe("replicate on the wire", () => {
  it.effect("credentials are written in the form asked for", () =>
    Effect.gen(function*() {
      const server = fake(() => json(200, oneShotAnswer))
      const auth = CouchAuth.basic("ops", "p@ss:w/rd")
      const source = { url: "https://a.example/src", auth }
      yield* withSession(server, (couch) =>
        Effect.all([
          couch.replicate(source, "https://b.example/dst"),
          couch.replicate(source, "https://b.example/dst", { credentials: "headers" }),
          couch.replicate(source, "https://b.example/dst", { credentials: "url" }),
          couch.replicate({ url: "https://a.example/src", auth: CouchAuth.bearer("tok") }, "https://b.example/dst")
        ]))
      const bodies = server.seen.map(bodyOf)
      assert.deepStrictEqual(bodies[0], {
        source: { url: "https://a.example/src", auth: { basic: { username: "ops", password: "p@ss:w/rd" } } },
        target: "https://b.example/dst"
      })
      assert.deepStrictEqual(bodies[1].source, {
        url: "https://a.example/src",
        headers: { Authorization: `Basic ${Encoding.encodeBase64("ops:p@ss:w/rd")}` }
      })
      assert.strictEqual(bodies[2].source, "https://ops:p%40ss%3Aw%2Frd@a.example/src")
      assert.deepStrictEqual(bodies[3].source, {
        url: "https://a.example/src",
        headers: { Authorization: "Bearer tok" }
      })
      assert.isTrue(server.seen.every((seen) => seen.method === "POST" && seen.url.pathname === "/_replicate"))
    }))

  it.effect("names resolve against the session's URL with its credentials; credentials in a URL are taken out", () =>
    Effect.gen(function*() {
      const server = fake(() => json(200, oneShotAnswer))
      const result = yield* withSession(server, (couch) =>
        couch.replicate("orders", "http://bob:hunter2@backup.test/orders-copy", {
          createTarget: true,
          docIds: ["a", "b"],
          selector: { type: "order" },
          filter: "app/by_type",
          queryParams: { type: "order" },
          sinceSeq: "5-abc",
          winningRevsOnly: true
        }))
      assert.deepStrictEqual(bodyOf(server.seen[0]), {
        source: {
          url: `${sessionUrl}/orders`,
          auth: { basic: { username: "admin", password: "session-secret" } }
        },
        target: { url: "http://backup.test/orders-copy", auth: { basic: { username: "bob", password: "hunter2" } } },
        create_target: true,
        doc_ids: ["a", "b"],
        selector: { type: "order" },
        filter: "app/by_type",
        query_params: { type: "order" },
        since_seq: "5-abc",
        winning_revs_only: true
      })
      assert.strictEqual(result.sessionId, "s1")
      assert.strictEqual(result.sourceLastSeq, "20-g1AAAA")
      assert.strictEqual(result.history[0].docsWritten, 20)
      assert.strictEqual(result.history[0].startLastSeq, 0)
    }))

  it.effect("a continuous replication answers its id, which cancels it", () =>
    Effect.gen(function*() {
      const server = fake(() => json(200, { ok: true, _local_id: "abc+continuous" }))
      const [started, cancelled] = yield* withSession(server, (couch) =>
        Effect.flatMap(
          couch.replicate("a", "b", { continuous: true }),
          (started) => Effect.map(couch.cancelReplication(started.localId ?? ""), (cancelled) => [started, cancelled])
        ))
      assert.deepStrictEqual(started, { ok: true, localId: "abc+continuous" })
      assert.isTrue(cancelled.ok)
      assert.strictEqual(bodyOf(server.seen[0]).continuous, true)
      assert.deepStrictEqual(bodyOf(server.seen[1]), { replication_id: "abc+continuous", cancel: true })
    }))

  it.effect("a missing source (404, or CouchDB 3.5's 500, db_not_found) is NotFoundError", () =>
    Effect.gen(function*() {
      for (const status of [404, 500]) {
        const server = fake(() => json(status, { error: "db_not_found", reason: "could not open http://couch.test:5984/gone/" }))
        const result = yield* Effect.either(withSession(server, (couch) => couch.replicate("gone", "b")))
        const error = leftOf(result)
        assert.strictEqual(error?._tag, "NotFoundError")
        assert.strictEqual(error?._tag === "NotFoundError" ? error.error : undefined, "db_not_found")
        assert.strictEqual(error?._tag === "NotFoundError" ? error.status : undefined, status)
      }
    }))

  it.effect("an endpoint that is neither an http(s) URL nor a database name sends nothing", () =>
    Effect.gen(function*() {
      const server = fake(() => json(200, oneShotAnswer))
      for (const endpoint of ["ftp://u:topsecret1@host/db", "http://u:topsecret1@[bad/db", "Not A Name"]) {
        const result = yield* Effect.either(withSession(server, (couch) => couch.replicate(endpoint, "b")))
        const error = leftOf(result)
        assert.instanceOf(error, CouchError.InvalidArgumentError)
        assert.notInclude(JSON.stringify(error), "topsecret1")
      }
      assert.strictEqual(server.seen.length, 0)
    }))

  it.effect("a _replicator document reads back without credentials", () =>
    Effect.gen(function*() {
      const stored = {
        _id: "nightly",
        _rev: "3-x",
        source: { url: "https://a.example/src", auth: { basic: { username: "ops", password: "stored-secret" } } },
        target: "https://ops:stored-secret@b.example/dst",
        source_proxy: "http://ops:stored-secret@proxy.example",
        _replication_state: "completed",
        _replication_state_time: "2026-01-01T00:00:00Z",
        _replication_stats: { docs_written: 3 }
      }
      const server = fake(() => json(200, stored))
      const doc = yield* withSession(server, (couch) => couch.replicator.get("nightly"))
      assert.strictEqual(doc.source, "https://a.example/src")
      assert.strictEqual(doc.target, "https://b.example/dst")
      assert.strictEqual(doc.state, "completed")
      assert.notInclude(JSON.stringify(doc), "stored-secret")
      // an answer that does not decode is an error that does not quote the secrets either
      const broken = fake(() => json(200, { ...stored, _replication_state: 42 }))
      const error = leftOf(yield* Effect.either(withSession(broken, (couch) => couch.replicator.get("nightly"))))
      assert.instanceOf(error, CouchError.ResponseDecodeError)
      assert.notInclude(JSON.stringify(error), "stored-secret")
      assert.notInclude(String(error), "stored-secret")
    }))

  it.effect("scheduler answers decode leniently and without credentials", () =>
    Effect.gen(function*() {
      const server = fake((seen) =>
        seen.url.pathname === "/_scheduler/jobs" ?
          json(200, {
            total_rows: 1,
            offset: 0,
            jobs: [{
              id: "abc+continuous",
              database: null,
              doc_id: null,
              source: "http://ops:*****@a.example/src/",
              target: "http://b.example/dst/",
              info: { docs_written: 3, changes_pending: null, through_seq: "3-x" },
              history: [{ type: "started", timestamp: "2026-01-01T00:00:00Z" }]
            }]
          }) :
          json(200, {
            docs: [
              { doc_id: "nightly", database: "_replicator", state: "failed", info: { error: "db_not_found" } },
              // a cluster's answer for a document no node has picked up yet
              { doc_id: "fresh", database: "_replicator", state: null, node: null, info: null }
            ]
          })
      )
      const [jobs, docs] = yield* withSession(server, (couch) =>
        Effect.all([couch.scheduler.jobs({ limit: 5, skip: 1 }), couch.scheduler.docs()]))
      assert.strictEqual(jobs.jobs[0].source, "http://a.example/src/")
      assert.strictEqual(jobs.jobs[0].info?.docsWritten, 3)
      assert.strictEqual(jobs.jobs[0].history[0].type, "started")
      assert.strictEqual(server.seen[0].url.search, "?limit=5&skip=1")
      assert.strictEqual(docs.docs[0].state, "failed")
      assert.strictEqual(docs.docs[0].info?.error, "db_not_found")
      assert.strictEqual(docs.docs[1].docId, "fresh")
      assert.isUndefined(docs.docs[1].state)
    }))
})

/** Passwords no message could contain by chance, with the characters URLs, JSON and headers treat specially. */
const password = FastCheck.stringMatching(/^[A-Za-z0-9!#$%&*+,;=~:@/?"\\' \u00e9\u4e2d]{12,30}$/)

const safeDecode = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** Answers that quote the request back in every way a server might. */
const echoes: ReadonlyArray<(seen: Seen) => Response | "reset"> = [
  (seen) => json(404, { error: "db_not_found", reason: `could not open ${seen.body}` }),
  (seen) => json(400, { error: "bad_request", reason: JSON.parse(seen.body) }),
  (seen) => json(401, { error: "unauthorized", reason: safeDecode(seen.body) }),
  (seen) => new Response(`<html><pre>${seen.body}</pre></html>`, { status: 500 }),
  (seen) => json(200, { unexpected: JSON.parse(seen.body) }),
  (seen) => new Response(`not json ${seen.body}`, { status: 200, headers: { "content-type": "application/json" } }),
  (seen) => json(403, { error: "forbidden", reason: Buffer.from(seen.body).toString("base64") }),
  () => "reset"
]

describe("secrets of sources and targets", () => {
  it.effect.prop(
    "a password never appears in an error, its message or its JSON, whatever the server answers",
    [password, FastCheck.constantFrom<ReadonlyArray<Replication.Credentials>>(["auth", "headers", "url"])],
    ([secret, modes]) =>
      Effect.gen(function*() {
        const texts: Array<string> = []
        for (const answer of echoes) {
          for (const credentials of modes) {
            const server = fake(answer)
            const errors = yield* withSession(server, (couch) =>
              Effect.all([
                Effect.flip(couch.replicate(
                  { url: "https://a.example/src", auth: CouchAuth.basic("ops", secret) },
                  `https://ops:${encodeURIComponent(secret)}@b.example/dst`,
                  { credentials }
                )),
                Effect.flip(couch.replicate(
                  { url: "https://a.example/src", auth: CouchAuth.cookie("ops", Redacted.make(secret)) },
                  "b",
                  { continuous: true, credentials }
                )),
                Effect.flip(couch.replicator.create(
                  "nightly",
                  { url: "https://a.example/src", headers: { Authorization: `Basic ${Encoding.encodeBase64(`ops:${secret}`)}` } },
                  { url: "https://b.example/dst", auth: CouchAuth.bearer(secret) },
                  { credentials }
                ))
              ]))
            // the secret did go to the server
            assert.isTrue(server.seen.every((seen) => seen.body.length > 0))
            for (const error of errors) {
              assert.isTrue(CouchError.isCouchError(error))
              texts.push(String(error), error.message, JSON.stringify(error))
            }
          }
        }
        for (const text of texts) {
          assert.notInclude(text, secret)
          assert.notInclude(text, encodeURIComponent(secret))
          assert.notInclude(text, Encoding.encodeBase64(`ops:${secret}`))
        }
      }),
    { fastCheck: { numRuns: 15 } }
  )
})
