/**
 * An embedded, in-process CouchDB-compatible server for tests: express +
 * express-pouchdb (4.2.0) on PouchDB's in-memory adapter, with guards in front
 * of (and hooks inside) express-pouchdb that fix its crashes, leaks and the
 * cheap-to-fix deviations from CouchDB 3.x. See `DEVIATIONS.md`.
 *
 * @internal
 */
import express from "express"
import type { CookieOptions, NextFunction, Request, RequestHandler, Response } from "express"
import expressPouchDB from "express-pouchdb"
import pouchUtils from "express-pouchdb/lib/utils.js"
import type { ExpressPouchDBApp, RouterLayer } from "express-pouchdb"
import httpAdapter from "pouchdb-adapter-http"
import memoryAdapter from "pouchdb-adapter-memory"
import PouchDB from "pouchdb-core"
import type { PouchChange, PouchDatabase, PouchDBStatic } from "pouchdb-core"
import mapreduce from "pouchdb-mapreduce"
import replication from "pouchdb-replication"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Http from "node:http"
import type { Socket } from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

// -----------------------------------------------------------------------------
// Database names
// -----------------------------------------------------------------------------

/** @internal */
export const databaseNamePattern = /^[a-z][a-z0-9_$()+/-]*$/

/** @internal */
export const systemDatabaseNames: ReadonlyArray<string> = ["_users", "_replicator", "_global_changes"]

/**
 * The longest last segment (after the last `/`) of a database name: CouchDB names a shard file
 * `<segment>.<10-digit timestamp>.couch`, and a file name has at most 255 bytes.
 *
 * @internal
 */
export const maxDatabaseNameLength = 238

/** The longest segment before a `/` (a directory of the shard files). @internal */
export const maxDatabaseDirectoryLength = 255

/** Whether a name that matches the pattern is too long for CouchDB (400 `database_name_too_long`). @internal */
export const isDatabaseNameTooLong = (name: string): boolean => {
  const segments = name.split("/")
  return (segments[segments.length - 1] ?? "").length > maxDatabaseNameLength ||
    segments.slice(0, -1).some((segment) => segment.length > maxDatabaseDirectoryLength)
}

/** @internal */
export const isValidDatabaseName = (name: string): boolean =>
  systemDatabaseNames.includes(name) ||
  (databaseNamePattern.test(name) && !isDatabaseNameTooLong(name))

const illegalDatabaseName = (name: string, extra = "") => ({
  error: "illegal_database_name",
  reason: `Name: '${name}'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.${extra}`
})

// -----------------------------------------------------------------------------
// Public surface of this internal module
// -----------------------------------------------------------------------------

/** @internal */
export interface EmbeddedServerOptions {
  readonly username: string
  readonly password: string
}

/** @internal */
export interface EmbeddedServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string
  /** The version reported by `GET /`. */
  readonly version: string
  /** The server admin. */
  readonly admin: EmbeddedServerOptions
  /** Closes every socket and live feed, frees the in-memory databases, removes the temp dir. */
  readonly stop: () => Promise<void>
  /**
   * Goes away for `downtimeMs` (live feeds ended, every connection closed, new ones refused) and comes back on
   * the same port with its data, as a restarted CouchDB does.
   */
  readonly restart: (downtimeMs: number) => Promise<void>
  /**
   * Answers cross-origin requests as CouchDB does with `[chttpd] enable_cors = true` and this `[cors]` section,
   * until the returned function is called (without a policy, no CORS: preflights are not answered). Throws when
   * the policy is not valid.
   */
  readonly allowCors: (policy: CorsPolicy) => () => void
}

/** @internal */
export const embeddedVersion = "3.3.3"

// -----------------------------------------------------------------------------
// PouchDB: local names use the memory adapter (first preferred adapter), http(s)
// URLs use the http adapter. No `adapter` default, so `/_replicate` to URLs works.
// -----------------------------------------------------------------------------

let basePouch: PouchDBStatic | undefined
const getBasePouch = (): PouchDBStatic => {
  if (basePouch === undefined) {
    basePouch = PouchDB.plugin(memoryAdapter).plugin(httpAdapter).plugin(mapreduce).plugin(replication)
  }
  return basePouch
}

const pouchEvents = ["created", "destroyed"] as const

// -----------------------------------------------------------------------------
// Small helpers
// -----------------------------------------------------------------------------

type Json = Record<string, unknown>

const isRecord = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

const prop = (u: unknown, key: string): unknown =>
  (typeof u === "object" && u !== null) || typeof u === "function" ? Reflect.get(u, key) : undefined

interface UserCtx {
  readonly name: string | null
  readonly roles: ReadonlyArray<string>
}

const userCtxOf = (req: Request): UserCtx => {
  const ctx = prop(prop(req, "couchSession"), "userCtx")
  const name = prop(ctx, "name")
  const roles = prop(ctx, "roles")
  return {
    name: typeof name === "string" ? name : null,
    roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === "string") : []
  }
}

const isServerAdmin = (ctx: UserCtx) => ctx.roles.includes("_admin")

const isPouchDatabase = (u: unknown): u is PouchDatabase =>
  isRecord(u) && typeof u["get"] === "function" && typeof u["changes"] === "function"

const dbOf = (req: Request): PouchDatabase | undefined => {
  const db = prop(req, "db")
  return isPouchDatabase(db) ? db : undefined
}

const jsonBuffer = (body: unknown) => Buffer.from(JSON.stringify(body) + "\n", "utf8")

const sendJson = (res: Response, status: number, body: unknown): void => {
  if (res.headersSent) {
    if (!res.writableEnded) res.end()
    return
  }
  res.status(status)
  res.setHeader("Content-Type", "application/json")
  res.send(jsonBuffer(body))
}

const safeDecode = (segment: string): string | undefined => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

/** Raw (still percent-encoded) path segments of the request. */
const rawSegments = (req: Request): ReadonlyArray<string> => {
  const path = req.path
  return path.split("/").slice(1).filter((s, i, all) => s !== "" || i < all.length - 1)
}

/**
 * A COPY `Destination` header read as CouchDB 3.5 reads it: split at the first `?` (`rev=` follows), the id
 * percent-decoded with `+` as a space. `undefined` when it cannot be decoded.
 */
const copyDestination = (header: string): { readonly id: string; readonly rev: string | undefined } | undefined => {
  const question = header.indexOf("?")
  const id = safeDecode((question === -1 ? header : header.slice(0, question)).replace(/\+/g, " "))
  const query = question === -1 ? undefined : new URLSearchParams(header.slice(question + 1))
  if (id === undefined) return undefined
  return { id, rev: query?.get("rev") ?? undefined }
}

/** The document and attachment addressed by an attachment path (`/db/doc/att`, `/db/_design/x/att`), if any. */
const attachmentOf = (
  segments: ReadonlyArray<string>
): { readonly docId: string; readonly name: string } | undefined => {
  const prefixed = segments[1] === "_design" || segments[1] === "_local"
  const docSegments = prefixed ? 2 : 1
  if (segments.length < 2 + docSegments) return undefined
  const docId = documentId(segments.slice(0, 1 + docSegments))
  const name = safeDecode(segments.slice(1 + docSegments).join("/"))
  return docId === undefined || name === undefined ? undefined : { docId, name }
}

/** The document id addressed by a document path (`/db/id`, `/db/_design/x`, `/db/_local/x`), if any. */
const documentId = (segments: ReadonlyArray<string>): string | undefined => {
  if (segments.length === 2 && segments[1] !== "") {
    const id = safeDecode(segments[1])
    if (id === undefined) return undefined
    if (id.startsWith("_") && !id.startsWith("_design/") && !id.startsWith("_local/")) return undefined
    return id
  }
  if (segments.length === 3 && (segments[1] === "_design" || segments[1] === "_local") && segments[2] !== "") {
    const id = safeDecode(segments[2])
    return id === undefined ? undefined : `${segments[1]}/${id}`
  }
  return undefined
}

const isJsonContentType = (req: Request) => /^application\/json\b/i.test(req.headers["content-type"] ?? "")

