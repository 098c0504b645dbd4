import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import { CouchTestServer } from "../src/index.js"

const page = "http://127.0.0.1:8123"
const other = "http://127.0.0.1:8124"

/** One request with the given headers; answers status and headers (the body is read and dropped). */
const send = (
  server: CouchTestServer.TestServer,
  method: "OPTIONS" | "GET" | "PUT",
  path: string,
  headers: Record<string, string>,
  auth = false
) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    let request = HttpClientRequest.make(method)(server.url + path).pipe(HttpClientRequest.setHeaders(headers))
    if (auth) request = HttpClientRequest.basicAuth(request, server.admin.username, server.admin.password)
    const response = yield* client.execute(request)
    const text = yield* response.text
    return { status: response.status, headers: response.headers, text }
  }).pipe(Effect.provide(NodeHttpClient.layerUndici))

const preflight = (server: CouchTestServer.TestServer, origin: string, method = "PUT", headers?: string) =>
  send(server, "OPTIONS", "/some-db/doc", {
    origin,
    "access-control-request-method": method,
    ...(headers === undefined ? {} : { "access-control-request-headers": headers })
  })

const corsHeaders = (headers: Readonly<Record<string, string | undefined>>) =>
  Object.keys(headers).filter((name) => name.startsWith("access-control-")).sort()

