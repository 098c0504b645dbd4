/**
 * The properties a client must keep on a real cluster, through several of its nodes: run only when
 * `COUCHDB_NODE_URLS` lists the nodes of the cluster at `COUCHDB_URL` (packages/testing/README.md, "A cluster").
 * Each writer is a session of its own, so that the writers share nothing but the server: what one process's
 * writers get from taking turns (`modify` in one session) does not hide anything here.
 */
import { CouchTestServer } from "@effect-couch/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { CouchAuth, CouchSession } from "../src/index.js"
import { eventually, testDatabase, TestLive } from "./support.js"

/** A session of its own to one node of the cluster, as the admin. */
const sessionTo = (node: string) =>
  Effect.flatMap(CouchTestServer.CouchTestServer, (server) =>
    CouchSession.make({ url: node, auth: CouchAuth.basic(server.admin.username, server.admin.password) }))

/** `count` writers, each a session of its own through node `i mod nodes`, all run at once. */
const writers = <A, E, R>(count: number, write: (session: CouchSession.Service, i: number) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(CouchTestServer.CouchTestServer, (server) =>
    Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => Effect.flatMap(sessionTo(server.nodes[i % server.nodes.length]!), (session) => write(session, i)),
      { concurrency: "unbounded" }
    ))

const Live = Layer.merge(TestLive, NodeHttpClient.layerUndici)

describe.runIf(process.env["COUCHDB_NODE_URLS"] !== undefined)("a cluster, through several nodes", () => {
  layer(Live, { excludeTestServices: true })("properties", (it) => {
    it.scoped("the server under test is a cluster of the nodes COUCHDB_NODE_URLS lists", () =>
      Effect.gen(function*() {
        const server = yield* CouchTestServer.CouchTestServer
        assert.isTrue(server.capabilities.cluster)
        assert.isAtLeast(server.nodes.length, 2)
        for (const node of server.nodes) {
          const session = yield* sessionTo(node)
          const membership = yield* session.membership
          assert.isAtLeast(membership.clusterNodes.length, server.nodes.length)
        }
      }))

    it.scoped("concurrent modify calls from separate sessions through every node: every change lands once, no conflict left", () =>
      Effect.gen(function*() {
        const db = yield* testDatabase("cmodify")
        yield* db.put({ _id: "log", entries: [] })
        const count = 9
        yield* writers(count, (session, i) =>
          Effect.flatMap(session.use(db.name), (mine) =>
            // distinct changes: each writer adds its own entry (writers of the same body from one revision would
            // write the same revision id: see the README's Clusters section)
            mine.modify("log", (doc) => ({ ...doc, entries: [...(doc.entries as Array<number>), i] }))))
        const log = yield* db.get("log", { conflicts: true, r: 3 })
        assert.deepStrictEqual([...(log.entries as Array<number>)].sort((a, b) => a - b), Array.from({ length: count }, (_, i) => i))
        assert.isUndefined(log._conflicts)
      }))

    it.scoped("concurrent ensureView calls from separate sessions with different views: every view is there, no conflict left", () =>
      Effect.gen(function*() {
        const db = yield* testDatabase("censure")
        const count = 6
        yield* writers(count, (session, i) =>
          Effect.flatMap(session.use(db.name), (mine) =>
            mine.ensureView("shared", `v${i}`, { map: `function (doc) { emit(doc._id, ${i}) }` })))
        const design = yield* db.get("_design/shared", { conflicts: true, r: 3 })
        assert.deepStrictEqual(
          Object.keys(design.views as object).sort(),
          Array.from({ length: count }, (_, i) => `v${i}`).sort()
        )
        assert.isUndefined(design._conflicts)
      }))

    it.scoped("a follower sees every document written through all the nodes at least once", () =>
      Effect.gen(function*() {
        const db = yield* testDatabase("cfollow")
        const follower = yield* db.follow({ heartbeat: "500 millis" })
        const total = 60
        const seen = new Set<string>()
        const consumer = yield* follower.changes.pipe(
          Stream.tap((change) => Effect.sync(() => seen.add(change.id))),
          Stream.takeUntil(() => seen.size >= total),
          Stream.runDrain,
          Effect.fork
        )
        yield* writers(3, (session, node) =>
          Effect.flatMap(session.use(db.name), (mine) =>
            Effect.forEach(
              Array.from({ length: total / 3 }, (_, k) => `n${node}-${k}`),
              (id) => mine.put({ _id: id, node }),
              { concurrency: 4 }
            )))
        yield* Fiber.join(consumer).pipe(Effect.timeout("60 seconds"))
        assert.strictEqual(seen.size, total)
      }))

    it.scoped("bulkWrite of 10,000 documents through one node; read through another with r=3: every one is there", () =>
      Effect.gen(function*() {
        const server = yield* CouchTestServer.CouchTestServer
        const db = yield* testDatabase("cbulk")
        const total = 10_000
        const results = yield* db.bulkWrite(
          Stream.range(0, total - 1).pipe(Stream.map((i) => ({ _id: `d${String(i).padStart(5, "0")}`, i }))),
          { batchSize: 1000, concurrency: 4 }
        ).pipe(Stream.runCollect)
        assert.strictEqual(results.length, total)
        assert.isTrue([...results].every(Either.isRight))
        const other = yield* sessionTo(server.nodes[1]!)
        const there = yield* other.use(db.name)
        // every document read with r=3 (every copy answers), in batches of 1,000
        let found = 0
        for (let start = 0; start < total; start += 1000) {
          const requests = Array.from({ length: 1000 }, (_, k) => ({ id: `d${String(start + k).padStart(5, "0")}` }))
          const answers = yield* there.bulkGet(requests, { r: 3 })
          for (const answer of answers) {
            if (answer.docs.length === 1 && Either.isRight(answer.docs[0]!)) found++
          }
        }
        assert.strictEqual(found, total)
        // and the count, which a cluster's info reaches once every shard copy has the writes
        const info = yield* eventually(there.info, (info) => info.docCount === total)
        assert.strictEqual(info.docCount, total)
      }), { timeout: 120_000 })
  })
})
