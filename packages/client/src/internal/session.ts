import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as CouchSessionDefaults from "./defaults.js"
import * as CouchAuth from "../CouchAuth.js"
import * as CouchError from "../CouchError.js"
import * as CouchSession from "../CouchSession.js"
import * as CouchTransport from "../CouchTransport.js"
import * as Database from "../Database.js"
import * as Auth from "./auth.js"
import * as ClusterImpl from "./cluster.js"
import * as DatabaseImpl from "./database.js"
import * as DbUpdatesImpl from "./dbUpdates.js"
import * as Json from "./json.js"
import * as Names from "./names.js"
import * as ReplicationImpl from "./replication.js"
import * as NodeImpl from "./node.js"
import { jsonParam } from "./endpoint.js"
import * as Request from "./request.js"
import * as SearchImpl from "./search.js"

interface ParsedUrl {
  readonly baseUrl: string
  readonly auth: CouchAuth.CouchAuth | undefined
}

/** Splits credentials out of a server URL: `http://user:pass@host/prefix/` gives `http://host/prefix`. */
export const parseUrl = (url: string): Effect.Effect<ParsedUrl, CouchError.InvalidArgumentError> =>
  Effect.try({
    try: () => {
      const parsed = new URL(url)
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
        throw new Error(`the protocol must be http: or https:, not ${parsed.protocol}`)
      }
      const auth = parsed.username === "" ?
        undefined :
        CouchAuth.basic(decodeURIComponent(parsed.username), decodeURIComponent(parsed.password))
      const baseUrl = `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, "")}`
      return { baseUrl, auth }
    },
    catch: (error) =>
      new CouchError.InvalidArgumentError({
        argument: "server URL",
        // the URL may hold a password: say what is wrong without repeating it
        description: error instanceof Error && error.message.startsWith("the protocol") ?
          error.message :
          "not a valid absolute URL"
      })
  })

const AllDbs = Schema.Array(Schema.String)
const Uuids = Schema.Struct({ uuids: Schema.Array(Schema.String) })
const userId = (name: string) => `org.couchdb.user:${name}`
const Acknowledgement = Schema.Struct({ ok: Schema.optional(Schema.Boolean) })

/** Builds the session service. */
export const make = (
  options: CouchSession.Options
): Effect.Effect<
  CouchSession.Service,
  CouchError.RequestError | CouchError.InvalidArgumentError,
  HttpClient.HttpClient | Scope.Scope
