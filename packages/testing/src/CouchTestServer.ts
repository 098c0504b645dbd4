/**
 * A CouchDB server for tests: the real CouchDB named by `COUCHDB_URL`, or else an embedded
 * in-process server (express-pouchdb on PouchDB's memory adapter) started for the layer's
 * lifetime.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Embedded from "./internal/embedded.js"

/**
 * What the server under test supports. Each flag is `true` on Apache CouchDB 3.x; the embedded
 * server's value is documented on each flag (and in `DEVIATIONS.md`). Gate tests on these flags,
 * never on `kind`, when behaviour differs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Capabilities {
  /**
   * Permission failures of an authenticated user are 403 `forbidden` (anonymous: 401
   * `unauthorized`). Embedded: `true` (express-pouchdb answers 401 for everything; the test
   * server rewrites database access failures of named users to 403).
   */
  readonly forbiddenStatus: boolean
  /** `_find` answers a `bookmark` and accepts one to page. Embedded: `false`. */
  readonly findBookmark: boolean
  /** Partitioned databases (`PUT /db?partitioned=true`, `/_partition/...`). Embedded: `false` (the flag is ignored). */
  readonly partitions: boolean
  /** `GET`/`POST /_dbs_info`. Embedded: `false` (404). */
  readonly dbsInfo: boolean
  /** `GET /_up` answers `{"status":"ok"}`. Embedded: `true` (answered by the test server). */
  readonly up: boolean
  /** `/_scheduler/jobs` and `/_scheduler/docs`. Embedded: `false`. */
  readonly scheduler: boolean
  /**
   * The replicator is CouchDB's: `/_replicate` takes `{ url, auth }` endpoints and every option (`doc_ids`,
   * `selector`, `cancel`), a continuous replication answers its id, a missing source is 404 `db_not_found`.
   * Embedded: `false` (PouchDB's replicator behind express-pouchdb: URL strings only, `doc_ids` and `selector`
   * ignored, no cancel).
   */
  readonly couchReplicator: boolean
  /** `POST /db/_purge`. Embedded: `false`. */
  readonly purge: boolean
  /** `/db/_design_docs`. Embedded: `false`. */
  readonly designDocsEndpoint: boolean
  /** Multi-query views: `POST /db/_design/d/_view/v/queries` (and `_all_docs/queries`). Embedded: `false`. */
  readonly multiQuery: boolean
  /** `Range` requests on attachments answer 206. Embedded: `false` (always the whole body, 200). */
  readonly rangeRequests: boolean
  /** `_changes?feed=eventsource` (Server-Sent Events). Embedded: `true` (implemented by the test server). */
  readonly eventsource: boolean
  /**
   * A continuous feed ends (on `timeout` or `limit`) with a `{"last_seq":...,"pending":n}` line.
   * Embedded: `true` (the test server serves all `_changes` feeds itself).
   */
  readonly lastSeqLine: boolean
  /**
   * `timeout` ends an idle longpoll/continuous feed (with the `last_seq` line / empty results);
   * `heartbeat` overrides it. Embedded: `true` (stock express-pouchdb ignores `timeout`).
   */
  readonly changesTimeout: boolean
  /** A deleted document answers 404 with reason `deleted` (never existed: `missing`). Embedded: `true` (fixed). */
  readonly deletedReason: boolean
  /** `COPY` answers `{"ok":true,"id":...,"rev":...}` (and an ETag). Embedded: `true` (fixed). */
  readonly copyReturnsIdRev: boolean
  /** `/_all_dbs` needs a server admin (401 otherwise). Embedded: `true` (fixed; stock is open). */
  readonly allDbsRequiresAdmin: boolean
  /**
   * Non-members cannot read a members-only database through `_find`, `_explain`, `_bulk_get`,
   * `_index`. Embedded: `true` (fixed; stock lets them).
   */
  readonly membersOnlyFindEnforced: boolean
  /**
   * Sequences are opaque strings (`"3-g1AAAA..."`). Embedded: `false` (integers). Clients must
   * accept both and never compare them.
   */
  readonly stringSequences: boolean
  /**
   * The cookie lifetime is `[chttpd_auth] timeout` in `/_node/_local/_config`, cookies carry it as
   * `Max-Age`, and the server re-issues a fresh cookie after a tenth of it. Embedded: `true` (the
   * test server maps the section to express-pouchdb's `couch_httpd_auth` and sets `Max-Age`; it
   * re-issues the cookie on every authenticated request).
   */
  readonly cookieTimeoutConfig: boolean
  /** `/_uuids` are 32 lowercase hex characters. Embedded: `true` (answered by the test server). */
  readonly uuidsHex: boolean
  /** `DELETE` of a missing database is 404. Embedded: `true` (fixed; stock answers 200). */
  readonly deleteMissingDb404: boolean
  /**
   * `DELETE /db/doc` without `rev` (or `If-Match`) is 409 `conflict` (404 if missing).
   * Embedded: `true` (fixed; stock deletes the current revision).
   */
  readonly deleteNeedsRev: boolean
  /**
   * `PUT /db` refuses names outside `^[a-z][a-z0-9_$()+/-]*$` (max 238, plus the system
   * databases) with 400 `illegal_database_name`. Embedded: `true` (fixed; stock accepts any name).
   */
  readonly validDatabaseNames: boolean
  /** Database names may contain `/` (sent as `%2F`). Embedded: `false` (400 `illegal_database_name`). */
  readonly slashInDatabaseNames: boolean
  /** `GET /` has `"couchdb":"Welcome"` and a 3.x `version`. Embedded: `true` (answered by the test server). */
  readonly serverInfoCouchdbKey: boolean
  /**
   * New databases get the admin-only security object
   * `{"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}}` (CouchDB 3 default).
   * Embedded: `true` (set by the test server after `PUT /db`).
   */
  readonly adminOnlyByDefault: boolean
  /** `/_node/_local/_config/...` exists and needs a server admin. Embedded: `true` (mapped onto `/_config`). */
  readonly nodeConfig: boolean
  /**
   * `/_node/{node}/_stats`, `_system`, `_prometheus` and `_versions` exist (a server admin's). Embedded: `false`
   * (express-pouchdb has none of them).
   */
  readonly nodeStats: boolean
  /**
   * The search endpoints are CouchDB's (`_search`, `_search_info`, `_search_analyze`, `_nouveau`, `_nouveau_info`,
   * `_nouveau_analyze`, the cleanups); without a search server CouchDB 3.5.2 answers Clouseau's 503 "Search is not
   * available", Nouveau's 404 `missing` (disabled by default), the cleanups 202. Embedded: `false` (express-pouchdb
   * takes them for attachments and databases: 404, or 400 `only_multipart_accepted` for a POST).
   */
  readonly searchEndpoints: boolean
  /**
   * `/{db}/_shards`, `/{db}/_shards/{docid}` and `/{db}/_purged_infos_limit` exist. Embedded: `false` (PouchDB has no
   * shards and no purge history).
   */
  readonly shards: boolean
  /** `GET /{db}/_local_docs` lists the local documents. Embedded: `false` (express-pouchdb has no such endpoint). */
  readonly localDocsEndpoint: boolean
  /** `PUT /db/doc` with a `multipart/related` body (document plus attachments). Embedded: `true` (served by the test server). */
  readonly multipartPut: boolean
  /**
   * `GET /db/doc?attachments=true` answers `multipart/related` when asked. Embedded: `true` (served by the test
   * server, attachments sent as stored: never gzip-compressed, as CouchDB sends text types).
   */
  readonly multipartGet: boolean
  /**
   * Repeated failed logins lock a user out with 403 on every route (CouchDB 3.4+). Embedded: `true` for basic
   * credentials (5 failures lock the user out for 5 minutes, as CouchDB's defaults); on CouchDB: `true` from 3.4.
   */
  readonly loginLockout: boolean
  /** `X-Couch-Request-ID` is sent on every response. Embedded: `true` (added by the test server). */
  readonly requestIdHeader: boolean
  /** Views honour `startkey_docid`/`endkey_docid` (rows sharing a key are ordered by id). Embedded: `false` (ignored). */
  readonly startkeyDocid: boolean
  /** `GET /{db}/_design/{ddoc}/_info` describes the view index. Embedded: `false` (`"Not implemented."`). */
  readonly designInfo: boolean
  /** `_find` answers `execution_stats` when asked. Embedded: `false`. */
  readonly executionStats: boolean
  /**
   * A design document whose fields have the wrong types (a map that is not a string, an unknown built-in reduce,
   * ...) is refused with 400 `invalid_design_doc`. Embedded: `false` (PouchDB stores it).
   */
  readonly designValidation: boolean
  /**
   * `GET /_db_updates` streams the server's database events (normal, longpoll, continuous), a server admin's feed
   * that needs the `_global_changes` database. Embedded: `false` (express-pouchdb answers 400 with no body).
   */
  readonly dbUpdates: boolean
  /**
   * `GET`/`POST /_cluster_setup` (the state, a server admin's, and the setup actions). Embedded: `false` (every GET
   * answers 201 `cluster_disabled`, to anyone; no POST: 404).
   */
  readonly clusterSetup: boolean
  /** `/_reshard` (summary, state, split jobs). Embedded: `false` (404: PouchDB has no shards). */
  readonly reshard: boolean
  /**
   * The server is a node of a cluster of more than one node (`/_membership`): writes can be answered 202, reads can
   * be stale, concurrent writers can leave conflicts. Embedded: `false`; on CouchDB: detected.
   */
  readonly cluster: boolean
}