const intParam = (u: unknown): number | undefined =>
  typeof u === "number" && Number.isFinite(u) ? Math.floor(u) : undefined

const seqNumber = (u: unknown): number | undefined => {
  if (typeof u === "number" && Number.isFinite(u)) return u
  if (typeof u === "string") {
    const match = /^(\d+)/.exec(u)
    if (match !== null) return Number(match[1])
  }
  return undefined
}

const section = (security: unknown, name: string) => {
  const s = prop(security, name)
  const names = prop(s, "names")
  const roles = prop(s, "roles")
  return {
    names: Array.isArray(names) ? names.filter((n): n is string => typeof n === "string") : [],
    roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === "string") : []
  }
}

const isIn = (ctx: UserCtx, s: { readonly names: ReadonlyArray<string>; readonly roles: ReadonlyArray<string> }) =>
  (ctx.name !== null && s.names.includes(ctx.name)) || s.roles.some((role) => ctx.roles.includes(role))

/** CouchDB's read-access rule: server admin, db admin, member, or no members configured. */
const canRead = (ctx: UserCtx, security: unknown): boolean => {
  if (isServerAdmin(ctx)) return true
  const members = section(security, "members")
  if (members.names.length === 0 && members.roles.length === 0) return true
  return isIn(ctx, members) || isIn(ctx, section(security, "admins"))
}

const accessDenied = (ctx: UserCtx) =>
  ctx.name === null
    ? { status: 401, body: { error: "unauthorized", reason: "You are not authorized to access this db." } }
    : { status: 403, body: { error: "forbidden", reason: "You are not allowed to access this db." } }

const notAServerAdmin = { error: "unauthorized", reason: "You are not a server admin." }

const errorBody = (error: unknown): Json => ({
  error: typeof prop(error, "name") === "string" ? String(prop(error, "name")) : "unknown_error",
  reason: typeof prop(error, "message") === "string" ? String(prop(error, "message")) : String(error)
})

const errorStatus = (error: unknown): number => {
  const status = prop(error, "status")
  return typeof status === "number" && status >= 400 && status < 600 ? status : 500
}

/** Runs an async route body, turning every failure into a CouchDB-shaped response (never a rejection). */
const handle = (f: (req: Request, res: Response, next: NextFunction) => Promise<void>): RequestHandler =>
(req, res, next) => {
  f(req, res, next).catch((error: unknown) => sendJson(res, errorStatus(error), errorBody(error)))
}

/**
 * Moves the layers registered by `register` to just before the first layer
 * matching `before` in express-pouchdb's (pinned 4.2.0) router stack.
 */
const insertLayers = (
  app: ExpressPouchDBApp,
  before: (layer: RouterLayer, index: number, stack: ReadonlyArray<RouterLayer>) => boolean,
  register: () => void
): void => {
  const stack = app._router.stack
  const length = stack.length
  register()
  const added = stack.splice(length)
  const index = stack.findIndex(before)
  if (index === -1) {
    throw new Error("express-pouchdb router layout not recognised (is express-pouchdb 4.2.0 installed?)")
  }
  stack.splice(index, 0, ...added)
}

// -----------------------------------------------------------------------------
// Per-server context
// -----------------------------------------------------------------------------

let openFeeds = 0

/**
 * The number of live `_changes` feeds (each with its timers and PouchDB listener) still open
 * in this process, for leak tests.
 *
 * @internal
 */
export const openLiveFeeds = (): number => openFeeds

interface ServerContext {
  readonly admin: EmbeddedServerOptions
  readonly liveFeeds: Set<() => void>
  readonly uuid: string
  url: string
  /** The lifetime of a session cookie, in seconds (`[chttpd_auth] timeout`). */
  cookieLifetime: () => number
  /** Failed logins per peer and user name, for CouchDB 3.4's lockout. */
  readonly failedLogins: Map<string, { count: number; readonly since: number }>
}

/** CouchDB 3.4's `[chttpd_auth_lockout]` defaults: 5 failures lock a user out, for 5 minutes. */
const lockoutThreshold = 5
const lockoutLifetimeMs = 300_000
const lockedOut = {
  error: "forbidden",
  reason: "Account is temporarily locked due to multiple authentication failures"
}