// the embedded server's own behaviour: with COUCHDB_URL set, the layers below would be that server
describe.skipIf(process.env["COUCHDB_URL"] !== undefined)("the embedded server's CORS", () => {
  it.scoped("off by default, as on CouchDB: a preflight is not answered, answers carry no CORS headers", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.makeEmbedded
      const answer = yield* preflight(server, page)
      expect(answer.status).not.toBe(204)
      expect(corsHeaders(answer.headers)).toEqual([])
      const root = yield* send(server, "GET", "/", { origin: page })
      expect(root.status).toBe(200)
      expect(corsHeaders(root.headers)).toEqual([])
    }))

  it.scoped("an allowed origin's preflight is answered 204 with CouchDB's headers, credentials included", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.makeWith({ cors: { origins: [page], credentials: true } })
      const answer = yield* preflight(server, page, "PUT", "content-type, authorization")
      expect(answer.status).toBe(204)
      expect(answer.text).toBe("")
      expect(answer.headers["access-control-allow-origin"]).toBe(page)
      expect(answer.headers["access-control-allow-credentials"]).toBe("true")
      expect(answer.headers["access-control-allow-methods"]).toBe(
        "CONNECT, COPY, DELETE, GET, HEAD, OPTIONS, POST, PUT, TRACE"
      )
      expect(answer.headers["access-control-allow-headers"]).toBe("content-type, authorization")
      expect(answer.headers["access-control-max-age"]).toBe("600")
      // another origin, a method or a header not allowed: not a preflight CouchDB answers
      for (const refused of [
        preflight(server, other),
        preflight(server, page, "PATCH"),
        preflight(server, page, "GET", "content-type, x-my-header"),
        send(server, "OPTIONS", "/", { origin: page })
      ]) {
        const result = yield* refused
        expect(result.status).not.toBe(204)
        expect(result.headers["access-control-allow-methods"]).toBeUndefined()
      }
    }))

  it.scoped("answers to an allowed origin carry Allow-Origin, Allow-Credentials and Expose-Headers", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.makeWith({ cors: { origins: [page], credentials: true } })
      const db = yield* CouchTestServer.database("cors").pipe(
        Effect.provideService(CouchTestServer.CouchTestServer, server)
      )
      const written = yield* send(server, "PUT", `/${db}/doc`, { origin: page, "content-type": "application/json" }, true)
      expect(written.status).toBe(201)
      const read = yield* send(server, "GET", `/${db}/doc`, { origin: page }, true)
      for (const answer of [written, read]) {
        expect(answer.headers["access-control-allow-origin"]).toBe(page)
        expect(answer.headers["access-control-allow-credentials"]).toBe("true")
        const exposed = (answer.headers["access-control-expose-headers"] ?? "").split(", ")
        expect(exposed[0]).toBe("content-type")
        expect(exposed.slice(-6)).toEqual([
          "accept-ranges",
          "etag",
          "server",
          "x-couch-request-id",
          "x-couch-update-newrev",
          "x-couchdb-body-time"
        ])
      }
      // errors too
      const missing = yield* send(server, "GET", `/${db}/missing`, { origin: page }, true)
      expect(missing.status).toBe(404)
      expect(missing.headers["access-control-allow-origin"]).toBe(page)
      // another origin gets no CORS headers, and no request without Origin does
      expect(corsHeaders((yield* send(server, "GET", `/${db}/doc`, { origin: other }, true)).headers)).toEqual([])
      expect(corsHeaders((yield* send(server, "GET", `/${db}/doc`, {}, true)).headers)).toEqual([])
    }))

  it.scoped("origins *: any origin, echoed; without credentials no Allow-Credentials", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.makeWith({ cors: { origins: ["*"] } })
      const answer = yield* preflight(server, other, "GET")
      expect(answer.status).toBe(204)
      expect(answer.headers["access-control-allow-origin"]).toBe(other)
      expect(answer.headers["access-control-allow-credentials"]).toBeUndefined()
      expect(answer.headers["access-control-allow-headers"]).toBe("")
      const root = yield* send(server, "GET", "/", { origin: other })
      expect(root.headers["access-control-allow-origin"]).toBe(other)
      expect(root.headers["access-control-allow-credentials"]).toBeUndefined()
    }))

  it.scoped("methods, headers, exposed headers and max age replace CouchDB's defaults", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.makeWith({
        cors: {
          origins: [other],
          methods: ["GET", "POST"],
          headers: ["Content-Type", "X-My-Header"],
          exposedHeaders: ["etag", "location"],
          maxAge: "1 minute"
        }
      })
      const answer = yield* preflight(server, other, "POST", "x-my-header")
      expect(answer.status).toBe(204)
      expect(answer.headers["access-control-allow-methods"]).toBe("GET, POST")
      expect(answer.headers["access-control-max-age"]).toBe("60")
      expect((yield* preflight(server, other, "PUT")).status).not.toBe(204)
      expect((yield* preflight(server, other, "GET", "authorization")).status).not.toBe(204)
      const root = yield* send(server, "GET", "/", { origin: other })
      expect((root.headers["access-control-expose-headers"] ?? "").split(", ").slice(-2)).toEqual(["etag", "location"])
    }))

  it.scoped("a policy lasts as long as its layer's scope; the shared server goes on without it", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.makeEmbedded
      yield* Effect.scoped(
        Effect.gen(function*() {
          const same = yield* CouchTestServer.makeWith({ cors: { origins: [other] } })
          expect(same.url).toBe(server.url)
          expect((yield* preflight(server, other)).status).toBe(204)
        })
      )
      expect((yield* preflight(server, other)).status).not.toBe(204)
      expect((yield* send(server, "GET", "/", {})).status).toBe(200)
    }))

  it.scoped("options CouchDB could never match are refused", () =>
    Effect.gen(function*() {
      for (
        const cors of [
          { origins: [] },
          { origins: ["http://127.0.0.1:8123/"] },
          { origins: ["127.0.0.1:8123"] },
          { origins: [page], methods: ["GE T"] },
          { origins: [page], headers: ["x header"] },
          { origins: ["*"], credentials: true }
        ]
      ) {
        const exit = yield* Effect.exit(Effect.scoped(CouchTestServer.makeWith({ cors })))
        expect(Exit.isFailure(exit), JSON.stringify(cors)).toBe(true)
        if (Exit.isFailure(exit)) expect(String(exit.cause)).toMatch(/Invalid CORS options/)
      }
    }))

  it.scoped("against COUCHDB_URL, the server's own CORS settings are checked with a preflight, never changed", () =>
    Effect.gen(function*() {
      const embedded = yield* CouchTestServer.makeEmbedded
      const asRemote = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.withConfigProvider(
          effect,
          ConfigProvider.fromMap(
            new Map([
              ["COUCHDB_URL", embedded.url],
              ["COUCHDB_USER", embedded.admin.username],
              ["COUCHDB_PASSWORD", Redacted.value(embedded.admin.password)]
            ])
          )
        )
      const cors = { origins: [page], credentials: true }
      const refused = yield* Effect.exit(Effect.scoped(asRemote(CouchTestServer.makeWith({ cors }))))
      expect(Exit.isFailure(refused)).toBe(true)
      if (Exit.isFailure(refused)) {
        expect(String(refused.cause)).toMatch(/does not answer CORS for http:\/\/127\.0\.0\.1:8123 with credentials/)
        expect(String(refused.cause)).toMatch(/enable_cors = true, \[cors\] origins = http:\/\/127\.0\.0\.1:8123, credentials = true/)
        expect(String(refused.cause)).not.toContain(Redacted.value(embedded.admin.password))
      }
      // without credentials where they are asked for, still refused
      yield* Effect.scoped(
        Effect.gen(function*() {
          yield* CouchTestServer.makeWith({ cors: { origins: [page] } })
          const exit = yield* Effect.exit(Effect.scoped(asRemote(CouchTestServer.makeWith({ cors }))))
          expect(Exit.isFailure(exit)).toBe(true)
        })
      )
      // once the server allows the origin with credentials, accepted
      yield* CouchTestServer.makeWith({ cors })
      const remote = yield* asRemote(CouchTestServer.makeWith({ cors }))
      expect(remote.kind).toBe("couchdb")
    }))
})
