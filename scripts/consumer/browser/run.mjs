// The consumer test's browser run (scripts/consumer-test.mjs, step 3), run with node in the scratch project once
// esbuild has bundled app.ts into browser/dist/app.js:
//
//   - a static server on 127.0.0.1 (a port of its own) serves the page, the bundle and config.json (the embedded
//     server's URL and admin credentials);
//   - the embedded CouchTestServer from the installed tarball, with CORS for that page's origin and credentials;
//   - headless Chromium (CHROMIUM, else /usr/bin/chromium, else chromium on the PATH) driven over the DevTools
//     protocol on a pipe (--remote-debugging-pipe: no port, no dependency): the page is opened, its console and
//     exceptions are read, and every request it sends is recorded (Network domain).
//
// Prints `browser: ok (...)` when the page reports success and the requests are as expected: one login, then one
// more after the cookie lapsed (a cookie session that logged in before every request would show dozens), all of
// them to 127.0.0.1. Exits non-zero otherwise, with the page's report, the requests and Chromium's output.
import { CouchTestServer } from "@effect-couch/testing"
import { Effect, Redacted } from "effect"
import { Buffer } from "node:buffer"
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { clearTimeout, setTimeout } from "node:timers"

const here = import.meta.dirname
const deadlineMs = 90_000

const chromiumPath = () => {
  if (process.env.CHROMIUM) return process.env.CHROMIUM
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium"
  const found = spawnSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).stdout.trim()
  if (found !== "") return found
  throw new Error("no Chromium: install Debian's chromium (apt-get install -y chromium; .ci/run does) or set CHROMIUM")
}

/** The page's static server; `config` is filled in once the CouchDB server is up. */
const startPageServer = (config) =>
  new Promise((resolve, reject) => {
    const files = {
      "/": ["text/html; charset=utf-8", () => readFileSync(join(here, "index.html"))],
      "/app.js": ["text/javascript; charset=utf-8", () => readFileSync(join(here, "dist", "app.js"))],
      "/config.json": ["application/json", () => JSON.stringify(config.value)]
    }
    const server = createServer((req, res) => {
      const file = files[new URL(req.url ?? "/", "http://page").pathname]
      if (req.method !== "GET" || file === undefined) {
        res.writeHead(404).end()
        return
      }
      res.writeHead(200, { "content-type": file[0], "cache-control": "no-store" }).end(file[1]())
    })
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve(server))
  })

/** A DevTools protocol client over Chromium's pipe (fd 3 to it, fd 4 from it; messages end with NUL). */
const devtools = (child) => {
  const writer = child.stdio[3]
  const reader = child.stdio[4]
  let nextId = 1
  const pending = new Map()
  const listeners = []
  let buffer = Buffer.alloc(0)
  reader.on("data", (data) => {
    buffer = Buffer.concat([buffer, data])
    let end
    while ((end = buffer.indexOf(0)) !== -1) {
      const message = JSON.parse(buffer.subarray(0, end).toString("utf8"))
      buffer = buffer.subarray(end + 1)
      if (message.id !== undefined && pending.has(message.id)) {
        const { resolve, reject, method } = pending.get(message.id)
        pending.delete(message.id)
        if (message.error) reject(new Error(`${method}: ${message.error.message}`))
        else resolve(message.result)
      } else if (message.method !== undefined) {
        for (const listener of listeners) listener(message)
      }
    }
  })
  const send = (method, params = {}, sessionId) =>
    new Promise((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve, reject, method })
      writer.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + "\0")
    })
  return { send, on: (listener) => listeners.push(listener) }
}

