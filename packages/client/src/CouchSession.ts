/**
 * A session to a CouchDB server: the configured HTTP client, authentication, and the server-level operations.
 *
 * @example
 * ```ts
 * import { CouchAuth, CouchSession } from "@effect-couch/client"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const Couch = CouchSession.layer({
 *   url: "http://127.0.0.1:5984",
 *   auth: CouchAuth.cookie("admin", Redacted.make("secret"))
 * }).pipe(Layer.provide(NodeHttpClient.layerUndici))
 *
 * const program = Effect.gen(function*() {
 *   const couch = yield* CouchSession.CouchSession
 *   const db = yield* couch.create("inventory", { existsOk: true })
 *   return yield* db.info
 * }).pipe(Effect.provide(Couch))
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as CouchAuth from "./CouchAuth.js"
import type * as CouchCluster from "./CouchCluster.js"
import type * as CouchError from "./CouchError.js"
import type * as CouchNode from "./CouchNode.js"
import type * as Database from "./Database.js"
import type * as DbUpdates from "./DbUpdates.js"
import type * as Document from "./Document.js"
import type * as Search from "./Search.js"
import { dual } from "effect/Function"
import * as internalRequest from "./internal/request.js"
import * as internal from "./internal/session.js"
import type * as Replication from "./Replication.js"

/**
 * How to reach and authenticate to a server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The server's URL, e.g. `http://127.0.0.1:5984` (a path prefix behind a proxy is kept). Credentials written in
   * it (`http://user:pass@host`) are taken out and used as basic auth unless `auth` is given.
   */
  readonly url: string
  /** How to authenticate; anonymous when absent. */
  readonly auth?: CouchAuth.CouchAuth | undefined
  /** The default time a request may take before it fails with a `TransportError` (reason `timeout`). */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * How to retry idempotent requests (GET, HEAD, writes that carry their revision, read-only POSTs such as
   * `_find`, `_bulk_get`, view `keys`) after a transport failure, 429, 500 or 502-504; a server's `Retry-After`
   * stretches the wait. Default: exponential from 100 ms, capped at 2 s, jittered, 3 retries. `false`: never.
   * `POST /{db}` and `_bulk_docs` are never retried, nor 401, 403, 404, 409 or 412.
   */
  readonly retry?:
    | Schedule.Schedule<unknown, CouchError.TransportError | CouchError.TooManyRequestsError | CouchError.ServerError>
    | false
    | undefined
  /**
   * Anything else to do to the client (headers, a proxy, tracing options). It sees every request as it will be
   * sent: full URL, `Accept` and authentication headers (so a session with it sends nothing through a transport
   * its client carries, see `CouchTransport`).
   */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
  /**
   * Whether requests carry the current span's trace context (`traceparent` and `b3` headers). Default: false, as
   * CouchDB reads neither; turn it on when a proxy in front of the server joins the trace. The spans themselves
   * (one per operation, one per HTTP request) are recorded either way.
   */
  readonly tracerPropagation?: boolean | undefined
}

/**
 * What `GET /` says of the server. `couchdb` is `"Welcome"` on Apache CouchDB; other compatible servers may omit
 * it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ServerInfo = Schema.Struct({
  couchdb: Schema.optional(Schema.String),
  version: Schema.String,
  gitSha: Schema.optional(Schema.String).pipe(Schema.fromKey("git_sha")),
  uuid: Schema.optional(Schema.String),
  features: Schema.optional(Schema.Array(Schema.String)),
  vendor: Schema.optional(Schema.Struct({ name: Schema.String, version: Schema.optional(Schema.String) }))
}).annotations({ identifier: "ServerInfo" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerInfo extends Schema.Schema.Type<typeof ServerInfo> {}

/**
 * Who the server takes the session to be (`GET /_session`): `name` is `null` for the anonymous user.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SessionInfo = Schema.Struct({
  userCtx: Schema.Struct({
    name: Schema.NullOr(Schema.String),
    roles: Schema.Array(Schema.String)
  }),
  info: Schema.optional(Schema.Struct({
    authenticated: Schema.optional(Schema.String),
    authenticationDb: Schema.optional(Schema.String).pipe(Schema.fromKey("authentication_db")),
    authenticationHandlers: Schema.optional(Schema.Array(Schema.String)).pipe(
      Schema.fromKey("authentication_handlers")
    )
  }))
}).annotations({ identifier: "SessionInfo" })

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionInfo extends Schema.Schema.Type<typeof SessionInfo> {}

/**
 * Options of `keys` (`GET /_all_dbs`).
 *
 * @since 0.1.0
 * @category models
 */