/**
 * The capabilities of Apache CouchDB 3.x (`loginLockout` depends on the version; `cluster` is `false` here, and
 * detected from `/_membership` for a server at `COUCHDB_URL`).
 *
 * @since 0.1.0
 * @category capabilities
 */
export const couchdbCapabilities = (version: string): Capabilities => {
  const [major = 0, minor = 0] = version.split(".").map((n) => Number.parseInt(n, 10))
  return {
    forbiddenStatus: true,
    findBookmark: true,
    partitions: true,
    dbsInfo: true,
    up: true,
    scheduler: true,
    couchReplicator: true,
    purge: true,
    designDocsEndpoint: true,
    multiQuery: true,
    rangeRequests: true,
    eventsource: true,
    lastSeqLine: true,
    changesTimeout: true,
    deletedReason: true,
    copyReturnsIdRev: true,
    allDbsRequiresAdmin: true,
    membersOnlyFindEnforced: true,
    stringSequences: true,
    cookieTimeoutConfig: true,
    uuidsHex: true,
    deleteMissingDb404: true,
    deleteNeedsRev: true,
    validDatabaseNames: true,
    slashInDatabaseNames: true,
    serverInfoCouchdbKey: true,
    adminOnlyByDefault: true,
    nodeConfig: true,
    nodeStats: true,
    searchEndpoints: true,
    shards: true,
    localDocsEndpoint: true,
    multipartPut: true,
    multipartGet: true,
    designValidation: true,
    loginLockout: major > 3 || (major === 3 && minor >= 4),
    requestIdHeader: true,
    startkeyDocid: true,
    designInfo: true,
    executionStats: true,
    dbUpdates: true,
    clusterSetup: true,
    reshard: true,
    cluster: false
  }
}

