/**
 * `pnpm bench`: effect-couch against nano 11, raw undici and Node's fetch, each client in a process of its own,
 * several rounds, interleaved; prints medians and ratios to raw undici measured in the same run, checks the
 * targets, and writes `results/latest.json` and `results/latest.md`. `--help` lists the options.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Esbuild from "esbuild"
import { Agent, request } from "undici"
import { bundleLocator, report, summarize } from "./profile.js"
import {
  basicAuth,
  type Client,
  clients,
  type Contender,
  defaultClients,
  makeDoc,
  type Result,
  resultMarker,
  type ServerInfo,
  type Spec,
  type Workload,
  workloads
} from "./shared.js"

const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const out = (text: string) => process.stdout.write(`${text}\n`)

// -- options ---------------------------------------------------------------------------------------------------

const usage = `pnpm bench [options]

  --rounds N            rounds of every contender, interleaved (default 3)
  --servers LIST        embedded, couchdb (COUCHDB_URL, COUCHDB_USER, COUCHDB_PASSWORD), canned
                        (default: couchdb,canned when COUCHDB_URL is set, else embedded,canned)
  --workloads LIST      ${workloads.join(", ")} (default: all)
  --clients LIST        ${clients.join(", ")} (default: all but the diagnostics
                        effect-platform and effect-undici, see --diagnostics; fetch runs in the
                        get-doc workloads only, unless named here)
  --gets N              GETs per run on the canned server (default 20000)
  --server-gets N       GETs per run on a real or embedded server (default 1000)
  --get-warmup N        GETs before the measurement in the get-doc workloads (default 2000, on every
                        server: fewer leave the JIT's compilations in a 1,000-GET measurement)
  --concurrency N       requests in flight in get-doc-concurrent (default 32)
  --docs N              documents of bulk-insert and of the database read by changes-read and
                        all-docs-read (default 100000)
  --feed-changes N      changes read by the continuous feeds and the follower in changes-read
                        (default 50000: they are bound by the server's line-at-a-time feed)
  --batch N             bulk-insert batch size (default 1000); 4 batches in flight
  --page-size N         page size of effect-couch's paged changes and allDocs streams, effect-couch-paged
                        (default 1000; effect-couch reads them in one request, as by default)
  --attachment-mib N    attachment size (default 16); --attachments N per run (default 2)
  --diagnostics         also run the diagnostic contenders of the get-doc workloads: effect-platform
                        (the platform's HttpClient alone) and effect-undici (one Effect.async over
                        undici's dispatch per GET: the floor of a transport of effect-couch's own)
  --transport T         effect-couch's HTTP: node (@effect-couch/node's undici transport, the default),
                        platform (NodeHttpClient.layerUndici alone), or both: every effect-couch contender
                        also runs with the platform's client, labelled <label>+platform, in the same rounds
  --baseline DIR        also run every effect-couch contender with the client of another checkout
                        (DIR/packages/client/src, and DIR/packages/node/src when there, e.g.
                        \`git archive HEAD packages/client packages/node | tar -x -C DIR\`),
                        labelled <label>@base, in the same rounds: a change's before and after in one run
  --profile             after each workload's rounds, one more run of effect-couch and of the others
                        under the V8 profiler (the measurement only), on the canned server for the
                        get-doc workloads, else the real or embedded one: results/profiles/*.cpuprofile,
                        summaries in results/profile-<workload>.md
  --out FILE            the JSON results (default results/latest.json; Markdown next to it)
  --report FILE         recompute the medians, ratios and targets of an earlier run's JSON, print
                        them and rewrite FILE and its Markdown; runs nothing
`

const argv = process.argv.slice(2)
if (argv.includes("--help") || argv.includes("-h")) {
  out(usage)
  process.exit(0)
}
const option = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`)
  return i === -1 ? undefined : argv[i + 1]
}
const intOption = (name: string, fallback: number) => {
  const value = option(name)
  if (value === undefined) return fallback
  const n = Number(value.replace(/_/g, ""))
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, not ${value}`)
  return n
}
const listOption = <A extends string>(name: string, allowed: ReadonlyArray<A>, fallback: ReadonlyArray<A>) => {
  const value = option(name)
  if (value === undefined) return fallback
  const list: Array<A> = []
  for (const item of value.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const known = allowed.find((a) => a === item)
    if (known === undefined) throw new Error(`--${name}: ${item} is not one of ${allowed.join(", ")}`)
    list.push(known)
  }
  return list
}

type ServerKind = "embedded" | "couchdb" | "canned"
const serverKinds: ReadonlyArray<ServerKind> = ["embedded", "couchdb", "canned"]
const options = {
  rounds: intOption("rounds", 3),
  servers: listOption(
    "servers",
    serverKinds,
    process.env.COUCHDB_URL ? ["couchdb", "canned"] : ["embedded", "canned"]
  ),
  workloads: listOption("workloads", workloads, workloads),
  clients: [
    ...listOption("clients", clients, defaultClients),
    ...(argv.includes("--diagnostics") ?
      (["effect-platform", "effect-undici"] as const).filter((client) => !option("clients")?.includes(client)) :
      [])
  ],
  diagnostics: argv.includes("--diagnostics"),
  fetchEverywhere: option("clients")?.includes("fetch") ?? false,
  gets: intOption("gets", 20_000),
  serverGets: intOption("server-gets", 1_000),
  getWarmup: intOption("get-warmup", 2_000),
  concurrency: intOption("concurrency", 32),
  docs: intOption("docs", 100_000),
  feedChanges: intOption("feed-changes", 50_000),
  batch: intOption("batch", 1000),
  pageSize: intOption("page-size", 1000),
  attachmentMiB: intOption("attachment-mib", 16),
  attachments: intOption("attachments", 2),
  profile: argv.includes("--profile"),
  transport: listOption("transport", ["node", "platform", "both"] as const, ["node"])[0] ?? "node",
  baseline: option("baseline") === undefined ? undefined : Path.resolve(process.cwd(), option("baseline")!),
  out: Path.resolve(packageDir, option("out") ?? "results/latest.json")
}

// -- what is measured ------------------------------------------------------------------------------------------

const units: Record<Workload, string> = {
  "get-doc": "GET/s",
  "get-doc-concurrent": "GET/s",
  "bulk-insert": "docs/s",
  "changes-read": "changes/s",
  "all-docs-read": "rows/s",
  "attachment": "MiB/s"
}

const contendersOf = (workload: Workload): ReadonlyArray<Contender> => {
  const light = workload === "get-doc" || workload === "get-doc-concurrent"
  const wanted = (client: Client) =>
    options.clients.includes(client) &&
    (client !== "fetch" || light || options.fetchEverywhere) &&
    ((client !== "effect-platform" && client !== "effect-undici") || light)
  const list: Array<Contender> = []
  for (const client of clients) {
    if (!wanted(client)) continue
    list.push({ label: client, client })
    if (client === "effect-couch" && workload === "changes-read") {
      list.push({ label: "effect-couch-paged", client, variant: "paged" })
      list.push({ label: "effect-couch-continuous", client, variant: "continuous" })
      list.push({ label: "effect-couch-follow", client, variant: "follow" })
    }
    if ((client === "effect-couch" || client === "effect-undici") && light) {
      list.push({ label: `${client}-promise`, client, variant: "promise" })
    }
    if (client === "effect-undici" && light) list.push({ label: "effect-undici-client", client, variant: "client" })
    if (client === "undici" && workload === "changes-read") {
      list.push({ label: "undici-continuous", client, variant: "continuous" })
    }
    if (client === "undici" && (workload === "changes-read" || workload === "all-docs-read")) {
      list.push({ label: "undici-paged", client, variant: "paged" })
    }
    if (client === "effect-couch" && workload === "bulk-insert") {
      list.push({ label: "effect-couch-arrays", client, variant: "arrays" })
    }
    if (client === "effect-couch" && workload === "all-docs-read") {
      list.push({ label: "effect-couch-paged", client, variant: "paged" })
    }
  }
  // effect-couch's transport (`--transport`): the node layer's, the platform's, or both in the same rounds
  const transported = list.flatMap((contender): ReadonlyArray<Contender> =>
    contender.client !== "effect-couch" ? [contender] :
    options.transport === "platform" ? [{ ...contender, transport: "platform" }] :
    options.transport === "both" ?
    [{ ...contender, transport: "node" }, { ...contender, label: `${contender.label}${platformSuffix}`, transport: "platform" }] :
    [{ ...contender, transport: "node" }]
  )
  // the same contenders with the baseline build (`--baseline DIR`), in the same rounds: before/after in one run.
  // A baseline without the transport seam (before @effect-couch/node) runs the platform's client.
  return options.baseline === undefined ? transported : transported.flatMap((contender) =>
    contender.client === "effect-couch" ?
      [contender, {
        ...contender,
        label: `${contender.label}${baselineSuffix}`,
        baseline: true,
        transport: baselineHasSeam ? contender.transport : "platform"
      }] :
      [contender]
  )
}

/** The label suffix of the effect-couch contenders run with the platform's client (`--transport both`). */
const platformSuffix = "+platform"

