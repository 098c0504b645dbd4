import { CouchTestServer } from "@effect-couch/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { CouchAuth, CouchCluster, CouchError, CouchSession } from "../src/index.js"
import { TestLive, throwawayUser } from "./support.js"

const leftOf = <A, E>(effect: Effect.Effect<A, E>) => Effect.flip(effect)

layer(TestLive, { excludeTestServices: true, timeout: 120_000 })("_cluster_setup", (it) => {
  it.scoped("the state: a single node set up alone, or a finished cluster; with ensure_dbs_exist too", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const couch = yield* CouchSession.CouchSession
      const state = yield* couch.cluster.setupState()
      if (!server.capabilities.clusterSetup) {
        // express-pouchdb answers every GET 201 cluster_disabled, to anyone, and has no actions
        assert.strictEqual(state.state, "cluster_disabled")
        assert.instanceOf(yield* leftOf(couch.cluster.finishCluster()), CouchError.NotFoundError)
        return
      }
      // the 5984 node has [couchdb] single_node = true; a cluster says where its setup stands (the loopback 3-node
      // cluster here, formed by hand and finished, says cluster_disabled: its nodes listen on 127.0.0.1)
      if (server.capabilities.cluster) assert.match(state.state, /^cluster_(disabled|enabled|finished)$/)
      else assert.strictEqual(state.state, "single_node_enabled")
      const withDbs = yield* couch.cluster.setupState({ ensureDbsExist: ["_users", "_replicator"] })
      assert.strictEqual(withDbs.state, state.state)
    }))

  it.scoped("a user who is not a server admin is refused: UnauthorizedError (401, as CouchDB 3.5.2 answers)", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.clusterSetup) return
      const user = yield* throwawayUser("setup")
      const session = yield* CouchSession.make({ url: server.url, auth: CouchAuth.basic(user.name, user.password) })
      const error = yield* leftOf(session.cluster.setupState())
      assert.instanceOf(error, CouchError.UnauthorizedError)
      assert.strictEqual(error instanceof CouchError.UnauthorizedError ? error.reason : "", "You are not a server admin.")
      assert.instanceOf(yield* leftOf(session.cluster.finishCluster()), CouchError.UnauthorizedError)
    }))

  it.scoped("add_node on a node that is not enabled for a cluster is a BadRequestError naming why, and nothing changes", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const couch = yield* CouchSession.CouchSession
      if (!server.capabilities.clusterSetup) return
      // only where add_node is refused before it does anything: a node bound to 127.0.0.1 is never enabled
      if ((yield* couch.cluster.setupState()).state !== "single_node_enabled") return
      const password = `Pw-${Math.random().toString(36).slice(2)}`
      const error = yield* leftOf(
        couch.cluster.addNode({ username: "admin", password: Redacted.make(password), host: "127.0.0.1", port: 1 })
      )
      assert.instanceOf(error, CouchError.BadRequestError)
      assert.strictEqual(error instanceof CouchError.BadRequestError ? error.reason : "", "Cluster is not enabled.")
      assert.notInclude(JSON.stringify(error), password)
      assert.strictEqual((yield* couch.cluster.setupState()).state, "single_node_enabled")
    }))

  it.scoped("finish_cluster on a node whose system databases exist: BadRequestError \"Cluster is already finished\"", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const couch = yield* CouchSession.CouchSession
      if (!server.capabilities.clusterSetup || server.capabilities.cluster) return
      const error = yield* leftOf(couch.cluster.finishCluster({ ensureDbsExist: ["_users", "_replicator"] }))
      assert.instanceOf(error, CouchError.BadRequestError)
      assert.strictEqual(error instanceof CouchError.BadRequestError ? error.reason : "", "Cluster is already finished")
    }))
})

/** Polls a job every 200 ms until it completes or fails (the test's timeout bounds it). */
const settled = (couch: CouchSession.Service, id: string): Effect.Effect<CouchCluster.ReshardJob, CouchError.RequestError | CouchError.NotFoundError> =>
  Effect.flatMap(couch.cluster.reshard.job(id), (job) =>
    job.jobState === "completed" || job.jobState === "failed" ?
      Effect.succeed(job) :
      Effect.zipRight(Effect.sleep("200 millis"), settled(couch, id)))