/**
 * The capabilities of the embedded server (express-pouchdb 4.2.0 behind the test server's fixes).
 *
 * @since 0.1.0
 * @category capabilities
 */
export const embeddedCapabilities: Capabilities = {
  ...couchdbCapabilities("3.3.3"),
  findBookmark: false,
  nodeStats: false,
  searchEndpoints: false,
  shards: false,
  localDocsEndpoint: false,
  partitions: false,
  dbsInfo: false,
  scheduler: false,
  couchReplicator: false,
  purge: false,
  designDocsEndpoint: false,
  multiQuery: false,
  rangeRequests: false,
  stringSequences: false,

  slashInDatabaseNames: false,
  multipartPut: true,
  multipartGet: true,
  designValidation: false,
  loginLockout: true,
  startkeyDocid: false,
  designInfo: false,
  executionStats: false,
  dbUpdates: false,
  clusterSetup: false,
  reshard: false
}

/**
 * The server under test.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestServer {
  /** Base URL without credentials and without a trailing slash, e.g. `http://127.0.0.1:5984`. */
  readonly url: string
  /** A server admin. */
  readonly admin: {
    readonly username: string
    readonly password: Redacted.Redacted<string>
  }
  /** `"embedded"` (in-process express-pouchdb) or `"couchdb"` (the server at `COUCHDB_URL`). */
  readonly kind: "embedded" | "couchdb"
  /** The `version` of `GET /` (the embedded server reports `3.3.3`). */
  readonly version: string
  /** What the server supports. */
  readonly capabilities: Capabilities
  /**
   * The base URL of every node of the server, `url` first: for a cluster, the nodes `COUCHDB_NODE_URLS` lists
   * (comma-separated; `COUCHDB_URL` is one of them), so that tests can write through one node and read through
   * another; `[url]` otherwise.
   */
  readonly nodes: ReadonlyArray<string>
  /**
   * Takes the server away for `downtime` and brings it back on the same URL with its data, as a restart does:
   * live feeds end, every connection is closed, new ones are refused meanwhile. Only the embedded server can
   * (`undefined` for the server at `COUCHDB_URL`): gate restart tests on it.
   */
  readonly restart: ((downtime: Duration.DurationInput) => Effect.Effect<void, CouchTestServerError>) | undefined
}