/** The label suffix of the contenders run with the baseline build. */
const baselineSuffix = "@base"

/** Whether the baseline checkout has the transport seam (its contenders can run @effect-couch/node's transport). */
const baselineHasSeam = options.baseline !== undefined &&
  Fs.existsSync(Path.join(options.baseline, "packages", "client", "src", "CouchTransport.ts"))

// -- servers ---------------------------------------------------------------------------------------------------

interface RunningServer {
  readonly kind: ServerKind
  readonly info: ServerInfo
  readonly process: ChildProcess | undefined
}

const tsxArgs = ["--import", "tsx"]

/**
 * The client processes run a bundle of `worker.ts` with plain `node`: a TypeScript loader (tsx) would add some
 * 35 MiB to every process and more per module loaded. effect-couch's sources (TypeScript, in the workspace) are
 * bundled in; the libraries stay external, loaded from node_modules as in an application.
 */
const bundleWorker = async (name: string, client?: string) => {
  const bundleDir = Path.join(packageDir, "build", name)
  Fs.rmSync(bundleDir, { recursive: true, force: true })
  // a baseline without CouchTransport.ts (before the seam): the node package is bundled against the workspace's;
  // a baseline with a node package of its own runs its own transport
  const seam = client === undefined ? undefined : Path.join(Path.dirname(client), "CouchTransport.ts")
  const node = client === undefined ? undefined : Path.join(Path.dirname(client), "..", "..", "node", "src", "index.ts")
  await Esbuild.build({
    ...(client === undefined || seam === undefined ? {} : {
      alias: {
        "@effect-couch/client": client,
        "@effect-couch/client/CouchTransport": Fs.existsSync(seam) ?
          seam :
          Path.join(packageDir, "..", "client", "src", "CouchTransport.ts"),
        ...(node !== undefined && Fs.existsSync(node) ? { "@effect-couch/node": node } : {})
      }
    }),
    absWorkingDir: packageDir,
    entryPoints: ["src/worker.ts"],
    outdir: bundleDir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: true,
    external: ["effect", "@effect/platform", "@effect/platform-node", "undici", "nano", "esbuild"],
    logLevel: "warning"
  })
  return Path.join(bundleDir, "worker.js")
}
let workerPath = ""
let baselineWorkerPath = ""
const startProcessServer = (kind: "embedded" | "canned"): Promise<RunningServer> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...tsxArgs, Path.join(packageDir, "src", `server-${kind}.ts`)], {
      cwd: packageDir,
      stdio: ["pipe", "pipe", "inherit"]
    })
    let buffer = ""
    const onData = (data: Buffer) => {
      buffer += data.toString()
      const newline = buffer.indexOf("\n")
      if (newline === -1) return
      child.stdout.off("data", onData)
      try {
        resolve({ kind, info: JSON.parse(buffer.slice(0, newline)), process: child })
      } catch (error) {
        reject(error)
      }
    }
    child.stdout.on("data", onData)
    child.once("exit", (code) => reject(new Error(`the ${kind} server exited (${code}) before it listened`)))
  })

