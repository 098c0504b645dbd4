import { assert, describe, it } from "@effect/vitest"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { CouchAuth, CouchError, CouchSession } from "../src/index.js"
import { type Answer, fakeClient, json } from "./fake.js"

const withServer = (answer: () => Answer) => {
  const fake = fakeClient(answer)
  const run = <A, E>(f: (session: CouchSession.Service) => Effect.Effect<A, E>) =>
    Effect.scoped(Effect.flatMap(CouchSession.make({ url: "http://couch.test:5984", retry: false }), f)).pipe(
      Effect.provide(fake.layer),
      Effect.either
    )
  return { run, seen: fake.seen }
}

describe("status mapping", () => {
  it.effect("a CouchDB error body gives the declared error with error, reason and request id", () =>
    Effect.gen(function*() {
      const { run } = withServer(() =>
        json(412, { error: "file_exists", reason: "The database could not be created." }, {
          "x-couch-request-id": "abc123"
        })
      )
      const result = yield* run((couch) => couch.create("taken"))
      assert.isTrue(Either.isLeft(result))
      const error = Either.getLeft(result).pipe((o) => o._tag === "Some" ? o.value : undefined)
      assert.instanceOf(error, CouchError.PreconditionFailedError)
      if (!(error instanceof CouchError.PreconditionFailedError)) return
      assert.strictEqual(error.status, 412)
      assert.strictEqual(error.error, "file_exists")
      assert.strictEqual(error.reason, "The database could not be created.")
      assert.strictEqual(error.requestId, "abc123")
      assert.strictEqual(error.method, "PUT")
      assert.strictEqual(error.url, "http://couch.test:5984/taken")
      assert.isTrue(CouchError.isCouchError(error))
      assert.include(error.message, "file_exists")
    }))

  it.effect("an HTML 502 page from a proxy is a ServerError", () =>
    Effect.gen(function*() {
      const { run } = withServer(() =>
        new Response("<html><body>Bad Gateway</body></html>", { status: 502, headers: { "content-type": "text/html" } })
      )
      const result = yield* run((couch) => couch.info)
      const error = Either.isLeft(result) ? result.left : undefined
      assert.instanceOf(error, CouchError.ServerError)
      assert.strictEqual(error?.status, 502)
      assert.isUndefined(error?.error)
    }))

  it.effect("an empty 404 body is still a NotFoundError", () =>
    Effect.gen(function*() {
      const { run } = withServer(() => new Response(null, { status: 404 }))
      const result = yield* run((couch) => couch.database("nope"))
      const error = Either.isLeft(result) ? result.left : undefined
      assert.instanceOf(error, CouchError.NotFoundError)
    }))

  it.effect("a user locked out after failed logins (403 on every route, CouchDB 3.4+) is ForbiddenError everywhere", () =>
    Effect.gen(function*() {
      const lockedOut = {
        error: "forbidden",
        reason: "Account is temporarily locked due to multiple authentication failures"
      }
      const fake = fakeClient(() => json(403, lockedOut))
      const errors = yield* Effect.scoped(Effect.gen(function*() {
        const couch = yield* CouchSession.make({
          url: "http://couch.test:5984",
          auth: CouchAuth.basic("locked", "Right-Password-9"),
          retry: false
        })
        const db = yield* couch.use("orders")
        const operations: ReadonlyArray<Effect.Effect<unknown, CouchError.CouchError>> = [
          couch.info,
          couch.session,
          couch.checkCredentials,
          couch.up,
          couch.uuids(2),
          couch.keys(),
          couch.activeTasks,
          db.info,
          db.get("x"),
          db.head("x")
        ]
        return yield* Effect.all(operations.map((operation) => Effect.flip(operation)))
      })).pipe(Effect.provide(fake.layer))
      for (const [i, error] of errors.entries()) {
        assert.instanceOf(error, CouchError.ForbiddenError)
        // a HEAD answer has no body to give the reason
        if (i < errors.length - 1) assert.strictEqual(error._tag === "ForbiddenError" ? error.reason : "", lockedOut.reason)
      }
    }))

  it.effect("a status the endpoint cannot produce is a ResponseDecodeError", () =>
    Effect.gen(function*() {
      const { run } = withServer(() => json(409, { error: "conflict", reason: "?" }))
      const result = yield* run((couch) => couch.info)
      const error = Either.isLeft(result) ? result.left : undefined
      assert.instanceOf(error, CouchError.ResponseDecodeError)
      assert.strictEqual(error?._tag === "ResponseDecodeError" ? error.status : 0, 409)
    }))

  it.effect("a 200 whose body is not JSON is a ResponseDecodeError", () =>
    Effect.gen(function*() {
      const { run } = withServer(() => new Response("{\"couchdb\":\"Welc", { status: 200 }))
      const result = yield* run((couch) => couch.info)
      const error = Either.isLeft(result) ? result.left : undefined
      assert.instanceOf(error, CouchError.ResponseDecodeError)
    }))

  it.effect("a 200 whose body does not match the schema is a ResponseDecodeError naming the field", () =>
    Effect.gen(function*() {
      const { run } = withServer(() => json(200, { couchdb: "Welcome", version: 3 }))
      const result = yield* run((couch) => couch.info)
      const error = Either.isLeft(result) ? result.left : undefined
      assert.instanceOf(error, CouchError.ResponseDecodeError)
      assert.include(error?.message, "version")
    }))

  it.effect("a connection failure is a TransportError", () =>
    Effect.gen(function*() {
      const { run } = withServer(() => "reset")
      const result = yield* run((couch) => couch.info)
      const error = Either.isLeft(result) ? result.left : undefined
      assert.instanceOf(error, CouchError.TransportError)
      assert.strictEqual(error?._tag === "TransportError" ? error.reason : "", "connection")
    }))

  it.live("a request that outlives the timeout is a TransportError with reason timeout", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() => json(200, { couchdb: "Welcome", version: "3.4.2" }))
      const result = yield* Effect.scoped(
        Effect.flatMap(
          CouchSession.make({
            url: "http://couch.test:5984",
            timeout: "10 millis",
            transformClient: HttpClient.transformResponse(Effect.delay("2 seconds"))
          }),
          (couch) => couch.info
        )
      ).pipe(Effect.provide(fake.layer), Effect.either)
      const error = Either.isLeft(result) ? result.left : undefined
      assert.strictEqual(error?._tag === "TransportError" ? error.reason : "", "timeout")
    }))
})

