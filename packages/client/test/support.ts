import { CouchTestServer } from "@effect-couch/testing"
import { NodeHttpClient } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { NodeCouchTransport } from "../../node/src/index.js"
import { CouchAuth, CouchSession } from "../src/index.js"

/**
 * The HTTP client of the tests: platform-node's undici client, or with `COUCH_TRANSPORT=undici` the one of
 * `@effect-couch/node`, which carries its transport (sessions send through it what they can).
 */
export const HttpLive = process.env.COUCH_TRANSPORT === "undici" ? NodeCouchTransport.layer() : NodeHttpClient.layerUndici

/** The test server (embedded, or `COUCHDB_URL`) and an HTTP client. */
export const ServerLive = Layer.merge(CouchTestServer.layer, HttpLive)

/** A session as the server admin, over basic auth. */
export const AdminSessionLive = Layer.scoped(
  CouchSession.CouchSession,
  Effect.flatMap(CouchTestServer.CouchTestServer, (server) =>
    CouchSession.make({ url: server.url, auth: CouchAuth.basic(server.admin.username, server.admin.password) }))
)

/** The test server, an HTTP client, and an admin session. */
export const TestLive = AdminSessionLive.pipe(Layer.provideMerge(ServerLive))

/** A fresh database for one test, deleted when the test's scope closes. */
export const testDatabase = (prefix = "t") =>
  Effect.gen(function*() {
    const name = yield* CouchTestServer.database(prefix)
    const couch = yield* CouchSession.CouchSession
    return yield* couch.use(name)
  })

/**
 * Runs `effect` until `done` holds of its result, every 100 ms for at most 10 s: for reads that a cluster may
 * answer from a copy that has not seen a write yet (a single node answers the first time).
 */
export const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, done: (a: A) => boolean) =>
  effect.pipe(
    Effect.filterOrFail(done, () => new NotYet()),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100, while: (error) => error instanceof NotYet }),
    Effect.catchIf((error): error is NotYet => error instanceof NotYet, () => effect)
  )

class NotYet {
  readonly _tag = "NotYet"
}

/**
 * A user of its own for one test, deleted after it, with a password that cannot occur by chance in what a test
 * checks (unlike an admin password such as "password"). Failed logins go to such users, never to the admin: CouchDB
 * 3.4+ would lock the admin out.
 */
export const throwawayUser = (prefix: string) =>
  Effect.gen(function*() {
    const couch = yield* CouchSession.CouchSession
    const name = `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
    const password = `Pw-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`
    yield* couch.createUser({ name, password })
    yield* Effect.addFinalizer(() => Effect.ignore(couch.deleteUser(name)))
    return { name, password }
  })