const remoteServer = async (): Promise<RunningServer> => {
  const raw = process.env.COUCHDB_URL
  if (raw === undefined || raw === "") throw new Error("--servers couchdb needs COUCHDB_URL")
  const url = new URL(raw)
  const username = process.env.COUCHDB_USER ?? decodeURIComponent(url.username)
  const password = process.env.COUCHDB_PASSWORD ?? decodeURIComponent(url.password)
  url.username = ""
  url.password = ""
  const base = url.toString().replace(/\/+$/, "")
  const info = { url: base, username, password, version: "?" }
  const welcome = await admin(info, "GET", "/") as { version?: string }
  return { kind: "couchdb", info: { ...info, version: welcome.version ?? "?" }, process: undefined }
}

const startServer = (kind: ServerKind) => kind === "couchdb" ? remoteServer() : startProcessServer(kind)

const stopServer = (server: RunningServer) =>
  new Promise<void>((resolve) => {
    const child = server.process
    if (child === undefined || child.exitCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.stdin?.end()
    child.kill("SIGTERM")
  })

const adminAgent = new Agent({ keepAliveTimeout: 10_000 })

/** An admin request of the harness (not measured); sent again once when a kept-alive connection was closed. */
async function admin(
  server: ServerInfo,
  method: "GET" | "PUT" | "POST" | "DELETE",
  path: string,
  body?: unknown
): Promise<unknown> {
  try {
    return await adminOnce(server, method, path, body)
  } catch (error) {
    if ((error as { code?: unknown }).code !== "UND_ERR_SOCKET") throw error
    return adminOnce(server, method, path, body)
  }
}

async function adminOnce(server: ServerInfo, method: "GET" | "PUT" | "POST" | "DELETE", path: string, body?: unknown) {
  const response = await request(server.url + path, {
    dispatcher: adminAgent,
    method,
    headers: {
      authorization: basicAuth(server),
      accept: "application/json",
      ...(body === undefined ? {} : { "content-type": "application/json" })
    },
    body: body === undefined ? null : JSON.stringify(body)
  })
  const text = await response.body.text()
  if (response.statusCode >= 300) throw new Error(`${method} ${path}: ${response.statusCode} ${text.slice(0, 300)}`)
  return text === "" ? null : JSON.parse(text) as unknown
}

const freshName = (what: string) => `bench-${what}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`

/** Writes `count` benchmark documents, 4 batches in flight. */
const seed = async (server: ServerInfo, db: string, count: number) => {
  const batches = Math.ceil(count / options.batch)
  let next = 0
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < batches) {
      const batch = next++
      const docs = []
      for (let i = batch * options.batch; i < Math.min(count, (batch + 1) * options.batch); i++) docs.push(makeDoc(i))
      const results = await admin(server, "POST", `/${db}/_bulk_docs`, { docs }) as Array<{ error?: string }>
      // a batch sent again after a dropped connection finds its documents there: conflicts are fine
      const failed = results.filter((r) => r.error !== undefined && r.error !== "conflict")
      if (failed.length > 0) throw new Error(`seeding ${db}: ${failed.length} documents refused`)
    }
  }))
}

// -- one run ---------------------------------------------------------------------------------------------------