describe("answers CouchDB does not send", () => {
  const decodeErrorOf = (answer: () => Response) =>
    Effect.gen(function*() {
      const { run } = withServer(answer)
      const result = yield* run((couch) => couch.info)
      return Either.isLeft(result) ? result.left : undefined
    })

  it.effect("an HTML page with status 200 is a ResponseDecodeError", () =>
    Effect.map(
      decodeErrorOf(() => new Response("<html>hello</html>", { status: 200, headers: { "content-type": "text/html" } })),
      (error) => assert.instanceOf(error, CouchError.ResponseDecodeError)
    ))

  it.effect("an empty 200 body is a ResponseDecodeError", () =>
    Effect.map(
      decodeErrorOf(() => new Response("", { status: 200 })),
      (error) => assert.instanceOf(error, CouchError.ResponseDecodeError)
    ))

  it.effect("truncated JSON is a ResponseDecodeError", () =>
    Effect.map(
      decodeErrorOf(() => new Response("{\"couchdb\":\"Welcome\",\"version\":\"3.", { status: 200 })),
      (error) => assert.instanceOf(error, CouchError.ResponseDecodeError)
    ))

  it.effect("a JSON body under a wrong content type is still read", () =>
    Effect.gen(function*() {
      const { run } = withServer(() =>
        new Response(JSON.stringify({ couchdb: "Welcome", version: "3.4.2" }), { headers: { "content-type": "text/plain" } })
      )
      const result = yield* run((couch) => couch.info)
      assert.isTrue(Either.isRight(result))
    }))

  it.effect("a huge error page is read only in part and still gives the error of its status", () =>
    Effect.gen(function*() {
      let pulled = 0
      const chunk = new TextEncoder().encode("<p>" + "x".repeat(16_380) + "</p>")
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled++
          if (pulled > 10_000) controller.close()
          else controller.enqueue(chunk)
        }
      })
      const error = yield* decodeErrorOf(() => new Response(body, { status: 500 }))
      assert.instanceOf(error, CouchError.ServerError)
      assert.isBelow(pulled, 100) // 160 MiB on offer; the client stopped after about 64 KiB
    }))
})

describe("credentials", () => {
  it.effect("credentials in the URL become basic auth and leave the URL", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() => json(404, { error: "not_found", reason: "missing" }))
      const result = yield* Effect.scoped(
        Effect.flatMap(
          CouchSession.make({ url: "http://ad%40min:s3cr%3At@couch.test:5984/prefix/" }),
          (couch) => couch.database("db")
        )
      ).pipe(Effect.provide(fake.layer), Effect.either)
      const error = Either.isLeft(result) ? result.left : undefined
      assert.instanceOf(error, CouchError.NotFoundError)
      assert.strictEqual(error?._tag === "NotFoundError" ? error.url : "", "http://couch.test:5984/prefix/db")
      assert.strictEqual(fake.seen[0].url.href, "http://couch.test:5984/prefix/db")
      assert.strictEqual(
        fake.seen[0].headers["authorization"],
        `Basic ${Buffer.from("ad@min:s3cr:t").toString("base64")}`
      )
      assert.notInclude(String(error), "s3cr")
    }))

  it.effect("credentials in the URL and an auth option too are refused, whichever the auth, before any request", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() => json(200, {}))
      for (const auth of [CouchAuth.none, CouchAuth.basic("other", "pw"), CouchAuth.cookie("other", "pw")]) {
        const result = yield* Effect.scoped(
          CouchSession.make({ url: "http://admin:s3cr3t-in-url@couch.test:5984", auth })
        ).pipe(Effect.provide(fake.layer), Effect.either)
        const error = Either.isLeft(result) ? result.left : undefined
        assert.instanceOf(error, CouchError.InvalidArgumentError)
        assert.notInclude(String(error), "s3cr3t-in-url")
      }
      assert.strictEqual(fake.seen.length, 0)
    }))

  it.effect("an invalid URL is refused without echoing it", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() => json(200, {}))
      const result = yield* Effect.scoped(CouchSession.make({ url: "http//user:hunter2@" })).pipe(
        Effect.provide(fake.layer),
        Effect.either
      )
      const error = Either.isLeft(result) ? result.left : undefined
      assert.instanceOf(error, CouchError.InvalidArgumentError)
      assert.notInclude(error?.message, "hunter2")
      assert.strictEqual(fake.seen.length, 0)
    }))

  it.effect("a bearer token is sent as a header", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() => json(200, { couchdb: "Welcome", version: "3.4.2" }))
      yield* Effect.scoped(
        Effect.flatMap(
          CouchSession.make({ url: "http://couch.test", auth: CouchAuth.bearer(Redacted.make("tok")) }),
          (couch) => couch.info
        )
      ).pipe(Effect.provide(fake.layer))
      assert.strictEqual(fake.seen[0].headers["authorization"], "Bearer tok")
      assert.strictEqual(fake.seen[0].headers["accept"], "application/json")
    }))
})