export interface KeysOptions {
  /** The first name to list (inclusive). */
  readonly startkey?: string | undefined
  /** The last name to list (inclusive). */
  readonly endkey?: string | undefined
  /** At most this many names. */
  readonly limit?: number | undefined
  /** Skip this many names first. */
  readonly skip?: number | undefined
  /** List in reverse order (then `startkey` is the highest name). */
  readonly descending?: boolean | undefined
}

/**
 * Options of `create` (`PUT /{db}`).
 *
 * @since 0.1.0
 * @category models
 */
export interface CreateOptions {
  /** Succeed with the existing database instead of failing with `PreconditionFailedError`. */
  readonly existsOk?: boolean | undefined
  /** Create a partitioned database. */
  readonly partitioned?: boolean | undefined
  /** The number of shards (CouchDB clusters). */
  readonly q?: number | undefined
  /** The number of replicas of each shard (CouchDB clusters). */
  readonly n?: number | undefined
}

/**
 * A user of the `_users` database, to create or update.
 *
 * @since 0.1.0
 * @category models
 */
export interface User {
  /** The user's name: the document is `_users/org.couchdb.user:{name}`. */
  readonly name: string
  /** Stored hashed by the server; never read back. */
  readonly password: string | Redacted.Redacted<string>
  /** The user's roles, which security objects grant access to (none when absent). */
  readonly roles?: ReadonlyArray<string> | undefined
}

/**
 * What `GET /_dbs_info` tells of one database: its info, or an error for a name that is not there.
 *
 * @since 0.1.0
 * @category models
 */
export interface DatabaseInfoEntry {
  /** The database's name. */
  readonly key: string
  /** The database's info, when it exists. */
  readonly info?: Database.DatabaseInfo | undefined
  /** Why there is no info (`not_found` for a name that is not there). */
  readonly error?: string | undefined
}

/**
 * One running task of `/_active_tasks` (compaction, indexing, replication): its `type` and the task's own
 * fields.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ActiveTask = Schema.Struct(
  { type: Schema.String },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
).annotations({ identifier: "ActiveTask" })

/**
 * @since 0.1.0
 * @category models
 */
export type ActiveTask = typeof ActiveTask.Type

