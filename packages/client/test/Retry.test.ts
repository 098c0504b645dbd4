import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { CouchError, CouchSession } from "../src/index.js"
import { type Answer, fakeClient, json, type Seen } from "./fake.js"

/** A fake server that answers the n-th request with `answers[n]` (the last one repeats). */
const scripted = (...answers: ReadonlyArray<Answer | ((seen: Seen) => Answer)>) => {
  const fake = fakeClient((seen) => {
    const answer = answers[Math.min(fake.seen.length - 1, answers.length - 1)]
    return typeof answer === "function" ? answer(seen) : answer
  })
  return fake
}

const withSession = <A, E>(
  fake: ReturnType<typeof fakeClient>,
  f: (couch: CouchSession.Service) => Effect.Effect<A, E>,
  options: Partial<CouchSession.Options> = {}
) =>
  Effect.scoped(Effect.flatMap(CouchSession.make({ url: "http://couch.test", ...options }), f)).pipe(
    Effect.provide(fake.layer),
    Effect.either
  )

const unavailable = () => json(503, { error: "service_unavailable", reason: "busy" })
const ok = { couchdb: "Welcome", version: "3.4.2" }

describe("retries", () => {
  it.effect("an idempotent request is retried on 503, 502 and resets, then succeeds", () =>
    Effect.gen(function*() {
      const fake = scripted(unavailable, json(502, {}), "reset", json(200, ok))
      const fiber = yield* Effect.fork(withSession(fake, (couch) => couch.info))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.isTrue(Either.isRight(result))
      assert.strictEqual(fake.seen.length, 4)
    }))

  it.effect("retries stop after the schedule: the last failure is the error", () =>
    Effect.gen(function*() {
      const fake = scripted(unavailable)
      const fiber = yield* Effect.fork(withSession(fake, (couch) => couch.info))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.instanceOf(Either.isLeft(result) ? result.left : undefined, CouchError.ServerError)
      assert.strictEqual(fake.seen.length, 4) // one try and three retries
    }))

  for (const status of [400, 401, 403, 404, 409, 412, 500]) {
    it.effect(status === 500 ? "status 500 is retried" : `status ${status} is not retried`, () =>
      Effect.gen(function*() {
        const fake = scripted(json(status, { error: "x", reason: "y" }), json(200, ok))
        const fiber = yield* Effect.fork(withSession(fake, (couch) => couch.database("db")))
        yield* TestClock.adjust("1 minute")
        yield* Fiber.join(fiber)
        assert.strictEqual(fake.seen.length, status === 500 ? 2 : 1)
      }))
  }

  it.effect("POST /{db} and _bulk_docs are never retried", () =>
    Effect.gen(function*() {
      const fake = scripted(unavailable)
      const fiber = yield* Effect.fork(withSession(fake, (couch) =>
        Effect.flatMap(couch.use("db"), (db) =>
          Effect.all([Effect.either(db.post({ a: 1 })), Effect.either(db.bulkDocs([{ _id: "a" }]))]))))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(fake.seen.map((seen) => `${seen.method} ${seen.url.pathname}`), [
        "POST /db",
        "POST /db/_bulk_docs"
      ])
    }))

  it.effect("a PUT without a revision is not retried; one with its revision, and a read-only POST, are", () =>
    Effect.gen(function*() {
      const fake = scripted((seen) =>
        fake.seen.filter((s) => s.method === seen.method && s.url.pathname === seen.url.pathname).length === 1 ?
          unavailable() :
          seen.url.pathname.endsWith("_find") ?
          json(200, { docs: [] }) :
          json(201, { ok: true, id: "a", rev: "2-b" })
      )
      const fiber = yield* Effect.fork(withSession(fake, (couch) =>
        Effect.flatMap(couch.use("db"), (db) =>
          Effect.all([
            Effect.either(db.put({ _id: "new" })),
            Effect.either(db.put({ _id: "a", _rev: "1-a" })),
            Effect.either(db.find({ selector: {} }))
          ]))))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(fake.seen.map((seen) => `${seen.method} ${seen.url.pathname}`), [
        "PUT /db/new",
        "PUT /db/a",
        "PUT /db/a",
        "POST /db/_find",
        "POST /db/_find"
      ])
    }))

  it.effect("Retry-After is honoured", () =>
    Effect.gen(function*() {
      const fake = scripted(json(429, { error: "too_many_requests" }, { "retry-after": "5" }), json(200, ok))
      const fiber = yield* Effect.fork(withSession(fake, (couch) => couch.info))
      yield* TestClock.adjust("4 seconds")
      assert.strictEqual(fake.seen.length, 1)
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(fiber)
      assert.isTrue(Either.isRight(result))
      assert.strictEqual(fake.seen.length, 2)
    }))

  it.effect("Retry-After as an HTTP date is read against the Clock (the TestClock here)", () =>
    Effect.gen(function*() {
      // the TestClock stands at 1 January 2030, 00:00:00 UTC; the server asks for 00:00:07
      yield* TestClock.setTime(Date.UTC(2030, 0, 1, 0, 0, 0))
      const retryAt = new Date(Date.UTC(2030, 0, 1, 0, 0, 7)).toUTCString()
      const fake = scripted(json(503, { error: "service_unavailable" }, { "retry-after": retryAt }), json(200, ok))
      const fiber = yield* Effect.fork(withSession(fake, (couch) => couch.info))
      yield* TestClock.adjust("6 seconds")
      assert.strictEqual(fake.seen.length, 1)
      yield* TestClock.adjust("2 seconds")
      const result = yield* Fiber.join(fiber)
      assert.isTrue(Either.isRight(result))
      assert.strictEqual(fake.seen.length, 2)
    }))

  it.effect("retry: false never retries", () =>
    Effect.gen(function*() {
      const fake = scripted(unavailable, json(200, ok))
      const result = yield* withSession(fake, (couch) => couch.info, { retry: false })
      assert.instanceOf(Either.isLeft(result) ? result.left : undefined, CouchError.ServerError)
      assert.strictEqual(fake.seen.length, 1)
    }))
})
