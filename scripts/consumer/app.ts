// The consumer test's TypeScript program: never run, only type-checked (`tsc --noEmit`) against the declarations of
// the packed tarballs, under nodenext and bundler resolution, with the strictest flags a consumer may use and
// skipLibCheck off (tsconfig.nodenext.json, tsconfig.bundler.json). It uses FetchHttpClient rather than
// @effect/platform-node, whose own declarations need @types/ws and the DOM lib when skipLibCheck is off (app.mjs
// runs on NodeHttpClient).
import { CouchAuth, CouchError, CouchSession, type Database, type Document, type Mango } from "@effect-couch/client"
import * as Session from "@effect-couch/client/CouchSession"
import { Arbitraries, CouchTestServer } from "@effect-couch/testing"
import type { Capabilities, TestServer } from "@effect-couch/testing/CouchTestServer"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { Chunk, Effect, FastCheck, Layer, Schema, Stream } from "effect"

// @ts-expect-error internal modules are not exported
import type * as _Wire from "@effect-couch/client/internal/wire"
// @ts-expect-error internal modules are not exported
import type * as _Embedded from "@effect-couch/testing/internal/embedded"

const Todo = Schema.Struct({
  _id: Schema.String,
  _rev: Schema.optional(Schema.String),
  title: Schema.String,
  done: Schema.Boolean,
  tags: Schema.Array(Schema.String)
})
type Todo = typeof Todo.Type

const SessionLive: Layer.Layer<
  CouchSession.CouchSession,
  CouchError.CouchError,
  CouchTestServer.CouchTestServer | HttpClient.HttpClient
> = Layer.scoped(
    Session.CouchSession,
    Effect.flatMap(CouchTestServer.CouchTestServer, (server: TestServer) =>
      CouchSession.make({ url: server.url, auth: CouchAuth.basic(server.admin.username, server.admin.password) }))
  )
export const Live = SessionLive.pipe(Layer.provideMerge(Layer.merge(CouchTestServer.layer, FetchHttpClient.layer)))

const pending: Mango.Selector<Todo> = { done: false, tags: { $elemMatch: { $eq: "home" } } }
// @ts-expect-error `done` is a boolean
const _wrong: Mango.Selector<Todo> = { done: { $gt: 3 } }

const usesTodos = (db: Database.Database) =>
  Effect.gen(function*() {
    const todos = db.withSchema(Todo)
    const result: Document.WriteResult = yield* todos.put({ _id: "milk", title: "Buy milk", done: false, tags: [] })
    const milk: Todo = yield* todos.get("milk")
    const found = yield* todos.find({ selector: pending, limit: 10 })
    const rows = yield* Stream.runCollect(todos.allDocs({ includeDocs: true }))
    const first = Chunk.toReadonlyArray(rows)[0] // noUncheckedIndexedAccess: possibly undefined
    return { rev: result.rev, title: milk.title, found: found.docs.length, first: first?._tag }
  }).pipe(
    Effect.catchTags({
      NotFoundError: (error) => Effect.succeed({ rev: "", title: error.reason, found: 0, first: undefined }),
      ConflictError: (error) => Effect.fail(error)
    })
  )

export const program = Effect.gen(function*() {
  const server = yield* CouchTestServer.CouchTestServer
  const capabilities: Capabilities = server.capabilities
  const name = yield* CouchTestServer.database("consumer")
  const couch = yield* CouchSession.CouchSession
  const db = yield* couch.use(name)
  const summary = yield* usesTodos(db)
  const names: ReadonlyArray<string> = FastCheck.sample(Arbitraries.databaseName, 3)
  return { ...summary, find: capabilities.findBookmark, names, valid: CouchTestServer.isValidDatabaseName(name) }
}).pipe(Effect.scoped, Effect.provide(Live))

export const isCouchError: (u: unknown) => u is CouchError.CouchError = CouchError.isCouchError