> =>
  Effect.gen(function*() {
    const { baseUrl, auth: urlAuth } = yield* parseUrl(options.url)
    if (urlAuth !== undefined && options.auth !== undefined) {
      // which one was meant cannot be told: `none` would silently drop the URL's credentials, another method
      // would silently replace them
      return yield* new CouchError.InvalidArgumentError({
        argument: "auth",
        description: `the server URL holds credentials and auth is given too (CouchAuth.${
          options.auth._tag === "None" ? "none" : options.auth._tag
        }): give credentials once, in the URL or as auth`
      })
    }
    const auth = options.auth ?? urlAuth ?? CouchAuth.none
    const http = yield* HttpClient.HttpClient
    const prepared = http.pipe(
      options.transformClient ?? ((client) => client),
      // CouchDB reads no trace context: sending it costs a span's headers on every request for nothing
      HttpClient.withTracerPropagation(options.tracerPropagation === true)
    )
    // the library's requests carry the full URL and `Accept` already; `client`, for the caller, adds them
    const authenticated = yield* Auth.authenticate(prepared, auth, baseUrl)
    const client = HttpClient.mapRequest(
      authenticated.client,
      (request) => HttpClientRequest.acceptJson(HttpClientRequest.prependUrl(request, baseUrl))
    )
    const transport: Request.Transport = {
      client: authenticated.client,
      baseUrl,
      timeout: options.timeout,
      retry: options.retry === false ? undefined : options.retry ?? CouchSessionDefaults.retry,
      // a platform's transport carried by the client given (CouchTransport.withTransport), where it can be used
      direct: Request.directOf(CouchTransport.fromClient(http), options, auth)
    }

    const closed = yield* Ref.make(false)
    const close = Effect.flatMap(
      Ref.getAndSet(closed, true),
      (wasClosed) => wasClosed ? Effect.void : authenticated.logout
    ).pipe(Effect.withSpan("CouchSession.close"))
    yield* Effect.addFinalizer(() => close)

    const session = Request.json(transport, { method: "GET", path: "/_session" }, CouchSession.SessionInfo, [])

    const open = (name: string): Effect.Effect<Database.Database, CouchError.InvalidArgumentError> =>
      Effect.map(Names.databasePath(name), (path) => DatabaseImpl.make(transport, name, path))

    const users = DatabaseImpl.make(transport, "_users", "_users")
    // built here, not at module load: this module and CouchSession.ts import each other
    const ActiveTasks = Schema.Array(CouchSession.ActiveTask)
    const DbsInfo = Schema.Array(Schema.Struct({
      key: Schema.String,
      info: Schema.optional(Database.DatabaseInfo),
      error: Schema.optional(Schema.String)
    }))

    const service: CouchSession.Service = {
      url: baseUrl,
      client,
      info: Request.json(transport, { method: "GET", path: "/" }, CouchSession.ServerInfo, []).pipe(
        Effect.withSpan("CouchSession.info")
      ),
      session: session.pipe(Effect.withSpan("CouchSession.session")),
      checkCredentials: Effect.flatMap(session, (info) =>
        auth._tag !== "None" && info.userCtx.name === null ?
          Effect.fail(
            new CouchError.UnauthorizedError({
              method: "GET",
              url: `${baseUrl}/_session`,
              status: 200,
              error: "unauthorized",
              reason: "the server runs this session as anonymous: its credentials were not accepted"
            })
          ) :
          Effect.void).pipe(Effect.withSpan("CouchSession.checkCredentials")),
      keys: (keysOptions = {}) =>
        Request.json(transport, {
          method: "GET",
          path: "/_all_dbs",
          params: {
            startkey: jsonParam(keysOptions.startkey),
            endkey: jsonParam(keysOptions.endkey),
            limit: keysOptions.limit,
            skip: keysOptions.skip,
            descending: keysOptions.descending
          }
        }, AllDbs, [CouchError.BadRequestError, CouchError.ForbiddenError]).pipe(
          Effect.withSpan("CouchSession.keys")
        ),
      create: (name, createOptions = {}) =>
        Effect.flatMap(open(name), (database) =>
          Request.json(transport, {
            method: "PUT",
            path: `/${Names.encodeSegment(name)}`,
            params: { partitioned: createOptions.partitioned, q: createOptions.q, n: createOptions.n }
          }, Acknowledgement, [
            CouchError.PreconditionFailedError,
            CouchError.BadRequestError,
            CouchError.ForbiddenError
          ]).pipe(
            Effect.as(database),
            createOptions.existsOk === true ?
              Effect.catchTag("PreconditionFailedError", () => Effect.succeed(database)) :
              (effect) => effect
          )).pipe(Effect.withSpan("CouchSession.create", { attributes: { "couchdb.database": name } })),
      database: (name) =>
        Effect.flatMap(open(name), (database) =>
          Request.discard(transport, { method: "HEAD", path: `/${Names.encodeSegment(name)}` }, [
            CouchError.NotFoundError,
            CouchError.ForbiddenError
          ]).pipe(Effect.as(database))).pipe(
            Effect.withSpan("CouchSession.database", { attributes: { "couchdb.database": name } })
          ),
      allDbsInfo: (infoOptions = {}) => {
        const { keys, ...range } = infoOptions
        const request: Request.Request = keys === undefined ?
          {
            method: "GET",
            path: "/_dbs_info",
            params: {
              startkey: jsonParam(range.startkey),
              endkey: jsonParam(range.endkey),
              limit: range.limit,
              skip: range.skip,
              descending: range.descending
            }
          } :
          { method: "POST", path: "/_dbs_info", body: Json.bodyUnchecked({ keys }), idempotent: true }
        return Request.json(transport, request, DbsInfo, [
          CouchError.BadRequestError,
          CouchError.ForbiddenError,
          CouchError.NotFoundError
        ]).pipe(Effect.withSpan("CouchSession.allDbsInfo"))
      },
      uuids: (count = 1) =>
        Request.json(transport, { method: "GET", path: "/_uuids", params: { count } }, Uuids, [
          CouchError.BadRequestError
        ]).pipe(Effect.map((answer) => answer.uuids), Effect.withSpan("CouchSession.uuids")),
      up: Request.discard(transport, { method: "GET", path: "/_up" }, [CouchError.NotFoundError]).pipe(
        Effect.asVoid,
        Effect.withSpan("CouchSession.up")
      ),
      activeTasks: Request.json(transport, { method: "GET", path: "/_active_tasks" }, ActiveTasks, [
        CouchError.ForbiddenError
      ]).pipe(Effect.withSpan("CouchSession.activeTasks")),
      membership: Request.json(transport, { method: "GET", path: "/_membership" }, CouchSession.Membership, [
        CouchError.ForbiddenError,
        CouchError.NotFoundError
      ]).pipe(Effect.withSpan("CouchSession.membership")),
      node: (name = "_local") => NodeImpl.make(transport, name),
      createUser: (user) =>
        users.put({
          _id: userId(user.name),
          name: user.name,
          password: Redacted.isRedacted(user.password) ? Redacted.value(user.password) : user.password,
          roles: user.roles ?? [],
          type: "user"
        }).pipe(Effect.withSpan("CouchSession.createUser", { attributes: { "couchdb.user": user.name } })),
      updateUser: (name, changes) =>
        Effect.flatMap(users.get(userId(name)), (current) =>
          users.put({
            ...current,
            ...(changes.password === undefined ? {} : {
              password: Redacted.isRedacted(changes.password) ? Redacted.value(changes.password) : changes.password
            }),
            ...(changes.roles === undefined ? {} : { roles: changes.roles })
          })).pipe(Effect.withSpan("CouchSession.updateUser", { attributes: { "couchdb.user": name } })),
      deleteUser: (name) =>
        Effect.flatMap(users.head(userId(name)), (rev) => users.remove(userId(name), rev)).pipe(
          Effect.withSpan("CouchSession.deleteUser", { attributes: { "couchdb.user": name } })
        ),
      use: open,
      ...ReplicationImpl.make(transport, auth),
      ...SearchImpl.analyzers(transport),
      ...DbUpdatesImpl.make(transport),
      ...ClusterImpl.make(transport),
      close
    }
    return service
  })
