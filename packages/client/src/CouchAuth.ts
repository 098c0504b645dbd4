/**
 * How a session authenticates: not at all, with basic auth, with a cookie session (`POST /_session`), with an
 * `AuthSession` cookie obtained elsewhere, or with a bearer token (JWT).
 *
 * Secrets are held as `Redacted` values: they print as `<redacted>` and are unwrapped only where a request is
 * built.
 *
 * @since 0.1.0
 */
import * as Redacted from "effect/Redacted"

/**
 * @since 0.1.0
 * @category models
 */
export type CouchAuth = None | Basic | Cookie | AuthSession | Bearer

/**
 * No credentials: requests run as CouchDB's anonymous user.
 *
 * @since 0.1.0
 * @category models
 */
export interface None {
  /** Tells the methods apart. */
  readonly _tag: "None"
}

/**
 * HTTP basic auth on every request.
 *
 * @since 0.1.0
 * @category models
 */
export interface Basic {
  /** Tells the methods apart. */
  readonly _tag: "Basic"
  /** The user's name, sent with the password as `Authorization: Basic base64(username:password)`. */
  readonly username: string
  /** The user's password, unwrapped only to build the `Authorization` header. */
  readonly password: Redacted.Redacted<string>
}

/**
 * A cookie session: the session logs in with `POST /_session` when it opens, sends the `AuthSession` cookie,
 * keeps the fresh cookie the server issues, and logs out with `DELETE /_session` when it closes.
 *
 * Where the login's answer shows no cookie (a browser hides `Set-Cookie` from `fetch`), the platform's cookie jar
 * keeps it: the session sends no `Cookie` header, checks once after the login that the next request is not
 * anonymous (else it fails with `UnauthorizedError`: across origins the requests need `credentials: "include"`),
 * and logs in again once when an answer shows the cookie lapsed (a 401, or an anonymous `GET /_session`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Cookie {
  /** Tells the methods apart. */
  readonly _tag: "Cookie"
  /** The user's name, sent as `name` in the login's body (`POST /_session`). */
  readonly username: string
  /**
   * The user's password, sent in the login's body: when the session opens, and again whenever the cookie has
   * expired or the server answers 401 to a request that carried it.
   */
  readonly password: Redacted.Redacted<string>
}

/**
 * An `AuthSession` cookie value obtained elsewhere (aiocouch's `cookie`). The session sends it and keeps the
 * fresh cookie the server issues, but does not log it out: it was not the session's to end.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthSession {
  /** Tells the methods apart. */
  readonly _tag: "AuthSession"
  /**
   * The value of the `AuthSession` cookie (without `AuthSession=`), sent as `Cookie: AuthSession=...` until the
   * server issues a fresh one. The session cannot log in again when it expires.
   */
  readonly cookie: Redacted.Redacted<string>
}

/**
 * A bearer token (CouchDB's JWT authentication handler).
 *
 * @since 0.1.0
 * @category models
 */
export interface Bearer {
  /** Tells the methods apart. */
  readonly _tag: "Bearer"
  /** The token, sent on every request as `Authorization: Bearer <token>`. */
  readonly token: Redacted.Redacted<string>
}

const redact = (secret: string | Redacted.Redacted<string>): Redacted.Redacted<string> =>
  Redacted.isRedacted(secret) ? secret : Redacted.make(secret)

/**
 * No credentials: the session's requests are anonymous.
 *
 * @since 0.1.0
 * @category constructors
 */
export const none: CouchAuth = { _tag: "None" }

/**
 * Basic auth on every request. A plain string password is wrapped in `Redacted`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const basic = (username: string, password: string | Redacted.Redacted<string>): CouchAuth => ({
  _tag: "Basic",
  username,
  password: redact(password)
})

/**
 * A cookie session: logs in with `POST /_session` when the session opens and out when it closes. A plain string
 * password is wrapped in `Redacted`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const cookie = (username: string, password: string | Redacted.Redacted<string>): CouchAuth => ({
  _tag: "Cookie",
  username,
  password: redact(password)
})

/**
 * An `AuthSession` cookie obtained elsewhere (its value, without `AuthSession=`), sent as it is and never logged
 * out.
 *
 * @since 0.1.0
 * @category constructors
 */
export const authSession = (cookie: string | Redacted.Redacted<string>): CouchAuth => ({
  _tag: "AuthSession",
  cookie: redact(cookie)
})

/**
 * A bearer token (JWT), sent as `Authorization: Bearer <token>`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const bearer = (token: string | Redacted.Redacted<string>): CouchAuth => ({
  _tag: "Bearer",
  token: redact(token)
})
