/**
 * Authentication: basic and bearer headers, cookie sessions (login, the fresh cookies the server issues, logout).
 *
 * A cookie session keeps its cookie itself when it can read the login answer's `Set-Cookie` (Node, Deno, Bun).
 * Where it cannot (a browser hides `Set-Cookie` from `fetch`), the platform's cookie jar holds the cookie: the
 * session sends no `Cookie` header, checks once after the login that the jar works (the next request is not
 * anonymous), and learns that the cookie lapsed from the answers.
 */
import * as Cookies from "@effect/platform/Cookies"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as CouchAuth from "../CouchAuth.js"
import * as CouchError from "../CouchError.js"
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

/** The part of `GET /_session`'s answer that tells an authenticated request from an anonymous one. */
const SessionAnswer = Schema.Struct({ userCtx: Schema.Struct({ name: Schema.NullOr(Schema.String) }) })

const isAnonymousSession = (body: string): boolean => {
  try {
    const answer: unknown = JSON.parse(body)
    return Schema.is(SessionAnswer)(answer) && answer.userCtx.name === null
  } catch {
    return false
  }
}

const headerAuth = (client: HttpClient.HttpClient, value: Redacted.Redacted<string>): Authenticated => ({
  client: HttpClient.mapRequest(client, HttpClientRequest.setHeader("authorization", Redacted.value(value))),
  logout: Effect.void
})

/** The `Authorization` header of basic and bearer authentication. */
export const authorization = (auth: CouchAuth.Basic | CouchAuth.Bearer): Redacted.Redacted<string> =>
  auth._tag === "Basic" ?
    Redacted.make(`Basic ${Encoding.encodeBase64(`${auth.username}:${Redacted.value(auth.password)}`)}`) :
    Redacted.make(`Bearer ${Redacted.value(auth.token)}`)

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
    case "Basic":
    case "Bearer":
      return Effect.succeed(headerAuth(client, authorization(auth)))
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
        const post = Request.json(transport, {
          method: "POST",
          path: "/_session",
          body: HttpBody.unsafeJson({ name: auth.username, password: Redacted.value(auth.password) })
        }, LoginAnswer, [])
        // the first login tells who keeps the cookie: the session, when its answer shows the cookie, else the
        // platform (a browser's jar, which hides Set-Cookie). Then each login stores a new marker, so that fibers
        // that met the same lapsed cookie share one login.
        const platformJar = yield* post.pipe(
          Effect.zipRight(Ref.get(cookie)),
          Effect.map(Option.isNone),
          Effect.tap((platform) =>
            platform ? Effect.zipRight(Ref.set(cookie, Option.some(platformCookie())), checkJar(transport)) : Effect.void
          ),
          Effect.withSpan("CouchSession.login")
        )
        const login = (platformJar ? Effect.zipRight(post, Ref.set(cookie, Option.some(platformCookie()))) : post)
          .pipe(Effect.withSpan("CouchSession.login"))
        const open = yield* Ref.make(true)
        const logout = Ref.set(open, false).pipe(
          Effect.zipRight(Request.discard(transport, { method: "DELETE", path: "/_session" }, [])),
          Effect.timeoutOption(Duration.seconds(5)),
          Effect.ignore,
          Effect.zipRight(Ref.set(cookie, Option.none()))
        )
        return {
          client: withRenewal(
            sessionClient,
            cookie,
            Effect.whenEffect(login, Ref.get(open)),
            platformJar ? `${baseUrl}/_session` : undefined
          ),
          logout
        }
      })
  }
}

/**
 * The `AuthSession` cookie held by a session, and when to renew it (shortly before it expires). A cookie whose
 * value is `undefined` is the platform's (a browser's jar): never sent by the session, renewed only when an answer
 * shows it lapsed.
 */
interface StoredCookie {
  readonly value: Redacted.Redacted<string> | undefined
  readonly renewAt: number | undefined
}

/** A new marker of a cookie in the platform's jar (a new object: renewals compare them by identity). */
const platformCookie = (): StoredCookie => ({ value: undefined, renewAt: undefined })

/**
 * After a login whose cookie the platform keeps: fails when the platform did not send it back, as a browser
 * does not on a cross-origin request without `credentials: "include"` (or when the server does not allow
 * credentials), instead of running the whole session as anonymous.
 */
const checkJar = (transport: Request.Transport): Effect.Effect<void, CouchError.RequestError> =>
  Effect.flatMap(
    Request.json(transport, { method: "GET", path: "/_session" }, SessionAnswer, []),
    (answer) =>
      answer.userCtx.name !== null ? Effect.void : Effect.fail(
        new CouchError.UnauthorizedError({
          method: "GET",
          url: `${transport.baseUrl}/_session`,
          status: 200,
          error: "unauthorized",
          reason: "the login was accepted, but the next request ran as anonymous: its answer showed no cookie " +
            "(a browser hides Set-Cookie), so the platform keeps it, and the platform did not send it back. " +
            "Across origins, send requests with credentials (provide FetchHttpClient.RequestInit " +
            "{ credentials: \"include\" }) and allow them on the server ([cors] credentials = true, the page's " +
            "origin in [cors] origins)"
        })
      )
  )

/** When to renew a cookie that lives `lifetime` ms from `now`: 5 s before it expires, or at 90% of a short life. */
const renewalTime = (now: number, lifetime: number) => now + lifetime - Math.min(5_000, lifetime / 10)

/**
 * Keeps a cookie session logged in: logs in again before a request when the cookie has expired, and once more
 * when the server answers 401 to a request that carried a cookie (the cookie lapsed or the server forgot it).
 * Logins are serialised: fibers that find the cookie expired at once share one login. A closed session's
 * `login` does nothing.
 *
 * With the platform's cookie (`sessionUrl` given) the expiry is unknown: a lapsed cookie shows in the answers,
 * as a 401, or as an anonymous answer to `GET sessionUrl` (CouchDB runs a lapsed cookie as anonymous); either
 * logs in again once and sends the request again.
 */
const withRenewal = (
  client: HttpClient.HttpClient,
  cookie: Ref.Ref<Option.Option<StoredCookie>>,
  login: Effect.Effect<unknown, CouchError.RequestError>,
  sessionUrl: string | undefined
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
          if (Option.isNone(sent)) return response
          if (
            sessionUrl !== undefined && response.status === 200 && request.method === "GET" &&
            request.url === sessionUrl
          ) {
            // read here, so the answer handed on is one of that body (a client need not cache a body it read)
            const body = yield* response.text
            const answer = HttpClientResponse.fromWeb(
              request,
              new Response(body, { status: response.status, headers: { ...response.headers } })
            )
            if (!isAnonymousSession(body)) return answer
            yield* renew(sent)
            return (yield* Ref.get(cookie)) === sent ? answer : yield* client.execute(request)
          }
          // a streamed body cannot be sent twice
          if (response.status !== 401 || request.body._tag === "Stream") return response
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
        Option.isSome(stored) && stored.value.value !== undefined ?
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
