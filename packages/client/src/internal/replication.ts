/**
 * Replication: `/_replicate`, `_replicator` documents and the scheduler. Endpoints are resolved here (names against
 * the session's URL, credentials out of URLs), credentials are written in the form asked for, and the requests that
 * carry them name them as their secrets, so that no error of theirs holds one (`Request.redact`).
 */
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as CouchAuth from "../CouchAuth.js"
import * as CouchError from "../CouchError.js"
import * as Replication from "../Replication.js"
import * as DatabaseImpl from "./database.js"
import * as Json from "./json.js"
import * as Names from "./names.js"
import * as Request from "./request.js"

/** The replication operations of a session. */
export interface Operations {
  readonly replicate: Replication.Replicate
  readonly cancelReplication: (
    replicationId: string
  ) => Effect.Effect<Replication.ContinuousReplication, Replication.ReplicateError>
  readonly replicator: Replication.Replicator
  readonly scheduler: Replication.Scheduler
}

// -----------------------------------------------------------------------------
// Endpoints
// -----------------------------------------------------------------------------

/** A source or target ready for the request body, its URL without credentials, and the secrets it carries. */
export interface ResolvedEndpoint {
  readonly value: string | Readonly<Record<string, unknown>>
  readonly url: string
  readonly secrets: ReadonlyArray<string>
}

const schemePattern = /^[a-z][a-z0-9+.-]*:/i
const secretHeaders: ReadonlySet<string> = new Set(["authorization", "proxy-authorization", "cookie"])

const safeDecode = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** `text` as the WHATWG URL parser writes it in userinfo. */
const userinfoEncoded = (text: string): string => {
  const url = new URL("http://host")
  url.password = text
  return url.password
}

/** The secrets of basic credentials: the password, and the base64 token that carries it. */
const basicSecrets = (username: string, password: string): ReadonlyArray<string> => [
  password,
  Encoding.encodeBase64(`${username}:${password}`)
]

const jsonEscaped = (text: string): string => JSON.stringify(text).slice(1, -1)

/** The forms in which a secret can show up in an answer: raw, URL-encoded, JSON-escaped (once or twice). */
const variants = (secret: string): ReadonlyArray<string> => [
  secret,
  encodeURIComponent(secret),
  userinfoEncoded(secret),
  jsonEscaped(secret),
  jsonEscaped(jsonEscaped(secret))
]

/** The secrets of a header value the user gave (`Basic <base64>` also hides the password inside). */
const headerSecrets = (value: string): ReadonlyArray<string> => {
  const basic = /^basic\s+(\S+)$/i.exec(value)
  if (basic?.[1] === undefined) return [value]
  const decoded = Encoding.decodeBase64String(basic[1])
  if (decoded._tag === "Left") return [value, basic[1]]
  const colon = decoded.right.indexOf(":")
  return [value, basic[1], ...(colon < 0 ? [] : basicSecrets(decoded.right.slice(0, colon), decoded.right.slice(colon + 1)))]
}

/** Sets a header, replacing any other spelling of its name. */
const setHeader = (headers: Record<string, string>, name: string, value: string): void => {
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === name.toLowerCase()) delete headers[key]
  }
  headers[name] = value
}

const invalidEndpoint = (argument: string, description: string) =>
  new CouchError.InvalidArgumentError({ argument: `replication ${argument}`, description })

/**
 * Resolves a source or target: a database name becomes the session's URL plus the name, with the session's
 * credentials; credentials written in a URL are taken out; then they are written in the form `credentials` asks.
 */
