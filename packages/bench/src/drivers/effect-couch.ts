/**
 * effect-couch, driven as its users drive it: one Effect per workload (a loop, `Effect.forEach` with a
 * concurrency, a Stream), run on a `ManagedRuntime` holding the session (basic auth, the session's default
 * options) over `@effect-couch/node`'s layer (requests through its undici transport), or with the `platform`
 * transport over `NodeHttpClient.layerUndici` alone. The `promise` variant drives the GETs as Promise code does:
 * one `runtime.runPromise` per GET.
 */
import { CouchAuth, CouchSession, type Database } from "@effect-couch/client"
import { NodeCouchTransport } from "@effect-couch/node"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { makeDoc } from "../shared.js"
import { effectGetLoops } from "./effect-common.js"
import { attachmentName, block, getLoops, type MakeDriver } from "./common.js"

export const make: MakeDriver = async (spec) => {
  const runtime = ManagedRuntime.make(
    CouchSession.layer({
      url: spec.server.url,
      auth: CouchAuth.basic(spec.server.username, Redacted.make(spec.server.password))
    }).pipe(Layer.provide(spec.contender.transport === "platform" ? NodeHttpClient.layerUndici : NodeCouchTransport.layer()))
  )
  const db: Database.Database = await runtime.runPromise(
    Effect.flatMap(CouchSession.CouchSession, (couch) => couch.use(spec.db))
  )
  const id = spec.docId
  const getOne = Effect.flatMap(db.get(id), (doc) => doc._id === id ? Effect.void : Effect.dieMessage(`got ${doc._id}`))
  const countChanges = (stream: Stream.Stream<{ readonly _tag: string }, unknown>) =>
    runtime.runPromise(Stream.runFold(stream, 0, (count, event) => event._tag === "Change" ? count + 1 : count))
  return {
    // a Promise caller (`effect-couch-promise`): each GET is a `runtime.runPromise` of its own, awaited
    ...(spec.contender.variant === "promise" ?
      getLoops(() => runtime.runPromise(getOne)) :
      effectGetLoops(runtime, getOne)),
    // `arrays`: the documents in arrays of a batch, as nano's driver sends them (`bulkDocs` per batch, 4 in flight)
    bulkInsert: (prefix, from, n) =>
      spec.contender.variant === "arrays" ?
        runtime.runPromise(Effect.forEach(
          Array.from({ length: Math.ceil(n / spec.batchSize) }, (_, batch) => batch),
          (batch) => {
            const start = from + batch * spec.batchSize
            const docs = Array.from({ length: Math.min(spec.batchSize, from + n - start) }, (_, i) => makeDoc(start + i, prefix))
            return Effect.map(db.bulkDocs(docs), (results) => results.filter(Either.isRight).length)
          },
          { concurrency: spec.concurrency }
        ).pipe(Effect.map((counts) => counts.reduce((sum, count) => sum + count, 0)))) :
      runtime.runPromise(
        db.bulkWrite(
          Stream.range(from, from + n - 1).pipe(Stream.map((i) => makeDoc(i, prefix))),
          { batchSize: spec.batchSize, concurrency: spec.concurrency }
        ).pipe(Stream.runFold(0, (written, result) => Either.isRight(result) ? written + 1 : written))
      ),
    changes: (limit) =>
      spec.contender.variant === "continuous" ?
        countChanges(db.changes({ feed: "continuous", limit: limit ?? spec.count })) :
        spec.contender.variant === "follow" ?
        // a follower never ends: it is stopped after the database's changes
        countChanges(Stream.unwrap(Effect.map(db.follow(), (follower) => Stream.take(follower.changes, limit ?? spec.count)))) :
        // the normal feed as it reads by default (one request), or in pages (`paged`)
        countChanges(db.changes({ limit, ...(spec.contender.variant === "paged" ? { pageSize: spec.pageSize } : {}) })),
    allDocs: (limit) =>
      runtime.runPromise(
        Stream.runFold(
          db.allDocs({
            includeDocs: true,
            limit,
            ...(spec.contender.variant === "paged" ? { pageSize: spec.pageSize } : {})
          }),
          0,
          (count, row) => row._tag === "Row" && row.doc != null ? count + 1 : count
        )
      ),
    attachments: {
      put: (docId, chunks) =>
        runtime.runPromise(
          Effect.flatMap(db.attachment(docId, attachmentName), (attachment) =>
            attachment.put(Stream.fromChunk(Chunk.makeBy(chunks, (): Uint8Array => block)), {
              contentType: "application/octet-stream",
              timeout: "10 minutes"
            }))
        ).then(() => undefined),
      get: (docId) =>
        runtime.runPromise(
          Effect.flatMap(db.attachment(docId, attachmentName), (attachment) =>
            Stream.runFold(attachment.stream(), 0, (length, bytes) => length + bytes.length))
        )
    },
    close: () => runtime.dispose()
  }
}
