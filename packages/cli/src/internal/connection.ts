/**
 * The options every command takes (where the server is, who to be, how to report) and the session they give.
 */
import * as Options from "@effect/cli/Options"
import * as CouchAuth from "@effect-couch/client/CouchAuth"
import * as CouchSession from "@effect-couch/client/CouchSession"
import * as NodeCouchTransport from "@effect-couch/node/NodeCouchTransport"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { Reporting } from "./output.js"

/** The connection and reporting options, shared by every command. */
export const connectionOptions = {
  url: Options.text("url").pipe(
    Options.withDescription("the server's URL (default: COUCHDB_URL, else http://127.0.0.1:5984)"),
    Options.withFallbackConfig(Config.string("COUCHDB_URL")),
    Options.withDefault("http://127.0.0.1:5984")
  ),
  user: Options.text("user").pipe(
    Options.withDescription("the user name (default: COUCHDB_USER)"),
    Options.withFallbackConfig(Config.string("COUCHDB_USER")),
    Options.optional
  ),
  password: Options.redacted("password").pipe(
    Options.withDescription("the password (default: COUCHDB_PASSWORD; never printed)"),
    Options.withFallbackConfig(Config.redacted("COUCHDB_PASSWORD")),
    Options.optional
  ),
  cookie: Options.boolean("cookie").pipe(
    Options.withDescription("log in with a cookie session (POST /_session) instead of basic auth")
  ),
  timeout: Options.integer("timeout").pipe(
    Options.withDescription("seconds a request may take before it fails"),
    Options.withDefault(60)
  ),
  quiet: Options.boolean("quiet").pipe(Options.withAlias("q"), Options.withDescription("no progress, no summary")),
  json: Options.boolean("json").pipe(Options.withDescription("progress and summaries as JSON lines on stderr"))
}

/** The parsed connection options. */
export interface Connection {
  readonly url: string
  readonly user: Option.Option<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
  readonly cookie: boolean
  readonly timeout: number
  readonly quiet: boolean
  readonly json: boolean
}

/** How to report, from the options. */
export const reporting = (connection: Connection): Reporting => ({ quiet: connection.quiet, json: connection.json })

/**
 * The session the options describe, over `@effect-couch/node`'s undici transport (a basic-auth session's requests
 * straight through undici's dispatcher); it logs out (a cookie session) when released.
 */
export const sessionLayer = (connection: Connection) => {
  const auth = Option.match(connection.user, {
    onNone: () => undefined,
    onSome: (user) => {
      const password = Option.getOrElse(connection.password, () => "")
      return connection.cookie ? CouchAuth.cookie(user, password) : CouchAuth.basic(user, password)
    }
  })
  return CouchSession.layer({
    url: connection.url,
    auth,
    timeout: Duration.seconds(connection.timeout)
  }).pipe(Layer.provide(NodeCouchTransport.layer()))
}