export const resolveEndpoint = (
  session: { readonly baseUrl: string; readonly auth: CouchAuth.CouchAuth },
  endpoint: Replication.Endpoint,
  credentials: Replication.Credentials,
  argument: "source" | "target"
): Effect.Effect<ResolvedEndpoint, CouchError.InvalidArgumentError> =>
  Effect.suspend(() => {
    const given = typeof endpoint === "string" ? { url: endpoint } : endpoint
    let url: URL
    let auth: CouchAuth.CouchAuth
    if (!schemePattern.test(given.url)) {
      const problem = Names.databaseNameProblem(given.url)
      if (problem !== undefined) {
        return Effect.fail(invalidEndpoint(argument, `neither an http(s) URL nor a database name: ${problem}`))
      }
      url = new URL(`${session.baseUrl}/${Names.encodeSegment(given.url)}`)
      auth = given.auth ?? session.auth
    } else {
      try {
        url = new URL(given.url)
      } catch {
        // the text may hold a password: say what is wrong without repeating it
        return Effect.fail(invalidEndpoint(argument, "not a valid absolute URL"))
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        return Effect.fail(invalidEndpoint(argument, `the protocol must be http: or https:, not ${url.protocol}`))
      }
      const fromUrl = url.username === "" && url.password === "" ?
        undefined :
        CouchAuth.basic(safeDecode(url.username), safeDecode(url.password))
      url.username = ""
      url.password = ""
      auth = given.auth ?? fromUrl ?? CouchAuth.none
    }
    const clean = url.toString()
    const secrets: Array<string> = []
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(given.headers ?? {})) {
      headers[name] = value
      if (secretHeaders.has(name.toLowerCase())) secrets.push(...headerSecrets(value))
    }
    let target = clean
    let authObject: Record<string, unknown> | undefined
    switch (auth._tag) {
      case "None":
        break
      case "Basic":
      case "Cookie": {
        const password = Redacted.value(auth.password)
        secrets.push(...basicSecrets(auth.username, password))
        if (credentials === "headers") {
          setHeader(headers, "Authorization", `Basic ${Encoding.encodeBase64(`${auth.username}:${password}`)}`)
        } else if (credentials === "url") {
          const withUserinfo = new URL(clean)
          withUserinfo.username = encodeURIComponent(auth.username)
          withUserinfo.password = encodeURIComponent(password)
          target = withUserinfo.toString()
        } else {
          authObject = { basic: { username: auth.username, password } }
        }
        break
      }
      case "Bearer": {
        const token = Redacted.value(auth.token)
        secrets.push(token)
        setHeader(headers, "Authorization", `Bearer ${token}`)
        break
      }
      case "AuthSession": {
        const cookie = Redacted.value(auth.cookie)
        secrets.push(cookie)
        setHeader(headers, "Cookie", `AuthSession=${cookie}`)
        break
      }
    }
    const hasHeaders = Object.keys(headers).length > 0
    const value = authObject === undefined && !hasHeaders ?
      target :
      { url: target, ...(authObject === undefined ? {} : { auth: authObject }), ...(hasHeaders ? { headers } : {}) }
    return Effect.succeed({ value, url: clean, secrets })
  })

// -----------------------------------------------------------------------------
// Keeping secrets out of errors
// -----------------------------------------------------------------------------

/** Every form of the secrets in which an error could quote them, longest first. */
export const secretTexts = (secrets: ReadonlyArray<string>): ReadonlyArray<string> =>
  [...new Set(secrets.filter((secret) => secret.length > 0).flatMap(variants))].sort((a, b) => b.length - a.length)

// -----------------------------------------------------------------------------
// Answers that may hold credentials: sanitised before any schema sees them
// -----------------------------------------------------------------------------

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/** A URL without its userinfo (CouchDB writes `user:*****@`); anything unparsable as it is. */
export const withoutCredentials = (text: string): string => {
  try {
    const url = new URL(text)
    if (url.username === "" && url.password === "") return text
    url.username = ""
    url.password = ""
    return url.toString()
  } catch {
    return text
  }
}

/** A stored endpoint (string or object) as its URL without credentials. */
const endpointUrl = (u: unknown): string | undefined =>
  typeof u === "string" ?
    withoutCredentials(u) :
    isRecord(u) && typeof u["url"] === "string" ?
    withoutCredentials(u["url"]) :
    undefined

/** Keeps only `keys` of an object, with `source` and `target` reduced to URLs without credentials. */
const pick = (keys: ReadonlyArray<string>) => (u: unknown): unknown => {
  if (!isRecord(u)) return u
  const out: Record<string, unknown> = {}
  for (const key of keys) {
    if (!(key in u)) continue
    out[key] = key === "source" || key === "target" ? endpointUrl(u[key]) : u[key]
  }
  return out
}

const documentKeys = [
  "_id",
  "_rev",
  "source",
  "target",
  "continuous",
  "create_target",
  "doc_ids",
  "selector",
  "filter",
  "_replication_state",
  "_replication_state_time",
  "_replication_state_reason",
  "_replication_id",
  "_replication_stats"
]
const schedulerDocKeys = [
  "database",
  "doc_id",
  "id",
  "node",
  "source",
  "target",
  "state",
  "info",
  "error_count",
  "last_updated",
  "start_time"
]
const jobKeys = ["id", "database", "doc_id", "pid", "node", "source", "target", "user", "info", "history", "start_time"]

const sanitizeList = (field: string, keys: ReadonlyArray<string>) => (u: unknown): unknown =>
  isRecord(u) ?
    { ...u, [field]: Array.isArray(u[field]) ? u[field].map(pick(keys)) : u[field] } :
    u