/** The user name of a request's basic credentials, if any. */
const basicUserName = (authorization: string | undefined): string | undefined => {
  const match = authorization === undefined ? null : /^Basic\s+(\S+)$/i.exec(authorization)
  if (match === null) return undefined
  const decoded = Buffer.from(match[1] ?? "", "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  return colon === -1 ? undefined : decoded.slice(0, colon)
}

/**
 * CouchDB 3.4's lockout, for basic credentials: after 5 failed logins of a user from one peer, every request with
 * that user's credentials is answered 403 for 5 minutes, even with the right password. Answers the request and
 * gives `true` when it is locked out.
 */
const lockout = (ctx: ServerContext, req: Request, res: Response): boolean => {
  const name = basicUserName(req.headers.authorization)
  if (name === undefined) return false
  const key = `${req.socket.remoteAddress ?? ""}\u0000${name}`
  const entry = ctx.failedLogins.get(key)
  if (entry !== undefined && Date.now() - entry.since > lockoutLifetimeMs) ctx.failedLogins.delete(key)
  const failures = ctx.failedLogins.get(key)
  if (failures !== undefined && failures.count >= lockoutThreshold) {
    sendJson(res, 403, lockedOut)
    return true
  }
  res.on("finish", () => {
    if (res.statusCode !== 401) return
    const current = ctx.failedLogins.get(key)
    if (current === undefined) ctx.failedLogins.set(key, { count: 1, since: Date.now() })
    else current.count += 1
  })
  return false
}

// -----------------------------------------------------------------------------
// Response rewriting (status/reason fixes, ETag, COPY, deleted reason)
// -----------------------------------------------------------------------------

const parseJson = (body: unknown): unknown => {
  if (!(body instanceof Uint8Array) && typeof body !== "string") return undefined
  try {
    return JSON.parse(typeof body === "string" ? body : Buffer.from(body).toString("utf8"))
  } catch {
    return undefined
  }
}

/** express-pouchdb ignores the range parameters of `_all_dbs`: apply them as CouchDB does. */
const allDbsRange = (names: ReadonlyArray<string>, req: Request): ReadonlyArray<string> => {
  // express-pouchdb may already have JSON-decoded the query values by the time the response is sent
  const query = (name: string): unknown => {
    const raw: unknown = req.query[name]
    if (typeof raw !== "string") return raw
    try {
      return JSON.parse(raw)
    } catch {
      return raw
    }
  }
  const descending = query("descending") === true
  const start = query("startkey") ?? query("start_key")
  const end = query("endkey") ?? query("end_key")
  const skip = Number(query("skip") ?? 0)
  const limit = query("limit") === undefined ? Infinity : Number(query("limit"))
  const sorted = [...names].sort()
  if (descending) sorted.reverse()
  const inRange = sorted.filter((name) =>
    descending ?
      (typeof start !== "string" || name <= start) && (typeof end !== "string" || name >= end) :
      (typeof start !== "string" || name >= start) && (typeof end !== "string" || name <= end)
  )
  return inRange.slice(skip, skip + limit)
}

/** An ETag in the style CouchDB gives a local document: 24 characters of base 36, not the revision. */
const opaqueEtag = (id: string, rev: string): string =>
  BigInt("0x" + Crypto.createHash("md5").update(`${id}\u0000${rev}`).digest("hex")).toString(36).toUpperCase()
    .padStart(25, "0").slice(0, 24)

const installResponseRewriter = (req: Request, res: Response): void => {
  const send = res.send.bind(res)
  const segments = rawSegments(req)
  res.send = function(body?: unknown) {
    const status = res.statusCode
    const parsed = parseJson(body)
    if (status === 200 && req.method === "GET" && req.path === "/_all_dbs" && Array.isArray(parsed)) {
      return send(jsonBuffer(allDbsRange(parsed.filter((name): name is string => typeof name === "string"), req)))
    }
    if (status >= 400 && isRecord(parsed) && typeof parsed["error"] === "string") {
      const ctx = userCtxOf(req)
      if (status === 404 && parsed["reason"] === "no_db_file") {
        return send(jsonBuffer({ error: "not_found", reason: "Database does not exist." }))
      }
      if (status === 401 && ctx.name !== null && parsed["reason"] === "You are not authorized to access this db.") {
        res.status(403)
        return send(jsonBuffer({ error: "forbidden", reason: "You are not allowed to access this db." }))
      }
      const id = documentId(segments)
      const db = dbOf(req)
      if (
        status === 404 && parsed["reason"] === "missing" && id !== undefined && db !== undefined &&
        (req.method === "GET" || req.method === "HEAD") && req.query["rev"] === undefined
      ) {
        db.get(id).then(
          () => send(body),
          (error: unknown) =>
            send(prop(error, "reason") === "deleted" ? jsonBuffer({ error: "not_found", reason: "deleted" }) : body)
        )
        return res
      }
      return send(body)
    }
    const docId = documentId(segments)
    if (status === 200 && (req.method === "GET" || req.method === "HEAD") && docId !== undefined) {
      const rev = prop(parsed, "_rev")
      if (typeof rev === "string") {
        // CouchDB 3.5: a document's ETag is its revision; a local document's is an opaque hash of it
        const etag = docId.startsWith("_local/") ? `"${opaqueEtag(docId, rev)}"` : `"${rev}"`
        res.setHeader("ETag", etag)
        if (req.headers["if-none-match"] === etag) {
          res.status(304)
          return send()
        }
      }
    }
    return send(body)
  }
}

// -----------------------------------------------------------------------------
// CORS: CouchDB's [chttpd] enable_cors and [cors] section (chttpd_cors), off until a policy is allowed
// -----------------------------------------------------------------------------

/**
 * One `[cors]` configuration: `origins` (`*` for any), `credentials`, `methods`, `headers`, `exposed_headers`
 * and `max_age` (seconds), as CouchDB reads them.
 *
 * @internal
 */
export interface CorsPolicy {
  readonly origins: ReadonlyArray<string>
  readonly credentials?: boolean | undefined
  readonly methods?: ReadonlyArray<string> | undefined
  readonly headers?: ReadonlyArray<string> | undefined
  readonly exposedHeaders?: ReadonlyArray<string> | undefined
  readonly maxAge?: number | undefined
}

/** CouchDB's defaults (chttpd_cors.hrl): the headers and methods a preflight accepts, those exposed. */
const corsSupportedHeaders = [
  "accept", "accept-language", "authorization", "content-length", "content-range", "content-type", "destination",
  "expires", "if-match", "last-modified", "origin", "pragma", "x-couch-full-commit", "x-couch-id",
  "x-couch-persist", "x-couchdb-www-authenticate", "x-http-method-override", "x-requested-with",
  "x-couchdb-vhost-path"
]
const corsSupportedMethods = ["CONNECT", "COPY", "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "TRACE"]
const corsSimpleHeaders = ["cache-control", "content-language", "content-type", "expires", "last-modified", "pragma"]
const corsCouchHeaders = [
  "accept-ranges", "etag", "server", "x-couch-request-id", "x-couch-update-newrev", "x-couchdb-body-time"
]
const corsSimpleContentTypes = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]
const corsDefaultMaxAge = 600

/** A policy with every setting given. */
interface ResolvedCorsPolicy {
  readonly origins: ReadonlyArray<string>
  readonly credentials: boolean
  readonly methods: ReadonlyArray<string>
  readonly headers: ReadonlyArray<string>
  readonly exposedHeaders: ReadonlyArray<string>
  readonly maxAge: number
}

const httpToken = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** A policy with CouchDB's defaults filled in; throws on what CouchDB could never match. */
const resolveCorsPolicy = (policy: CorsPolicy): ResolvedCorsPolicy => {
  if (policy.origins.length === 0) throw new Error("cors.origins is empty: list origins, or \"*\" for any")
  for (const origin of policy.origins) {
    let parsed: URL | undefined
    try {
      parsed = new URL(origin)
    } catch {
      parsed = undefined
    }
    // an origin is scheme://host[:port]: with a path or a trailing slash it never equals a browser's Origin
    if (origin !== "*" && (parsed === undefined || parsed.origin !== origin)) {
      throw new Error(`cors.origins: ${JSON.stringify(origin)} is not an origin (scheme://host[:port], no path)`)
    }
  }
  for (const method of policy.methods ?? []) {
    if (!httpToken.test(method)) throw new Error(`cors.methods: ${JSON.stringify(method)} is not a method`)
  }
  for (const header of [...(policy.headers ?? []), ...(policy.exposedHeaders ?? [])]) {
    if (!httpToken.test(header)) throw new Error(`cors headers: ${JSON.stringify(header)} is not a header name`)
  }
  if (policy.credentials === true && policy.origins.includes("*")) {
    // CouchDB's documentation: origins = * and credentials = true cannot be set at the same time
    throw new Error("cors: credentials cannot be allowed for any origin (\"*\"), as on CouchDB: list the origins")
  }
  const maxAge = policy.maxAge ?? corsDefaultMaxAge
  if (!Number.isSafeInteger(maxAge) || maxAge < 0) throw new Error(`cors.maxAge: ${maxAge} is not a number of seconds`)
  return {
    origins: [...policy.origins],
    credentials: policy.credentials ?? false,
    methods: policy.methods === undefined ? corsSupportedMethods : [...policy.methods],
    headers: (policy.headers ?? corsSupportedHeaders).map((header) => header.toLowerCase()),
    exposedHeaders: (policy.exposedHeaders ?? corsCouchHeaders).map((header) => header.toLowerCase()),
    maxAge
  }
}

/**
 * The policies allowed on one server (each `CouchTestServer` layer that asks for CORS adds its own for its
 * lifetime) and the middleware that answers with them: the first policy naming the request's origin, else the
 * first accepting any origin.
 */
const corsPolicies = () => {
  const policies = new Set<ResolvedCorsPolicy>()
  const policyFor = (origin: string) => {
    const all = [...policies]
    return all.find((policy) => policy.origins.includes(origin)) ?? all.find((policy) => policy.origins.includes("*"))
  }

  /** A preflight's headers, or `undefined` when CouchDB would not take the request as a preflight. */
  const preflight = (policy: ResolvedCorsPolicy, origin: string, req: Request) => {
    const method = req.headers["access-control-request-method"]
    if (typeof method !== "string" || !policy.methods.includes(method)) return undefined
    const asked = req.headers["access-control-request-headers"] ?? ""
    const names = asked.split(/,\s*/).map((name) => name.trim().toLowerCase()).filter((name) => name !== "")
    if (names.some((name) => !policy.headers.includes(name))) return undefined
    return {
      "Access-Control-Allow-Origin": origin,
      "Access-Control-Max-Age": String(policy.maxAge),
      "Access-Control-Allow-Methods": policy.methods.join(", "),
      ...(policy.credentials ? { "Access-Control-Allow-Credentials": "true" } : {}),
      "Access-Control-Allow-Headers": asked
    }
  }

  /** Exposes the answer's simple headers, its content type and the configured ones, as CouchDB does. */
  const exposeOnWriteHead = (policy: ResolvedCorsPolicy, res: Response) => {
    const writeHead = res.writeHead
    const patched = function(this: Response, ...args: Array<unknown>) {
      const given = args.find((arg): arg is Record<string, unknown> => isRecord(arg))
      const names = [...res.getHeaderNames(), ...Object.keys(given ?? {}).map((name) => name.toLowerCase())]
      const simple = [...new Set(names.filter((name) => corsSimpleHeaders.includes(name)))]
      const contentType = String(res.getHeader("content-type") ?? prop(given, "content-type") ?? "").toLowerCase()
      const exposed = simple.includes("content-type") && corsSimpleContentTypes.includes(contentType) ?
        simple :
        ["content-type", ...simple.filter((name) => name !== "content-type")]
      if (!res.headersSent) {
        res.setHeader("Access-Control-Expose-Headers", [...exposed, ...policy.exposedHeaders].join(", "))
      }
      return Reflect.apply(writeHead, this, args) as Response
    }
    res.writeHead = patched as typeof res.writeHead
  }

  const middleware: RequestHandler = (req, res, next) => {
    const origin = req.headers.origin
    const policy = typeof origin === "string" && policies.size > 0 ? policyFor(origin) : undefined
    if (policy === undefined || origin === undefined) return next()
    if (req.method === "OPTIONS") {
      const headers = preflight(policy, origin, req)
      if (headers !== undefined) {
        res.writeHead(204, headers)
        res.end()
        return
      }
    }
    res.setHeader("Access-Control-Allow-Origin", origin)
    if (policy.credentials) res.setHeader("Access-Control-Allow-Credentials", "true")
    exposeOnWriteHead(policy, res)
    next()
  }

  /** Allows a policy until the returned function is called. Throws when the policy is not valid. */
  const allow = (policy: CorsPolicy): (() => void) => {
    const resolved = resolveCorsPolicy(policy)
    policies.add(resolved)
    return () => {
      policies.delete(resolved)
    }
  }
  return { middleware, allow }
}

// -----------------------------------------------------------------------------
// Front middleware: runs before express-pouchdb (and before authentication)
// -----------------------------------------------------------------------------

const jsonPostEndpoints = new Set([
  "_all_docs",
  "_bulk_docs",
  "_bulk_get",
  "_changes",
  "_compact",
  "_ensure_full_commit",
  "_explain",
  "_find",
  "_index",
  "_missing_revs",
  "_purge",
  "_revs_diff",
  "_view_cleanup"
])

const parseDocumentBody = express.json({ type: () => true, limit: "64mb", strict: false })

const front = (ctx: ServerContext): RequestHandler => (req, res, next) => {
  installResponseRewriter(req, res)
  res.setHeader("X-Couch-Request-ID", Crypto.randomBytes(5).toString("hex"))
  res.setHeader("Server", `CouchDB/${embeddedVersion} (effect-couch embedded test server)`)
  if (lockout(ctx, req, res)) return

  // JSON responses are application/json, as on CouchDB (express-pouchdb only does that when asked).
  const accept = req.headers.accept ?? ""
  if (!/json/i.test(accept)) {
    req.headers.accept = accept === "" ? "application/json" : `application/json, ${accept}`
  }

  // /_node/{node}/_config is /_config; rewriting here makes the admin check apply to it.
  const nodeConfig = /^\/_node\/(?:_local|nonode@nohost|node1@127\.0\.0\.1)\/_config(\/.*)?$/.exec(req.path)
  if (nodeConfig !== null) {
    const query = req.url.includes("?") ? req.url.slice(req.url.indexOf("?")) : ""
    req.url = `/_config${nodeConfig[1] ?? ""}${query}`
    // express-pouchdb's vhost resolution rebuilds req.url from req.originalUrl
    req.originalUrl = req.url
  }

  // CouchDB 3 reads the cookie settings from [chttpd_auth]; express-pouchdb from [couch_httpd_auth].
  const authConfig = /^\/_config\/chttpd_auth(\/.*)?$/.exec(req.path)
  if (authConfig !== null) {
    const query = req.url.includes("?") ? req.url.slice(req.url.indexOf("?")) : ""
    req.url = `/_config/couch_httpd_auth${authConfig[1] ?? ""}${query}`
    req.originalUrl = req.url
  }

  // Session cookies carry their lifetime, as CouchDB 3's do (allow_persistent_cookies is true there): express-pouchdb
  // sets none at login, and a Max-Age in milliseconds (so 0) when it renews one.
  const cookie = res.cookie.bind(res)
  res.cookie = (name: string, value: unknown, options?: CookieOptions) =>
    name === "AuthSession" && value !== "" ?
      cookie(name, value, { path: "/", ...options, maxAge: ctx.cookieLifetime() * 1000 }) :
      cookie(name, value, options ?? {})

  // DELETE /db/_index/_design/x/json/name: express-pouchdb only routes `_design%2Fx`.
  const indexPath = /^(\/[^/]+\/_index\/)_design\/([^/]+\/json\/[^/]+)$/.exec(req.path)
  if (req.method === "DELETE" && indexPath !== null) {
    const query = req.url.includes("?") ? req.url.slice(req.url.indexOf("?")) : ""
    req.url = `${indexPath[1]}_design%2F${indexPath[2]}${query}`
    req.originalUrl = req.url
  }

  const segments = rawSegments(req)
  const first = segments[0] ?? ""

  if (req.path === "/" && (req.method === "GET" || req.method === "HEAD")) {
    return sendJson(res, 200, {
      couchdb: "Welcome",
      version: embeddedVersion,
      git_sha: "embedded",
      uuid: ctx.uuid,
      features: [],
      vendor: { name: "effect-couch embedded test server (express-pouchdb 4.2.0)" }
    })
  }
  if (req.path === "/_up" && (req.method === "GET" || req.method === "HEAD")) {
    return sendJson(res, 200, { status: "ok", seeds: {} })
  }
  if (req.path === "/_uuids") {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET,HEAD")
      return sendJson(res, 405, { error: "method_not_allowed", reason: "Only GET,HEAD allowed" })
    }
    const raw = req.query["count"]
    const count = raw === undefined ? 1 : Number(raw)
    if (!Number.isInteger(count) || count < 0) {
      return sendJson(res, 400, { error: "bad_request", reason: "Invalid count parameter" })
    }
    if (count > 1000) {
      return sendJson(res, 400, { error: "bad_request", reason: "count parameter too large" })
    }
    return sendJson(res, 200, { uuids: Array.from({ length: count }, () => Crypto.randomBytes(16).toString("hex")) })
  }

  // If-Match carries the revision, as on CouchDB.
  const ifMatch = req.headers["if-match"]
  if (typeof ifMatch === "string" && req.query["rev"] === undefined && (req.method === "PUT" || req.method === "DELETE")) {
    req.query["rev"] = ifMatch.replace(/^W\//, "").replace(/"/g, "")
  }

  // multipart/related PUTs crash express-pouchdb (uncaught exceptions in its form parser): a document's is
  // served after the database is resolved (`multipartPut`), any other is refused.
  if (
    req.method === "PUT" && /^multipart\/related/i.test(req.headers["content-type"] ?? "") &&
    documentId(segments) === undefined
  ) {
    return sendJson(res, 415, {
      error: "bad_content_type",
      reason: "multipart/related document uploads are not supported by the embedded test server"
    })
  }

  // CouchDB requires application/json on JSON POST endpoints.
  if (req.method === "POST" && !isJsonContentType(req)) {
    const second = segments[1] ?? ""
    const isJsonEndpoint = (segments.length === 1 && (first === "_replicate" || first === "_dbs_info" ||
      (!first.startsWith("_") || systemDatabaseNames.includes(first)))) ||
      (segments.length === 2 && jsonPostEndpoints.has(second)) ||
      (segments.length === 5 && second === "_design" && segments[3] === "_view") ||
      (segments.length === 6 && second === "_design" && segments[3] === "_view" && segments[5] === "queries")
    if (isJsonEndpoint && first !== "_session") {
      return sendJson(res, 415, { error: "bad_content_type", reason: "Content-Type must be application/json" })
    }
  }

  // _revs_limit: the body is a bare JSON number, which express-pouchdb's strict JSON parser refuses.
  if (req.method === "PUT" && segments.length === 2 && segments[1] === "_revs_limit") {
    return parseDocumentBody(req, res, (error?: unknown) =>
      error === undefined ? next() : sendJson(res, 400, { error: "bad_request", reason: "invalid JSON" }))
  }

  // Document PUT: the body is JSON whatever the Content-Type (but multipart/related, read after the database is
  // resolved), and the URL id wins over `_id`.
  const id = documentId(segments)
  if (req.method === "PUT" && id !== undefined && !/^multipart\/related/i.test(req.headers["content-type"] ?? "")) {
    return parseDocumentBody(req, res, (error?: unknown) => {
      if (error !== undefined) {
        return sendJson(res, 400, { error: "bad_request", reason: "invalid UTF-8 JSON" })
      }
      const body: unknown = req.body
      if (!isRecord(body)) {
        return sendJson(res, 400, { error: "bad_request", reason: "Document must be a JSON object" })
      }
      body["_id"] = id
      next()
    })
  }
  next()
}

// -----------------------------------------------------------------------------
// After authentication (inside express-pouchdb): admin-only server operations
// -----------------------------------------------------------------------------

const afterAuth = (ctx: ServerContext): RequestHandler =>
  handle(async (req, res, next) => {
    const user = userCtxOf(req)
    const segments = rawSegments(req)
    const pouch = prop(req, "PouchDB")
    const allDbs = async (): Promise<ReadonlyArray<string>> => {
      const f = prop(pouch, "allDbs")
      if (typeof f !== "function") return []
      const result: unknown = await f.call(pouch)
      return Array.isArray(result) ? result.filter((s): s is string => typeof s === "string") : []
    }

    if (req.path === "/_all_dbs" && !isServerAdmin(user)) {
      return sendJson(res, 401, notAServerAdmin)
    }

    const first = segments[0]
    if (
      segments.length === 1 && first !== undefined && first !== "" && first !== "_session" &&
      (req.method === "PUT" || req.method === "DELETE")
    ) {
      // Non-admin PUT/DELETE of a database crash express-pouchdb (unhandled rejections, and a
      // poisoned global promise chain after which no database can be opened any more).
      if (!isServerAdmin(user)) return sendJson(res, 401, notAServerAdmin)
      const name = safeDecode(first) ?? first
      if (req.method === "PUT") {
        if (databaseNamePattern.test(name) && isDatabaseNameTooLong(name)) {
          return sendJson(res, 400, {
            error: "database_name_too_long",
            reason: `At least one path segment of \`${name}\` is too long.`
          })
        }
        if (!isValidDatabaseName(name)) return sendJson(res, 400, illegalDatabaseName(name))
        if (name.includes("/")) {
          return sendJson(
            res,
            400,
            illegalDatabaseName(name, " (The embedded test server does not support '/' in database names.)")
          )
        }
        if ((await allDbs()).includes(name)) {
          return sendJson(res, 412, {
            error: "file_exists",
            reason: "The database could not be created, the file already exists."
          })
        }
        // CouchDB 3 creates databases admin-only: set that security object before answering.
        const send = res.send.bind(res)
        res.send = function(body?: unknown) {
          if (res.statusCode !== 201 || systemDatabaseNames.includes(name)) return send(body)
          fetch(`${ctx.url}/${encodeURIComponent(name)}/_security`, {
            method: "PUT",
            headers: {
              "content-type": "application/json",
              authorization: `Basic ${
                Buffer.from(`${ctx.admin.username}:${ctx.admin.password}`).toString("base64")
              }`
            },
            body: JSON.stringify({ members: { roles: ["_admin"] }, admins: { roles: ["_admin"] } })
          }).then((r) => r.arrayBuffer()).then(() => send(body), () => send(body))
          return res
        }
        return next()
      }
      if (!(await allDbs()).includes(name)) {
        return sendJson(res, 404, { error: "not_found", reason: "Database does not exist." })
      }
    }
    next()
  })

// -----------------------------------------------------------------------------
// After the database is resolved (req.db is set): read access and document guards
// -----------------------------------------------------------------------------

/** The `_revs_limit` of each database (express-pouchdb keeps none). */
const revsLimits = new Map<string, number>()

const memberOnlyEndpoints = new Set(["_find", "_explain", "_bulk_get", "_index"])

const afterDb: RequestHandler = handle(async (req, res, next) => {
  const db = dbOf(req)
  const segments = rawSegments(req)
  if (db === undefined || segments.length < 2) return next()
  const user = userCtxOf(req)
  const second = segments[1] ?? ""

  // express-pouchdb lets non-members read members-only databases through _find and _bulk_get.
  if (memberOnlyEndpoints.has(second) && !isServerAdmin(user)) {
    const security = await db.getSecurity()
    if (!canRead(user, security)) {
      const denied = accessDenied(user)
      return sendJson(res, denied.status, denied.body)
    }
  }

  // _revs_limit: express-pouchdb has none (it takes "_revs_limit" for a document id). Keep it per database.
  if (second === "_revs_limit" && segments.length === 2) {
    const name = safeDecode(segments[0] ?? "") ?? ""
    if (req.method === "GET") return sendJson(res, 200, revsLimits.get(name) ?? 1000)
    if (req.method === "PUT") {
      const limit: unknown = req.body
      if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1) {
        return sendJson(res, 400, { error: "bad_request", reason: "`revs_limit` must be a positive integer" })
      }
      revsLimits.set(name, limit)
      return sendJson(res, 200, { ok: true })
    }
  }

  // _missing_revs: express-pouchdb has none (it takes the POST for a document's multipart upload). CouchDB answers
  // `_revs_diff`'s missing revisions, by document, leaving out the documents that lack none.
  if (second === "_missing_revs" && segments.length === 2 && req.method === "POST") {
    const body = await new Promise<unknown>((resolve) =>
      parseDocumentBody(req, res, (error?: unknown) => resolve(error === undefined ? req.body : undefined))
    )
    if (!isRecord(body)) return sendJson(res, 400, { error: "bad_request", reason: "Request body must be a JSON object" })
    try {
      const diff: Record<string, unknown> = await db.revsDiff(body)
      const missing: Record<string, unknown> = {}
      for (const [id, entry] of Object.entries(diff)) {
        const revs = prop(entry, "missing")
        if (Array.isArray(revs) && revs.length > 0) missing[id] = revs
      }
      return sendJson(res, 200, { missing_revs: missing })
    } catch (error) {
      return pouchUtils.sendError(res, error, 400)
    }
  }

  // _bulk_get: express-pouchdb merges requests for the same id and answers a missing document with `{}`;
  // CouchDB answers each request, and a missing one with an error entry.
  if (second === "_bulk_get" && segments.length === 2 && req.method === "POST") {
    const body = await new Promise<unknown>((resolve) =>
      parseDocumentBody(req, res, (error?: unknown) => resolve(error === undefined ? req.body : undefined))
    )
    const docs = prop(body, "docs")
    if (!Array.isArray(docs)) return sendJson(res, 400, { error: "bad_request", reason: "Missing JSON list of 'docs'." })
    const flag = (name: string) => req.query[name] === "true"
    const results = await Promise.all(docs.map(async (request: unknown) => {
      const id = prop(request, "id")
      const rev = prop(request, "rev")
      if (typeof id !== "string") {
        return { id: null, docs: [{ error: { id: null, rev: null, error: "bad_request", reason: "missing id" } }] }
      }
      const options = {
        ...(typeof rev === "string" ? { rev } : {}),
        revs: flag("revs"),
        latest: flag("latest"),
        attachments: flag("attachments")
      }
      return db.get(id, options).then(
        (doc: unknown) => ({ id, docs: [{ ok: doc }] }),
        (error: unknown) => ({
          id,
          docs: [{
            error: {
              id,
              rev: typeof rev === "string" ? rev : "undefined",
              error: "not_found",
              reason: prop(error, "reason") === "deleted" ? "deleted" : "missing"
            }
          }]
        })
      )
    }))
    return sendJson(res, 200, { results })
  }

  // multipart/related: a document written with its attachments, and read with them when asked (CouchDB's
  // format: the JSON part, then a part per attachment announced `follows: true`, matched in the JSON's order).
  const multipartId = documentId(segments)
  const multipartRequest = multipartId !== undefined && (
    (req.method === "PUT" && /^multipart\/related/i.test(req.headers["content-type"] ?? "")) ||
    (req.method === "GET" && String(req.query["attachments"]) === "true" && /multipart\/related/i.test(req.headers.accept ?? ""))
  )
  if (multipartRequest && !isServerAdmin(user) && !canRead(user, await db.getSecurity())) {
    const denied = accessDenied(user)
    return sendJson(res, denied.status, denied.body)
  }
  if (multipartId !== undefined && req.method === "PUT" && /^multipart\/related/i.test(req.headers["content-type"] ?? "")) {
    return putMultipart(req, res, db, multipartId)
  }
  if (
    multipartId !== undefined && req.method === "GET" && String(req.query["attachments"]) === "true" &&
    /multipart\/related/i.test(req.headers.accept ?? "") && req.query["open_revs"] === undefined
  ) {
    return getMultipart(req, res, next, db, multipartId)
  }

  // COPY: served here. express-pouchdb reads `Destination` raw, answers without id and rev, and does not route a
  // COPY of an id holding a `/` (`_design/x`). CouchDB 3.5 splits the header at its first `?` (`rev=` follows) and
  // percent-decodes the id, reading `+` as a space.
  const copySource = documentId(segments)
  if (req.method === "COPY" && copySource !== undefined) {
    const header = req.headers["destination"]
    if (typeof header !== "string" || header === "") {
      return sendJson(res, 400, { error: "bad_request", reason: "Destination header is mandatory for COPY." })
    }
    if (/^https?:\/\//.test(header)) {
      return sendJson(res, 400, { error: "bad_request", reason: "Destination URL must be relative." })
    }
    const destination = copyDestination(header)
    if (destination === undefined) return sendJson(res, 400, { error: "bad_request", reason: "Invalid Destination header." })
    const sourceRev = req.query["rev"]
    const opts = pouchUtils.makeOpts(req, {})
    try {
      const source = await db.get(copySource, typeof sourceRev === "string" ? { rev: sourceRev } : {})
      const copy: Record<string, unknown> = { ...source, _id: destination.id }
      if (destination.rev === undefined) delete copy["_rev"]
      else copy["_rev"] = destination.rev
      const written = await db.put(copy, opts)
      res.setHeader("ETag", `"${written.rev}"`)
      return sendJson(res, 201, { ok: true, id: written.id, rev: written.rev })
    } catch (error) {
      return pouchUtils.sendError(res, error, 409)
    }
  }

  // DELETE of an attachment at a revision that is not the current one: express-pouchdb answers 500. CouchDB 3.5
  // answers 404 "Document is missing attachment" when that revision has no such attachment, else 409.
  const attachment = attachmentOf(segments)
  const attachmentRev = req.query["rev"]
  if (req.method === "DELETE" && attachment !== undefined && typeof attachmentRev === "string") {
    const current = await db.get(attachment.docId).then((doc) => doc, () => undefined)
    if (current !== undefined && current["_rev"] !== attachmentRev) {
      const atRev = await db.get(attachment.docId, { rev: attachmentRev }).then((doc) => doc, () => undefined)
      const attachments = prop(atRev, "_attachments")
      const has = isRecord(attachments) && attachment.name in attachments
      return has ?
        sendJson(res, 409, { error: "conflict", reason: "Document update conflict." }) :
        sendJson(res, 404, { error: "not_found", reason: "Document is missing attachment" })
    }
  }

  // DELETE without a revision: 404 if the document is missing, else 409 (express-pouchdb deletes it).
  const id = documentId(segments)
  if (req.method === "DELETE" && id !== undefined && req.query["rev"] === undefined) {
    const security = isServerAdmin(user) ? undefined : await db.getSecurity()
    if (security !== undefined && !canRead(user, security)) {
      const denied = accessDenied(user)
      return sendJson(res, denied.status, denied.body)
    }
    const found = await db.get(id).then(() => undefined, (error: unknown) => error)
    if (found !== undefined) {
      return sendJson(res, 404, { error: "not_found", reason: prop(found, "reason") === "deleted" ? "deleted" : "missing" })
    }
    return sendJson(res, 409, { error: "conflict", reason: "Document update conflict." })
  }
  next()
})