interface Run {
  readonly server: ServerKind
  readonly workload: Workload
  readonly round: number
  readonly label: string
  readonly result?: Result | undefined
  readonly error?: string | undefined
}

const runWorker = (spec: Spec, timeoutMs: number): Promise<Result> =>
  new Promise((resolve, reject) => {
    const worker = spec.contender.baseline === true ? baselineWorkerPath : workerPath
    const child = spawn(process.execPath, ["--expose-gc", worker, JSON.stringify(spec)], {
      cwd: packageDir,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (data: Buffer) => stdout += data.toString())
    child.stderr.on("data", (data: Buffer) => stderr += data.toString())
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      const line = stdout.split("\n").find((l) => l.startsWith(resultMarker))
      if (code === 0 && line !== undefined) return resolve(JSON.parse(line.slice(resultMarker.length)))
      reject(new Error(signal === "SIGKILL" ? `timed out after ${timeoutMs / 1000} s` : stderr.trim() || `exit ${code}`))
    })
  })

const countOf = (kind: ServerKind, workload: Workload, contender: Contender) => {
  // a continuous feed comes a line at a time, bound by the server: its rate needs fewer changes
  if (contender.variant === "continuous" || contender.variant === "follow") return Math.min(options.docs, options.feedChanges)
  switch (workload) {
    case "get-doc":
    case "get-doc-concurrent":
      return kind === "canned" ? options.gets : options.serverGets
    case "bulk-insert":
    case "changes-read":
    case "all-docs-read":
      return options.docs
    case "attachment":
      return options.attachments
  }
}

const warmupOf = (workload: Workload, count: number) => {
  switch (workload) {
    case "get-doc":
    case "get-doc-concurrent":
      // the same on every server, whatever the count: after a warm-up of a fifth of 1,000 GETs on a real server,
      // compilations still ran in the measurement (every client's CPU per GET on CouchDB 3.5.2, 3 rounds: raw
      // undici 363 against 230 µs after 2,000, effect-couch 466 against 304, nano 951 against 573)
      return options.getWarmup
    case "bulk-insert":
      return Math.min(4 * options.batch, count)
    case "changes-read":
    case "all-docs-read":
      return Math.min(1000, count)
    case "attachment":
      return 1
  }
}

const docId = "bench-doc"

const runOne = async (
  server: RunningServer,
  workload: Workload,
  contender: Contender,
  readDb: string | undefined,
  profile?: string
): Promise<Result> => {
  const fresh = readDb === undefined
  const db = readDb ?? freshName(workload)
  if (fresh) await admin(server.info, "PUT", `/${db}`)
  try {
    if (workload === "get-doc" || workload === "get-doc-concurrent") {
      await admin(server.info, "PUT", `/${db}/${docId}`, { ...makeDoc(1), _id: docId })
    }
    const count = countOf(server.kind, workload, contender)
    const spec: Spec = {
      workload,
      contender,
      server: server.info,
      db,
      count,
      warmup: warmupOf(workload, count),
      concurrency: workload === "get-doc-concurrent" ? options.concurrency : 4,
      batchSize: options.batch,
      pageSize: options.pageSize,
      docId,
      attachmentMiB: options.attachmentMiB,
      // the memory of bursts is the client's: measured where the server answers at once
      burst: server.kind === "canned",
      profile
    }
    return await runWorker(spec, 10 * 60_000)
  } finally {
    if (fresh) await admin(server.info, "DELETE", `/${db}`).catch(() => undefined)
  }
}

// -- profiles -------------------------------------------------------------------------------------------------

/** Where a workload is profiled: get-doc on the canned server (the client alone), the others on a real one. */
const profileServerOf = (workload: Workload): ServerKind | undefined => {
  const light = workload === "get-doc" || workload === "get-doc-concurrent"
  if (light && options.servers.includes("canned")) return "canned"
  return options.servers.find((kind) => kind !== "canned")
}

