// The consumer test's CommonJS program: app.mjs through `require` (the packages' dist/cjs build), run the same way
// with plain `node` in the scratch project where the packed tarballs are installed.
/* eslint-disable @typescript-eslint/no-require-imports */
/* global require, console, process */
const { CouchAuth, CouchSession } = require("@effect-couch/client")
const { CouchTestServer } = require("@effect-couch/testing")
const { NodeHttpClient } = require("@effect/platform-node")
const { Chunk, Effect, Layer, Schema, Stream } = require("effect")

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
  const db = yield* couch.create(`consumer-cjs-${Date.now()}`)
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
  (summary) => console.log(`cjs: ok (${summary})`),
  (error) => {
    console.error("cjs: failed", error)
    process.exitCode = 1
  }
)