// -----------------------------------------------------------------------------
// multipart/related documents
// -----------------------------------------------------------------------------

const readBody = (req: Request): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => resolve(Buffer.concat(chunks)))
    req.on("error", reject)
  })

/** The parts of a multipart body: each part's headers (lower-case names) and bytes. */
const multipartParts = (
  body: Buffer,
  boundary: string
): ReadonlyArray<{ readonly headers: Record<string, string>; readonly bytes: Buffer }> | undefined => {
  const delimiter = Buffer.from(`--${boundary}`)
  const parts: Array<{ headers: Record<string, string>; bytes: Buffer }> = []
  let at = body.indexOf(delimiter)
  if (at < 0) return undefined
  for (;;) {
    at += delimiter.length
    if (body.subarray(at, at + 2).toString() === "--") return parts
    const headersEnd = body.indexOf("\r\n\r\n", at)
    if (headersEnd < 0) return undefined
    const headers: Record<string, string> = {}
    for (const line of body.subarray(at, headersEnd).toString("utf8").split("\r\n")) {
      const colon = line.indexOf(":")
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headersEnd + 4)
    if (next < 0) return undefined
    parts.push({ headers, bytes: body.subarray(headersEnd + 4, next) })
    at = next + 2
  }
}

const boundaryParam = (contentType: string): string | undefined => {
  const match = /;\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType)
  return match === null ? undefined : match[1] ?? match[2]
}