/**
 * The server under test, as a service.
 *
 * @since 0.1.0
 * @category tags
 */
export class CouchTestServer extends Context.Tag("@effect-couch/testing/CouchTestServer")<
  CouchTestServer,
  TestServer
>() {}

/**
 * Starting, probing or talking to the test server failed. The message never contains the password.
 *
 * @since 0.1.0
 * @category errors
 */
export class CouchTestServerError extends Schema.TaggedError<CouchTestServerError>(
  "@effect-couch/testing/CouchTestServerError"
)("CouchTestServerError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * CouchDB's CORS settings (`[chttpd] enable_cors = true` and the `[cors]` section), for a browser app under test
 * served from another origin than the server. Off unless given, as on CouchDB. A preflight (`OPTIONS` with
 * `Access-Control-Request-Method`) from an allowed origin is answered 204 with `Access-Control-Allow-Origin` (the
 * request's origin), `-Allow-Methods`, `-Allow-Headers`, `-Max-Age` and, with `credentials`,
 * `-Allow-Credentials: true`; other answers to an allowed origin carry `Access-Control-Allow-Origin`,
 * `-Allow-Credentials` and `-Expose-Headers`.
 *
 * @example
 * ```ts
 * import type { CouchTestServer } from "@effect-couch/testing"
 *
 * // any origin, without credentials (basic auth in an Authorization header, or anonymous)
 * export const open: CouchTestServer.CorsOptions = { origins: ["*"] }
 * // one origin, whose requests carry the session cookie
 * export const cookies: CouchTestServer.CorsOptions = { origins: ["http://127.0.0.1:8123"], credentials: true }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface CorsOptions {
  /**
   * The origins allowed, each `scheme://host[:port]` exactly as a browser sends `Origin` (no path, no trailing
   * slash), or `"*"` for any (`[cors] origins`).
   */
  readonly origins: ReadonlyArray<string>
  /**
   * Whether requests may carry credentials, such as the `AuthSession` cookie of a cookie session (`[cors]
   * credentials`; default `false`). Not with `"*"` in `origins`, which CouchDB's documentation forbids.
   */
  readonly credentials?: boolean | undefined
  /**
   * The methods a preflight accepts (`[cors] methods`); default CouchDB's: `CONNECT`, `COPY`, `DELETE`, `GET`,
   * `HEAD`, `OPTIONS`, `POST`, `PUT`, `TRACE`.
   */
  readonly methods?: ReadonlyArray<string> | undefined
  /**
   * The request headers a preflight accepts, in place of CouchDB's list (`[cors] headers`); default: `accept`,
   * `accept-language`, `authorization`, `content-length`, `content-range`, `content-type`, `destination`,
   * `expires`, `if-match`, `last-modified`, `origin`, `pragma`, `x-couch-full-commit`, `x-couch-id`,
   * `x-couch-persist`, `x-couchdb-www-authenticate`, `x-http-method-override`, `x-requested-with`,
   * `x-couchdb-vhost-path`.
   */
  readonly headers?: ReadonlyArray<string> | undefined
  /**
   * The answer headers exposed to the page besides its content type and simple headers (`[cors]
   * exposed_headers`); default: `accept-ranges`, `etag`, `server`, `x-couch-request-id`, `x-couch-update-newrev`,
   * `x-couchdb-body-time`.
   */
  readonly exposedHeaders?: ReadonlyArray<string> | undefined
  /** How long a browser may keep a preflight's answer (`[cors] max_age`, whole seconds; default 600 seconds). */
  readonly maxAge?: Duration.DurationInput | undefined
}