const profileWorkload = async (
  server: RunningServer,
  workload: Workload,
  contenders: ReadonlyArray<Contender>,
  readDb: string | undefined
) => {
  const dir = Path.join(packageDir, "results", "profiles")
  Fs.mkdirSync(dir, { recursive: true })
  const sections: Array<string> = [
    `## CPU profiles: ${workload}, ${server.kind} server`,
    "",
    "One run of each client under the V8 sampling profiler (100 µs), the measurement only (no start-up, no",
    "warm-up). The profiler slows short functions down: read shares, not absolute times. Written by",
    "`pnpm bench --profile`.",
    ""
  ]
  for (const contender of contenders.filter((c) => c.client !== "fetch" && c.baseline !== true)) {
    const file = Path.join(dir, `${contender.label}-${workload}.cpuprofile`)
    try {
      const result = await runOne(server, workload, contender, readDb, file)
      const summary = summarize(JSON.parse(Fs.readFileSync(file, "utf8")), bundleLocator())
      sections.push(
        report(
          `${contender.label}: ${fmt(throughput(result))} ${units[workload]}, ${cpuPerOp(result).toFixed(1)} µs CPU/op while profiled`,
          summary,
          result.ops
        )
      )
      out(`profiled ${contender.label} ${workload}: ${Path.relative(packageDir, file)}`)
    } catch (error) {
      out(`profiling ${contender.label} ${workload} FAILED: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
  Fs.writeFileSync(Path.join(packageDir, "results", `profile-${workload}.md`), `${sections.join("\n")}\n`)
}

// -- statistics ------------------------------------------------------------------------------------------------

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
const throughput = (r: Result) => r.ops / (r.wallMs / 1000)
const cpuPerOp = (r: Result) => (r.cpuUserMicros + r.cpuSystemMicros) / r.ops
const mibOf = (bytes: number) => bytes / 1024 / 1024

interface Summary {
  readonly server: ServerKind
  readonly workload: Workload
  readonly label: string
  readonly rounds: number
  readonly unit: string
  readonly throughput: number
  readonly wallMs: number
  readonly wallMicrosPerOp: number
  readonly cpuMicrosPerOp: number
  readonly peakRssMiB: number
  readonly maxRssMiB: number
  readonly baseRssMiB: number
  readonly loadedRssMiB: number
  readonly peakHeapUsedMiB: number
  /** Median over rounds of this contender's throughput over undici's in the same round. */
  readonly throughputVsUndici: number
  readonly cpuVsUndici: number
  readonly extra?: Record<string, number> | undefined
}

const summarizeRuns = (runs: ReadonlyArray<Run>): ReadonlyArray<Summary> => {
  const summaries: Array<Summary> = []
  const keys = [...new Set(runs.map((r) => `${r.server}\u0000${r.workload}\u0000${r.label}`))]
  for (const key of keys) {
    const [server, workload, label] = key.split("\u0000") as [ServerKind, Workload, string]
    const mine = runs.filter((r) => r.server === server && r.workload === workload && r.label === label && r.result)
    if (mine.length === 0) continue
    const results = mine.map((r) => r.result!)
    const undiciIn = (round: number) =>
      runs.find((r) => r.server === server && r.workload === workload && r.label === "undici" && r.round === round)
        ?.result
    const paired = (f: (r: Result) => number) =>
      median(mine.map((r) => {
        const base = undiciIn(r.round)
        return base === undefined ? NaN : f(r.result!) / f(base)
      }))
    const extraKeys = [...new Set(results.flatMap((r) => Object.keys(r.extra ?? {})))]
    summaries.push({
      server,
      workload,
      label,
      rounds: results.length,
      unit: units[workload],
      throughput: median(results.map(throughput)),
      wallMs: median(results.map((r) => r.wallMs)),
      wallMicrosPerOp: median(results.map((r) => r.wallMs * 1000 / r.ops)),
      cpuMicrosPerOp: median(results.map(cpuPerOp)),
      peakRssMiB: median(results.map((r) => mibOf(r.peakRssBytes))),
      maxRssMiB: median(results.map((r) => mibOf(r.maxRssBytes))),
      baseRssMiB: median(results.map((r) => mibOf(r.baseRssBytes))),
      loadedRssMiB: median(results.map((r) => mibOf(r.loadedRssBytes))),
      peakHeapUsedMiB: median(results.map((r) => mibOf(r.peakHeapUsedBytes))),
      throughputVsUndici: paired(throughput),
      cpuVsUndici: paired(cpuPerOp),
      extra: extraKeys.length === 0 ?
        undefined :
        Object.fromEntries(extraKeys.map((k) => [k, median(results.map((r) => r.extra?.[k] ?? NaN))]))
    })
  }
  return summaries
}

interface Target {
  readonly server: ServerKind
  readonly target: string
  readonly value: string
  readonly met: boolean
}

/** The median over rounds of `f(a) / f(b)`, a and b measured in the same round. */
const pairedRatio = (
  runs: ReadonlyArray<Run>,
  server: ServerKind,
  workload: Workload,
  a: string,
  b: string,
  f: (r: Result) => number
) => {
  const mine = runs.filter((r) => r.server === server && r.workload === workload && r.label === a && r.result)
  return median(mine.map((r) => {
    const other = runs.find((o) =>
      o.server === server && o.workload === workload && o.label === b && o.round === r.round && o.result
    )
    return other === undefined ? NaN : f(r.result!) / f(other.result!)
  }))
}

/**
 * The targets of the issue. Comparisons with nano are medians of the per-round ratios (the two ran in the same
 * round, one after the other), as the ratios to undici are.
 */
const targetsOf = (
  summaries: ReadonlyArray<Summary>,
  runs: ReadonlyArray<Run>,
  docs: number
): ReadonlyArray<Target> => {
  const targets: Array<Target> = []
  const find = (server: ServerKind, workload: Workload, label: string) =>
    summaries.find((s) => s.server === server && s.workload === workload && s.label === label)
  for (const server of new Set(summaries.map((s) => s.server))) {
    const ec = (w: Workload, label = "effect-couch") => find(server, w, label)
    /** A same-round ratio `a / b` of `f` against a bound: `at most` for costs, `at least` for rates. */
    const ratioTarget = (
      workload: Workload,
      a: string,
      b: string,
      f: (r: Result) => number,
      bound: number,
      kind: "at most" | "at least",
      target: string,
      what: (mine: Summary, theirs: Summary) => string
    ) => {
      const mine = find(server, workload, a)
      const theirs = find(server, workload, b)
      if (mine === undefined || theirs === undefined) return
      const ratio = pairedRatio(runs, server, workload, a, b, f)
      targets.push({
        server,
        target,
        value: `${ratio.toFixed(2)}× (${what(mine, theirs)})`,
        met: kind === "at most" ? ratio <= bound : ratio >= bound
      })
    }
    const cpu = (s: Summary) => s.cpuMicrosPerOp.toFixed(1)
    const rate = (s: Summary) => `${fmt(s.throughput)}`
    for (const label of ["effect-couch", "effect-couch-promise"]) {
      const driven = label === "effect-couch" ? "an Effect loop" : "runPromise per GET"
      ratioTarget(
        "get-doc",
        label,
        "nano",
        cpuPerOp,
        0.8,
        "at most",
        `get-doc (${driven}): client CPU per GET ≤ 0.8× nano's`,
        (m, t) => `${cpu(m)} vs ${cpu(t)} µs`
      )
      ratioTarget(
        "get-doc",
        label,
        "undici",
        cpuPerOp,
        1.5,
        "at most",
        `get-doc (${driven}): client CPU per GET ≤ 1.5× raw undici's`,
        (m, t) => `${cpu(m)} vs ${cpu(t)} µs`
      )
      ratioTarget(
        "get-doc-concurrent",
        label,
        "nano",
        throughput,
        1.2,
        "at least",
        `get-doc-concurrent (${driven}): throughput ≥ 1.2× nano's`,
        (m, t) => `${rate(m)} vs ${rate(t)} GET/s`
      )
    }
    // the stream of documents (bulkWrite), and arrays of a batch as nano's driver sends them (bulkDocs)
    for (const [label, shape] of [["effect-couch", "a stream"], ["effect-couch-arrays", "arrays"]] as const) {
      ratioTarget(
        "bulk-insert",
        label,
        "nano",
        cpuPerOp,
        1,
        "at most",
        `bulk-insert (${shape}): client CPU per document ≤ nano's`,
        (m, t) => `${m.cpuMicrosPerOp.toFixed(2)} vs ${t.cpuMicrosPerOp.toFixed(2)} µs`
      )
      ratioTarget(
        "bulk-insert",
        label,
        "nano",
        throughput,
        1,
        "at least",
        `bulk-insert (${shape}): throughput ≥ nano's`,
        (m, t) => `${rate(m)} vs ${rate(t)} docs/s`
      )
    }
    for (const [workload, label] of [
      ["changes-read", "effect-couch"],
      ["changes-read", "effect-couch-paged"],
      ["all-docs-read", "effect-couch"],
      ["all-docs-read", "effect-couch-paged"]
    ] as const) {
      ratioTarget(
        workload,
        label,
        "nano",
        throughput,
        1,
        "at least",
        `${workload}${label === "effect-couch" ? "" : ` (${label})`}: throughput ≥ nano's`,
        (m, t) => `${rate(m)} vs ${rate(t)} ${m.unit}`
      )
    }
    ratioTarget(
      "changes-read",
      "effect-couch-continuous",
      "undici-continuous",
      throughput,
      0.9,
      "at least",
      "changes-read, continuous feed: throughput ≥ 0.9× raw undici's reading it line by line",
      (m, t) => `${rate(m)} vs ${rate(t)} changes/s`
    )
    ratioTarget(
      "changes-read",
      "effect-couch-follow",
      "effect-couch",
      throughput,
      0.5,
      "at least",
      "changes-read, follower: throughput ≥ 0.5× the normal feed's (effect-couch's)",
      (m, t) => `${rate(m)} vs ${rate(t)} changes/s`
    )
    const allDocs = ec("all-docs-read")
    if (allDocs !== undefined) {
      const peak = Math.max(allDocs.peakRssMiB, allDocs.maxRssMiB)
      targets.push({
        server,
        target: `all-docs-read over ${fmt(docs)} docs: peak RSS < 100 MiB`,
        value: `${peak.toFixed(0)} MiB (sampled ${allDocs.peakRssMiB.toFixed(0)}, maxRSS ${allDocs.maxRssMiB.toFixed(0)})`,
        met: peak < 100
      })
    }
  }
  return targets
}