/**
 * The nodes of the cluster (`/_membership`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Membership = Schema.Struct({
  allNodes: Schema.propertySignature(Schema.Array(Schema.String)).pipe(Schema.fromKey("all_nodes")),
  clusterNodes: Schema.propertySignature(Schema.Array(Schema.String)).pipe(Schema.fromKey("cluster_nodes"))
}).annotations({ identifier: "Membership" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Membership extends Schema.Schema.Type<typeof Membership> {}

/**
 * The session's operations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service extends Search.Analyzers {
  /** The server's URL, without credentials. */
  readonly url: string
  /**
   * The configured client: base URL, authentication and JSON `Accept` applied, paths relative to the server
   * (`client.get("/_up")`). For endpoints the library does not cover.
   */
  readonly client: HttpClient.HttpClient
  /** `GET /`: the server's welcome, with its version. */
  readonly info: Effect.Effect<ServerInfo, CouchError.RequestError>
  /** `GET /_session`: who the server takes this session to be. */
  readonly session: Effect.Effect<SessionInfo, CouchError.RequestError>
  /**
   * Fails with `UnauthorizedError` when the credentials are not accepted. CouchDB runs a request with an
   * expired or invalid cookie as anonymous, so an anonymous answer for a session that has credentials fails too.
   */
  readonly checkCredentials: Effect.Effect<void, CouchError.RequestError>
  /** `GET /_all_dbs`: the names of the databases (a server admin's call on CouchDB 3). */
  readonly keys: (
    options?: KeysOptions
  ) => Effect.Effect<ReadonlyArray<string>, CouchError.RequestError | CouchError.BadRequestError | CouchError.ForbiddenError>
  /** `PUT /{db}`: creates a database. */
  readonly create: (
    name: string,
    options?: CreateOptions
  ) => Effect.Effect<
    Database.Database,
    | CouchError.RequestError
    | CouchError.InvalidArgumentError
    | CouchError.PreconditionFailedError
    | CouchError.BadRequestError
    | CouchError.ForbiddenError
  >
  /** `HEAD /{db}`: the database, after checking that it exists. */
  readonly database: (
    name: string
  ) => Effect.Effect<
    Database.Database,
    CouchError.RequestError | CouchError.InvalidArgumentError | CouchError.NotFoundError | CouchError.ForbiddenError
  >
  /** `GET /_dbs_info` (or `POST` with `keys`): the info of many databases in one request. */
  readonly allDbsInfo: (
    options?: KeysOptions & { readonly keys?: ReadonlyArray<string> | undefined }
  ) => Effect.Effect<ReadonlyArray<DatabaseInfoEntry>, CouchError.RequestError | CouchError.BadRequestError | CouchError.ForbiddenError | CouchError.NotFoundError>
  /** `GET /_uuids`: `count` fresh UUIDs from the server. */
  readonly uuids: (count?: number) => Effect.Effect<ReadonlyArray<string>, CouchError.RequestError | CouchError.BadRequestError>
  /** `GET /_up`: succeeds when the server is up and ready. */
  readonly up: Effect.Effect<void, CouchError.RequestError | CouchError.NotFoundError>
  /** `GET /_active_tasks`: what the server is doing (a server admin's call). */
  readonly activeTasks: Effect.Effect<ReadonlyArray<ActiveTask>, CouchError.RequestError | CouchError.ForbiddenError>
  /** `GET /_membership`: the nodes of the cluster. */
  readonly membership: Effect.Effect<Membership, CouchError.RequestError | CouchError.ForbiddenError | CouchError.NotFoundError>
  /**
   * A node of the server (`/_node/{node}`: configuration, statistics, system figures, metrics, versions): `_local`
   * (the default) is the node that answers; on a cluster, a name from `membership`. Nothing is sent until one of
   * its operations runs.
   */
  readonly node: (name?: string) => CouchNode.CouchNode
  /**
   * `GET /_db_updates`: the server's database events (created, updated, deleted) as a stream: `normal` (the
   * events so far, then the last sequence), `longpoll` or `continuous`. A server admin's call.
   */
  readonly dbUpdates: (
    options?: DbUpdates.DbUpdatesOptions
  ) => Stream.Stream<DbUpdates.DbUpdateEvent, DbUpdates.DbUpdatesError>
  /**
   * A follower of `_db_updates`: its continuous feed read connection after connection from the checkpoint, as a
   * database's `follow` reads `_changes` (transient failures retried by `schedule`, a silent feed dropped after
   * `idleTimeout`, a reconnection every `reconnectAfter`).
   */
  readonly followDbUpdates: (options?: DbUpdates.FollowOptions) => Effect.Effect<DbUpdates.Follower>
  /**
   * The cluster as a whole: its setup (`/_cluster_setup`: state, `enableCluster`, `enableSingleNode`, `addNode`,
   * `finishCluster`) and resharding (`/_reshard`: state, split jobs). A server admin's. One node's own endpoints
   * are on {@link Service.node}.
   */
  readonly cluster: CouchCluster.CouchCluster
  /** Creates a user in `_users` (`PUT /_users/org.couchdb.user:{name}`). */
  readonly createUser: (user: User) => Effect.Effect<Document.WriteResult, Database.WriteError>
  /** Updates a user's password and/or roles (read, modify, write). */
  readonly updateUser: (
    name: string,
    changes: { readonly password?: string | Redacted.Redacted<string> | undefined; readonly roles?: ReadonlyArray<string> | undefined }
  ) => Effect.Effect<Document.WriteResult, Database.WriteError>
  /** Deletes a user from `_users`. */
  readonly deleteUser: (name: string) => Effect.Effect<Document.WriteResult, Database.WriteError>
  /** The database of that name, without asking the server whether it exists (nano's `use`). */
  readonly use: (name: string) => Effect.Effect<Database.Database, CouchError.InvalidArgumentError>
  /**
   * `POST /_replicate`: a one-shot replication (waits until done), or with `continuous: true` a continuous one
   * (answers its id at once). Source and target are database names (resolved against this session's URL, with its
   * credentials), URLs, or `{ url, auth }`; credentials never appear in errors or spans.
   */
  readonly replicate: Replication.Replicate
  /** `POST /_replicate` with `{ replication_id, cancel: true }`: stops a running replication by its id. */
  readonly cancelReplication: (
    replicationId: string
  ) => Effect.Effect<Replication.ContinuousReplication, Replication.ReplicateError>
  /** Persistent replications: documents of the `_replicator` database. */
  readonly replicator: Replication.Replicator
  /** The replication scheduler: `/_scheduler/jobs` and `/_scheduler/docs` (CouchDB 2.1+). */
  readonly scheduler: Replication.Scheduler
  /**
   * Ends the session now: a cookie session logs out (`DELETE /_session`) and stops sending its cookie.
   * Idempotent; the session's scope calls it when it closes.
   */
  readonly close: Effect.Effect<void>
}

/**
 * The session service.
 *
 * @since 0.1.0
 * @category tags
 */
export class CouchSession extends Context.Tag("@effect-couch/client/CouchSession")<CouchSession, Service>() {}

