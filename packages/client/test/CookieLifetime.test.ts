import { CouchTestServer } from "@effect-couch/testing"
import * as Cookies from "@effect/platform/Cookies"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, layer } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { CouchAuth, CouchSession } from "../src/index.js"
import { TestLive } from "./support.js"

// CouchDB 3's cookie lifetime, in seconds
const timeoutPath = "/_node/_local/_config/chttpd_auth/timeout"
const lifetime = 3

layer(TestLive, { excludeTestServices: true })("cookie lifetime", (it) => {
  it.scoped("a cookie session outlives several short cookie lifetimes: renewed while busy, logged in again after idling", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.cookieTimeoutConfig) return
      const admin = yield* CouchSession.CouchSession
      const before = yield* admin.client.get(timeoutPath)
      const previous = before.status === 200 ? yield* before.text : undefined
      yield* Effect.addFinalizer(() =>
        Effect.ignore(
          previous === undefined ?
            admin.client.del(timeoutPath) :
            admin.client.put(timeoutPath, { body: HttpBody.text(previous, "application/json") })
        )
      )
      const set = yield* admin.client.put(timeoutPath, { body: HttpBody.unsafeJson(String(lifetime)) })
      assert.strictEqual(set.status, 200)

      // a cookie of our own, to show that the server enforces the lifetime
      const http = yield* HttpClient.HttpClient
      const login = yield* http.execute(
        HttpClientRequest.post(`${server.url}/_session`).pipe(
          HttpClientRequest.bodyUnsafeJson({ name: server.admin.username, password: Redacted.value(server.admin.password) })
        )
      )
      const issued = Cookies.get(login.cookies, "AuthSession")
      assert.isTrue(Option.isSome(issued))
      const stale = Option.isSome(issued) ? issued.value : undefined
      // CouchDB 3 makes session cookies persistent, with the configured lifetime
      const maxAge = stale?.options?.maxAge
      assert.strictEqual(maxAge === undefined ? undefined : Math.round(Duration.toSeconds(Duration.decode(maxAge))), lifetime)
      const sessionWith = (cookie: string) =>
        http.execute(
          HttpClientRequest.get(`${server.url}/_session`).pipe(
            HttpClientRequest.acceptJson,
            HttpClientRequest.setHeader("cookie", `AuthSession=${cookie}`)
          )
        ).pipe(Effect.flatMap((response) => response.json), Effect.map((json) => (json as { userCtx: { name: string | null } }).userCtx.name))
      assert.strictEqual(yield* sessionWith(stale?.value ?? ""), server.admin.username)

      let logins = 0
      const couch = yield* CouchSession.make({
        url: server.url,
        auth: CouchAuth.cookie(server.admin.username, server.admin.password),
        transformClient: HttpClient.tapRequest((request) => {
          if (request.method === "POST" && request.url.endsWith("/_session")) logins++
          return Effect.void
        })
      })
      assert.strictEqual(logins, 1)
      // busy for two lifetimes: the server renews the cookie with its answers
      for (let i = 0; i < 2 * lifetime + 1; i++) {
        yield* couch.checkCredentials
        yield* Effect.sleep("1 second")
      }
      // idle for longer than a lifetime: the cookie has lapsed, and the session logs in again before its next request
      yield* Effect.sleep(`${lifetime + 1.5} seconds`)
      assert.isNull(yield* sessionWith(stale?.value ?? ""))
      yield* couch.checkCredentials
      const session = yield* couch.session
      assert.strictEqual(session.userCtx.name, server.admin.username)
      assert.strictEqual(logins, 2)
    }), { timeout: 60_000 })
})