const putMultipart = async (req: Request, res: Response, db: PouchDatabase, id: string): Promise<void> => {
  const boundary = boundaryParam(req.headers["content-type"] ?? "")
  const parts = boundary === undefined ? undefined : multipartParts(await readBody(req), boundary)
  const [first, ...rest] = parts ?? []
  if (first === undefined) return sendJson(res, 400, { error: "bad_request", reason: "invalid multipart body" })
  let doc: unknown
  try {
    doc = JSON.parse(first.bytes.toString("utf8"))
  } catch {
    return sendJson(res, 400, { error: "bad_request", reason: "invalid UTF-8 JSON" })
  }
  if (!isRecord(doc)) return sendJson(res, 400, { error: "bad_request", reason: "Document must be a JSON object" })
  const attachments = isRecord(doc["_attachments"]) ? { ...doc["_attachments"] } : {}
  const following = Object.keys(attachments).filter((name) => prop(attachments[name], "follows") === true)
  if (following.length !== rest.length) {
    return sendJson(res, 400, { error: "bad_request", reason: "the attachment parts do not match the follows entries" })
  }
  following.forEach((name, i) => {
    const part = rest[i]!
    attachments[name] = { content_type: prop(attachments[name], "content_type"), data: part.bytes.toString("base64") }
  })
  try {
    const written = await db.put({ ...doc, _id: id, _attachments: attachments }, pouchUtils.makeOpts(req, {
      ...(String(req.query["new_edits"]) === "false" ? { new_edits: false } : {})
    }))
    res.setHeader("ETag", `"${written.rev}"`)
    return sendJson(res, 201, { ok: true, id: written.id, rev: written.rev })
  } catch (error) {
    return pouchUtils.sendError(res, error, 409)
  }
}