/** Sends a request and decodes its JSON answer after `sanitize`: the raw body is never quoted in an error. */
const sanitizedJson = <A, I, const Errors extends ReadonlyArray<CouchError.StatusErrorClass>>(
  transport: Request.Transport,
  request: Request.Request,
  schema: Schema.Schema<A, I>,
  errors: Errors,
  sanitize: (u: unknown) => unknown
): Effect.Effect<A, Request.ErrorsOf<Errors> | CouchError.RequestError> => {
  const decode = Schema.decodeUnknown(schema)
  const failure = (status: number, description: string, cause?: unknown) => {
    const safe = Request.safeCause(request, cause)
    return new CouchError.ResponseDecodeError({
      method: request.method,
      url: Request.fullUrl(transport, request),
      status,
      reason: "malformed",
      description: Request.redact(request, description),
      ...(safe === undefined ? {} : { cause: safe })
    })
  }
  return Request.execute(transport, request, errors, (response) =>
    response.json.pipe(
      // the parser's message quotes the body
      Effect.mapError(() => failure(response.status, "the body is not JSON")),
      Effect.flatMap((json) =>
        Effect.mapError(
          decode(sanitize(json)),
          (error) => failure(response.status, ParseResult.TreeFormatter.formatErrorSync(error), error)
        )
      )
    ))
}

// -----------------------------------------------------------------------------
// Operations
// -----------------------------------------------------------------------------

const asIs = (u: unknown): unknown => u

const replicationFields = (options: Replication.ReplicationOptions) => ({
  create_target: options.createTarget,
  create_target_params: options.createTargetParams,
  doc_ids: options.docIds,
  selector: options.selector,
  filter: options.filter,
  query_params: options.queryParams,
  since_seq: options.sinceSeq,
  use_checkpoints: options.useCheckpoints,
  checkpoint_interval: options.checkpointInterval,
  winning_revs_only: options.winningRevsOnly
})

const replicateErrors = [CouchError.BadRequestError, CouchError.ForbiddenError, CouchError.NotFoundError] as const

/**
 * CouchDB 3.5 answers a `/_replicate` whose source or target does not exist with 500 `db_not_found` ("could not open
 * http://.../missing/"), not 404: it is a missing database all the same.
 */
const missingDatabase = (error: unknown): error is CouchError.ServerError =>
  error instanceof CouchError.ServerError && error.error === "db_not_found"

const notFound = (error: CouchError.ServerError) => Effect.fail(Request.reclassified(CouchError.NotFoundError, error))

const schedulerErrors = [CouchError.BadRequestError, CouchError.ForbiddenError, CouchError.NotFoundError] as const
const replicatorDatabase = "_replicator"

