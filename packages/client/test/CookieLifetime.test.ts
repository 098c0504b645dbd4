import { CouchTestServer } from "@effect-couch/testing"
import * as HttpBody from "@effect/platform/HttpBody"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { CouchAuth, CouchSession } from "../src/index.js"
import { TestLive } from "./support.js"

// CouchDB 3's cookie lifetime, in seconds
const timeoutPath = "/_node/_local/_config/chttpd_auth/timeout"

layer(TestLive, { excludeTestServices: true })("cookie lifetime", (it) => {
  it.scoped("a cookie session outlives several short cookie lifetimes", () =>
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
      const set = yield* admin.client.put(timeoutPath, { body: HttpBody.unsafeJson("4") })
      assert.strictEqual(set.status, 200)
      const couch = yield* CouchSession.make({
        url: server.url,
        auth: CouchAuth.cookie(server.admin.username, server.admin.password)
      })
      // about 12 s: three lifetimes of 4 s
      for (let i = 0; i < 12; i++) {
        yield* couch.checkCredentials
        yield* Effect.sleep("1 second")
      }
      const session = yield* couch.session
      assert.strictEqual(session.userCtx.name, server.admin.username)
    }), { timeout: 60_000 })
})