/**
 * Builds a session inside a scope: a cookie session logs in now and logs out when the scope closes.
 *
 * @example
 * ```ts
 * import { CouchAuth, CouchSession } from "@effect-couch/client"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Redacted } from "effect"
 *
 * // a session for one scope: it logs in here (POST /_session) and out when the scope closes
 * const countDatabases = Effect.scoped(
 *   Effect.gen(function*() {
 *     const couch = yield* CouchSession.make({
 *       url: "http://127.0.0.1:5984",
 *       auth: CouchAuth.cookie("admin", Redacted.make("secret"))
 *     })
 *     const names = yield* couch.keys()
 *     return names.length
 *   })
 * ).pipe(Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<
  Service,
  CouchError.RequestError | CouchError.InvalidArgumentError,
  HttpClient.HttpClient | Scope.Scope
> = internal.make

/**
 * A layer of a session. The application provides the `HttpClient` (`NodeHttpClient.layerUndici`,
 * `FetchHttpClient.layer`; on Node, `@effect-couch/node`'s `NodeCouchTransport.layer()` gives one that carries a
 * faster transport, see `CouchTransport`).
 *
 * @example
 * ```ts
 * import { CouchAuth, CouchSession } from "@effect-couch/client"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const CouchLive = CouchSession.layer({
 *   url: "http://127.0.0.1:5984",
 *   auth: CouchAuth.basic("admin", Redacted.make("secret")),
 *   timeout: "10 seconds"
 * }).pipe(Layer.provide(NodeHttpClient.layerUndici))
 *
 * const version = Effect.gen(function*() {
 *   const couch = yield* CouchSession.CouchSession
 *   const info = yield* couch.info
 *   return info.version
 * }).pipe(Effect.provide(CouchLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<CouchSession, CouchError.RequestError | CouchError.InvalidArgumentError, HttpClient.HttpClient> =>
  Layer.scoped(CouchSession, make(options))

/**
 * Session options from the environment: `COUCHDB_URL`, with `COUCHDB_USER` and `COUCHDB_PASSWORD` (a redacted
 * value) used as basic auth, or as a cookie login when `COUCHDB_AUTH` is `cookie`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  url: Config.string("COUCHDB_URL"),
  username: Config.option(Config.string("COUCHDB_USER")),
  password: Config.option(Config.redacted("COUCHDB_PASSWORD")),
  method: Config.literal("basic", "cookie")("COUCHDB_AUTH").pipe(Config.withDefault("basic" as const))
}).pipe(
  Config.map(({ method, password, url, username }): Options => {
    if (Option.isNone(username)) return { url }
    const secret = Option.getOrElse(password, () => "")
    const auth = method === "cookie" ?
      CouchAuth.cookie(username.value, secret) :
      CouchAuth.basic(username.value, secret)
    return { url, auth }
  })
)

/**
 * A layer of a session configured by a `Config`, by default {@link config} (the `COUCHDB_*` environment).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<
  CouchSession,
  CouchError.RequestError | CouchError.InvalidArgumentError | ConfigError.ConfigError,
  HttpClient.HttpClient
> => Layer.scoped(CouchSession, Effect.flatMap(options, make))

/**
 * Runs an effect with another request timeout than the session's: each request it sends fails with a
 * `TransportError` (reason `timeout`) when it takes longer. Streams that stay open (feeds) are not cut by it.
 *
 * @example
 * ```ts
 * import { CouchSession, type Database } from "@effect-couch/client"
 *
 * // this read may take 30 seconds, whatever the session's timeout
 * const readBig = (db: Database.Database) => db.get("big").pipe(CouchSession.withTimeout("30 seconds"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withTimeout: {
  (timeout: Duration.DurationInput): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, timeout: Duration.DurationInput): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, timeout: Duration.DurationInput): Effect.Effect<A, E, R> =>
    Effect.locally(self, internalRequest.currentTimeout, Option.some(timeout))
)

/**
 * The database `name` of the session in the context, without a request (the name is checked): the accessor of
 * `Service.use`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const use = (name: string): Effect.Effect<Database.Database, CouchError.InvalidArgumentError, CouchSession> =>
  Effect.flatMap(CouchSession, (session) => session.use(name))

/**
 * The existing database `name` of the session in the context (`HEAD /{db}`): the accessor of `Service.database`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const database = (name: string): Effect.Effect<
  Database.Database,
  Effect.Effect.Error<ReturnType<Service["database"]>>,
  CouchSession
> => Effect.flatMap(CouchSession, (session) => session.database(name))

/**
 * Creates the database `name` with the session in the context (`PUT /{db}`; `existsOk` takes an existing one):
 * the accessor of `Service.create`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const create = (name: string, options?: CreateOptions): Effect.Effect<
  Database.Database,
  Effect.Effect.Error<ReturnType<Service["create"]>>,
  CouchSession
> => Effect.flatMap(CouchSession, (session) => session.create(name, options))