/**
 * Options of {@link makeWith} and {@link layerWith}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Answer cross-origin requests as CouchDB's CORS settings say. The embedded server applies them for the
   * layer's lifetime; a server at `COUCHDB_URL` is never reconfigured: a preflight from each origin checks that
   * its own `[cors]` allows them (with credentials when asked), else the layer fails saying what to set.
   */
  readonly cors?: CorsOptions | undefined
}

// -----------------------------------------------------------------------------
// internal helpers
// -----------------------------------------------------------------------------

const ServerInfo = Schema.Struct({
  couchdb: Schema.String,
  version: Schema.String
})

const SessionInfo = Schema.Struct({
  userCtx: Schema.Struct({
    name: Schema.NullOr(Schema.String),
    roles: Schema.Array(Schema.String)
  })
})

const adminRequest = (server: Pick<TestServer, "url" | "admin">, method: "GET" | "PUT" | "DELETE", path: string) =>
  HttpClientRequest.make(method)(`${server.url}${path}`).pipe(
    HttpClientRequest.basicAuth(server.admin.username, server.admin.password),
    HttpClientRequest.acceptJson
  )

const describe = (method: string, url: string) => `${method} ${url}`

/** Runs a request, fails with a CouchTestServerError unless the status is 2xx; returns the body. */
const execute = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(request)
    const body = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
    if (response.status < 200 || response.status >= 300) {
      return yield* new CouchTestServerError({
        message: `${describe(request.method, request.url)} answered ${response.status}: ${body.trim().slice(0, 300)}`
      })
    }
    return { response, body }
  }).pipe(
    Effect.catchTags({
      RequestError: (cause) =>
        new CouchTestServerError({ message: `${describe(request.method, request.url)} failed: ${cause.reason}`, cause }),
      ResponseError: (cause) =>
        new CouchTestServerError({ message: `${describe(request.method, request.url)} failed: ${cause.reason}`, cause })
    }),
    Effect.provide(NodeHttpClient.layerUndici)
  )

const decodeJson = <A, I>(schema: Schema.Schema<A, I>, what: string) => (body: string) =>
  Schema.decodeUnknown(Schema.parseJson(schema))(body).pipe(
    Effect.mapError((cause) =>
      new CouchTestServerError({ message: `Unexpected ${what}: ${body.trim().slice(0, 300)}`, cause })
    )
  )

const probe = (server: Pick<TestServer, "url" | "admin">) =>
  Effect.gen(function*() {
    const root = yield* execute(adminRequest(server, "GET", "/"))
    const info = yield* decodeJson(ServerInfo, `GET ${server.url}/ answer (not CouchDB?)`)(root.body)
    const session = yield* execute(adminRequest(server, "GET", "/_session"))
    const ctx = yield* decodeJson(SessionInfo, "GET /_session answer")(session.body)
    if (!ctx.userCtx.roles.includes("_admin")) {
      return yield* new CouchTestServerError({
        message: `The credentials for ${server.url} (user '${server.admin.username}') are not a server admin's`
      })
    }
    const membership = yield* execute(adminRequest(server, "GET", "/_membership"))
    const nodes = yield* decodeJson(Membership, "GET /_membership answer")(membership.body)
    return { ...info, cluster: nodes.cluster_nodes.length > 1 }
  })

