import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CouchTestServer } from "../src/index.js"

export const TestLayer = Layer.merge(CouchTestServer.layer, NodeHttpClient.layerUndici)

export interface RequestOptions {
  readonly auth?: "admin" | { readonly username: string; readonly password: string } | undefined
  readonly body?: unknown
  readonly contentType?: string | undefined
  readonly headers?: Record<string, string> | undefined
}

export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly text: string
  readonly json: unknown
}

/** One request to the test server, answering status, headers and body (never failing on a status). */
export const request = (method: "GET" | "PUT" | "POST" | "DELETE" | "HEAD" | "COPY", path: string, options: RequestOptions = {}) =>
  Effect.gen(function*() {
    const server = yield* CouchTestServer.CouchTestServer
    const client = yield* HttpClient.HttpClient
    let req = HttpClientRequest.make(method as "GET")(server.url + path).pipe(
      HttpClientRequest.setHeaders(options.headers ?? {})
    )
    if (options.auth === "admin") {
      req = HttpClientRequest.basicAuth(req, server.admin.username, server.admin.password)
    } else if (options.auth !== undefined) {
      req = HttpClientRequest.basicAuth(req, options.auth.username, options.auth.password)
    }
    if (options.body !== undefined) {
      req = typeof options.body === "string"
        ? HttpClientRequest.bodyText(req, options.body, options.contentType ?? "application/json")
        : HttpClientRequest.bodyText(req, JSON.stringify(options.body), options.contentType ?? "application/json")
    }
    const res = yield* client.execute(req)
    const text = yield* res.text
    let json: unknown = undefined
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: res.status, headers: res.headers, text, json } satisfies Answer
  })

/** The server still answers: GET / is a CouchDB welcome, and an admin can open a database. */
export const assertAlive = Effect.gen(function*() {
  const root = yield* request("GET", "/")
  const db = yield* CouchTestServer.database("alive")
  const info = yield* request("GET", `/${db}`, { auth: "admin" })
  return { root: root.status, db: info.status }
}).pipe(Effect.scoped)
