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
  readonly _tag: "None"
}

/**
 * HTTP basic auth on every request.
 *
 * @since 0.1.0
 * @category models
 */
export interface Basic {
  readonly _tag: "Basic"
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

/**
 * A cookie session: the session logs in with `POST /_session` when it opens, sends the `AuthSession` cookie,
 * keeps the fresh cookie the server issues, and logs out with `DELETE /_session` when it closes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Cookie {
  readonly _tag: "Cookie"
  readonly username: string
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
  readonly _tag: "AuthSession"
  readonly cookie: Redacted.Redacted<string>
}

/**
 * A bearer token (CouchDB's JWT authentication handler).
 *
 * @since 0.1.0
 * @category models
 */
export interface Bearer {
  readonly _tag: "Bearer"
  readonly token: Redacted.Redacted<string>
}

const redact = (secret: string | Redacted.Redacted<string>): Redacted.Redacted<string> =>
  Redacted.isRedacted(secret) ? secret : Redacted.make(secret)

/**
 * @since 0.1.0
 * @category constructors
 */
export const none: CouchAuth = { _tag: "None" }

/**
 * @since 0.1.0
 * @category constructors
 */
export const basic = (username: string, password: string | Redacted.Redacted<string>): CouchAuth => ({
  _tag: "Basic",
  username,
  password: redact(password)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const cookie = (username: string, password: string | Redacted.Redacted<string>): CouchAuth => ({
  _tag: "Cookie",
  username,
  password: redact(password)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const authSession = (cookie: string | Redacted.Redacted<string>): CouchAuth => ({
  _tag: "AuthSession",
  cookie: redact(cookie)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const bearer = (token: string | Redacted.Redacted<string>): CouchAuth => ({
  _tag: "Bearer",
  token: redact(token)
})
