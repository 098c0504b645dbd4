/**
 * A database on a CouchDB server, bound to the session that opened it.
 *
 * Get one from the session: `session.create(name)`, `session.database(name)` (checks that it exists) or
 * `session.use(name)` (no request).
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as CouchError from "./CouchError.js"

/**
 * A change sequence. CouchDB 2+ sends opaque strings (`"3-g1AAAA..."`), other servers numbers: never parse or
 * compare one, only pass it back.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Sequence = Schema.Union(Schema.String, Schema.Number).annotations({ identifier: "Sequence" })

/**
 * @since 0.1.0
 * @category models
 */
export type Sequence = typeof Sequence.Type

/**
 * What `GET /{db}` tells of a database. Fields that only some servers send are optional.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DatabaseInfo = Schema.Struct({
  dbName: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("db_name")),
  docCount: Schema.propertySignature(Schema.Number).pipe(Schema.fromKey("doc_count")),
  docDelCount: Schema.optional(Schema.Number).pipe(Schema.fromKey("doc_del_count")),
  updateSeq: Schema.propertySignature(Sequence).pipe(Schema.fromKey("update_seq")),
  purgeSeq: Schema.optional(Sequence).pipe(Schema.fromKey("purge_seq")),
  compactRunning: Schema.optional(Schema.Boolean).pipe(Schema.fromKey("compact_running")),
  diskFormatVersion: Schema.optional(Schema.Number).pipe(Schema.fromKey("disk_format_version")),
  instanceStartTime: Schema.optional(Schema.String).pipe(Schema.fromKey("instance_start_time")),
  sizes: Schema.optional(Schema.Struct({
    active: Schema.optional(Schema.Number),
    external: Schema.optional(Schema.Number),
    file: Schema.optional(Schema.Number)
  })),
  cluster: Schema.optional(Schema.Struct({
    q: Schema.optional(Schema.Number),
    n: Schema.optional(Schema.Number),
    w: Schema.optional(Schema.Number),
    r: Schema.optional(Schema.Number)
  })),
  props: Schema.optional(Schema.Struct({ partitioned: Schema.optional(Schema.Boolean) }))
}).annotations({ identifier: "DatabaseInfo" })

/**
 * @since 0.1.0
 * @category models
 */
export interface DatabaseInfo extends Schema.Schema.Type<typeof DatabaseInfo> {}

/**
 * A database, bound to its session.
 *
 * @since 0.1.0
 * @category models
 */
export interface Database {
  /** The database's name. */
  readonly name: string
  /** `GET /{db}`: the database's document count, sizes, update sequence and so on. */
  readonly info: Effect.Effect<DatabaseInfo, CouchError.RequestError | CouchError.NotFoundError | CouchError.ForbiddenError>
  /** `DELETE /{db}`: deletes the database and everything in it. */
  readonly delete: Effect.Effect<void, CouchError.RequestError | CouchError.NotFoundError | CouchError.ForbiddenError>
}
