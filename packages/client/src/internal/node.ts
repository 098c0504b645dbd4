import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as CouchError from "../CouchError.js"
import * as CouchNode from "../CouchNode.js"
import * as Json from "./json.js"
import * as Names from "./names.js"
import * as Request from "./request.js"

const nodeErrors = [CouchError.NotFoundError] as const
const jsonObject = Schema.Record({ key: Schema.String, value: CouchNode.JsonValue })

/** The node `name` of the server behind `transport`. */
export const make = (transport: Request.Transport, name: string): CouchNode.CouchNode => {
  const root = `/_node/${Names.encodeSegment(name)}`
  const attributes = { "couchdb.node": name }
  const span = (operation: string, extra?: Record<string, string>) =>
    Effect.withSpan(`CouchNode.${operation}`, { attributes: extra === undefined ? attributes : { ...attributes, ...extra } })
  const configPath = (section: string, key?: string) =>
    `${root}/_config/${Names.encodeSegment(section)}${key === undefined ? "" : `/${Names.encodeSegment(key)}`}`
  const get = <A, I>(path: string, schema: Schema.Schema<A, I>) =>
    Request.json(transport, { method: "GET", path }, schema, nodeErrors)

  return {
    name,
    config: get(`${root}/_config`, CouchNode.Configuration).pipe(span("config")),
    configSection: (section) => get(configPath(section), CouchNode.ConfigSection).pipe(span("configSection", { "couchdb.config.section": section })),
    getConfig: (section, key) =>
      get(configPath(section, key), Schema.String).pipe(span("getConfig", { "couchdb.config.section": section, "couchdb.config.key": key })),
    setConfig: (section, key, value, options = {}) =>
      Request.json(transport, {
        method: "PUT",
        path: configPath(section, key),
        body: Json.bodyUnchecked(value),
        headers: options.persist === false ? { "x-couch-persist": "false" } : undefined,
        idempotent: true
      }, Schema.String, [...nodeErrors, CouchError.BadRequestError]).pipe(
        span("setConfig", { "couchdb.config.section": section, "couchdb.config.key": key })
      ),
    deleteConfig: (section, key) =>
      Request.json(transport, { method: "DELETE", path: configPath(section, key) }, Schema.String, nodeErrors).pipe(
        span("deleteConfig", { "couchdb.config.section": section, "couchdb.config.key": key })
      ),
    reloadConfig: Request.discard(transport, { method: "POST", path: `${root}/_config/_reload` }, nodeErrors).pipe(
      Effect.asVoid,
      span("reloadConfig")
    ),
    stats: (path = []) =>
      get(`${root}/_stats${path.map((segment) => `/${Names.encodeSegment(segment)}`).join("")}`, CouchNode.JsonValue).pipe(
        span("stats")
      ),
    system: get(`${root}/_system`, jsonObject).pipe(span("system")),
    prometheus: Effect.suspend(() => {
      const request: Request.Request = { method: "GET", path: `${root}/_prometheus` }
      return Request.execute(transport, request, nodeErrors, (response) =>
        Effect.catchAll(response.text, (error) =>
          Effect.fail(Request.decodeFailure(transport, request, "truncated", error.message))))
    }).pipe(span("prometheus")),
    versions: get(`${root}/_versions`, CouchNode.Versions).pipe(span("versions")),
    smooshStatus: get(`${root}/_smoosh/status`, jsonObject).pipe(span("smooshStatus"))
  }
}
