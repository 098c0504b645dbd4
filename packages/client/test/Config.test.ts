import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { CouchSession } from "../src/index.js"
import { fakeClient, json } from "./fake.js"

const withEnv = (env: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("configuration from the environment", () => {
  it.effect("COUCHDB_URL, COUCHDB_USER and COUCHDB_PASSWORD give basic auth with a redacted password", () =>
    Effect.gen(function*() {
      const options = yield* CouchSession.config.pipe(
        withEnv({ COUCHDB_URL: "http://db.test:5984", COUCHDB_USER: "admin", COUCHDB_PASSWORD: "hunter2" })
      )
      assert.strictEqual(options.url, "http://db.test:5984")
      assert.strictEqual(options.auth?._tag, "Basic")
      if (options.auth?._tag !== "Basic") return
      assert.strictEqual(options.auth.username, "admin")
      assert.strictEqual(Redacted.value(options.auth.password), "hunter2")
      assert.notInclude(String(options.auth.password), "hunter2")
    }))

  it.effect("COUCHDB_AUTH=cookie asks for a cookie session; no user means anonymous", () =>
    Effect.gen(function*() {
      const cookie = yield* CouchSession.config.pipe(
        withEnv({ COUCHDB_URL: "http://db.test", COUCHDB_USER: "u", COUCHDB_PASSWORD: "p", COUCHDB_AUTH: "cookie" })
      )
      assert.strictEqual(cookie.auth?._tag, "Cookie")
      const anonymous = yield* CouchSession.config.pipe(withEnv({ COUCHDB_URL: "http://db.test" }))
      assert.isUndefined(anonymous.auth)
    }))

  it.effect("layerConfig builds a session from the environment", () =>
    Effect.gen(function*() {
      const fake = fakeClient(() => json(200, { couchdb: "Welcome", version: "3.4.2" }))
      const info = yield* Effect.flatMap(CouchSession.CouchSession, (couch) => couch.info).pipe(
        Effect.provide(CouchSession.layerConfig().pipe(Layer.provide(fake.layer))),
        withEnv({ COUCHDB_URL: "http://db.test:5984", COUCHDB_USER: "admin", COUCHDB_PASSWORD: "pw" })
      )
      assert.strictEqual(info.version, "3.4.2")
      assert.strictEqual(fake.seen[0].url.href, "http://db.test:5984/")
      assert.match(fake.seen[0].headers["authorization"] ?? "", /^Basic /)
    }))
})