layer(TestLive, { excludeTestServices: true, timeout: 120_000 })("_reshard", (it) => {
  it.scoped("a split job on a database's one shard runs to completion: two shards where there was one", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.reshard) return
      const couch = yield* CouchSession.CouchSession
      const name = `reshard-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`
      const db = yield* couch.create(name, { q: 1 })
      yield* Effect.addFinalizer(() => Effect.ignore(db.delete))
      yield* db.bulkDocs(Array.from({ length: 50 }, (_, i) => ({ _id: `doc${i}`, i })))
      assert.deepStrictEqual(Object.keys(yield* db.shards), ["00000000-ffffffff"])
      const summary = yield* couch.cluster.reshard.summary
      assert.strictEqual(summary.state, "running")
      const created = yield* couch.cluster.reshard.split({ db: name, range: "00000000-ffffffff" })
      // a job per copy of the shard: one on a single node, n on a cluster
      assert.isAbove(created.length, 0)
      const ids = created.map((result) => "id" in result ? result.id : "")
      yield* Effect.addFinalizer(() => Effect.forEach(ids, (id) => Effect.ignore(couch.cluster.reshard.removeJob(id))))
      assert.isTrue(ids.every((id) => id !== ""))
      for (const id of ids) {
        const job = yield* settled(couch, id)
        assert.strictEqual(job.jobState, "completed")
        assert.strictEqual(job.splitState, "completed")
        assert.strictEqual(job.type, "split")
        assert.match(job.source, new RegExp(`^shards/00000000-ffffffff/${name}\\.`))
        assert.deepStrictEqual(job.target.map((target) => target.split("/")[1]), ["00000000-7fffffff", "80000000-ffffffff"])
        assert.strictEqual(job.history.at(-1)?.type, "completed")
        assert.deepStrictEqual(yield* couch.cluster.reshard.jobState(id), { state: "completed", reason: null })
        assert.isTrue((yield* couch.cluster.reshard.jobs).some((listed) => listed.id === id))
      }
      assert.deepStrictEqual(Object.keys(yield* db.shards).sort(), ["00000000-7fffffff", "80000000-ffffffff"])
      // every document is still there
      assert.strictEqual((yield* db.info).docCount, 50)
      // a removed job is gone
      const first = ids[0] ?? ""
      yield* couch.cluster.reshard.removeJob(first)
      assert.instanceOf(yield* leftOf(couch.cluster.reshard.job(first)), CouchError.NotFoundError)
      assert.instanceOf(yield* leftOf(couch.cluster.reshard.removeJob(first)), CouchError.NotFoundError)
    }))

  it.scoped("refusals: an unknown job is NotFoundError; an unknown database, a bad range or shard name BadRequestError; no matching shard NotFoundError", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const couch = yield* CouchSession.CouchSession
      const reshard = couch.cluster.reshard
      if (!server.capabilities.reshard) {
        // the embedded server has no such endpoint
        assert.instanceOf(yield* leftOf(reshard.summary), CouchError.NotFoundError)
        return
      }
      assert.instanceOf(yield* leftOf(reshard.job("no-such-job")), CouchError.NotFoundError)
      assert.instanceOf(yield* leftOf(reshard.jobState("no-such-job")), CouchError.NotFoundError)
      assert.instanceOf(yield* leftOf(reshard.setJobState("no-such-job", "stopped")), CouchError.NotFoundError)
      assert.instanceOf(yield* leftOf(reshard.removeJob("no-such-job")), CouchError.NotFoundError)
      const reasonOf = (error: unknown) => error instanceof CouchError.BadRequestError ? error.reason : String(error)
      assert.strictEqual(reasonOf(yield* leftOf(reshard.split({ db: "no-such-database-here" }))), "Invalid `db`")
      const name = yield* CouchTestServer.database("reshard-refused")
      assert.strictEqual(reasonOf(yield* leftOf(reshard.split({ db: name, range: "not-a-range" }))), "Invalid `range`")
      assert.strictEqual(reasonOf(yield* leftOf(reshard.split({ shard: "shards/x/y" }))), "`shard` is invalid")
      assert.strictEqual(reasonOf(yield* leftOf(reshard.split({ db: name, node: "nobody" }))), "`node` is not a valid node name")
      // a range that is no shard's
      assert.instanceOf(yield* leftOf(reshard.split({ db: name, range: "00000000-00000fff" })), CouchError.NotFoundError)
    }))

  it.scoped("resharding stopped with a reason, then running again", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.reshard) return
      const couch = yield* CouchSession.CouchSession
      const reshard = couch.cluster.reshard
      yield* Effect.addFinalizer(() => Effect.ignore(reshard.setState("running")))
      yield* reshard.setState("stopped", "effect-couch test")
      assert.deepStrictEqual(yield* reshard.state, { state: "stopped", reason: "effect-couch test" })
      const summary = yield* reshard.summary
      assert.strictEqual(summary.state, "stopped")
      assert.strictEqual(summary.stateReason, "effect-couch test")
      yield* reshard.setState("running")
      assert.deepStrictEqual(yield* reshard.state, { state: "running", reason: null })
    }))

  it.scoped("a user who is not a server admin is refused: UnauthorizedError", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.reshard) return
      const user = yield* throwawayUser("reshard")
      const session = yield* CouchSession.make({ url: server.url, auth: CouchAuth.basic(user.name, user.password) })
      assert.instanceOf(yield* leftOf(session.cluster.reshard.summary), CouchError.UnauthorizedError)
      assert.instanceOf(yield* leftOf(session.cluster.reshard.jobs), CouchError.UnauthorizedError)
    }))
})

