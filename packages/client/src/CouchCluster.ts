/**
 * The cluster as a whole (`couch.cluster`): its setup (`/_cluster_setup`, the state and the actions that form a
 * cluster or set up a single node) and its resharding (`/_reshard`, splitting shards). What concerns one node (its
 * configuration, statistics, versions) is on `couch.node(name)` (`CouchNode`); what concerns every node, here.
 *
 * Every endpoint needs a server admin: CouchDB 3.5 answers anyone else 401 "You are not a server admin."
 * (`UnauthorizedError`). A request the server refuses is 400 (`BadRequestError`, with CouchDB's reason, such as
 * "Cluster is not enabled." or "Invalid `range`"); an unknown resharding job is 404 (`NotFoundError`); a server
 * whose resharding is disabled (`[reshard] enabled = false`) answers 501 (`ServerError`).
 *
 * Passwords are `Redacted`: they are unwrapped only in the request body, and no error of a setup action holds them
 * (the request names them as its secrets, replaced in every text of its errors).
 *
 * @example
 * ```ts
 * import { CouchSession } from "@effect-couch/client"
 * import { Effect, Redacted } from "effect"
 *
 * // form a two-node cluster from its first node, as Fauxton's setup wizard does
 * const form = Effect.gen(function*() {
 *   const couch = yield* CouchSession.CouchSession
 *   const admin = { username: "admin", password: Redacted.make("secret") }
 *   yield* couch.cluster.enableCluster({ ...admin, bindAddress: "0.0.0.0", port: 5984, nodeCount: 2 })
 *   yield* couch.cluster.enableCluster({
 *     ...admin, bindAddress: "0.0.0.0", port: 5984, nodeCount: 2,
 *     remoteNode: "db2.example.com", remoteCurrentUser: "admin", remoteCurrentPassword: Redacted.make("secret")
 *   })
 *   yield* couch.cluster.addNode({ ...admin, host: "db2.example.com", port: 5984 })
 *   yield* couch.cluster.finishCluster()
 *   return yield* couch.cluster.setupState()
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as CouchError from "./CouchError.js"

/**
 * Where the setup of the server stands (`GET /_cluster_setup`): a node set up alone (`single_node_*`, when
 * `[cluster] n = 1` or `[couchdb] single_node` is set), or one of a cluster: not enabled, enabled (bound to an
 * address other than 127.0.0.1, with an admin), finished (the system databases exist).
 *
 * @since 0.1.0
 * @category schemas
 */
export const SetupState = Schema.Struct({
  state: Schema.Literal(
    "cluster_disabled",
    "cluster_enabled",
    "cluster_finished",
    "single_node_disabled",
    "single_node_enabled"
  )
}).annotations({ identifier: "SetupState" })

/**
 * @since 0.1.0
 * @category models
 */
export interface SetupState extends Schema.Schema.Type<typeof SetupState> {}

/**
 * Options of `setupState` and `finishCluster`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SystemDatabasesOptions {
  /**
   * The databases whose existence makes a setup finished (default `_users` and `_replicator`; add
   * `_global_changes` for `_db_updates`). `finishCluster` creates them.
   */
  readonly ensureDbsExist?: ReadonlyArray<string> | undefined
}

/**
 * A server admin to create (or the one to authenticate as), with the password sent in the request body.
 *
 * @since 0.1.0
 * @category models
 */
export interface AdminCredentials {
  /** The admin's name. */
  readonly username: string
  /** The admin's password: unwrapped only in the request body. */
  readonly password: Redacted.Redacted<string>
}

/**
 * Options of `enableCluster` (`{"action": "enable_cluster"}`): on this node, or with `remoteNode`, on another
 * node reached by HTTP from this one (with that node's current admin, if it has one).
 *
 * @since 0.1.0
 * @category models
 */
export interface EnableClusterOptions extends AdminCredentials {
  /** The address to listen on (`0.0.0.0` for every interface; 127.0.0.1 cannot be a cluster's). */
  readonly bindAddress?: string | undefined
  /** The port to listen on (CouchDB's default 5984). */
  readonly port?: number | undefined
  /** How many nodes the cluster will have: the number of copies of each shard (`[cluster] n`, at most 3). */
  readonly nodeCount?: number | undefined
  /** The other node to enable, by host name or address (the request goes from this node to it). */
  readonly remoteNode?: string | undefined
  /** The other node's current admin, when it has one. */
  readonly remoteCurrentUser?: string | undefined
  /** That admin's password. */
  readonly remoteCurrentPassword?: Redacted.Redacted<string> | undefined
}