const Membership = Schema.Struct({ cluster_nodes: Schema.Array(Schema.String) })

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/** A lease of the process's embedded server (started by the first), given back when the scope closes. */
const leaseEmbedded = Effect.acquireRelease(
  Effect.tryPromise({
    try: () => Embedded.acquire(),
    catch: (cause) =>
      new CouchTestServerError({
        message: `Could not start the embedded CouchDB server: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })
  }),
  (lease) => Effect.promise(() => lease.release()).pipe(Effect.timeoutOption("10 seconds"))
)

/**
 * Starts (or joins) the embedded in-process server, stopped when the scope closes (the server
 * is shared by the open scopes of one process; the last one stops it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeEmbedded: Effect.Effect<TestServer, CouchTestServerError, Scope.Scope> = Effect.gen(function*() {
  const lease = yield* leaseEmbedded
  return CouchTestServer.of({
    url: lease.server.url,
    admin: { username: lease.server.admin.username, password: Redacted.make(lease.server.admin.password) },
    kind: "embedded",
    version: lease.server.version,
    capabilities: embeddedCapabilities,
    nodes: [lease.server.url],
    restart: (downtime) =>
      Effect.tryPromise({
        try: () => lease.server.restart(Duration.toMillis(Duration.decode(downtime))),
        catch: (cause) =>
          new CouchTestServerError({
            message: `Could not restart the embedded CouchDB server: ${cause instanceof Error ? cause.message : String(cause)}`,
            cause
          })
      })
  })
})

/**
 * Uses a running CouchDB: probes `GET /` for its version and checks that the credentials are a
 * server admin's. Credentials in the URL (`http://user:pass@host:5984`) are taken out of it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRemote = (options: {
  readonly url: string
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** The base URLs of the other nodes of a cluster (those of `url` is added first when missing). */
  readonly nodes?: ReadonlyArray<string> | undefined
}): Effect.Effect<TestServer, CouchTestServerError> =>
  Effect.gen(function*() {
    const parsed = yield* Effect.try({
      try: () => new URL(options.url),
      catch: () => new CouchTestServerError({ message: "COUCHDB_URL is not a valid URL" })
    })
    const urlUser = parsed.username === "" ? undefined : decodeURIComponent(parsed.username)
    const urlPassword = parsed.password === "" ? undefined : Redacted.make(decodeURIComponent(parsed.password))
    parsed.username = ""
    parsed.password = ""
    parsed.search = ""
    parsed.hash = ""
    const url = parsed.toString().replace(/\/+$/, "")
    const username = options.username ?? urlUser
    const password = options.password ?? urlPassword
    if (username === undefined || password === undefined) {
      return yield* new CouchTestServerError({
        message: `No admin credentials for ${url}: set COUCHDB_USER and COUCHDB_PASSWORD (or put them in COUCHDB_URL)`
      })
    }
    const admin = { username, password }
    const info = yield* probe({ url, admin })
    return CouchTestServer.of({
      url,
      admin,
      kind: "couchdb",
      version: info.version,
      capabilities: { ...couchdbCapabilities(info.version), cluster: info.cluster },
      nodes: [url, ...(options.nodes ?? []).map((node) => node.replace(/\/+$/, "")).filter((node) => node !== url)],
      restart: undefined
    })
  })

/**
 * `COUCHDB_URL` (with `COUCHDB_USER` / `COUCHDB_PASSWORD`, or credentials in the URL) if set,
 * else the embedded server.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<TestServer, CouchTestServerError, Scope.Scope> = Effect.gen(function*() {
  const config = yield* Config.all({
    url: Config.option(Config.nonEmptyString("COUCHDB_URL")),
    username: Config.option(Config.nonEmptyString("COUCHDB_USER")),
    password: Config.option(Config.redacted("COUCHDB_PASSWORD")),
    nodes: Config.option(Config.array(Config.nonEmptyString(), "COUCHDB_NODE_URLS"))
  }).pipe(
    Effect.mapError((cause) =>
      new CouchTestServerError({ message: `Invalid CouchDB test configuration: ${cause.message}`, cause })
    )
  )
  if (Option.isNone(config.url)) return yield* makeEmbedded
  return yield* makeRemote({
    url: config.url.value,
    username: Option.getOrUndefined(config.username),
    password: Option.getOrUndefined(config.password),
    nodes: Option.getOrUndefined(config.nodes)
  })
})

/** The embedded form of a `CorsOptions`. */
const corsPolicy = (cors: CorsOptions): Embedded.CorsPolicy => ({
  origins: cors.origins,
  credentials: cors.credentials,
  methods: cors.methods,
  headers: cors.headers,
  exposedHeaders: cors.exposedHeaders,
  maxAge: cors.maxAge === undefined ? undefined : Math.floor(Duration.toSeconds(Duration.decode(cors.maxAge)))
})

/**
 * Allows a CORS policy on the embedded server for the scope's lifetime, through a lease of its own: the server
 * is shared by the open layers of the process, so it is the one `makeEmbedded` leased.
 */
const allowCors = (cors: CorsOptions) =>
  Effect.gen(function*() {
    const lease = yield* leaseEmbedded
    yield* Effect.acquireRelease(
      Effect.try({
        try: () => lease.server.allowCors(corsPolicy(cors)),
        catch: (cause) =>
          new CouchTestServerError({
            message: `Invalid CORS options: ${cause instanceof Error ? cause.message : String(cause)}`,
            cause
          })
      }),
      (disallow) => Effect.sync(disallow)
    )
  })

/**
 * Checks, with a preflight from each origin, that a server answers CORS as `cors` asks (never changing its
 * configuration).
 */
const checkCors = (server: TestServer, cors: CorsOptions) =>
  Effect.forEach(
    cors.origins.filter((origin) => origin !== "*").concat(cors.origins.includes("*") ? ["http://127.0.0.1:9"] : []),
    (origin) =>
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const url = `${server.url}/`
        const response = yield* client.execute(
          HttpClientRequest.make("OPTIONS")(url).pipe(
            HttpClientRequest.setHeaders({ origin, "access-control-request-method": "GET" })
          )
        )
        const allowed = response.headers["access-control-allow-origin"]
        const credentials = response.headers["access-control-allow-credentials"] === "true"
        if (
          response.status >= 200 && response.status < 300 && (allowed === origin || allowed === "*") &&
          (cors.credentials !== true || (credentials && allowed === origin))
        ) return
        const settings = `[chttpd] enable_cors = true, [cors] origins = ${cors.origins.join(", ")}${
          cors.credentials === true ? ", credentials = true" : ""
        }`
        return yield* new CouchTestServerError({
          message: `${server.url} does not answer CORS for ${origin}${
            cors.credentials === true ? " with credentials" : ""
          } (a preflight answered ${response.status}, Access-Control-Allow-Origin ${allowed ?? "absent"}): set ${settings}`
        })
      }).pipe(
        Effect.catchTags({
          RequestError: (cause) =>
            new CouchTestServerError({ message: `OPTIONS ${server.url}/ failed: ${cause.reason}`, cause }),
          ResponseError: (cause) =>
            new CouchTestServerError({ message: `OPTIONS ${server.url}/ failed: ${cause.reason}`, cause })
        }),
        Effect.provide(NodeHttpClient.layerUndici)
      ),
    { discard: true }
  )

/**
 * `make` with options: `COUCHDB_URL` if set (its CORS settings checked against `cors`), else the embedded server
 * (answering CORS as `cors` says while the scope is open).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (options: Options): Effect.Effect<TestServer, CouchTestServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* make
    const cors = options.cors
    if (cors === undefined) return server
    if (server.kind === "embedded") yield* allowCors(cors)
    else yield* checkCors(server, cors)
    return server
  })

/**
 * The test server: `COUCHDB_URL` if set, else an embedded server for the layer's lifetime.
 *
 * @example
 * ```ts
 * import { CouchTestServer } from "@effect-couch/testing"
 * import { expect, layer } from "@effect/vitest"
 * import * as Effect from "effect/Effect"
 *
 * layer(CouchTestServer.layer)("my client", (it) => {
 *   it.scoped("creates documents", () =>
 *     Effect.gen(function*() {
 *       const server = yield* CouchTestServer.CouchTestServer
 *       const db = yield* CouchTestServer.database("docs")
 *       expect(server.url).toMatch(/^http/)
 *       expect(db).toMatch(/^docs-/)
 *     }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<CouchTestServer, CouchTestServerError> = Layer.scoped(CouchTestServer, make)

/**
 * The test server with options, such as CORS for a browser app served from another origin: `COUCHDB_URL` if set,
 * else an embedded server for the layer's lifetime.
 *
 * @example
 * ```ts
 * import { CouchTestServer } from "@effect-couch/testing"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * // a browser test's page is served on http://127.0.0.1:8123, and its session logs in with a cookie
 * const TestServer = CouchTestServer.layerWith({
 *   cors: { origins: ["http://127.0.0.1:8123"], credentials: true, maxAge: "10 minutes" }
 * })
 * export const TestLive = Layer.merge(TestServer, NodeHttpClient.layerUndici)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<CouchTestServer, CouchTestServerError> =>
  Layer.scoped(CouchTestServer, makeWith(options))

/**
 * Always the embedded server, even when `COUCHDB_URL` is set.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEmbedded: Layer.Layer<CouchTestServer, CouchTestServerError> = Layer.scoped(
  CouchTestServer,
  makeEmbedded
)

// -----------------------------------------------------------------------------
// databases
// -----------------------------------------------------------------------------

/**
 * Creates a fresh, uniquely named database (`<prefix>-<time>-<random>`) as the server admin,
 * and deletes it when the scope closes (deletion failures are ignored). The prefix must start
 * with a lowercase letter and use only `a-z`, `0-9`, `_`, `$`, `(`, `)`, `+`, `-`.
 *
 * @since 0.1.0
 * @category databases
 */
export const database = (prefix = "test"): Effect.Effect<string, CouchTestServerError, CouchTestServer | Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* CouchTestServer
    if (!/^[a-z][a-z0-9_$()+-]*$/.test(prefix)) {
      return yield* new CouchTestServerError({ message: `Invalid database name prefix: '${prefix}'` })
    }
    // from the Clock and Random (TestClock and TestRandom make names repeatable); a name another process took
    // (412 file_exists, as under TestRandom with the same seed) is drawn again
    for (let attempt = 1; ; attempt++) {
      const time = yield* Clock.currentTimeMillis
      const random = yield* Random.nextIntBetween(0, 36 ** 8)
      const name = `${prefix}-${time.toString(36)}-${random.toString(36).padStart(8, "0")}`
      if (!Embedded.isValidDatabaseName(name)) {
        return yield* new CouchTestServerError({ message: `Invalid database name prefix: '${prefix}'` })
      }
      const path = `/${encodeURIComponent(name)}`
      const created = yield* Effect.either(Effect.acquireRelease(
        execute(adminRequest(server, "PUT", path)),
        () => execute(adminRequest(server, "DELETE", path)).pipe(Effect.timeout("10 seconds"), Effect.ignore)
      ))
      if (created._tag === "Right") return name
      if (attempt >= 5 || !created.left.message.includes(" answered 412")) return yield* created.left
    }
  }).pipe(Effect.withSpan("CouchTestServer.database", { attributes: { prefix } }))

/**
 * Whether a string is a valid CouchDB database name (`^[a-z][a-z0-9_$()+/-]*$`, at most 238
 * characters, or one of `_users`, `_replicator`, `_global_changes`).
 *
 * @since 0.1.0
 * @category databases
 */
export const isValidDatabaseName: (name: string) => boolean = Embedded.isValidDatabaseName

