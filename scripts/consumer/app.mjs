// The consumer test's ES module program (scripts/consumer-test.mjs runs it with plain `node` in a scratch project
// where the packed tarballs are installed): the embedded server, a session, a database, writes, reads, a streamed
// `_all_docs`, and everything closed, after which the process must exit by itself.
import { CouchAuth, CouchSession } from "@effect-couch/client"
import { CouchTestServer } from "@effect-couch/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { Chunk, Effect, Layer, Schema, Stream } from "effect"

const Item = Schema.Struct({ _id: Schema.String, _rev: Schema.optional(Schema.String), n: Schema.Number })

const Session = Layer.scoped(
  CouchSession.CouchSession,
  Effect.flatMap(CouchTestServer.CouchTestServer, (server) =>
    CouchSession.make({ url: server.url, auth: CouchAuth.cookie(server.admin.username, server.admin.password) }))
)
const Live = Session.pipe(Layer.provideMerge(Layer.merge(CouchTestServer.layer, NodeHttpClient.layerUndici)))

const check = (condition, what) => condition ? Effect.void : Effect.dieMessage(`check failed: ${what}`)

const program = Effect.gen(function*() {
  const server = yield* CouchTestServer.CouchTestServer
  yield* check(server.kind === "embedded", `an embedded server (got ${server.kind})`)
  const couch = yield* CouchSession.CouchSession
  const db = yield* couch.create(`consumer-esm-${Date.now()}`)
  const items = db.withSchema(Item)
  const written = yield* items.bulkDocs([{ _id: "a", n: 1 }, { _id: "b", n: 2 }, { _id: "c", n: 3 }])
  yield* check(written.length === 3 && written.every((result) => result._tag === "Right"), "three documents written")
  const b = yield* items.get("b")
  yield* check(b.n === 2, "b read back")
  yield* items.modify("b", (doc) => ({ ...doc, n: 20 }))
  const rows = Chunk.toReadonlyArray(yield* Stream.runCollect(items.allDocs({ includeDocs: true, pageSize: 2 })))
  const seen = rows.map((row) => row._tag === "Row" ? `${row.id}=${row.doc?.n}` : row._tag).join(",")
  yield* check(seen === "a=1,b=20,c=3", `_all_docs streamed in pages (got ${seen})`)
  const missing = yield* items.get("d").pipe(Effect.catchTags({ NotFoundError: () => Effect.succeed("not found") }))
  yield* check(missing === "not found", "a missing document is a NotFoundError")
  yield* db.delete
  return `${server.kind} server ${server.version} at ${server.url}: wrote 3, read 1, streamed ${rows.length} rows`
})

Effect.runPromise(program.pipe(Effect.provide(Live))).then(
  (summary) => console.log(`esm: ok (${summary})`),
  (error) => {
    console.error("esm: failed", error)
    process.exitCode = 1
  }
)
