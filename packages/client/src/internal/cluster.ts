/**
 * The cluster's endpoints: `/_cluster_setup` (the state, the setup actions with their passwords named as the
 * request's secrets) and `/_reshard` (state, split jobs).
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as CouchCluster from "../CouchCluster.js"
import * as CouchError from "../CouchError.js"
import * as Json from "./json.js"
import * as Names from "./names.js"
import { secretTexts } from "./replication.js"
import { jsonParam } from "./endpoint.js"
import * as Request from "./request.js"

const Acknowledgement = Schema.Struct({ ok: Schema.optional(Schema.Boolean) })
const JobList = Schema.Struct({ jobs: Schema.Array(CouchCluster.ReshardJob) })
const Created = Schema.Array(CouchCluster.ReshardJobCreated)
// a server without the endpoint answers 404 too
const notFound = [CouchError.NotFoundError] as const
const badRequestOrNotFound = [CouchError.BadRequestError, CouchError.NotFoundError] as const

/**
 * The body of a setup action: the action and its fields (unset ones left out), the passwords unwrapped here only,
 * and named as the request's secrets so that no error of it holds them.
 */
export const setupRequest = (
  action: string,
  fields: Readonly<Record<string, unknown>>,
  passwords: ReadonlyArray<Redacted.Redacted<string> | undefined>
): Request.Request => {
  const body: Record<string, unknown> = { action }
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) body[key] = Redacted.isRedacted(value) ? Redacted.value(value) : value
  }
  const secrets = passwords.flatMap((password) => password === undefined ? [] : [Redacted.value(password)])
  return {
    method: "POST",
    path: "/_cluster_setup",
    body: Json.bodyUnchecked(body),
    ...(secrets.length === 0 ? {} : { secrets: secretTexts(secrets) })
  }
}

/** The cluster of the server behind `transport`, as the session's `cluster` member. */
export const make = (transport: Request.Transport): { readonly cluster: CouchCluster.CouchCluster } => {
  const span = (operation: string, attributes?: Record<string, string>) =>
    Effect.withSpan(`CouchCluster.${operation}`, attributes === undefined ? undefined : { attributes })
  const act = (operation: string, request: Request.Request) =>
    Request.discard(transport, request, badRequestOrNotFound).pipe(Effect.asVoid, span(operation))
  const jobPath = (id: string) => `/_reshard/jobs/${Names.encodeSegment(id)}`
  const stateBody = (state: "running" | "stopped", reason: string | undefined) =>
    Json.bodyUnchecked(reason === undefined ? { state } : { state, reason })

  const reshard: CouchCluster.Reshard = {
    summary: Request.json(transport, { method: "GET", path: "/_reshard" }, CouchCluster.ReshardSummary, notFound).pipe(
      span("reshard.summary")
    ),
    state: Request.json(transport, { method: "GET", path: "/_reshard/state" }, CouchCluster.ReshardState, notFound).pipe(
      span("reshard.state")
    ),
    setState: (state, reason) =>
      Request.json(transport, {
        method: "PUT",
        path: "/_reshard/state",
        body: stateBody(state, reason),
        idempotent: true
      }, Acknowledgement, badRequestOrNotFound).pipe(Effect.asVoid, span("reshard.setState", { "couchdb.reshard.state": state })),
    jobs: Request.json(transport, { method: "GET", path: "/_reshard/jobs" }, JobList, notFound).pipe(
      Effect.map((answer) => answer.jobs),
      span("reshard.jobs")
    ),
    job: (id) =>
      Request.json(transport, { method: "GET", path: jobPath(id) }, CouchCluster.ReshardJob, notFound).pipe(
        span("reshard.job", { "couchdb.reshard.job": id })
      ),
    split: (target) =>
      Request.json(transport, {
        method: "POST",
        path: "/_reshard/jobs",
        body: Json.bodyUnchecked({ type: "split", ...target })
      }, Created, badRequestOrNotFound).pipe(
        span("reshard.split", "db" in target ? { "couchdb.database": target.db } : { "couchdb.shard": target.shard })
      ),
    removeJob: (id) =>
      Request.discard(transport, { method: "DELETE", path: jobPath(id) }, notFound).pipe(
        Effect.asVoid,
        span("reshard.removeJob", { "couchdb.reshard.job": id })
      ),
    jobState: (id) =>
      Request.json(transport, { method: "GET", path: `${jobPath(id)}/state` }, CouchCluster.ReshardState, notFound).pipe(
        span("reshard.jobState", { "couchdb.reshard.job": id })
      ),
    setJobState: (id, state, reason) =>
      Request.json(transport, {
        method: "PUT",
        path: `${jobPath(id)}/state`,
        body: stateBody(state, reason),
        idempotent: true
      }, Acknowledgement, badRequestOrNotFound).pipe(
        Effect.asVoid,
        span("reshard.setJobState", { "couchdb.reshard.job": id, "couchdb.reshard.state": state })
      )
  }

  const cluster: CouchCluster.CouchCluster = {
    setupState: (options = {}) =>
      Request.json(transport, {
        method: "GET",
        path: "/_cluster_setup",
        params: { ensure_dbs_exist: jsonParam(options.ensureDbsExist) }
      }, CouchCluster.SetupState, badRequestOrNotFound).pipe(span("setupState")),
    enableCluster: (options) =>
      act(
        "enableCluster",
        setupRequest("enable_cluster", {
          username: options.username,
          password: options.password,
          bind_address: options.bindAddress,
          port: options.port,
          node_count: options.nodeCount,
          remote_node: options.remoteNode,
          remote_current_user: options.remoteCurrentUser,
          remote_current_password: options.remoteCurrentPassword
        }, [options.password, options.remoteCurrentPassword])
      ),
    enableSingleNode: (options) =>
      act(
        "enableSingleNode",
        setupRequest("enable_single_node", {
          username: options.username,
          password: options.password,
          bind_address: options.bindAddress,
          port: options.port,
          ensure_dbs_exist: options.ensureDbsExist
        }, [options.password])
      ),
    addNode: (options) =>
      act(
        "addNode",
        setupRequest("add_node", {
          username: options.username,
          password: options.password,
          host: options.host,
          port: options.port,
          name: options.name
        }, [options.password])
      ),
    finishCluster: (options = {}) =>
      act("finishCluster", setupRequest("finish_cluster", { ensure_dbs_exist: options.ensureDbsExist }, [])),
    reshard
  }
  return { cluster }
}