/**
 * Options of `enableSingleNode` (`{"action": "enable_single_node"}`): the node set up alone, its admin created
 * (when it has none) and the system databases created.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnableSingleNodeOptions extends AdminCredentials, SystemDatabasesOptions {
  /** The address to listen on. */
  readonly bindAddress?: string | undefined
  /** The port to listen on. */
  readonly port?: number | undefined
}

/**
 * Options of `addNode` (`{"action": "add_node"}`): a node, enabled for the cluster, joined to this node's cluster
 * (this node sends it the Erlang cookie with these credentials).
 *
 * @since 0.1.0
 * @category models
 */
export interface AddNodeOptions extends AdminCredentials {
  /** The node's host name or address. */
  readonly host: string
  /** Its HTTP port (default 5984). */
  readonly port?: number | undefined
  /** The name part of its Erlang node name (`couchdb` in `couchdb@db2.example.com`, the default). */
  readonly name?: string | undefined
}

/**
 * The errors of the setup actions: 400 with CouchDB's reason ("Cluster is already enabled", "Cluster is not
 * enabled.", "Add node failed. Invalid Host and/or Port.", "Cluster is already finished", "Invalid Action'"),
 * 404 from a server without the endpoint, and what every request can meet (401 for a user who is not a server
 * admin; 500 when a finish times out waiting for the nodes).
 *
 * @since 0.1.0
 * @category errors
 */
export type SetupError = CouchError.RequestError | CouchError.BadRequestError | CouchError.NotFoundError

/**
 * Whether resharding runs on the cluster (`/_reshard/state`) or a job runs (`/_reshard/jobs/{id}/state`), and why
 * it was stopped. A job's `state` is one of `new`, `running`, `stopped`, `completed`, `failed`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReshardState = Schema.Struct({
  state: Schema.String,
  reason: Schema.NullOr(Schema.String)
}).annotations({ identifier: "ReshardState" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ReshardState extends Schema.Schema.Type<typeof ReshardState> {}

/**
 * `GET /_reshard`: the cluster's resharding state and its jobs counted by state.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReshardSummary = Schema.Struct({
  state: Schema.String,
  stateReason: Schema.propertySignature(Schema.NullOr(Schema.String)).pipe(Schema.fromKey("state_reason")),
  completed: Schema.Number,
  failed: Schema.Number,
  running: Schema.Number,
  stopped: Schema.Number,
  total: Schema.Number
}).annotations({ identifier: "ReshardSummary" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ReshardSummary extends Schema.Schema.Type<typeof ReshardSummary> {}

/**
 * A resharding job: which shard it splits into which, on which node, where it stands (`jobState`; `splitState`
 * is its step: `initial_copy`, `topoff1`, `build_indices`, ..., `completed`) and its history.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReshardJob = Schema.Struct({
  id: Schema.String,
  type: Schema.String,
  source: Schema.String,
  target: Schema.Array(Schema.String),
  jobState: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("job_state")),
  splitState: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("split_state")),
  // no decoded record holds a `__proto__` key (decoding assigns each key, and that one sets the prototype, as
  // measured with effect 3.22): the key is left out of the schema, so that its arbitrary does not make one
  stateInfo: Schema.optional(Schema.Record({
    key: Schema.String.pipe(Schema.filter((key) => key !== "__proto__", { message: () => "a __proto__ key" })),
    value: Schema.Unknown
  })).pipe(
    Schema.fromKey("state_info")
  ),
  node: Schema.String,
  startTime: Schema.optional(Schema.String).pipe(Schema.fromKey("start_time")),
  updateTime: Schema.optional(Schema.String).pipe(Schema.fromKey("update_time")),
  history: Schema.Array(Schema.Struct({
    timestamp: Schema.String,
    type: Schema.String,
    detail: Schema.NullOr(Schema.String)
  }))
}).annotations({ identifier: "ReshardJob" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ReshardJob extends Schema.Schema.Type<typeof ReshardJob> {}

/**
 * What `createJobs` did for one shard: a job created (its `id`), or the `error` that kept it from being created.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReshardJobCreated = Schema.Union(
  Schema.Struct({ ok: Schema.Literal(true), id: Schema.String, node: Schema.String, shard: Schema.String }),
  Schema.Struct({ error: Schema.String, node: Schema.String, shard: Schema.String })
).annotations({ identifier: "ReshardJobCreated" })

/**
 * @since 0.1.0
 * @category models
 */
export type ReshardJobCreated = typeof ReshardJobCreated.Type

/**
 * Which shards to split (`POST /_reshard/jobs`, `type: "split"`): every copy of a database's shards, narrowed to
 * one node and/or one range (`"00000000-7fffffff"`); or one shard by its name (`shards/00000000-7fffffff/db.1700000000`),
 * on one node or every node that holds a copy.
 *
 * @since 0.1.0
 * @category models
 */
