/**
 * The floor of an Effect transport of one's own: each GET is one `Effect.async` over undici's `dispatch` (a keep-alive
 * `Agent`, no `AbortSignal`: the dispatch controller aborts on interruption), the status checked, the body parsed
 * as JSON. Not a CouchDB client: a diagnostic (`--clients ...,effect-undici`) that measures what get-doc could cost
 * on the Effect runtime if effect-couch sent its requests without `@effect/platform`'s `HttpClient`, driven as
 * effect-couch is (an Effect loop, or `runPromise` per GET with the `promise` variant). The `client` variant sends
 * the same dispatch through `HttpClient.make` (see below). get-doc workloads only.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { Agent, type Dispatcher } from "undici"
import { basicAuth } from "../shared.js"
import { dbPath, getLoops, type MakeDriver } from "./common.js"
import { effectGetLoops } from "./effect-common.js"

export const make: MakeDriver = async (spec) => {
  const agent = new Agent({ keepAliveTimeout: 60_000 })
  const runtime = ManagedRuntime.make(Layer.empty)
  const origin = new URL(spec.server.url).origin
  const path = `${new URL(spec.server.url).pathname.replace(/\/$/, "")}${dbPath(spec)}/${encodeURIComponent(spec.docId)}`
  const headers = { authorization: basicAuth(spec.server), accept: "application/json" }
  const get = Effect.async<unknown, Error>((resume) => {
    let controller: Dispatcher.DispatchController | undefined
    let status = 0
    const chunks: Array<Buffer> = []
    agent.dispatch({ origin, path, method: "GET", headers }, {
      onRequestStart: (c) => {
        controller = c
      },
      onResponseStart: (_, statusCode) => {
        status = statusCode
      },
      onResponseData: (_, chunk) => {
        chunks.push(chunk)
      },
      onResponseEnd: () => {
        if (status !== 200) return resume(Effect.fail(new Error(`status ${status}`)))
        try {
          const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
          resume(Effect.succeed(JSON.parse(body.toString("utf8"))))
        } catch (error) {
          resume(Effect.fail(error as Error))
        }
      },
      onResponseError: (_, error) => resume(Effect.fail(error))
    })
    return Effect.sync(() => controller?.abort(new Error("interrupted")))
  })
  /**
   * The `client` variant: the same dispatch behind `HttpClient.make`, so that the platform's own per-request work
   * (its span, `AbortController`, URL, response registry) is paid and platform-node's undici adapter is not: what
   * a drop-in `HttpClient` layer of effect-couch's own could cost.
   */
  const client = HttpClient.make((request, url, signal) =>
    Effect.async<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((resume) => {
      let controller: Dispatcher.DispatchController | undefined
      let status = 0
      let responseHeaders: Record<string, string | Array<string> | undefined> = {}
      const chunks: Array<Buffer> = []
      const onAbort = () => controller?.abort(signal.reason)
      signal.addEventListener("abort", onAbort, { once: true })
      agent.dispatch({
        origin: url.origin,
        path: url.pathname + url.search,
        method: request.method,
        headers: request.headers
      }, {
        onRequestStart: (c) => {
          controller = c
        },
        onResponseStart: (_, statusCode, headers) => {
          status = statusCode
          responseHeaders = headers
        },
        onResponseData: (_, chunk) => {
          chunks.push(chunk)
        },
        onResponseEnd: () => {
          signal.removeEventListener("abort", onAbort)
          const headers = new globalThis.Headers()
          for (const [name, value] of Object.entries(responseHeaders)) {
            if (typeof value === "string") headers.set(name, value)
          }
          const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
          resume(Effect.succeed(HttpClientResponse.fromWeb(request, new Response(body as unknown as BodyInit, { status, headers }))))
        },
        onResponseError: (_, cause) => {
          signal.removeEventListener("abort", onAbort)
          resume(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause })))
        }
      })
    })
  )
  const viaClient = Effect.flatMap(
    client.execute(HttpClientRequest.get(`${spec.server.url}${dbPath(spec)}/${encodeURIComponent(spec.docId)}`, { headers })),
    (response) => response.status === 200 ? response.json : Effect.dieMessage(`status ${response.status}`)
  )
  const getOne = Effect.flatMap(
    spec.contender.variant === "client" ? viaClient : get,
    (doc) => (doc as { _id?: string })._id === spec.docId ? Effect.void : Effect.dieMessage("wrong document")
  ).pipe(Effect.orDie)
  const unsupported = () => Promise.reject(new Error("skip: effect-undici runs the get-doc workloads only"))
  return {
    ...(spec.contender.variant === "promise" ? getLoops(() => runtime.runPromise(getOne)) : effectGetLoops(runtime, getOne)),
    bulkInsert: unsupported,
    changes: unsupported,
    allDocs: unsupported,
    attachments: undefined,
    close: async () => {
      await runtime.dispose()
      await agent.close()
    }
  }
}
