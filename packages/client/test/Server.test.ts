import { CouchTestServer } from "@effect-couch/testing"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import { CouchAuth, CouchError, CouchSession } from "../src/index.js"
import { TestLive, testDatabase } from "./support.js"

layer(TestLive, { excludeTestServices: true })("server operations", (it) => {
  it.effect("uuids gives as many distinct ids as asked", () =>
    Effect.gen(function*() {
      const couch = yield* CouchSession.CouchSession
      const uuids = yield* couch.uuids(5)
      assert.strictEqual(uuids.length, 5)
      assert.strictEqual(new Set(uuids).size, 5)
      const server = yield* CouchTestServer.CouchTestServer
      if (server.capabilities.uuidsHex) assert.isTrue(uuids.every((uuid) => /^[0-9a-f]{32}$/.test(uuid)))
    }))

  it.effect("up succeeds on a running server", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.up) return
      const couch = yield* CouchSession.CouchSession
      yield* couch.up
    }))

  it.effect("activeTasks lists the running tasks", () =>
    Effect.gen(function*() {
      const couch = yield* CouchSession.CouchSession
      const tasks = yield* couch.activeTasks
      assert.isArray(tasks)
      assert.isTrue(tasks.every((task) => typeof task.type === "string"))
    }))

  it.effect("membership names the nodes", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const couch = yield* CouchSession.CouchSession
      const result = yield* Effect.either(couch.membership)
      if (server.kind === "couchdb") {
        assert.isTrue(Either.isRight(result) && result.right.allNodes.length >= 1)
      } else {
        assert.isTrue(Either.isRight(result) || result.left._tag === "NotFoundError")
      }
    }))

  it.scoped("allDbsInfo gives each database's info, by range or by keys", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.dbsInfo) return
      const couch = yield* CouchSession.CouchSession
      const db = yield* testDatabase()
      yield* db.put({ _id: "x" })
      const byKeys = yield* couch.allDbsInfo({ keys: [db.name, "no-such-db"] })
      assert.strictEqual(byKeys[0].key, db.name)
      assert.strictEqual(byKeys[0].info?.docCount, 1)
      assert.isDefined(byKeys[1].error)
      const byRange = yield* couch.allDbsInfo({ startkey: db.name, endkey: db.name })
      assert.deepStrictEqual(byRange.map((entry) => entry.key), [db.name])
    }))

  it.scoped("users are created, updated and deleted in _users", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const couch = yield* CouchSession.CouchSession
      const name = `user-${Date.now()}-${Math.floor(Math.random() * 1e6)}`
      // on a cluster each node's authentication cache learns of a user change a moment later; polling would be
      // failed logins, which count towards CouchDB's lockout: wait instead
      const settle = server.capabilities.cluster ? Effect.sleep("2 seconds") : Effect.void
      yield* couch.createUser({ name, password: "first-password", roles: ["reader"] })
      yield* settle
      const asUser = (password: string) =>
        Effect.flatMap(
          CouchSession.make({ url: server.url, auth: CouchAuth.basic(name, password) }),
          (session) => session.session
        )
      /**
       * The failure of a login that the server should refuse now. CouchDB's authentication cache learns of a change
       * to `_users` from its changes feed, a moment later even on a single node (a loaded CouchDB 3.5.2 took a
       * login with a deleted user's password once): a login that still succeeds is tried again, which counts no
       * failed attempt towards the lockout; only the refusal does.
       */
      const refused = (password: string) =>
        asUser(password).pipe(Effect.flip, Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 50 }), Effect.either)
      const session = yield* asUser("first-password")
      assert.strictEqual(session.userCtx.name, name)
      assert.deepStrictEqual(session.userCtx.roles, ["reader"])
      yield* couch.updateUser(name, { password: "second-password", roles: ["writer"] })
      yield* settle
      // the old password refused first: until then the cache may still hold the old one, and refuse the new
      // (a CouchDB 3.5.2 did once, over @effect-couch/node's transport); after it, the new one is read from _users
      const old = yield* refused("first-password")
      assert.instanceOf(Either.isRight(old) ? old.right : undefined, CouchError.UnauthorizedError)
      assert.deepStrictEqual((yield* asUser("second-password")).userCtx.roles, ["writer"])
      yield* couch.deleteUser(name)
      yield* settle
      const gone = yield* refused("second-password")
      assert.instanceOf(Either.isRight(gone) ? gone.right : undefined, CouchError.UnauthorizedError)
      const again = yield* Effect.either(couch.deleteUser(name))
      assert.instanceOf(Either.isLeft(again) ? again.left : undefined, CouchError.NotFoundError)
    }))
})
