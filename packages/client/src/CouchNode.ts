/**
 * One node of a CouchDB server (`/_node/{node}`): its configuration, statistics, system figures, Prometheus
 * metrics and versions. `couch.node()` is the node that answers the request (`_local`); on a cluster,
 * `couch.node("couchdb@db1.example.com")` names one of `couch.membership`'s nodes. Every endpoint needs a server
 * admin: CouchDB 3.5 answers anyone else 401, `UnauthorizedError` (`_stats`, `_system` and `_prometheus` also
 * admit a read-only metrics user). A node that is not in the cluster is `NotFoundError`.
 *
 * @example
 * ```ts
 * import { CouchSession } from "@effect-couch/client"
 * import { Effect } from "effect"
 *
 * const raiseMaxDocumentSize = Effect.gen(function*() {
 *   const couch = yield* CouchSession.CouchSession
 *   const node = couch.node()
 *   const before = yield* node.setConfig("couchdb", "max_document_size", "16777216")
 *   const versions = yield* node.versions
 *   return { before, engine: versions.javascriptEngine?.name }
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as CouchError from "./CouchError.js"

/**
 * A node's configuration: section → key → value (CouchDB keeps every value as a string).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Configuration = Schema.Record({
  key: Schema.String,
  value: Schema.Record({ key: Schema.String, value: Schema.String })
}).annotations({ identifier: "Configuration" })

/**
 * @since 0.1.0
 * @category models
 */
export type Configuration = typeof Configuration.Type

/**
 * One section of a node's configuration: key → value.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ConfigSection = Schema.Record({ key: Schema.String, value: Schema.String }).annotations({
  identifier: "ConfigSection"
})

/**
 * @since 0.1.0
 * @category models
 */
export type ConfigSection = typeof ConfigSection.Type

/**
 * A JSON value, as the statistics and system endpoints nest them.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | ReadonlyArray<JsonValue>
  | { readonly [key: string]: JsonValue }

/**
 * The schema of a {@link JsonValue}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonValue: Schema.Schema<JsonValue> = Schema.Union(
  Schema.String,
  Schema.Number,
  Schema.Boolean,
  Schema.Null,
  Schema.Array(Schema.suspend(() => JsonValue)),
  Schema.Record({ key: Schema.String, value: Schema.suspend(() => JsonValue) })
).annotations({ identifier: "JsonValue" })

/**
 * One statistic of `_stats`: its value (a number for counters and gauges, an object of figures for histograms),
 * its type and its description.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Statistic = Schema.Struct({
  value: JsonValue,
  type: Schema.String,
  desc: Schema.String
}).annotations({ identifier: "Statistic" })

/**
 * @since 0.1.0
 * @category models
 */
export type Statistic = typeof Statistic.Type

/**
 * What `/_node/{node}/_versions` tells: the JavaScript engine, the collation library, Erlang. Fields that only
 * some versions send are optional.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Versions = Schema.Struct({
  javascriptEngine: Schema.optional(Schema.Struct({ name: Schema.String, version: Schema.optional(Schema.String) })).pipe(
    Schema.fromKey("javascript_engine")
  ),
  collationDriver: Schema.optional(Schema.Struct({
    name: Schema.String,
    libraryVersion: Schema.optional(Schema.String).pipe(Schema.fromKey("library_version")),
    collatorVersion: Schema.optional(Schema.String).pipe(Schema.fromKey("collator_version"))
  })).pipe(Schema.fromKey("collation_driver")),
  erlang: Schema.optional(Schema.Struct({
    version: Schema.String,
    supportedHashes: Schema.optional(Schema.Array(Schema.String)).pipe(Schema.fromKey("supported_hashes"))
  }))
}).annotations({ identifier: "Versions" })

/**
 * @since 0.1.0
 * @category models
 */
export type Versions = typeof Versions.Type

/**
 * The failures of a node's endpoints: a node (or a configuration value) that is not there, and those of every
 * request (`UnauthorizedError` for a user who is not a server admin).
 *
 * @since 0.1.0
 * @category models
 */
export type NodeError = CouchError.NotFoundError | CouchError.RequestError

/**
 * One node of the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface CouchNode {
  /** The node's name in the path: `_local` (the node that answers), or a name from `/_membership`. */
  readonly name: string
  /** `GET /_node/{node}/_config`: every section. */
  readonly config: Effect.Effect<Configuration, NodeError>
  /** `GET /_node/{node}/_config/{section}`: one section (empty when it has no key). */
  readonly configSection: (section: string) => Effect.Effect<ConfigSection, NodeError>
  /** `GET /_node/{node}/_config/{section}/{key}`: one value (`NotFoundError` when it is not set). */
  readonly getConfig: (section: string, key: string) => Effect.Effect<string, NodeError>
  /**
   * `PUT /_node/{node}/_config/{section}/{key}`: sets a value, and gives the one it replaced (`""` when there was
   * none). The change is not persisted to the node's ini files when `persist` is `false`.
   */
  readonly setConfig: (
    section: string,
    key: string,
    value: string,
    options?: { readonly persist?: boolean | undefined }
  ) => Effect.Effect<string, NodeError | CouchError.BadRequestError>
  /** `DELETE /_node/{node}/_config/{section}/{key}`: removes a value, and gives it (`NotFoundError` when unset). */
  readonly deleteConfig: (section: string, key: string) => Effect.Effect<string, NodeError>
  /** `POST /_node/{node}/_config/_reload`: reads the ini files again. */
  readonly reloadConfig: Effect.Effect<void, NodeError>
  /**
   * `GET /_node/{node}/_stats/...`: the statistics under a path (`[]`: all of them, nested by group; `["couchdb",
   * "request_time"]`: one {@link Statistic}), as JSON.
   */
  readonly stats: (path?: ReadonlyArray<string>) => Effect.Effect<JsonValue, NodeError>
  /** `GET /_node/{node}/_system`: the Erlang VM's figures (memory, run queues, message queues, uptime), as JSON. */
  readonly system: Effect.Effect<{ readonly [key: string]: JsonValue }, NodeError>
  /** `GET /_node/{node}/_prometheus`: the metrics in Prometheus' text format. */
  readonly prometheus: Effect.Effect<string, NodeError>
  /** `GET /_node/{node}/_versions`. */
  readonly versions: Effect.Effect<Versions, NodeError>
  /**
   * `GET /_node/{node}/_smoosh/status`: the automatic compaction daemon's channels (databases and views waiting,
   * starting and being compacted), as JSON.
   */
  readonly smooshStatus: Effect.Effect<{ readonly [key: string]: JsonValue }, NodeError>
}
