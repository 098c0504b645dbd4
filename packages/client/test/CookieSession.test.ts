import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as TestClock from "effect/TestClock"
import { CouchAuth, CouchError, CouchSession } from "../src/index.js"
import { fakeClient, json, type Seen } from "./fake.js"

/**
 * A fake CouchDB with cookie sessions: each login issues a new cookie (`c1`, `c2`, ...) with `Max-Age` 10 s;
 * revoked cookies are answered 401; a request to `/rotate` answers with a fresh cookie in `Set-Cookie`.
 */
const cookieServer = (options: { readonly refuseLoginsAfter?: number } = {}) => {
  let issued = 0
  const revoked = new Set<string>()
  const cookieOf = (seen: Seen) => /AuthSession=([^;]+)/.exec(seen.headers["cookie"] ?? "")?.[1]
  const fake = fakeClient((seen) => {
    if (seen.url.pathname === "/_session" && seen.method === "POST") {
      if (options.refuseLoginsAfter !== undefined && issued >= options.refuseLoginsAfter) {
        return json(401, { error: "unauthorized", reason: "Name or password is incorrect." })
      }
      issued++
      return json(200, { ok: true }, { "set-cookie": `AuthSession=c${issued}; Version=1; Path=/; HttpOnly; Max-Age=10` })
    }
    if (seen.url.pathname === "/_session" && seen.method === "DELETE") return json(200, { ok: true })
    const cookie = cookieOf(seen)
    if (cookie === undefined || revoked.has(cookie)) return json(401, { error: "unauthorized", reason: "no session" })
    if (seen.url.pathname === "/rotate") {
      issued++
      return json(200, { couchdb: "Welcome", version: "3" }, { "set-cookie": `AuthSession=c${issued}; Path=/; Max-Age=10` })
    }
    return json(200, { couchdb: "Welcome", version: "3" })
  })
  const trace = () =>
    fake.seen.map((seen) => `${seen.method} ${seen.url.pathname} ${cookieOf(seen) ?? "-"}`)
  return { ...fake, revoke: (cookie: string) => revoked.add(cookie), trace }
}

const session = CouchSession.make({ url: "http://couch.test", auth: CouchAuth.cookie("u", "p"), retry: false })

describe("cookie sessions renew themselves", () => {
  it.scoped("a cookie past its Max-Age is renewed before the next request", () =>
    Effect.gen(function*() {
      const server = cookieServer()
      const couch = yield* Effect.provide(session, server.layer)
      yield* couch.info
      yield* TestClock.adjust("8 seconds")
      yield* couch.info
      yield* TestClock.adjust("1 second") // a 10 s lifetime is renewed at 90%
      yield* couch.info
      assert.deepStrictEqual(server.trace(), [
        "POST /_session -",
        "GET / c1",
        "GET / c1",
        "POST /_session c1",
        "GET / c2"
      ])
    }))

  it.scoped("a 401 to a request that carried a cookie logs in again and retries once", () =>
    Effect.gen(function*() {
      const server = cookieServer()
      const couch = yield* Effect.provide(session, server.layer)
      server.revoke("c1")
      const info = yield* couch.info
      assert.strictEqual(info.version, "3")
      assert.deepStrictEqual(server.trace(), ["POST /_session -", "GET / c1", "POST /_session c1", "GET / c2"])
    }))

  it.scoped("when the new login fails too, the 401 is the answer: no loop", () =>
    Effect.gen(function*() {
      const server = cookieServer({ refuseLoginsAfter: 1 })
      const couch = yield* Effect.provide(session, server.layer)
      server.revoke("c1")
      const result = yield* Effect.either(couch.info)
      assert.instanceOf(Either.isLeft(result) ? result.left : undefined, CouchError.UnauthorizedError)
      assert.deepStrictEqual(server.trace(), ["POST /_session -", "GET / c1", "POST /_session c1"])
    }))

  it.scoped("many fibers that find the cookie expired share one login", () =>
    Effect.gen(function*() {
      const server = cookieServer()
      const couch = yield* Effect.provide(session, server.layer)
      yield* TestClock.adjust("9 seconds")
      yield* Effect.all(Array.from({ length: 20 }, () => couch.info), { concurrency: "unbounded" })
      assert.strictEqual(server.trace().filter((line) => line.startsWith("POST /_session")).length, 2)
      assert.isTrue(server.trace().slice(2).filter((line) => line.startsWith("GET")).every((line) => line.endsWith("c2")))
    }))

  it.scoped("every fresh cookie the server sets replaces the stored one", () =>
    Effect.gen(function*() {
      const server = cookieServer()
      const couch = yield* Effect.provide(session, server.layer)
      yield* couch.client.get("/rotate")
      yield* couch.info
      assert.deepStrictEqual(server.trace(), ["POST /_session -", "GET /rotate c1", "GET / c2"])
    }))
})
