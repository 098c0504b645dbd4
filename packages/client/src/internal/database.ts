import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as CouchError from "../CouchError.js"
import * as Database from "../Database.js"
import * as Mango from "../Mango.js"
import * as View from "../View.js"
import { typed, untyped } from "./codec.js"
import * as Design from "./design.js"
import * as Documents from "./documents.js"
import { readErrors, spanOf, writeErrors } from "./endpoint.js"
import * as Json from "./json.js"
import * as Names from "./names.js"
import * as Request from "./request.js"
import { copiesOf, settle } from "./settle.js"
import * as Writers from "./writers.js"

// Wire shapes

const Acknowledgement = Schema.Struct({ ok: Schema.optional(Schema.Boolean) })
const Limit = Schema.Number
const MissingRevsAnswer = Schema.Struct({
  missing_revs: Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) })
})
const ShardsAnswer = Schema.Struct({ shards: Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) }) })
const IndexesAnswer = Schema.Struct({ indexes: Schema.Array(Mango.IndexInfo) })
const PurgedInfosAnswer = Schema.Struct({ purged_infos: Schema.Array(Database.PurgedInfo) })
const RevsDiffAnswer = Schema.Record({ key: Schema.String, value: Database.RevsDiffEntry })

const addPrincipals = (
  current: Database.Principals | undefined,
  change: Database.Principals
): Database.Principals => ({
  names: [...new Set([...(current?.names ?? []), ...(change.names ?? [])])],
  roles: [...new Set([...(current?.roles ?? []), ...(change.roles ?? [])])]
})

const removePrincipals = (
  current: Database.Principals | undefined,
  change: Database.Principals
): Database.Principals => ({
  names: (current?.names ?? []).filter((name) => !(change.names ?? []).includes(name)),
  roles: (current?.roles ?? []).filter((role) => !(change.roles ?? []).includes(role))
})

/** Whether two lists of names or roles hold the same ones, in the same order. */
const sameMembers = (a: ReadonlyArray<string> | undefined, b: ReadonlyArray<string> | undefined) =>
  (a ?? []).length === (b ?? []).length && (a ?? []).every((item, i) => (b ?? [])[i] === item)

const localId = (id: string) => id.startsWith("_local/") ? id : `_local/${id}`