const main = async () => {
  const started = Date.now()
  const config = { value: undefined }
  const pages = await startPageServer(config)
  const pageOrigin = `http://127.0.0.1:${pages.address().port}`
  const profile = mkdtempSync(join(tmpdir(), "effect-couch-chromium-"))
  let chromium
  let chromiumOutput = ""
  const requests = []
  const failures = []
  const messages = []
  try {
    // the embedded server, answering CORS for the page's origin with credentials, as CouchDB does with
    // [chttpd] enable_cors = true and [cors] origins = <page>, credentials = true
    const report = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const server = yield* CouchTestServer.makeWith({ cors: { origins: [pageOrigin], credentials: true } })
      if (server.kind !== "embedded") return yield* Effect.dieMessage(`an embedded server (got ${server.kind})`)
      config.value = {
        url: server.url,
        username: server.admin.username,
        password: Redacted.value(server.admin.password)
      }
      return yield* Effect.promise(() => runPage())
    })))
    const couchRequests = requests.filter((request) => request.url.startsWith(config.value.url))
    const logins = couchRequests.filter((request) => request.method === "POST" && new URL(request.url).pathname === "/_session")
    const elsewhere = requests.filter((request) => !/^http:\/\/127\.0\.0\.1:\d+\//.test(request.url))
    const problems = []
    if (report?.ok !== true) problems.push(`the page reported: ${JSON.stringify(report)}`)
    if (report?.ok === true && logins.length !== report.expectedLogins) {
      problems.push(`${logins.length} logins (POST /_session); expected ${report.expectedLogins}`)
    }
    if (report?.navigatorProduct !== "Gecko") problems.push(`navigator.product is ${report?.navigatorProduct}`)
    if (!requests.some((request) => request.cookie)) problems.push("no request carried the browser's AuthSession cookie")
    if (elsewhere.length > 0) problems.push(`requests off the loopback: ${elsewhere.map((r) => r.url).join(", ")}`)
    if (problems.length > 0) {
      console.error(problems.join("\n"))
      console.error(`page messages:\n${messages.join("\n")}`)
      console.error(`requests:\n${requests.map((r) => `${r.method} ${r.url} ${r.status ?? r.error ?? ""}${r.cookie ? " (cookie)" : ""}`).join("\n")}`)
      console.error(`failed loads: ${JSON.stringify(failures)}`)
      console.error(`chromium output (last 3000 characters):\n${chromiumOutput.slice(-3000)}`)
      process.exitCode = 1
      return
    }
    const preflights = couchRequests.filter((request) => request.method === "OPTIONS")
    const sent = couchRequests.filter((request) => request.method !== "OPTIONS")
    const cookies = sent.filter((request) => request.cookie).length
    console.log(
      `browser: ok (${report.documents} documents, ${report.changes} changes from a continuous feed, a ` +
        `${report.attachmentBytes}-byte attachment uploaded from a stream and read back; ${sent.length} ` +
        `requests to CouchDB from ${pageOrigin}, ${cookies} of them with the browser's AuthSession cookie, and ` +
        `${preflights.length} preflights; ${logins.length} logins; ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s)`
    )
  } finally {
    if (chromium !== undefined && chromium.exitCode === null) chromium.kill("SIGKILL")
    pages.close()
    pages.closeAllConnections?.()
    rmSync(profile, { recursive: true, force: true })
  }

  async function runPage() {
    chromium = spawn(chromiumPath(), [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      "--mute-audio",
      `--user-data-dir=${profile}`,
      "--remote-debugging-pipe",
      "about:blank"
    ], { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] })
    chromium.stdout.on("data", (data) => (chromiumOutput += data))
    chromium.stderr.on("data", (data) => (chromiumOutput += data))
    const exited = new Promise((resolve) => chromium.once("exit", (code, signal) => resolve(`${code ?? signal}`)))
    const cdp = devtools(chromium)
    let settle
    const result = new Promise((resolve) => (settle = resolve))
    const byId = new Map()
    const withCookie = new Set()
    cdp.on((message) => {
      const params = message.params ?? {}
      switch (message.method) {
        case "Runtime.consoleAPICalled": {
          const text = (params.args ?? []).map((arg) => arg.value ?? arg.description ?? "").join(" ")
          messages.push(`console.${params.type}: ${text}`)
          if (text.startsWith("effect-couch-browser: ")) settle(JSON.parse(text.slice("effect-couch-browser: ".length)))
          break
        }
        case "Runtime.exceptionThrown":
          messages.push(`exception: ${params.exceptionDetails?.exception?.description ?? params.exceptionDetails?.text}`)
          settle({ ok: false, error: "an exception was thrown in the page" })
          break
        case "Network.requestWillBeSent": {
          const request = { method: params.request.method, url: params.request.url }
          byId.set(params.requestId, request)
          requests.push(request)
          break
        }
        case "Network.responseReceived": {
          const request = byId.get(params.requestId)
          if (request !== undefined) request.status = params.response.status
          break
        }
        case "Network.loadingFailed": {
          const request = byId.get(params.requestId)
          if (request !== undefined) request.error = params.errorText
          failures.push({ url: request?.url, error: params.errorText, cors: params.corsErrorStatus?.corsError })
          break
        }
        case "Network.requestWillBeSentExtraInfo": {
          // the headers as sent, the browser's own (Cookie) included; may come before requestWillBeSent
          const cookie = Object.entries(params.headers ?? {}).find(([name]) => name.toLowerCase() === "cookie")?.[1]
          if (typeof cookie === "string" && /(^|;\s*)AuthSession=[^;]/.test(cookie)) withCookie.add(params.requestId)
          break
        }
      }
    })
    const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" })
    const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true })
    await cdp.send("Runtime.enable", {}, sessionId)
    await cdp.send("Network.enable", {}, sessionId)
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true }, sessionId)
    await cdp.send("Page.enable", {}, sessionId)
    await cdp.send("Page.navigate", { url: `${pageOrigin}/` }, sessionId)
    let timer
    const report = await Promise.race([
      result,
      exited.then((code) => ({ ok: false, error: `chromium exited (${code})` })),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, error: `no report within ${deadlineMs / 1000} s` }), deadlineMs)
      })
    ])
    clearTimeout(timer)
    for (const [id, request] of byId) request.cookie = withCookie.has(id)
    await Promise.race([cdp.send("Browser.close"), new Promise((resolve) => setTimeout(resolve, 2000))]).catch(() => {})
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))])
    return report
  }
}

main().catch((error) => {
  console.error("browser: failed", error)
  process.exitCode = 1
})
