/**
 * Authentication: basic and bearer headers, cookie sessions (login, the fresh cookies the server issues, logout).
 */
import * as Cookies from "@effect/platform/Cookies"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as CouchAuth from "../CouchAuth.js"
import type * as CouchError from "../CouchError.js"
import * as Request from "./request.js"

/** A client with authentication applied, and how to end what the authentication started. */
export interface Authenticated {
  readonly client: HttpClient.HttpClient
  /** Ends the session on the server, when there is one the session started (cookie login). */
  readonly logout: Effect.Effect<void>
}

const cookieName = "AuthSession"

/** The answer to `POST /_session`. */
const LoginAnswer = Schema.Struct({ ok: Schema.Boolean })

const headerAuth = (client: HttpClient.HttpClient, value: Redacted.Redacted<string>): Authenticated => ({
  client: HttpClient.mapRequest(client, HttpClientRequest.setHeader("authorization", Redacted.value(value))),
  logout: Effect.void
})

/**
 * Applies an authentication method to a client that already has the server's base URL. For a cookie login the
 * effect logs in, which can fail.
 */
export const authenticate = (
  client: HttpClient.HttpClient,
  auth: CouchAuth.CouchAuth,
  baseUrl: string
): Effect.Effect<Authenticated, CouchError.RequestError> => {
  switch (auth._tag) {
    case "None":
      return Effect.succeed({ client, logout: Effect.void })
    case "Basic": {
      const credentials = Encoding.encodeBase64(`${auth.username}:${Redacted.value(auth.password)}`)
      return Effect.succeed(headerAuth(client, Redacted.make(`Basic ${credentials}`)))
    }
    case "Bearer":
      return Effect.succeed(headerAuth(client, Redacted.make(`Bearer ${Redacted.value(auth.token)}`)))
    case "AuthSession":
      return Effect.map(Ref.make(Option.some(auth.cookie)), (cookie) => ({
        client: withCookieSession(client, cookie),
        logout: Effect.void
      }))
    case "Cookie":
      return Effect.gen(function*() {
        const cookie = yield* Ref.make(Option.none<Redacted.Redacted<string>>())
        const sessionClient = withCookieSession(client, cookie)
        const transport: Request.Transport = { client: sessionClient, baseUrl, timeout: undefined, retry: undefined }
        yield* Request.json(transport, {
          method: "POST",
          path: "/_session",
          body: HttpBody.unsafeJson({ name: auth.username, password: Redacted.value(auth.password) })
        }, LoginAnswer, [])
        const logout = Request.discard(transport, { method: "DELETE", path: "/_session" }, []).pipe(
          Effect.timeoutOption(Duration.seconds(5)),
          Effect.ignore,
          Effect.zipRight(Ref.set(cookie, Option.none()))
        )
        return { client: sessionClient, logout }
      })
  }
}

/** Sends the stored `AuthSession` cookie and keeps every fresh one the server sets. */
const withCookieSession = (
  client: HttpClient.HttpClient,
  cookie: Ref.Ref<Option.Option<Redacted.Redacted<string>>>
): HttpClient.HttpClient =>
  client.pipe(
    HttpClient.mapRequestEffect((request) =>
      Effect.map(Ref.get(cookie), (value) =>
        Option.isSome(value) ?
          HttpClientRequest.setHeader(request, "cookie", `${cookieName}=${Redacted.value(value.value)}`) :
          request)
    ),
    HttpClient.tap((response) => {
      const fresh = Cookies.getValue(response.cookies, cookieName)
      return Option.isSome(fresh) && fresh.value !== "" ?
        Ref.set(cookie, Option.some(Redacted.make(fresh.value))) :
        Effect.void
    })
  )
