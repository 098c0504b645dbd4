import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as TestClock from "effect/TestClock"
import { CouchAuth, CouchError, CouchSession } from "../src/index.js"
import { fakeClient, json, type Seen } from "./fake.js"

/**
 * A fake CouchDB behind a browser: the login's answer sets the cookie in the browser's jar, never readable by the
 * client (a browser hides `Set-Cookie`), and the jar sends it with every request. `revoke` makes the jar's cookie
 * lapse (CouchDB then runs requests as anonymous: `/_session` answers `name: null`, `/_all_dbs` 401). Without
 * `credentials` the jar keeps nothing, as a browser does on a cross-origin request without
 * `credentials: "include"`.
 */
const browser = (options: { readonly credentials?: boolean; readonly refuseLoginsAfter?: number } = {}) => {
  let logins = 0
  let jar: string | undefined
  const fake = fakeClient((seen) => {
    const valid = jar !== undefined
    if (seen.url.pathname === "/_session" && seen.method === "POST") {
      if (options.refuseLoginsAfter !== undefined && logins >= options.refuseLoginsAfter) {
        return json(401, { error: "unauthorized", reason: "Name or password is incorrect." })
      }
      logins++
      if (options.credentials !== false) jar = `c${logins}`
      return json(200, { ok: true, name: "u", roles: [] })
    }
    if (seen.url.pathname === "/_session" && seen.method === "DELETE") {
      jar = undefined
      return json(200, { ok: true })
    }
    if (seen.url.pathname === "/_session") {
      return json(200, { ok: true, userCtx: { name: valid ? "u" : null, roles: [] }, info: {} })
    }
    if (seen.url.pathname === "/_all_dbs") {
      return valid ? json(200, ["a", "b"]) : json(401, { error: "unauthorized", reason: "You are not a server admin." })
    }
    return json(200, { couchdb: "Welcome", version: "3" })
  })
  const trace = () => fake.seen.map((seen: Seen) => `${seen.method} ${seen.url.pathname}`)
  return {
    ...fake,
    trace,
    logins: () => trace().filter((line) => line === "POST /_session").length,
    revoke: () => {
      jar = undefined
    }
  }
}

const session = CouchSession.make({ url: "http://couch.test", auth: CouchAuth.cookie("u", "p"), retry: false })

describe("cookie sessions whose cookie the platform keeps (a browser's jar)", () => {
  it.scoped("log in once, check once that the jar works, and send no Cookie header", () =>
    Effect.gen(function*() {
      const server = browser()
      const couch = yield* Effect.provide(session, server.layer)
      for (let i = 0; i < 5; i++) yield* couch.keys()
      yield* couch.info
      yield* TestClock.adjust("1 hour") // no expiry is known: nothing is renewed ahead
      yield* couch.keys()
      assert.deepStrictEqual(server.trace(), [
        "POST /_session",
        "GET /_session",
        ...Array.from({ length: 5 }, () => "GET /_all_dbs"),
        "GET /",
        "GET /_all_dbs"
      ])
      assert.isTrue(server.seen.every((seen) => seen.headers["cookie"] === undefined))
    }))

  it.scoped("a lapsed cookie: a 401 logs in again and retries once", () =>
    Effect.gen(function*() {
      const server = browser()
      const couch = yield* Effect.provide(session, server.layer)
      server.revoke()
      assert.deepStrictEqual(yield* couch.keys(), ["a", "b"])
      assert.deepStrictEqual(server.trace().slice(2), ["GET /_all_dbs", "POST /_session", "GET /_all_dbs"])
    }))

  it.scoped("a lapsed cookie: an anonymous answer to GET /_session logs in again and asks again", () =>
    Effect.gen(function*() {
      const server = browser()
      const couch = yield* Effect.provide(session, server.layer)
      server.revoke()
      const info = yield* couch.session
      assert.strictEqual(info.userCtx.name, "u")
      yield* couch.checkCredentials
      assert.deepStrictEqual(server.trace().slice(2), ["GET /_session", "POST /_session", "GET /_session", "GET /_session"])
    }))

  it.scoped("when the new login fails, the answer is the server's: no loop", () =>
    Effect.gen(function*() {
      const server = browser({ refuseLoginsAfter: 1 })
      const couch = yield* Effect.provide(session, server.layer)
      server.revoke()
      const keys = yield* Effect.either(couch.keys())
      assert.instanceOf(Either.isLeft(keys) ? keys.left : undefined, CouchError.UnauthorizedError)
      const checked = yield* Effect.either(couch.checkCredentials)
      assert.instanceOf(Either.isLeft(checked) ? checked.left : undefined, CouchError.UnauthorizedError)
      assert.deepStrictEqual(server.trace().slice(2), ["GET /_all_dbs", "POST /_session", "GET /_session", "POST /_session"])
    }))

  it.scoped("many fibers that meet the lapsed cookie at once share one login", () =>
    Effect.gen(function*() {
      const server = browser()
      const couch = yield* Effect.provide(session, server.layer)
      server.revoke()
      yield* Effect.all(Array.from({ length: 20 }, () => couch.keys()), { concurrency: "unbounded" })
      assert.strictEqual(server.logins(), 2)
    }))

  it.effect("a jar that does not send the cookie back fails the session, saying what to configure", () =>
    Effect.gen(function*() {
      const server = browser({ credentials: false })
      const result = yield* Effect.either(Effect.scoped(Effect.provide(session, server.layer)))
      const error = Either.isLeft(result) ? result.left : undefined
      assert.instanceOf(error, CouchError.UnauthorizedError)
      assert.match(error?._tag === "UnauthorizedError" ? error.reason ?? "" : "", /credentials: "include"/)
      assert.match(error?._tag === "UnauthorizedError" ? error.reason ?? "" : "", /\[cors\] credentials = true/)
      assert.deepStrictEqual(server.trace(), ["POST /_session", "GET /_session"])
    }))

  it.effect("closing the session logs out (the server clears the jar's cookie), and logs in no more", () =>
    Effect.gen(function*() {
      const server = browser()
      const couch = yield* Effect.scoped(Effect.provide(session, server.layer))
      assert.deepStrictEqual(server.trace(), ["POST /_session", "GET /_session", "DELETE /_session"])
      const keys = yield* Effect.either(couch.keys())
      assert.instanceOf(Either.isLeft(keys) ? keys.left : undefined, CouchError.UnauthorizedError)
      assert.strictEqual(server.logins(), 1)
    }))
})
