/**
 * A canned-response server: a bare `node:http` server answering fixed CouchDB-shaped bodies, so that `get-doc`
 * measures the clients and not the server. Prints `{"url","username","password","version"}` as one JSON line once
 * it listens; runs until stdin closes or SIGTERM.
 *
 * - `GET /`: the welcome
 * - `GET /{db}/{doc}`: a small document, with its ETag (any db, any id)
 * - `HEAD /{db}/{doc}`, `HEAD /{db}`: 200 with the headers only
 * - `PUT /{db}`: 201 `{"ok":true}`; `DELETE /{db}`: 200 `{"ok":true}`; `PUT /{db}/{doc}`: 201 with a revision
 * - `GET /{db}`: a database info
 * - anything else: 404 `not_found`
 *
 * The headers are those CouchDB 3 sends (`Server`, `Cache-Control`, `X-Couch-Request-ID`, `X-CouchDB-Body-Time`).
 * Authentication is not checked. `CANNED_DELAY_MS` delays every answer by that many milliseconds.
 */
import * as Http from "node:http"

const rev = "1-967a00dff5e02add41819138abb3284d"
const json = (value: unknown) => Buffer.from(JSON.stringify(value))
const welcome = json({
  couchdb: "Welcome",
  version: "3.3.3",
  git_sha: "40afbcfc7",
  uuid: "7e6f5f2b6d1c4e1f9a0b3c2d1e0f9a8b",
  features: ["access-ready", "partitioned", "pluggable-storage-engines", "reshard", "scheduler"],
  vendor: { name: "The Apache Software Foundation" }
})
const ok = json({ ok: true })
const notFound = json({ error: "not_found", reason: "missing" })
const docBody = (id: string) =>
  json({ _id: id, _rev: rev, type: "item", name: "a small document", count: 42, tags: ["a", "b", "c"], done: false })
const dbInfo = (name: string) =>
  json({
    db_name: name,
    purge_seq: "0-g1AAAABXeJzLYWBgYMpgTmHgz8tPSTV0MDQy",
    update_seq: "1-g1AAAABXeJzLYWBgYMpgTmHgz8tPSTV0MDQy",
    sizes: { file: 33000, external: 100, active: 500 },
    props: {},
    doc_del_count: 0,
    doc_count: 1,
    disk_format_version: 8,
    compact_running: false,
    cluster: { q: 2, n: 1, w: 1, r: 1 },
    instance_start_time: "0"
  })

/** `CANNED_DELAY_MS`: each answer waits that long, as a real server's would (the client's event loop goes idle). */
const answerDelay = Number(process.env.CANNED_DELAY_MS ?? 0)

let requestCounter = 0
const headers = (length: number, extra: Record<string, string> = {}) => ({
  "Server": "CouchDB/3.3.3 (Erlang OTP/24)",
  "Cache-Control": "must-revalidate",
  "Content-Type": "application/json",
  "Content-Length": String(length),
  "X-Couch-Request-ID": (++requestCounter).toString(16).padStart(10, "0"),
  "X-CouchDB-Body-Time": "0",
  ...extra
})
const docCache = new Map<string, Buffer>()

const server = Http.createServer((request, response) => {
  const path = (request.url ?? "/").split("?")[0]
  const segments = path.split("/").filter((s) => s !== "")
  const send = (status: number, body: Buffer, extra?: Record<string, string>) => {
    const answer = () => {
      response.writeHead(status, headers(body.length, extra))
      response.end(request.method === "HEAD" ? undefined : body)
    }
    if (answerDelay > 0) setTimeout(answer, answerDelay)
    else answer()
  }
  // drain any request body first
  request.resume()
  request.on("end", () => {
    const method = request.method
    if (segments.length === 0 && method === "GET") return send(200, welcome)
    if (segments.length === 1) {
      const name = decodeURIComponent(segments[0])
      if (method === "PUT") return send(201, ok, { Location: `http://127.0.0.1/${segments[0]}` })
      if (method === "DELETE") return send(200, ok)
      if (method === "GET" || method === "HEAD") return send(200, dbInfo(name))
    }
    if (segments.length === 2 && method === "PUT") {
      return send(201, json({ ok: true, id: decodeURIComponent(segments[1]), rev }), { ETag: `"${rev}"` })
    }
    if (segments.length === 2 && (method === "GET" || method === "HEAD")) {
      const id = decodeURIComponent(segments[1])
      let body = docCache.get(id)
      if (body === undefined) {
        body = docBody(id)
        if (docCache.size < 1000) docCache.set(id, body)
      }
      return send(200, body, { ETag: `"${rev}"` })
    }
    return send(404, notFound)
  })
})
server.keepAliveTimeout = 60_000

server.listen(0, "127.0.0.1", () => {
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("no port")
  process.stdout.write(
    `${
      JSON.stringify({ url: `http://127.0.0.1:${address.port}`, username: "admin", password: "canned", version: "3.3.3" })
    }\n`
  )
})
const stop = () => server.close(() => process.exit(0))
process.once("SIGTERM", stop)
process.once("SIGINT", stop)
process.stdin.on("end", stop)
process.stdin.resume()
