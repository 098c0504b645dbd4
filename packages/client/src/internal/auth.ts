/**
 * Authentication: basic and bearer headers, cookie sessions (login, the fresh cookies the server issues, logout).
 */
import * as Cookies from "@effect/platform/Cookies"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
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
      return Effect.map(Ref.make(Option.some<StoredCookie>({ value: auth.cookie, renewAt: undefined })), (cookie) => ({
        client: withCookie(client, cookie),
        logout: Effect.void
      }))
    case "Cookie":
      return Effect.gen(function*() {
        const cookie = yield* Ref.make(Option.none<StoredCookie>())
        const sessionClient = withCookie(client, cookie)
        const transport: Request.Transport = { client: sessionClient, baseUrl, timeout: undefined, retry: undefined }
        const login = Request.json(transport, {
          method: "POST",
          path: "/_session",
          body: HttpBody.unsafeJson({ name: auth.username, password: Redacted.value(auth.password) })
        }, LoginAnswer, []).pipe(Effect.withSpan("CouchSession.login"))
        yield* login
        const open = yield* Ref.make(true)
        const logout = Ref.set(open, false).pipe(
          Effect.zipRight(Request.discard(transport, { method: "DELETE", path: "/_session" }, [])),
          Effect.timeoutOption(Duration.seconds(5)),
          Effect.ignore,
          Effect.zipRight(Ref.set(cookie, Option.none()))
        )
        return { client: withRenewal(sessionClient, cookie, Effect.whenEffect(login, Ref.get(open))), logout }
      })
  }
}

/** The `AuthSession` cookie held by a session, and when to renew it (shortly before it expires). */
interface StoredCookie {
  readonly value: Redacted.Redacted<string>
  readonly renewAt: number | undefined
}

/** When to renew a cookie that lives `lifetime` ms from `now`: 5 s before it expires, or at 90% of a short life. */
const renewalTime = (now: number, lifetime: number) => now + lifetime - Math.min(5_000, lifetime / 10)

/**
 * Keeps a cookie session logged in: logs in again before a request when the cookie has expired, and once more
 * when the server answers 401 to a request that carried a cookie (the cookie lapsed or the server forgot it).
 * Logins are serialised: fibers that find the cookie expired at once share one login. A closed session's
 * `login` does nothing.
 */
const withRenewal = (
  client: HttpClient.HttpClient,
  cookie: Ref.Ref<Option.Option<StoredCookie>>,
  login: Effect.Effect<unknown, CouchError.RequestError>
): HttpClient.HttpClient => {
  const lock = Effect.unsafeMakeSemaphore(1)
  const expired = (stored: Option.Option<StoredCookie>, now: number) =>
    Option.isNone(stored) || (stored.value.renewAt !== undefined && stored.value.renewAt <= now)
  /** Logs in unless another fiber renewed the cookie since `seen` was read. */
  const renew = (seen: Option.Option<StoredCookie>) =>
    lock.withPermits(1)(
      Effect.flatMap(Ref.get(cookie), (current) =>
        current === seen || Option.isNone(current) ? Effect.ignore(login) : Effect.void)
    )
  return HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (requestEffect) =>
      Effect.flatMap(requestEffect, (request) =>
        Effect.gen(function*() {
          const before = yield* Ref.get(cookie)
          if (expired(before, yield* Clock.currentTimeMillis)) yield* renew(before)
          const sent = yield* Ref.get(cookie)
          const response = yield* client.execute(request)
          // a streamed body cannot be sent twice
          if (response.status !== 401 || Option.isNone(sent) || request.body._tag === "Stream") return response
          yield* renew(sent)
          return (yield* Ref.get(cookie)) === sent ? response : yield* client.execute(request)
        })),
    Effect.succeed
  )
}

/** Sends the stored `AuthSession` cookie and keeps every fresh one the server sets, with its expiry. */
const withCookie = (
  client: HttpClient.HttpClient,
  cookie: Ref.Ref<Option.Option<StoredCookie>>
): HttpClient.HttpClient =>
  client.pipe(
    HttpClient.mapRequestEffect((request) =>
      Effect.map(Ref.get(cookie), (stored) =>
        Option.isSome(stored) ?
          HttpClientRequest.setHeader(request, "cookie", `${cookieName}=${Redacted.value(stored.value.value)}`) :
          request)
    ),
    HttpClient.tap((response) => {
      const fresh = Cookies.get(response.cookies, cookieName)
      if (Option.isNone(fresh) || fresh.value.value === "") return Effect.void
      const { expires, maxAge } = fresh.value.options ?? {}
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.set(
          cookie,
          Option.some({
            value: Redacted.make(fresh.value.value),
            renewAt: maxAge !== undefined ?
              renewalTime(now, Duration.toMillis(maxAge)) :
              expires !== undefined ?
              renewalTime(now, expires.getTime() - now) :
              undefined
          })
        ))
    })
  )