const getMultipart = async (
  req: Request,
  res: Response,
  next: NextFunction,
  db: PouchDatabase,
  id: string
): Promise<void> => {
  // express-pouchdb has parsed the query's JSON values
  const flag = (name: string) => String(req.query[name]) === "true"
  const rev = req.query["rev"]
  const doc: Record<string, unknown> | undefined = await db.get(id, {
    ...(typeof rev === "string" ? { rev } : {}),
    revs: true,
    conflicts: flag("conflicts"),
    latest: flag("latest"),
    attachments: true,
    binary: true
  }).then((doc: Record<string, unknown>) => doc, () => undefined)
  const attachments = doc === undefined ? undefined : doc["_attachments"]
  if (doc === undefined || !isRecord(attachments) || Object.keys(attachments).length === 0) return next()
  // atts_since: only the attachments added after the newest of these revisions the document's history holds
  const attsSince: unknown = req.query["atts_since"]
  const since = typeof attsSince === "string" ? (JSON.parse(attsSince) as unknown) : attsSince ?? []
  const history = prop(doc, "_revisions")
  const start = Number(prop(history, "start"))
  const ids = prop(history, "ids")
  const known = Array.isArray(ids) ? ids.map((hash, i) => `${start - i}-${String(hash)}`) : []
  const sincePos = Array.isArray(since) ?
    Math.max(0, ...since.filter((r): r is string => typeof r === "string" && known.includes(r)).map((r) => parseInt(r, 10))) :
    0
  const { _revisions, ...rest } = doc
  const stubs: Record<string, unknown> = {}
  const follow: Array<[string, Buffer, string]> = []
  for (const [name, entry] of Object.entries(attachments)) {
    const data = prop(entry, "data")
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(String(data ?? ""), "base64")
    const revpos = Number(prop(entry, "revpos") ?? 1)
    const stub = { content_type: prop(entry, "content_type"), revpos, digest: prop(entry, "digest"), length: bytes.length }
    if (revpos > sincePos) {
      stubs[name] = { ...stub, follows: true }
      follow.push([name, bytes, String(prop(entry, "content_type") ?? "application/octet-stream")])
    } else {
      stubs[name] = { ...stub, stub: true }
    }
  }
  const answer = { ...rest, ...(flag("revs") ? { _revisions } : {}), _attachments: stubs }
  const boundary = Crypto.randomBytes(16).toString("hex")
  const pieces: Array<Buffer> = [Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(answer)}`)]
  for (const [name, bytes, type] of follow) {
    pieces.push(Buffer.from(
      `\r\n--${boundary}\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Type: ${type}\r\n` +
        `Content-Length: ${bytes.length}\r\n\r\n`
    ))
    pieces.push(bytes)
  }
  pieces.push(Buffer.from(`\r\n--${boundary}--`))
  const body = Buffer.concat(pieces)
  res.status(200)
  res.setHeader("Content-Type", `multipart/related; boundary="${boundary}"`)
  res.setHeader("Content-Length", String(body.length))
  res.setHeader("ETag", `"${String(doc["_rev"])}"`)
  res.end(body)
}

// -----------------------------------------------------------------------------
// _changes: all feeds (normal, longpoll, continuous, eventsource)
// -----------------------------------------------------------------------------

type FilterResult =
  | { readonly _tag: "options"; readonly options: Json }
  | { readonly _tag: "error"; readonly status: number; readonly body: Json }

const filterError = (status: number, error: string, reason: string): FilterResult => ({
  _tag: "error",
  status,
  body: { error, reason }
})

const resolveFilter = async (db: PouchDatabase, query: Json, body: unknown): Promise<FilterResult> => {
  const filter = query["filter"]
  if (filter === undefined || filter === "") return { _tag: "options", options: {} }
  if (filter === "_doc_ids") {
    const ids = prop(body, "doc_ids") ?? query["doc_ids"]
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === "string")) {
      return filterError(400, "bad_request", "`doc_ids` filter parameter is not a list of doc ids.")
    }
    return { _tag: "options", options: { doc_ids: ids } }
  }
  if (filter === "_selector") {
    const selector = prop(body, "selector")
    if (!isRecord(selector)) return filterError(400, "bad_request", "Selector must be specified in POST payload")
    return { _tag: "options", options: { selector } }
  }
  if (filter === "_design") {
    return {
      _tag: "options",
      options: { filter: (doc: unknown) => String(prop(doc, "_id")).startsWith("_design/") }
    }
  }
  const designFunction = async (ref: unknown, kind: "views" | "filters"): Promise<FilterResult | undefined> => {
    const match = typeof ref === "string" ? /^([^/]+)\/(.+)$/.exec(ref) : null
    if (match === null) {
      return kind === "views"
        ? filterError(400, "bad_request", "`view` filter parameter is not provided.")
        : filterError(400, "bad_request", "filter parameter must be of the form `designname/filtername`")
    }
    const ddoc = await db.get(`_design/${match[1]}`).then((d) => d, () => undefined)
    if (ddoc === undefined) return filterError(404, "not_found", "missing")
    const fn = prop(prop(ddoc, kind), match[2] ?? "")
    const source = kind === "views" ? prop(fn, "map") : fn
    if (typeof source !== "string") return filterError(404, "not_found", `missing json key: ${match[2]}`)
    return undefined
  }
  if (filter === "_view") {
    const error = await designFunction(query["view"], "views")
    return error ?? { _tag: "options", options: { filter: "_view", view: query["view"] } }
  }
  const error = await designFunction(filter, "filters")
  return error ?? { _tag: "options", options: { filter, query_params: query } }
}

const changesHandler = (ctx: ServerContext): RequestHandler =>
  handle(async (req, res) => {
    const db = dbOf(req)
    if (db === undefined) return sendJson(res, 500, { error: "unknown_error", reason: "database not resolved" })
    const query: Json = { ...req.query }
    const body: unknown = req.method === "POST" ? req.body : undefined
    const user = userCtxOf(req)

    if (!isServerAdmin(user) && !canRead(user, await db.getSecurity())) {
      const denied = accessDenied(user)
      return sendJson(res, denied.status, denied.body)
    }

    const feed = query["feed"] === undefined ? "normal" : query["feed"]
    if (feed !== "normal" && feed !== "longpoll" && feed !== "continuous" && feed !== "eventsource") {
      return sendJson(res, 400, { error: "bad_request", reason: "Supported `feed` types: normal, continuous, longpoll, eventsource" })
    }
    const filter = await resolveFilter(db, query, body)
    if (filter._tag === "error") return sendJson(res, filter.status, filter.body)

    const since = query["since"] === "now" ? seqNumber((await db.info()).update_seq) ?? 0 : seqNumber(query["since"]) ?? 0
    const limit = intParam(query["limit"])
    const options: Json = {
      ...filter.options,
      since,
      include_docs: query["include_docs"] === true,
      conflicts: query["conflicts"] === true,
      attachments: query["attachments"] === true,
      descending: query["descending"] === true,
      style: query["style"] === "all_docs" ? "all_docs" : "main_only",
      return_docs: true
    }

    if (feed === "normal") {
      const result = await db.changes({ ...options, ...(limit === undefined ? {} : { limit: Math.max(limit, 1) }) })
      return sendJson(res, 200, { results: result.results, last_seq: result.last_seq, pending: 0 })
    }

    let lastSeq = since
    if (feed === "longpoll") {
      const result = await db.changes({ ...options, ...(limit === undefined ? {} : { limit: Math.max(limit, 1) }) })
      if (result.results.length > 0 || query["descending"] === true) {
        return sendJson(res, 200, { results: result.results, last_seq: result.last_seq, pending: 0 })
      }
      lastSeq = seqNumber(result.last_seq) ?? since
    }

    const heartbeat = query["heartbeat"] === true ? 60000 : intParam(query["heartbeat"])
    const timeout = intParam(query["timeout"]) ?? 60000

    res.status(200)
    res.setHeader("Content-Type", feed === "eventsource" ? "text/event-stream" : "application/json")
    res.setHeader("Cache-Control", "must-revalidate")
    res.flushHeaders()

    let done = false
    let count = 0
    let heartbeatTimer: ReturnType<typeof setInterval> | undefined
    let idleTimer: ReturnType<typeof setTimeout> | undefined
    const live = db.changes({ ...options, since: lastSeq, live: true })

    const stop = (): void => {
      if (done) return
      done = true
      openFeeds--
      ctx.liveFeeds.delete(stop)
      if (heartbeatTimer !== undefined) clearInterval(heartbeatTimer)
      if (idleTimer !== undefined) clearTimeout(idleTimer)
      live.cancel()
    }
    const end = (trailer: string): void => {
      if (done) return
      stop()
      if (!res.writableEnded) res.end(trailer)
    }
    const lastSeqLine = () =>
      feed === "continuous"
        ? JSON.stringify({ last_seq: lastSeq, pending: 0 }) + "\n"
        : feed === "longpoll"
        ? JSON.stringify({ results: [], last_seq: lastSeq, pending: 0 }) + "\n"
        : ""
    const armIdle = (): void => {
      if (heartbeat !== undefined) return
      if (idleTimer !== undefined) clearTimeout(idleTimer)
      idleTimer = setTimeout(() => end(lastSeqLine()), timeout)
    }

    openFeeds++
    ctx.liveFeeds.add(stop)
    res.on("close", stop)
    if (res.destroyed || req.socket.destroyed) stop()
    if (heartbeat !== undefined) {
      heartbeatTimer = setInterval(() => {
        if (!res.writableEnded) res.write(feed === "eventsource" ? "event: heartbeat\ndata: \n\n" : "\n")
      }, Math.max(heartbeat, 1))
    }
    armIdle()

    live.on("change", (change: PouchChange) => {
      if (done) return
      lastSeq = seqNumber(change.seq) ?? lastSeq
      count++
      if (feed === "longpoll") {
        return end(JSON.stringify({ results: [change], last_seq: change.seq, pending: 0 }) + "\n")
      }
      if (feed === "eventsource") {
        res.write(`data: ${JSON.stringify(change)}\nid: ${String(change.seq)}\n\n`)
      } else {
        res.write(JSON.stringify(change) + "\n")
      }
      if (limit !== undefined && count >= Math.max(limit, 1)) return end(lastSeqLine())
      armIdle()
    })
    live.on("error", () => end(lastSeqLine()))
  })

// -----------------------------------------------------------------------------
// Start / stop
// -----------------------------------------------------------------------------

const setConfig = (app: ExpressPouchDBApp, sectionName: string, key: string, value: string) =>
  new Promise<void>((resolve, reject) =>
    app.couchConfig.set(sectionName, key, value, (error) => (error ? reject(error) : resolve()))
  )

const withTimeout = <A>(promise: Promise<A>, ms: number): Promise<A | undefined> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms)
    promise.then(
      (a) => {
        clearTimeout(timer)
        resolve(a)
      },
      () => {
        clearTimeout(timer)
        resolve(undefined)
      }
    )
  })

// An attachment upload whose connection broke is stored as an empty attachment: express-pouchdb's attachment
// route ignores the body reader's error. A body that did not arrive whole is refused here instead, as CouchDB does.
const readRawBody = pouchUtils.parseRawBody
pouchUtils.parseRawBody = (req, res, next) =>
  readRawBody(req, res, (error?: unknown) => {
    if (error === undefined && req.complete) return next()
    pouchUtils.sendError(res, error ?? new Error("the request body did not arrive whole"), 400)
  })

/**
 * Starts an embedded server on 127.0.0.1 (random port) with one server admin.
 *
 * @internal
 */
export const start = async (options: EmbeddedServerOptions): Promise<EmbeddedServer> => {
  const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "effect-couch-"))
  const base = getBasePouch()
  // The prefix namespaces the in-memory stores of this server, and is where express-pouchdb
  // would mkdir for database names containing '/' (never the cwd).
  const Pouch = base.defaults({ prefix: dir + Path.sep })
  const listenersBefore = new Map(pouchEvents.map((event) => [event, new Set(base.listeners(event))]))
  const ctx: ServerContext = {
    admin: options,
    liveFeeds: new Set(),
    uuid: Crypto.randomBytes(16).toString("hex"),
    url: "",
    cookieLifetime: () => 600,
    failedLogins: new Map()
  }

  const pouchApp = expressPouchDB({
    mode: "fullCouchDB",
    inMemoryConfig: true,
    logPath: Path.join(dir, "log.txt"),
    overrideMode: { exclude: ["compression", "routes/fauxton", "routes/http-log"] }
  })
  pouchApp.set("etag", false)
  // Config values are strings (as on CouchDB); pouchdb-auth adds the cookie timeout to a number of seconds.
  const config = pouchApp.couchConfig
  const getConfig = config.get.bind(config)
  config.get = (section, key) => {
    const value = getConfig(section, key)
    return section === "couch_httpd_auth" && key === "timeout" ? Number(value) : value
  }
  ctx.cookieLifetime = () => {
    const seconds = Number(getConfig("couch_httpd_auth", "timeout"))
    return Number.isFinite(seconds) && seconds > 0 ? seconds : 600
  }
  await setConfig(pouchApp, "log", "level", "none")
  await setConfig(pouchApp, "admins", options.username, options.password)

  insertLayers(
    pouchApp,
    // right after express-pouchdb's authentication (cookieParser, then the session builder)
    (_layer, index, stack) => stack[index - 2]?.name === "cookieParser",
    () => pouchApp.use(afterAuth(ctx))
  )
  insertLayers(pouchApp, (layer) => layer.route?.path === "/:db/_ensure_full_commit", () => pouchApp.use(afterDb))
  insertLayers(pouchApp, (layer) => layer.route?.path === "/:db/_changes", () => {
    pouchApp.get("/:db/_changes", changesHandler(ctx))
    pouchApp.post("/:db/_changes", express.json({ limit: "64mb" }), changesHandler(ctx))
  })

  await pouchApp.setPouchDB(Pouch)
  // express-pouchdb's daemons subscribe to PouchDB's process-global event emitter and never unsubscribe.
  const addedListeners = pouchEvents.flatMap((event) =>
    base.listeners(event).filter((l) => !listenersBefore.get(event)?.has(l)).map((l) => [event, l] as const)
  )

  const app = express()
  app.disable("x-powered-by")
  app.set("etag", false)
  const cors = corsPolicies()
  app.use(cors.middleware)
  app.use(front(ctx))
  app.use(pouchApp)

  const server = Http.createServer(app)
  const sockets = new Set<Socket>()
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject)
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject)
        resolve()
      })
    })
  await listen(0)
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  ctx.url = `http://127.0.0.1:${port}`

  /** Ends live feeds and closes every connection; the server stops listening. */
  const goAway = async () => {
    for (const feed of [...ctx.liveFeeds]) feed()
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const socket of sockets) socket.destroy()
    await withTimeout(closed, 2000)
  }

  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    if (stopped !== undefined) return stopped
    stopped = (async () => {
      await restarting
      await goAway()
      await withTimeout(pouchApp.daemonManager.stop(Pouch), 2000)
      for (const [event, listener] of addedListeners) base.removeListener(event, listener)
      // free the in-memory stores (PouchDB keeps them in a process-global map)
      const names = (await withTimeout(Pouch.allDbs?.() ?? Promise.resolve([]), 2000)) ?? []
      await withTimeout(
        Promise.all(
          [...names, "pouch__all_dbs__", "pouch__auth_sessions__"].map((name) =>
            new Pouch(name).destroy().catch(() => undefined)
          )
        ),
        2000
      )
      await Fs.rm(dir, { recursive: true, force: true })
    })()
    return stopped
  }

  let restarting: Promise<void> = Promise.resolve()
  const restart = (downtimeMs: number): Promise<void> => {
    if (stopped !== undefined) return Promise.reject(new Error("the embedded server is stopped"))
    restarting = restarting.then(async () => {
      await goAway()
      await new Promise((resolve) => setTimeout(resolve, downtimeMs))
      await listen(port)
    })
    return restarting
  }

  return { url: ctx.url, version: embeddedVersion, admin: options, stop, restart, allowCors: cors.allow }
}