// -----------------------------------------------------------------------------
// The setup actions' requests, on a fake server
// -----------------------------------------------------------------------------

interface SeenRequest {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}

/** A session on a fake server answering every request with `answer`, and the requests it saw with their bodies. */
const fakeSession = (answer: (seen: SeenRequest) => Response) => {
  const seen: Array<SeenRequest> = []
  const client = HttpClient.make((request, url) =>
    Effect.sync(() => {
      const body = request.body._tag === "Uint8Array" ?
        JSON.parse(new TextDecoder().decode(request.body.body)) as unknown :
        undefined
      const entry = { method: request.method, url, headers: request.headers, body }
      seen.push(entry)
      return HttpClientResponse.fromWeb(request, answer(entry))
    })
  )
  const session = CouchSession.make({ url: "http://couch.test", retry: false }).pipe(
    Effect.provide(Layer.succeed(HttpClient.HttpClient, client))
  )
  return { seen, session }
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } })

describe("setup actions on a fake server", () => {
  const password = "Sup3r-Secret-Pw\"\\é"
  const remotePassword = "Remote-Pw-42"

  it.scoped("each action is a POST /_cluster_setup with the body docs.couchdb.org gives, unset fields left out", () =>
    Effect.gen(function*() {
      const { seen, session } = fakeSession(() => json(201, { ok: true }))
      const couch = yield* session
      const admin = { username: "admin", password: Redacted.make(password) }
      yield* couch.cluster.enableCluster({ ...admin, bindAddress: "0.0.0.0", port: 5984, nodeCount: 3 })
      yield* couch.cluster.enableCluster({
        ...admin,
        bindAddress: "0.0.0.0",
        port: 5984,
        nodeCount: 3,
        remoteNode: "db2.example.com",
        remoteCurrentUser: "old",
        remoteCurrentPassword: Redacted.make(remotePassword)
      })
      yield* couch.cluster.addNode({ ...admin, host: "db2.example.com", port: 15984, name: "node2" })
      yield* couch.cluster.addNode({ ...admin, host: "db3.example.com" })
      yield* couch.cluster.finishCluster()
      yield* couch.cluster.finishCluster({ ensureDbsExist: ["_users", "_replicator", "_global_changes"] })
      yield* couch.cluster.enableSingleNode({ ...admin, bindAddress: "127.0.0.1", port: 5984, ensureDbsExist: ["_users"] })
      assert.isTrue(seen.every((request) => request.method === "POST" && request.url.pathname === "/_cluster_setup"))
      assert.isTrue(seen.every((request) => request.headers["content-type"] === "application/json"))
      assert.deepStrictEqual(seen.map((request) => request.body), [
        { action: "enable_cluster", username: "admin", password, bind_address: "0.0.0.0", port: 5984, node_count: 3 },
        {
          action: "enable_cluster",
          username: "admin",
          password,
          bind_address: "0.0.0.0",
          port: 5984,
          node_count: 3,
          remote_node: "db2.example.com",
          remote_current_user: "old",
          remote_current_password: remotePassword
        },
        { action: "add_node", username: "admin", password, host: "db2.example.com", port: 15984, name: "node2" },
        { action: "add_node", username: "admin", password, host: "db3.example.com" },
        { action: "finish_cluster" },
        { action: "finish_cluster", ensure_dbs_exist: ["_users", "_replicator", "_global_changes"] },
        {
          action: "enable_single_node",
          username: "admin",
          password,
          bind_address: "127.0.0.1",
          port: 5984,
          ensure_dbs_exist: ["_users"]
        }
      ])
    }))

  it.scoped("no error of an action holds its passwords, even when the server's answer repeats them", () =>
    Effect.gen(function*() {
      // a server (or a proxy) that quotes the body back in its reason, as raw text and JSON-escaped
      const { session } = fakeSession((seen) => json(400, { error: "bad_request", reason: `refused ${JSON.stringify(seen.body)}` }))
      const couch = yield* session
      const error = yield* leftOf(couch.cluster.enableCluster({
        username: "admin",
        password: Redacted.make(password),
        remoteNode: "db2",
        remoteCurrentUser: "old",
        remoteCurrentPassword: Redacted.make(remotePassword)
      }))
      assert.instanceOf(error, CouchError.BadRequestError)
      const text = `${JSON.stringify(error)} ${error.message} ${String(error)}`
      assert.notInclude(text, remotePassword)
      assert.notInclude(text, JSON.stringify(password).slice(1, -1))
      assert.include(text, "<redacted>")
    }))

  it.scoped("the state's ensure_dbs_exist is a JSON list in the query string; reshard requests as documented", () =>
    Effect.gen(function*() {
      const { seen, session } = fakeSession((request) => {
        const path = request.url.pathname
        if (path === "/_cluster_setup") return json(200, { state: "cluster_enabled" })
        if (path === "/_reshard/jobs" && request.method === "POST") {
          return json(202, [
            { ok: true, id: "001-a", node: "node1@127.0.0.1", shard: "shards/00000000-7fffffff/db.1" },
            { error: "max_jobs_exceeded", node: "node2@127.0.0.1", shard: "shards/00000000-7fffffff/db.1" }
          ])
        }
        return json(200, { ok: true })
      })
      const couch = yield* session
      assert.deepStrictEqual(yield* couch.cluster.setupState({ ensureDbsExist: ["_users", "a/b"] }), { state: "cluster_enabled" })
      assert.strictEqual(seen[0]?.url.searchParams.get("ensure_dbs_exist"), "[\"_users\",\"a/b\"]")
      const created = yield* couch.cluster.reshard.split({ db: "db", range: "00000000-7fffffff" })
      assert.deepStrictEqual(created.map((result) => "id" in result ? result.id : result.error), ["001-a", "max_jobs_exceeded"])
      assert.deepStrictEqual(seen[1]?.body, { type: "split", db: "db", range: "00000000-7fffffff" })
      yield* couch.cluster.reshard.setJobState("001-a/x", "stopped", "why")
      assert.strictEqual(seen[2]?.method, "PUT")
      assert.strictEqual(seen[2]?.url.pathname, "/_reshard/jobs/001-a%2Fx/state")
      assert.deepStrictEqual(seen[2]?.body, { state: "stopped", reason: "why" })
      yield* couch.cluster.reshard.setState("running")
      assert.deepStrictEqual(seen[3]?.body, { state: "running" })
    }))
})