const fmt = (n: number) =>
  !Number.isFinite(n) ? "–" : n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toPrecision(3)

const tables = (
  summaries: ReadonlyArray<Summary>,
  targets: ReadonlyArray<Target>,
  servers: ReadonlyArray<{ readonly kind: ServerKind; readonly version: string }>
) => {
  const lines: Array<string> = []
  for (const server of servers) {
    const mine = summaries.filter((s) => s.server === server.kind)
    if (mine.length === 0) continue
    lines.push(`#### ${server.kind} server (${server.kind === "canned" ? "canned answers" : `version ${server.version}`})`)
    lines.push("")
    lines.push(
      "| workload | client | throughput | wall | client CPU µs/op | peak RSS MiB (maxRSS) | throughput × undici | CPU/op × undici |"
    )
    lines.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (const s of mine) {
      const extra = s.extra?.putMs !== undefined ?
        ` (put ${fmt(s.extra.putMs)} ms, get ${fmt(s.extra.getMs ?? NaN)} ms)` :
        ""
      lines.push(
        `| ${s.workload} | ${s.label} | ${fmt(s.throughput)} ${s.unit} | ${(s.wallMs / 1000).toFixed(2)} s${extra} | ${
          s.cpuMicrosPerOp.toFixed(s.cpuMicrosPerOp < 10 ? 2 : 1)
        } | ${s.peakRssMiB.toFixed(0)} (${s.maxRssMiB.toFixed(0)}) | ${
          Number.isFinite(s.throughputVsUndici) ? `${s.throughputVsUndici.toFixed(2)}×` : "–"
        } | ${Number.isFinite(s.cpuVsUndici) ? `${s.cpuVsUndici.toFixed(2)}×` : "–"} |`
      )
    }
    lines.push("")
    lines.push(
      `Memory of the client process (MiB, medians): loaded = library loaded and session made, before the warm-up; before = after the warm-up, when the measurement starts (both after a GC); peak RSS and heap used sampled every 20 ms.`
    )
    lines.push("")
    lines.push("| workload | client | loaded | before | peak RSS | peak heap used |")
    lines.push("| --- | --- | ---: | ---: | ---: | ---: |")
    for (const s of mine) {
      lines.push(
        `| ${s.workload} | ${s.label} | ${s.loadedRssMiB.toFixed(0)} | ${s.baseRssMiB.toFixed(0)} | ${
          s.peakRssMiB.toFixed(0)
        } | ${s.peakHeapUsedMiB.toFixed(0)} |`
      )
    }
    lines.push("")
    const burst = mine.filter((s) => s.extra?.heapBeforeBurstMiB !== undefined)
    if (burst.length > 0) {
      lines.push(
        "After get-doc-concurrent, 5 bursts of 1,000 GETs in flight on the same client, then 5 more: the heap in use (MiB, after a GC) before them, after the first 5 and after the next 5, and its peak during them. The first bursts leave the connection pool's 1,000 open sockets; more bursts should add nothing."
      )
      lines.push("")
      lines.push("| client | heap before | peak during | after 5 bursts | after 10 bursts | growth over the last 5 |")
      lines.push("| --- | ---: | ---: | ---: | ---: | ---: |")
      for (const s of burst) {
        const after = s.extra?.heapAfterBurstMiB ?? NaN
        const again = s.extra?.heapAfterMoreBurstsMiB ?? NaN
        lines.push(
          `| ${s.label} | ${(s.extra?.heapBeforeBurstMiB ?? NaN).toFixed(1)} | ${(s.extra?.heapPeakBurstMiB ?? NaN).toFixed(1)} | ${
            after.toFixed(1)
          } | ${again.toFixed(1)} | ${(again - after).toFixed(1)} |`
        )
      }
      lines.push("")
    }
  }
  if (targets.length > 0) {
    lines.push("#### Targets")
    lines.push("")
    lines.push("| server | target | measured | |")
    lines.push("| --- | --- | --- | --- |")
    for (const t of targets) lines.push(`| ${t.server} | ${t.target} | ${t.value} | ${t.met ? "met" : "**missed**"} |`)
    lines.push("")
  }
  return lines.join("\n")
}