/** Builds the value of a database whose name is already checked and encoded. */
export const make = (transport: Request.Transport, name: string, path: string): Database.Database => {
  const root = `/${path}`
  const attributes = { "couchdb.database": name }
  const span = spanOf(attributes)
  const base = Documents.make(transport, name, root, untyped)

  const security = Request.json(transport, { method: "GET", path: `${root}/_security` }, Database.SecurityObject, readErrors)
  const setSecurity = (object: Database.SecurityObject) =>
    Effect.flatMap(Json.body(object, "security object"), (body) =>
      Request.json(transport, { method: "PUT", path: `${root}/_security`, body }, Acknowledgement, writeErrors)).pipe(
        // CouchDB 3.5 answers a member (not an admin of the database) writing `_security` with 500 no_majority:
        // every shard copy refused it
        Effect.catchIf(
          (error): error is CouchError.ServerError => error instanceof CouchError.ServerError && error.reason === "no_majority",
          (error) => Effect.fail(Request.reclassified(CouchError.ForbiddenError, error))
        ),
        Effect.asVoid
      )
  const updateSecurity = (
    field: "admins" | "members",
    update: (current: Database.Principals | undefined) => Database.Principals
  ) =>
    Effect.gen(function*() {
      const current = yield* security
      const principals = update(current[field])
      const before = current[field]
      // adding who is there, or removing who is not, changes nothing: nothing is written (idempotent, as a
      // DELETE of what is gone)
      const same = before !== undefined &&
        sameMembers(before.names, principals.names) && sameMembers(before.roles, principals.roles)
      const next: Database.SecurityObject = { ...current, [field]: principals }
      if (!same) yield* setSecurity(next)
      return next
    })
  const post = (endpoint: string) =>
    Request.json(transport, {
      method: "POST",
      path: `${root}/${endpoint}`,
      body: Json.bodyUnchecked({})
    }, Acknowledgement, writeErrors).pipe(Effect.asVoid)
  const readLimit = (endpoint: string) =>
    Request.json(transport, { method: "GET", path: `${root}/${endpoint}` }, Limit, readErrors)
  const writeLimit = (endpoint: string, limit: number) =>
    Request.json(transport, {
      method: "PUT",
      path: `${root}/${endpoint}`,
      body: Json.bodyUnchecked(limit),
      idempotent: true
    }, Acknowledgement, writeErrors).pipe(Effect.asVoid)
  const revisionsRequest = <A, I>(endpoint: string, revisions: unknown, schema: Schema.Schema<A, I>, idempotent: boolean) =>
    Effect.flatMap(Json.body(revisions, "revisions"), (body) =>
      Request.json(transport, { method: "POST", path: `${root}/${endpoint}`, body, idempotent }, schema, writeErrors))

  const designPath = (ddoc: string) => `${root}/_design/${Names.designSegment(ddoc)}`
  const viewProblem = (view: string, definition: View.ViewDefinition) => {
    const problem = Design.viewDefinitionProblem(view, { ...definition })
    return problem === undefined ?
      Effect.void :
      Effect.fail(new CouchError.InvalidArgumentError({ argument: "view definition", description: problem }))
  }
  const copies = copiesOf(transport, root)

  const ensureOnce = (ddoc: string, view: string, definition: View.ViewDefinition) =>
    Effect.gen(function*() {
      const wanted = definition.reduce === undefined ?
        { map: definition.map } :
        { map: definition.map, reduce: definition.reduce }
      const n = yield* copies
      const current = yield* base.get(Names.designId(ddoc), { r: n }).pipe(
        Effect.map((doc) => doc as View.DesignDocument),
        Effect.catchTag("NotFoundError", () => Effect.succeed(undefined))
      )
      const existing = current?.views?.[view]
      if (existing !== undefined && existing.map === wanted.map && existing.reduce === wanted.reduce) {
        return "unchanged" as const
      }
      const written = yield* base.put({
        ...(current ?? { _id: Names.designId(ddoc), language: "javascript" }),
        views: { ...current?.views, [view]: wanted }
      }, { w: n })
      yield* settle(transport, designPath(ddoc), written, n)
      return current === undefined ? "created" as const : "updated" as const
    })

  return {
    ...base,
    name,
    createIndex: (definition) =>
      Effect.flatMap(Json.body(definition, "index definition"), (body) =>
        Request.json(transport, { method: "POST", path: `${root}/_index`, body }, Mango.CreateIndexResult, writeErrors)).pipe(
          span("createIndex")
        ),
    indexes: Request.json(transport, { method: "GET", path: `${root}/_index` }, IndexesAnswer, readErrors).pipe(
      Effect.map((answer) => answer.indexes),
      span("indexes")
    ),
    deleteIndex: (ddoc, indexName, type = "json") =>
      Request.json(transport, {
        method: "DELETE",
        path: `${root}/_index/_design/${Names.designSegment(ddoc)}/${type}/${
          Names.encodeSegment(indexName)
        }`
      }, Acknowledgement, writeErrors).pipe(Effect.asVoid, span("deleteIndex")),
    designInfo: (ddoc) =>
      Request.json(transport, { method: "GET", path: `${designPath(ddoc)}/_info` }, View.DesignInfo, readErrors).pipe(
        span("designInfo")
      ),
    ensureView: (ddoc, view, definition) =>
      Effect.zipRight(
        viewProblem(view, definition),
        ensureOnce(ddoc, view, definition)
      ).pipe(
        Effect.retry({
          schedule: Schedule.intersect(Schedule.jittered(Schedule.exponential("10 millis")), Schedule.recurs(10)),
          while: (error) => error instanceof CouchError.ConflictError
        }),
        Writers.inTurn(transport, designPath(ddoc)),
        span("ensureView")
      ),
    callUpdate: (ddoc, handler, options = {}) =>
      Effect.gen(function*() {
        const handlerPath = `${designPath(ddoc)}/_update/${Names.encodeSegment(handler)}`
        const path = options.docId === undefined ?
          handlerPath :
          `${handlerPath}/${yield* Names.documentPath(options.docId)}`
        const body = options.body === undefined ? undefined : yield* Json.body(options.body, "update body")
        return yield* Request.execute(transport, {
          method: options.docId === undefined ? "POST" : "PUT",
          path,
          params: options.params,
          body
        }, writeErrors, (response) =>
          Effect.map(
            Effect.orElseSucceed(response.text, () => ""),
            (text): Database.UpdateResult => ({
              body: text,
              id: response.headers["x-couch-id"],
              rev: response.headers["x-couch-update-newrev"]
            })
          ))
      }).pipe(span("callUpdate")),
    info: Request.json(
      transport,
      { method: "GET", path: root },
      Database.DatabaseInfo,
      [CouchError.NotFoundError, CouchError.ForbiddenError]
    ).pipe(span("info")),
    exists: Request.discard(transport, { method: "HEAD", path: root }, [CouchError.NotFoundError, CouchError.ForbiddenError]).pipe(
      Effect.as(true),
      Effect.catchTag("NotFoundError", () => Effect.succeed(false)),
      span("exists")
    ),
    delete: Request.discard(
      transport,
      { method: "DELETE", path: root },
      [CouchError.NotFoundError, CouchError.ForbiddenError, CouchError.BadRequestError]
    ).pipe(Effect.asVoid, span("delete")),
    withSchema: (schema) => Documents.make(transport, name, root, typed(schema)),
    getLocal: (id) => base.get(localId(id)),
    putLocal: (id, doc) => base.put({ ...doc, _id: localId(id) }),
    removeLocal: (id, rev) => base.remove(localId(id), rev),
    security: security.pipe(span("security")),
    setSecurity: (object) => setSecurity(object).pipe(span("setSecurity")),
    addMembers: (principals) =>
      updateSecurity("members", (current) => addPrincipals(current, principals)).pipe(span("addMembers")),
    removeMembers: (principals) =>
      updateSecurity("members", (current) => removePrincipals(current, principals)).pipe(span("removeMembers")),
    addAdmins: (principals) =>
      updateSecurity("admins", (current) => addPrincipals(current, principals)).pipe(span("addAdmins")),
    removeAdmins: (principals) =>
      updateSecurity("admins", (current) => removePrincipals(current, principals)).pipe(span("removeAdmins")),
    compact: post("_compact").pipe(span("compact")),
    compactDesign: (designDoc) =>
      post(`_compact/${Names.designSegment(designDoc)}`).pipe(span("compactDesign")),
    viewCleanup: post("_view_cleanup").pipe(span("viewCleanup")),
    revsDiff: (revisions) => revisionsRequest("_revs_diff", revisions, RevsDiffAnswer, true).pipe(span("revsDiff")),
    purge: (revisions) => revisionsRequest("_purge", revisions, Database.PurgeResult, false).pipe(span("purge")),
    missingRevs: (revisions) =>
      revisionsRequest("_missing_revs", revisions, MissingRevsAnswer, true).pipe(
        Effect.map((answer) => answer.missing_revs),
        span("missingRevs")
      ),
    revsLimit: readLimit("_revs_limit").pipe(span("revsLimit")),
    setRevsLimit: (limit) => writeLimit("_revs_limit", limit).pipe(span("setRevsLimit")),
    purgedInfosLimit: readLimit("_purged_infos_limit").pipe(span("purgedInfosLimit")),
    setPurgedInfosLimit: (limit) => writeLimit("_purged_infos_limit", limit).pipe(span("setPurgedInfosLimit")),
    shards: Request.json(transport, { method: "GET", path: `${root}/_shards` }, ShardsAnswer, readErrors).pipe(
      Effect.map((answer) => answer.shards),
      span("shards")
    ),
    shardOf: (docId) =>
      Effect.flatMap(Names.documentPath(docId), (path) =>
        Request.json(transport, { method: "GET", path: `${root}/_shards/${path}` }, Database.DocumentShard, readErrors)).pipe(
          span("shardOf", docId)
        ),
    purgedInfos: Request.json(transport, { method: "GET", path: `${root}/_purged_infos` }, PurgedInfosAnswer, readErrors).pipe(
      Effect.map((answer) => answer.purged_infos),
      span("purgedInfos")
    ),
    syncShards: post("_sync_shards").pipe(span("syncShards")),
    deleteIndexes: (designDocs) =>
      Request.json(transport, {
        method: "POST",
        path: `${root}/_index/_bulk_delete`,
        body: Json.bodyUnchecked({ docids: designDocs.map(Names.designId) }),
        idempotent: true
      }, Database.BulkIndexDeletion, writeErrors).pipe(span("deleteIndexes"))
  }
}