describe("cluster schemas", () => {
  it.prop("a reshard job round-trips through its wire form", { job: CouchCluster.ReshardJob }, ({ job }) => {
    const wire = Schema.encodeSync(CouchCluster.ReshardJob)(job)
    assert.deepStrictEqual(Schema.decodeUnknownSync(CouchCluster.ReshardJob)(wire), job)
  })

  it.prop("a summary round-trips through its wire form (state_reason)", { summary: CouchCluster.ReshardSummary }, ({ summary }) => {
    const wire = Schema.encodeSync(CouchCluster.ReshardSummary)(summary)
    assert.isTrue("state_reason" in wire)
    assert.deepStrictEqual(Schema.decodeUnknownSync(CouchCluster.ReshardSummary)(wire), summary)
  })
})

// -----------------------------------------------------------------------------
// The setup actions on a node of their own
// -----------------------------------------------------------------------------

/**
 * A fresh CouchDB 3.x node that nobody uses, never set up (`cluster_disabled`), which this test sets up for good:
 * `COUCHDB_SETUP_URL` (its URL on 127.0.0.1), `COUCHDB_SETUP_USER` and `COUCHDB_SETUP_PASSWORD` (its admin), and
 * `COUCHDB_SETUP_BIND_ADDRESS`, the address `enable_cluster` moves it to (another loopback address, such as
 * 127.0.0.2: a cluster's node cannot listen on 127.0.0.1). Never a node in use: the test refuses one that is set up.
 */