// -- machine ---------------------------------------------------------------------------------------------------

const machine = () => {
  let cpuModel = Os.cpus()[0]?.model ?? "?"
  try {
    const line = Fs.readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("model name"))
    if (line !== undefined) cpuModel = line.split(":").slice(1).join(":").trim()
  } catch {
    // not Linux
  }
  return {
    nproc: Os.availableParallelism(),
    cpuModel,
    node: process.version,
    platform: `${Os.platform()} ${Os.release()} ${Os.arch()}`,
    memoryGiB: Math.round(Os.totalmem() / 1024 ** 3)
  }
}

const render = (
  started: number,
  durationSec: number,
  host: ReturnType<typeof machine>,
  rounds: number,
  summaries: ReadonlyArray<Summary>,
  targets: ReadonlyArray<Target>,
  servers: ReadonlyArray<{ readonly kind: ServerKind; readonly version: string }>
) =>
  [
    `Run ${new Date(started).toISOString()}, ${(durationSec / 60).toFixed(1)} min: ${host.nproc} CPUs (${host.cpuModel}), node ${host.node}, ${host.platform}; ${rounds} rounds, medians.`,
    "",
    tables(summaries, targets, servers)
  ].join("\n")

/** `--report FILE`: renders the tables of an earlier run's JSON again (with this version's statistics). */
const rerender = (file: string) => {
  const saved = JSON.parse(Fs.readFileSync(file, "utf8")) as {
    startedAt: string
    durationSec: number
    machine: ReturnType<typeof machine>
    options: { rounds: number; docs: number }
    servers: Array<{ kind: ServerKind; version: string }>
    runs: Array<Run>
  }
  const summaries = summarizeRuns(saved.runs)
  const targets = targetsOf(summaries, saved.runs, saved.options.docs)
  const markdown = render(
    Date.parse(saved.startedAt),
    saved.durationSec,
    saved.machine,
    saved.options.rounds,
    summaries,
    targets,
    saved.servers
  )
  out(markdown)
  Fs.writeFileSync(file, `${JSON.stringify({ ...saved, summaries, targets }, null, 2)}\n`)
  Fs.writeFileSync(file.replace(/\.json$/, "") + ".md", `${markdown}\n`)
}

