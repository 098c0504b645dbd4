import { CouchTestServer } from "@effect-couch/testing"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { CouchAuth, CouchError, CouchSession } from "../src/index.js"
import { TestLive, throwawayUser } from "./support.js"

const leftOf = <A, E>(effect: Effect.Effect<A, E>) => Effect.flip(effect)

layer(TestLive, { excludeTestServices: true })("a node", (it) => {
  it.scoped("config: set gives the value it replaced, get reads it, delete gives it and then it is gone", () =>
    Effect.gen(function*() {
      const couch = yield* CouchSession.CouchSession
      const node = couch.node()
      // a section and key of the test's own, with characters a path must encode
      const section = `effect couch/${Date.now().toString(36)}`
      const key = "a key?#%"
      yield* Effect.addFinalizer(() => Effect.ignore(node.deleteConfig(section, key)))
      assert.strictEqual(yield* node.setConfig(section, key, "one"), "")
      assert.strictEqual(yield* node.setConfig(section, key, "two", { persist: false }), "one")
      assert.strictEqual(yield* node.getConfig(section, key), "two")
      assert.deepStrictEqual(yield* node.configSection(section), { [key]: "two" })
      assert.strictEqual((yield* node.config)[section]?.[key], "two")
      assert.strictEqual(yield* node.deleteConfig(section, key), "two")
      assert.instanceOf(yield* leftOf(node.getConfig(section, key)), CouchError.NotFoundError)
      assert.instanceOf(yield* leftOf(node.deleteConfig(section, key)), CouchError.NotFoundError)
      assert.deepStrictEqual(yield* node.configSection(section), {})
      // a section every CouchDB has
      const couchdb = yield* node.configSection("couchdb")
      assert.isAbove(Object.keys(couchdb).length, 0)
    }))

  it.scoped("a user who is not a server admin is refused the node's configuration: UnauthorizedError (401, as CouchDB answers)", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const user = yield* throwawayUser("node")
      const session = yield* CouchSession.make({ url: server.url, auth: CouchAuth.basic(user.name, user.password) })
      assert.strictEqual((yield* leftOf(session.node().config))._tag, "UnauthorizedError")
      assert.strictEqual((yield* leftOf(session.node().getConfig("couchdb", "uuid")))._tag, "UnauthorizedError")
      if (server.capabilities.nodeStats) assert.strictEqual((yield* leftOf(session.node().versions))._tag, "UnauthorizedError")
    }))

  it.scoped("statistics, system figures, Prometheus metrics and versions (CouchDB 3.x)", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.nodeStats) return
      const couch = yield* CouchSession.CouchSession
      const node = couch.node()
      yield* couch.info
      const requestTime = yield* node.stats(["couchdb", "request_time"])
      assert.isObject(requestTime)
      assert.strictEqual((requestTime as { type?: unknown }).type, "histogram")
      const all = yield* node.stats()
      assert.isObject((all as Record<string, unknown>)["couchdb"])
      const system = yield* node.system
      assert.isNumber(system["uptime"])
      assert.match(yield* node.prometheus, /^# (HELP|TYPE) couchdb_/m)
      const versions = yield* node.versions
      assert.isString(versions.erlang?.version)
      const smoosh = yield* node.smooshStatus
      assert.isObject((smoosh as { channels?: unknown }).channels)
      // a node that is not in the cluster
      assert.instanceOf(yield* leftOf(couch.node("nobody@nowhere").versions), CouchError.NotFoundError)
    }))
})