// -----------------------------------------------------------------------------
// One shared server per process
// -----------------------------------------------------------------------------

/** @internal */
export interface EmbeddedLease {
  readonly server: EmbeddedServer
  /** Releases this lease; the last release stops the server. */
  readonly release: () => Promise<void>
}

let shared: { readonly server: Promise<EmbeddedServer>; refs: number } | undefined
let stopping: Promise<void> = Promise.resolve()

/**
 * Acquires the process-wide embedded server, starting it (with admin `admin` and a random
 * password) if no lease is open. PouchDB keeps process-global state (an event emitter that
 * express-pouchdb's `_all_dbs` bookkeeping listens to), so two servers alive in one process
 * would see each other's databases: leases share one server instead.
 *
 * @internal
 */
export const acquire = async (): Promise<EmbeddedLease> => {
  await stopping
  if (shared === undefined) {
    const server = start({ username: "admin", password: Crypto.randomBytes(18).toString("base64url") })
    shared = { server, refs: 0 }
    server.catch(() => {
      shared = undefined
    })
  }
  const current = shared
  current.refs++
  let server: EmbeddedServer
  try {
    server = await current.server
  } catch (error) {
    current.refs--
    throw error
  }
  let released = false
  return {
    server,
    release: () => {
      if (released) return stopping
      released = true
      current.refs--
      if (current.refs === 0 && shared === current) {
        shared = undefined
        stopping = server.stop()
      }
      return stopping
    }
  }
}
