/**
 * `@effect/platform`'s HttpClient alone (`NodeHttpClient.layerUndici`), without effect-couch: GET, status check,
 * `response.json`. Not a CouchDB client: a diagnostic (`--clients ...,effect-platform`) that splits effect-couch's
 * cost into what the platform's client costs and what effect-couch adds. get-doc workloads only.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { basicAuth } from "../shared.js"
import { dbPath, type MakeDriver } from "./common.js"
import { effectGetLoops } from "./effect-common.js"

export const make: MakeDriver = async (spec) => {
  const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
  const client = await runtime.runPromise(HttpClient.HttpClient)
  const url = `${spec.server.url}${dbPath(spec)}/${encodeURIComponent(spec.docId)}`
  const authorization = basicAuth(spec.server)
  const getOne = Effect.gen(function*() {
    const response = yield* client.execute(
      HttpClientRequest.get(url).pipe(
        HttpClientRequest.setHeader("authorization", authorization),
        HttpClientRequest.acceptJson
      )
    )
    if (response.status !== 200) return yield* Effect.dieMessage(`status ${response.status}`)
    const doc = (yield* response.json) as { _id?: string }
    if (doc._id !== spec.docId) return yield* Effect.dieMessage(`got ${doc._id}`)
  }).pipe(Effect.orDie)
  const unsupported = () => Promise.reject(new Error("skip: effect-platform runs the get-doc workloads only"))
  return {
    ...effectGetLoops(runtime, getOne),
    bulkInsert: unsupported,
    changes: unsupported,
    allDocs: unsupported,
    attachments: undefined,
    close: () => runtime.dispose()
  }
}
