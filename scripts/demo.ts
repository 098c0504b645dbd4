/**
 * The demo: starts the embedded test server (or uses COUCHDB_URL), opens a cookie session, creates a database,
 * writes and reads back typed documents, streams them, lists databases, and closes the session.
 *
 *   pnpm demo
 */
import { CouchAuth, CouchSession } from "@effect-couch/client"
import { CouchTestServer } from "@effect-couch/testing"
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Chunk, Console, Effect, Layer, Schema, Stream } from "effect"

const Fruit = Schema.Struct({
  _id: Schema.String,
  _rev: Schema.optional(Schema.String),
  name: Schema.String,
  price: Schema.Number
})

const Session = Layer.scoped(
  CouchSession.CouchSession,
  Effect.flatMap(CouchTestServer.CouchTestServer, (server) =>
    CouchSession.make({ url: server.url, auth: CouchAuth.cookie(server.admin.username, server.admin.password) }))
)

const program = Effect.gen(function*() {
  const server = yield* CouchTestServer.CouchTestServer
  const couch = yield* CouchSession.CouchSession
  const info = yield* couch.info
  yield* Console.log(`Connected to ${server.kind} server ${server.url} (version ${info.version})`)
  const session = yield* couch.session
  yield* Console.log(`Logged in with a cookie session as ${session.userCtx.name}`)

  const name = `demo-${Date.now()}`
  const db = yield* couch.create(name)
  yield* Console.log(`Created database ${db.name}`)

  const fruits = db.withSchema(Fruit)
  const written = yield* fruits.bulkDocs([
    { _id: "apple", name: "Apple", price: 0.5 },
    { _id: "banana", name: "Banana", price: 0.25 },
    { _id: "cherry", name: "Cherry", price: 3 }
  ])
  yield* Console.log(`Wrote ${written.length} documents`)

  const apple = yield* fruits.get("apple")
  yield* fruits.put({ ...apple, price: 0.6 })
  yield* fruits.modify("banana", (banana) => ({ ...banana, price: banana.price * 2 }))
  const rows = yield* Stream.runCollect(fruits.allDocs({ includeDocs: true, pageSize: 2 }))
  for (const row of Chunk.toReadonlyArray(rows)) {
    if (row._tag === "Row" && row.doc) yield* Console.log(`  ${row.doc.name}: ${row.doc.price} (rev ${row.value.rev})`)
  }

  const missing = yield* fruits.get("durian").pipe(
    Effect.catchTags({ NotFoundError: (error) => Effect.succeed(`durian is ${error.reason}`) })
  )
  yield* Console.log(`Reading a missing document: ${JSON.stringify(missing)}`)

  const dbInfo = yield* db.info
  yield* Console.log(`${db.name} holds ${dbInfo.docCount} documents`)
  const names = yield* couch.keys()
  yield* Console.log(`Databases on the server: ${names.join(", ")}`)

  yield* db.delete
  yield* Console.log(`Deleted ${db.name}; closing the session (DELETE /_session)`)
})

program.pipe(
  Effect.provide(Session.pipe(Layer.provideMerge(Layer.merge(CouchTestServer.layer, NodeHttpClient.layerUndici)))),
  NodeRuntime.runMain
)
