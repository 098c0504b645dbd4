import { CouchTestServer } from "@effect-couch/testing"
import { NodeHttpClient } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CouchAuth, CouchSession } from "../src/index.js"

/** The test server (embedded, or `COUCHDB_URL`) and an HTTP client. */
export const ServerLive = Layer.merge(CouchTestServer.layer, NodeHttpClient.layerUndici)

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