// -- main ------------------------------------------------------------------------------------------------------

const main = async () => {
  const started = Date.now()
  const host = machine()
  out(`effect-couch bench: ${host.nproc} CPUs (${host.cpuModel}), node ${host.node}`)
  out(
    `rounds ${options.rounds}; servers ${options.servers.join(", ")}; gets ${options.gets} (canned) / ${options.serverGets} (server); docs ${options.docs}`
  )
  // bundles of this run's own (two runs at once must not replace each other's), removed at its end
  workerPath = await bundleWorker(`worker-${process.pid}`)
  if (options.baseline !== undefined) {
    baselineWorkerPath = await bundleWorker(`worker-base-${process.pid}`, Path.join(options.baseline, "packages", "client", "src", "index.ts"))
    out(`baseline: effect-couch from ${options.baseline} (labels ${baselineSuffix})`)
  }
  const servers: Array<RunningServer> = []
  const runs: Array<Run> = []
  const cleanup = async () => {
    for (const server of servers) await stopServer(server)
    for (const path of [workerPath, baselineWorkerPath]) {
      if (path !== "") Fs.rmSync(Path.dirname(path), { recursive: true, force: true })
    }
  }
  process.once("SIGINT", () => {
    void cleanup().then(() => process.exit(130))
  })
  try {
    for (const kind of options.servers) {
      const server = await startServer(kind)
      servers.push(server)
      out(`\n== ${kind} server at ${server.info.url} (version ${server.info.version})`)
      let readDb: string | undefined
      for (const workload of options.workloads) {
        if (kind === "canned" && workload !== "get-doc" && workload !== "get-doc-concurrent") continue
        const reads = workload === "changes-read" || workload === "all-docs-read"
        if (reads && readDb === undefined) {
          readDb = freshName("read")
          const t0 = performance.now()
          await admin(server.info, "PUT", `/${readDb}`)
          await seed(server.info, readDb, options.docs)
          out(`seeded ${readDb} with ${options.docs} documents in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
        }
        const contenders = contendersOf(workload)
        for (let round = 1; round <= options.rounds; round++) {
          // interleaved, and each round starts with the next contender, so that none always runs first
          const order = contenders.map((_, i) => contenders[(i + round - 1) % contenders.length])
          for (const contender of order) {
            const t0 = performance.now()
            try {
              const result = await runOne(server, workload, contender, reads ? readDb : undefined)
              runs.push({ server: kind, workload, round, label: contender.label, result })
              out(
                `${kind} ${workload} r${round} ${contender.label.padEnd(24)} ${
                  fmt(throughput(result)).padStart(9)
                } ${units[workload].padEnd(9)} cpu ${cpuPerOp(result).toFixed(1).padStart(7)} µs/op  rss ${
                  mibOf(result.peakRssBytes).toFixed(0).padStart(4)
                } MiB  (${((performance.now() - t0) / 1000).toFixed(1)} s)`
              )
            } catch (error) {
              const message = error instanceof Error ? error.message : String(error)
              runs.push({ server: kind, workload, round, label: contender.label, error: message })
              out(`${kind} ${workload} r${round} ${contender.label}: FAILED ${message.split("\n").slice(0, 6).join("\n  ")}`)
            }
          }
        }
        if (options.profile && profileServerOf(workload) === kind) {
          await profileWorkload(server, workload, contenders, reads ? readDb : undefined)
        }
      }
      if (readDb !== undefined) await admin(server.info, "DELETE", `/${readDb}`).catch(() => undefined)
    }

    const summaries = summarizeRuns(runs)
    const targets = targetsOf(summaries, runs, options.docs)
    const durationSec = (Date.now() - started) / 1000
    const serverList = servers.map((s) => ({ kind: s.kind, version: s.info.version }))
    const markdown = render(started, durationSec, host, options.rounds, summaries, targets, serverList)
    out(`\n${markdown}`)
    Fs.mkdirSync(Path.dirname(options.out), { recursive: true })
    Fs.writeFileSync(
      options.out,
      `${
        JSON.stringify(
          {
            startedAt: new Date(started).toISOString(),
            durationSec,
            machine: host,
            options,
            servers: serverList,
            summaries,
            targets,
            runs
          },
          null,
          2
        )
      }\n`
    )
    Fs.writeFileSync(options.out.replace(/\.json$/, "") + ".md", `${markdown}\n`)
    out(`wrote ${Path.relative(process.cwd(), options.out)} (and .md) in ${(durationSec / 60).toFixed(1)} min`)
    if (runs.some((r) => r.error !== undefined)) process.exitCode = 1
  } finally {
    await cleanup()
    await adminAgent.close()
  }
}

const reportFile = option("report")
;(reportFile === undefined ? main() : Promise.resolve(rerender(Path.resolve(process.cwd(), reportFile)))).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