const setupNode = process.env["COUCHDB_SETUP_URL"]

describe.skipIf(setupNode === undefined)("setup actions on a fresh node of their own (COUCHDB_SETUP_URL)", () => {
  it.scoped("enable_cluster, add_node, finish_cluster, enable_single_node: each state in turn, the refusals' reasons", () =>
    Effect.gen(function*() {
      const url = new URL(setupNode ?? "")
      const bind = process.env["COUCHDB_SETUP_BIND_ADDRESS"] ?? "127.0.0.2"
      const first = yield* CouchSession.make({
        url: url.origin,
        auth: CouchAuth.basic(process.env["COUCHDB_SETUP_USER"] ?? "admin", process.env["COUCHDB_SETUP_PASSWORD"] ?? "")
      })
      const initial = yield* first.cluster.setupState()
      assert.strictEqual(initial.state, "cluster_disabled", "COUCHDB_SETUP_URL must name a node that was never set up")
      // a new admin, whose password the node keeps (hashed) from the action's body
      const password = `Setup-${Math.random().toString(36).slice(2)}`
      const admin = { username: "setup-admin", password: Redacted.make(password) }
      const port = Number(url.port)
      yield* first.cluster.enableCluster({ ...admin, bindAddress: bind, port, nodeCount: 3 })
      // the node now listens on the new address only
      const couch = yield* CouchSession.make({ url: `http://${bind}:${port}`, auth: CouchAuth.basic(admin.username, admin.password) })
      const enabled = yield* couch.cluster.setupState().pipe(
        Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 50 })
      )
      assert.strictEqual(enabled.state, "cluster_enabled")
      const reasonOf = (error: unknown) => error instanceof CouchError.BadRequestError ? error.reason : String(error)
      const again = yield* leftOf(couch.cluster.enableCluster({ ...admin, bindAddress: bind, port, nodeCount: 3 }))
      assert.strictEqual(reasonOf(again), "Cluster is already enabled")
      // a node that is not there: refused, and the error holds no password
      const missing = yield* leftOf(couch.cluster.addNode({ ...admin, host: "127.0.0.1", port: 1 }))
      assert.strictEqual(reasonOf(missing), "Add node failed. Invalid Host and/or Port.")
      assert.notInclude(JSON.stringify(missing), password)
      yield* couch.cluster.finishCluster()
      assert.strictEqual((yield* couch.cluster.setupState()).state, "cluster_finished")
      const names = yield* couch.keys()
      assert.includeMembers([...names], ["_replicator", "_users"])
      assert.strictEqual(reasonOf(yield* leftOf(couch.cluster.finishCluster())), "Cluster is already finished")
      // set up alone instead: n = 1, and the system databases asked for created
      const dbs = ["_users", "_replicator", "_global_changes"]
      yield* couch.cluster.enableSingleNode({ ...admin, bindAddress: bind, port, ensureDbsExist: dbs })
      assert.strictEqual((yield* couch.cluster.setupState({ ensureDbsExist: dbs })).state, "single_node_enabled")
      assert.include([...yield* couch.keys()], "_global_changes")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)), { timeout: 60_000 })
})