export type SplitTarget =
  | { readonly db: string; readonly node?: string | undefined; readonly range?: string | undefined }
  | { readonly shard: string; readonly node?: string | undefined }

/**
 * The cluster's resharding (`/_reshard`, CouchDB 2.4+): shards split in two while the database stays online. A
 * server without the endpoint (before 2.4, or not CouchDB) answers 404: `NotFoundError`, which every operation
 * lists.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reshard {
  /** `GET /_reshard`: the state and the jobs counted by state. */
  readonly summary: Effect.Effect<ReshardSummary, CouchError.RequestError | CouchError.NotFoundError>
  /** `GET /_reshard/state`: whether resharding runs on the cluster. */
  readonly state: Effect.Effect<ReshardState, CouchError.RequestError | CouchError.NotFoundError>
  /**
   * `PUT /_reshard/state`: starts (`running`) or stops (`stopped`, with a reason to record) resharding on every
   * node; stopped jobs wait until it runs again.
   */
  readonly setState: (
    state: "running" | "stopped",
    reason?: string
  ) => Effect.Effect<void, CouchError.RequestError | CouchError.BadRequestError | CouchError.NotFoundError>
  /** `GET /_reshard/jobs`: every job of every node. */
  readonly jobs: Effect.Effect<ReadonlyArray<ReshardJob>, CouchError.RequestError | CouchError.NotFoundError>
  /** `GET /_reshard/jobs/{id}`: one job (`NotFoundError` for an unknown id). */
  readonly job: (id: string) => Effect.Effect<ReshardJob, CouchError.RequestError | CouchError.NotFoundError>
  /**
   * `POST /_reshard/jobs`: a split job per shard copy the target names. The answer lists each: a job, or the error
   * that kept it from being created (the request succeeds when any was created; 500 `ServerError` when none was).
   * No shard copy matching the target is `NotFoundError`; an unknown database, a bad range, shard or node name is
   * `BadRequestError`.
   */
  readonly split: (
    target: SplitTarget
  ) => Effect.Effect<ReadonlyArray<ReshardJobCreated>, CouchError.RequestError | CouchError.BadRequestError | CouchError.NotFoundError>
  /** `DELETE /_reshard/jobs/{id}`: stops a job and forgets it (a completed one too). */
  readonly removeJob: (id: string) => Effect.Effect<void, CouchError.RequestError | CouchError.NotFoundError>
  /** `GET /_reshard/jobs/{id}/state`: a job's state and the reason it stopped or failed. */
  readonly jobState: (id: string) => Effect.Effect<ReshardState, CouchError.RequestError | CouchError.NotFoundError>
  /** `PUT /_reshard/jobs/{id}/state`: resumes (`running`) or stops (`stopped`, with a reason) one job. */
  readonly setJobState: (
    id: string,
    state: "running" | "stopped",
    reason?: string
  ) => Effect.Effect<void, CouchError.RequestError | CouchError.BadRequestError | CouchError.NotFoundError>
}

/**
 * The cluster's operations: its setup and its resharding. Nothing is sent until one of them runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface CouchCluster {
  /** `GET /_cluster_setup`: where the setup stands, the system databases `ensureDbsExist` names looked for. */
  readonly setupState: (
    options?: SystemDatabasesOptions
  ) => Effect.Effect<SetupState, SetupError>
  /**
   * `POST /_cluster_setup` `enable_cluster`: this node (or `remoteNode`) made ready to be a cluster's: its admin
   * created, bound to `bindAddress`, `nodeCount` copies. Takes effect once the node restarts its listener.
   */
  readonly enableCluster: (options: EnableClusterOptions) => Effect.Effect<void, SetupError>
  /**
   * `POST /_cluster_setup` `enable_single_node`: this node set up alone (`[cluster] n = 1`), its admin created when
   * it has none, its system databases created.
   */
  readonly enableSingleNode: (options: EnableSingleNodeOptions) => Effect.Effect<void, SetupError>
  /** `POST /_cluster_setup` `add_node`: another enabled node joined to this node's cluster. */
  readonly addNode: (options: AddNodeOptions) => Effect.Effect<void, SetupError>
  /**
   * `POST /_cluster_setup` `finish_cluster`: the nodes' admins, uuid and auth secret made the same, the system
   * databases created (400 "Cluster is already finished" when they exist).
   */
  readonly finishCluster: (options?: SystemDatabasesOptions) => Effect.Effect<void, SetupError>
  /** Resharding: shard splitting jobs and their state. */
  readonly reshard: Reshard
}