/** Builds the replication operations of a session. */
export const make = (transport: Request.Transport, auth: CouchAuth.CouchAuth): Operations => {
  const session = { baseUrl: transport.baseUrl, auth }
  const endpoints = (
    source: Replication.Endpoint,
    target: Replication.Endpoint,
    credentials: Replication.Credentials | undefined
  ) =>
    Effect.gen(function*() {
      const from = yield* resolveEndpoint(session, source, credentials ?? "auth", "source")
      const to = yield* resolveEndpoint(session, target, credentials ?? "auth", "target")
      yield* Effect.annotateCurrentSpan({
        "couchdb.replication.source": from.url,
        "couchdb.replication.target": to.url
      })
      return { from, to, secrets: secretTexts([...from.secrets, ...to.secrets]) }
    })

  function replicate(
    source: Replication.Endpoint,
    target: Replication.Endpoint,
    options: Replication.ContinuousOptions
  ): Effect.Effect<Replication.ContinuousReplication, Replication.ReplicateError>
  function replicate(
    source: Replication.Endpoint,
    target: Replication.Endpoint,
    options?: Replication.ReplicateOptions
  ): Effect.Effect<Replication.ReplicationResult, Replication.ReplicateError>
  function replicate(
    source: Replication.Endpoint,
    target: Replication.Endpoint,
    options: Replication.ReplicateOptions | Replication.ContinuousOptions = {}
  ): Effect.Effect<
    Replication.ReplicationResult | Replication.ContinuousReplication,
    Replication.ReplicateError
  > {
    return Effect.gen(function*() {
      const { from, secrets, to } = yield* endpoints(source, target, options.credentials)
      const continuous = options.continuous === true
      // an error names where a value is not JSON, never the value
      const body = yield* Json.body({
        source: from.value,
        target: to.value,
        ...replicationFields(options),
        ...(continuous ? { continuous: true } : {}),
        ...(options.continuous === true && options.cancel === true ? { cancel: true } : {})
      }, "replication options")
      const request: Request.Request = {
        method: "POST",
        path: "/_replicate",
        body,
        secrets,
        ...(options.continuous !== true && options.timeout !== undefined ? { timeout: options.timeout } : {})
      }
      const answer = continuous ?
        sanitizedJson(transport, request, Replication.ContinuousReplication, replicateErrors, asIs) :
        sanitizedJson(transport, request, Replication.ReplicationResult, replicateErrors, asIs)
      return yield* Effect.catchIf(answer, missingDatabase, notFound)
    }).pipe(
      Effect.withSpan("Replication.replicate", {
        attributes: { "couchdb.replication.continuous": options.continuous === true }
      })
    )
  }

  const cancelReplication = (replicationId: string) =>
    Request.json(transport, {
      method: "POST",
      path: "/_replicate",
      body: Json.bodyUnchecked({ replication_id: replicationId, cancel: true })
    }, Replication.ContinuousReplication, replicateErrors).pipe(
      Effect.withSpan("Replication.cancel", { attributes: { "couchdb.replication.id": replicationId } })
    )

  const replicatorDb = DatabaseImpl.make(transport, replicatorDatabase, replicatorDatabase)
  const documentPath = (id: string) =>
    Effect.map(Names.documentPath(id), (path) => `/${replicatorDatabase}/${path}`)
  const documentSpan = (operation: string, id: string) =>
    Effect.withSpan(`Replication.${operation}`, { attributes: { "couchdb.document": id } })

  const replicator: Replication.Replicator = {
    create: (id, source, target, options = {}) =>
      Effect.gen(function*() {
        const path = yield* documentPath(id)
        const { from, secrets, to } = yield* endpoints(source, target, options.credentials)
        const body = yield* Json.body({
          _id: id,
          source: from.value,
          target: to.value,
          ...(options.continuous === undefined ? {} : { continuous: options.continuous }),
          ...replicationFields(options)
        }, "replication options")
        return yield* sanitizedJson(transport, { method: "PUT", path, body, secrets }, Request.WriteAnswer, [
          CouchError.BadRequestError,
          CouchError.ForbiddenError,
          CouchError.NotFoundError,
          CouchError.ConflictError
        ], asIs)
      }).pipe(documentSpan("createDocument", id)),
    get: (id) =>
      Effect.flatMap(documentPath(id), (path) =>
        sanitizedJson(transport, { method: "GET", path }, Replication.ReplicationDocument, [
          CouchError.ForbiddenError,
          CouchError.NotFoundError
        ], pick(documentKeys))).pipe(documentSpan("getDocument", id)),
    status: (id) =>
      Effect.flatMap(Names.documentPath(id), (path) =>
        sanitizedJson(
          transport,
          { method: "GET", path: `/_scheduler/docs/${replicatorDatabase}/${path}` },
          Replication.SchedulerDoc,
          schedulerErrors,
          pick(schedulerDocKeys)
        )).pipe(documentSpan("documentStatus", id)),
    remove: (id) =>
      Effect.flatMap(replicatorDb.head(id), (rev) => replicatorDb.remove(id, rev)).pipe(
        // on a cluster the replicator may have written a newer revision on another copy: the delete answers 200
        // and the document stays readable. Until it reads as gone, that is a conflict too
        Effect.tap((removed) =>
          replicatorDb.head(id).pipe(
            Effect.flatMap((rev) =>
              Effect.fail(
                new CouchError.ConflictError({
                  method: "DELETE",
                  url: Request.fullUrl(transport, { method: "DELETE", path: `/${replicatorDatabase}/${Names.encodeDocumentId(id)}` }),
                  status: 409,
                  error: "conflict",
                  reason: `the document is still there at ${rev} after ${removed.rev} deleted it`
                })
              )
            ),
            Effect.catchTag("NotFoundError", () => Effect.void)
          )
        ),
        // the replicator writes its state into the document: read the new revision and try again
        Effect.retry({
          while: (error) => error._tag === "ConflictError",
          times: 5,
          schedule: Schedule.exponential("20 millis")
        }),
        documentSpan("removeDocument", id)
      )
  }

  const scheduler: Replication.Scheduler = {
    jobs: (options = {}) =>
      sanitizedJson(
        transport,
        { method: "GET", path: "/_scheduler/jobs", params: { limit: options.limit, skip: options.skip } },
        Replication.SchedulerJobs,
        schedulerErrors,
        sanitizeList("jobs", jobKeys)
      ).pipe(Effect.withSpan("Replication.schedulerJobs")),
    docs: (options = {}) =>
      sanitizedJson(
        transport,
        { method: "GET", path: "/_scheduler/docs", params: { limit: options.limit, skip: options.skip } },
        Replication.SchedulerDocs,
        schedulerErrors,
        sanitizeList("docs", schedulerDocKeys)
      ).pipe(Effect.withSpan("Replication.schedulerDocs"))
  }

  return { replicate, cancelReplication, replicator, scheduler }
}
