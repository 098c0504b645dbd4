/**
 * `pnpm --filter @effect-couch/bench bench:backup`: `couch backup` / `couch restore` (packages/cli, its bundled
 * binary) against `@cloudant/couchbackup`'s `couchbackup` / `couchrestore`, on the same database, each tool a
 * process of its own run under GNU time: wall time, documents per second, CPU, peak RSS. The server is the
 * embedded one (its own process) or the CouchDB at COUCHDB_URL (COUCHDB_USER, COUCHDB_PASSWORD). Every restored
 * database is compared with the source (ids, winning revisions, bodies).
 *
 *   --docs N      documents of ~200 bytes (default 100000)
 *   --rounds N    rounds, interleaved (default 1); the table shows the medians
 *   --basic       couch with basic authentication instead of a cookie session (--cookie): its requests then go
 *                 through @effect-couch/node's transport (a cookie session's go through the platform's client)
 *
 * When the server runs on this machine (its listening socket found in /proc), the CPU it spent during each run is
 * measured too: on a machine whose cores the server shares with the tool, wall time cannot go below the two CPU
 * times' sum divided by the cores, whatever the tool does.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { createRequire } from "node:module"

const packageDir = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const cliDir = Path.resolve(packageDir, "..", "cli")
const out = (text: string) => process.stdout.write(`${text}\n`)

const argument = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? fallback : Number(process.argv[i + 1])
}
const docs = argument("docs", 100_000)
const rounds = argument("rounds", 1)
const couchAuth = process.argv.includes("--basic") ? [] : ["--cookie"]

interface Server {
  readonly url: string
  readonly username: string
  readonly password: string
  readonly kind: "embedded" | "couchdb"
  readonly child?: ChildProcess
}

const startServer = async (): Promise<Server> => {
  const url = process.env.COUCHDB_URL
  if (url !== undefined && url !== "") {
    return {
      url: url.replace(/\/$/, ""),
      username: process.env.COUCHDB_USER ?? "admin",
      password: process.env.COUCHDB_PASSWORD ?? "",
      kind: "couchdb"
    }
  }
  const child = spawn(process.execPath, ["--import", "tsx", Path.join(packageDir, "src", "server-embedded.ts")], {
    stdio: ["pipe", "pipe", "inherit"]
  })
  const line = await new Promise<string>((resolve, reject) => {
    let text = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      text += chunk
      if (text.includes("\n")) resolve(text.split("\n")[0]!)
    })
    child.on("exit", (code) => reject(new Error(`the embedded server exited with ${code}`)))
  })
  const info = JSON.parse(line) as { url: string; username: string; password: string }
  return { ...info, kind: "embedded", child }
}

const server = await startServer()
const auth = `Basic ${Buffer.from(`${server.username}:${server.password}`).toString("base64")}`
const call = async (method: string, path: string, body?: unknown) => {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: auth, "content-type": "application/json", accept: "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 200)}`)
  return JSON.parse(text) as unknown
}

const prefix = `bench-backup-${Date.now().toString(36)}`
const source = `${prefix}-src`
await call("PUT", `/${source}`)
if (server.kind === "embedded") {
  // couchbackup logs in with {"username", "password"}, which express-pouchdb refuses: it reads a public database
  await call("PUT", `/${source}/_security`, {})
}
out(`seeding ${docs} documents into ${source} (${server.kind} at ${server.url})`)
for (let start = 0; start < docs; start += 5000) {
  const batch = Array.from({ length: Math.min(5000, docs - start) }, (_, j) => {
    const i = start + j
    return {
      _id: `doc-${String(i).padStart(8, "0")}`,
      type: "order",
      n: i,
      customer: `customer ${i % 997}`,
      items: [{ sku: `sku-${i % 101}`, qty: i % 5 }, { sku: `sku-${i % 37}`, qty: 1 }],
      note: "x".repeat(40 + (i % 20))
    }
  })
  await call("POST", `/${source}/_bulk_docs`, { docs: batch })
}

// the binaries
spawnSync(process.execPath, [Path.join(cliDir, "scripts", "bundle.mjs")], { stdio: "inherit" })
const couchBin = Path.join(cliDir, "build", "couch.mjs")
const require = createRequire(import.meta.url)
const couchbackupDir = Path.dirname(require.resolve("@cloudant/couchbackup/package.json"))
const couchbackupBin = Path.join(couchbackupDir, "bin", "couchbackup.bin.js")
const couchrestoreBin = Path.join(couchbackupDir, "bin", "couchrestore.bin.js")
const couchbackupVersion = (JSON.parse(Fs.readFileSync(Path.join(couchbackupDir, "package.json"), "utf8")) as {
  version: string
}).version

const withCredentials = (db: string) => {
  const url = new URL(`${server.url}/${db}`)
  if (server.kind === "couchdb") {
    url.username = server.username
    url.password = server.password
  }
  return url.toString()
}

interface Measure {
  readonly wall: number
  readonly cpu: number
  readonly rss: number
  /** The server's CPU seconds during the run, when its process is on this machine. */
  readonly serverCpu: number | undefined
}

/**
 * The process listening on the server's port, when it is on this machine (Linux): the socket's inode from
 * /proc/net/tcp{,6}, then the process holding it among /proc/<pid>/fd.
 */
const serverProcess = (url: string): number | undefined => {
  const { hostname, port } = new URL(url)
  if (!["127.0.0.1", "localhost", "[::1]"].includes(hostname) || !Fs.existsSync("/proc/net/tcp")) return undefined
  const portHex = Number(port || 80).toString(16).toUpperCase().padStart(4, "0")
  const inodes = new Set<string>()
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!Fs.existsSync(table)) continue
    for (const line of Fs.readFileSync(table, "utf8").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/)
      // local address, state 0A (listening), inode
      if (fields[1]?.endsWith(`:${portHex}`) && fields[3] === "0A") inodes.add(fields[9]!)
    }
  }
  for (const pid of Fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      for (const fd of Fs.readdirSync(`/proc/${pid}/fd`)) {
        const target = Fs.readlinkSync(`/proc/${pid}/fd/${fd}`)
        if (inodes.has(target.slice(8, -1)) && target.startsWith("socket:[")) return Number(pid)
      }
    } catch {
      // a process that ended or is not ours
    }
  }
  return undefined
}

/** A process's CPU seconds so far (user and system, from /proc/<pid>/stat; clock ticks of 1/100 s). */
const cpuSeconds = (pid: number): number => {
  const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/**
 * Runs a command under GNU time, as a user's shell does: `couch.mjs` by its shebang (with its V8 flags),
 * couchbackup's scripts with node (their shebang is `env node`); stdin from a file, stdout to a file, when given.
 */
const timed = (args: ReadonlyArray<string>, options: { stdin?: string; stdout?: string } = {}): Promise<Measure> =>
  new Promise((resolve, reject) => {
    const timeFile = Path.join(Os.tmpdir(), `${prefix}-time-${Math.random().toString(36).slice(2)}`)
    const command = args[0] === couchBin ? args : [process.execPath, ...args]
    const child = spawn("/usr/bin/time", ["-f", "%e %U %S %M", "-o", timeFile, ...command], {
      stdio: [
        options.stdin === undefined ? "ignore" : Fs.openSync(options.stdin, "r"),
        options.stdout === undefined ? "ignore" : Fs.openSync(options.stdout, "w"),
        "pipe"
      ],
      env: {
        ...process.env,
        COUCHDB_URL: server.url,
        COUCHDB_USER: server.username,
        COUCHDB_PASSWORD: server.password,
        COUCH_URL: undefined
      }
    })
    const serverBefore = serverPid === undefined ? undefined : cpuSeconds(serverPid)
    let stderr = ""
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`${args.join(" ")} exited with ${code}: ${stderr.slice(-500)}`))
      const [wall, user, system, rss] = Fs.readFileSync(timeFile, "utf8").trim().split(/\s+/).map(Number)
      Fs.rmSync(timeFile, { force: true })
      const serverCpu = serverPid === undefined ? undefined : cpuSeconds(serverPid) - serverBefore!
      resolve({ wall: wall!, cpu: user! + system!, rss: rss! * 1024, serverCpu })
    })
  })

/** The documents in a backup file (couchbackup's format: one array a line after the metadata). */
const documentsIn = (file: string): number => {
  let n = 0
  for (const line of Fs.readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("[")) n += (JSON.parse(line) as Array<unknown>).length
  }
  return n
}

/** Whether two databases hold the same documents: ids, winning revisions, bodies (design documents aside). */
const same = async (a: string, b: string): Promise<boolean> => {
  const page = 10_000
  let startkey: string | undefined
  for (;;) {
    const query = `include_docs=true&limit=${page + 1}${startkey === undefined ? "" : `&startkey=${encodeURIComponent(JSON.stringify(startkey))}`}`
    const [x, y] = (await Promise.all([call("GET", `/${a}/_all_docs?${query}`), call("GET", `/${b}/_all_docs?${query}`)])) as Array<{
      rows: Array<{ id: string; doc: unknown }>
    }>
    if (x!.rows.length !== y!.rows.length) return false
    const rows = x!.rows.length > page ? page : x!.rows.length
    for (let i = 0; i < rows; i++) {
      if (JSON.stringify(x!.rows[i]!.doc) !== JSON.stringify(y!.rows[i]!.doc)) return false
    }
    if (x!.rows.length <= page) return true
    startkey = x!.rows[page]!.id
  }
}

const serverPid = serverProcess(server.url)
out(serverPid === undefined ? "the server's process is not on this machine: its CPU is not measured" : `the server is process ${serverPid}: its CPU is measured`)
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), `${prefix}-`))
interface Row {
  readonly tool: string
  readonly op: "backup" | "restore"
  readonly measures: Array<Measure>
}
const rows: Array<Row> = [
  { tool: "couch", op: "backup", measures: [] },
  { tool: `couchbackup ${couchbackupVersion}`, op: "backup", measures: [] },
  { tool: "couch", op: "restore", measures: [] },
  { tool: `couchrestore ${couchbackupVersion}`, op: "restore", measures: [] }
]
let identical = true
let complete = true
for (let round = 0; round < rounds; round++) {
  const couchFile = Path.join(dir, `couch-${round}.txt`)
  const cbFile = Path.join(dir, `couchbackup-${round}.txt`)
  // couch logs in once (--cookie), as couchbackup does: the embedded server hashes basic credentials on every
  // request; --basic sends them with each request instead, through the node transport
  rows[0]!.measures.push(await timed([couchBin, "backup", source, couchFile, "-q", ...couchAuth]))
  out(`round ${round + 1}: couch backup ${rows[0]!.measures.at(-1)!.wall} s`)
  rows[1]!.measures.push(
    await timed([couchbackupBin, "--url", withCredentials(""), "--db", source, "--log", `${cbFile}.log`], {
      stdout: cbFile
    })
  )
  out(`round ${round + 1}: couchbackup ${rows[1]!.measures.at(-1)!.wall} s`)
  for (const [tool, file] of [["couch", couchFile], ["couchbackup", cbFile]] as const) {
    const count = documentsIn(file)
    if (count !== docs) {
      complete = false
      out(`  the ${tool} backup holds ${count} documents, not ${docs}: INCOMPLETE`)
    }
  }
  const couchTarget = `${prefix}-couch-${round}`
  const cbTarget = `${prefix}-cb-${round}`
  await call("PUT", `/${cbTarget}`)
  if (server.kind === "embedded") await call("PUT", `/${cbTarget}/_security`, {})
  rows[2]!.measures.push(await timed([couchBin, "restore", couchTarget, couchFile, "--create", "-q", ...couchAuth]))
  out(`round ${round + 1}: couch restore ${rows[2]!.measures.at(-1)!.wall} s`)
  // couchrestore refuses the embedded server's databases as "not empty" (they have no doc_del_count)
  if (server.kind === "couchdb") {
    rows[3]!.measures.push(
      await timed([couchrestoreBin, "--url", withCredentials(""), "--db", cbTarget], { stdin: cbFile })
    )
    out(`round ${round + 1}: couchrestore ${rows[3]!.measures.at(-1)!.wall} s`)
  }
  for (const target of server.kind === "couchdb" ? [couchTarget, cbTarget] : [couchTarget]) {
    const equal = await same(source, target)
    identical &&= equal
    out(`  ${target} ${equal ? "equals" : "DIFFERS FROM"} the source`)
    await call("DELETE", `/${target}`)
  }
  if (server.kind === "embedded") await call("DELETE", `/${cbTarget}`)
  Fs.rmSync(couchFile, { force: true })
  Fs.rmSync(cbFile, { force: true })
}
await call("DELETE", `/${source}`)
Fs.rmSync(dir, { recursive: true, force: true })
server.child?.kill("SIGTERM")

const cores = Os.cpus().length
const median = (values: Array<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`
out("")
out(`${docs} documents of ~200 B, ${server.kind} server${server.kind === "couchdb" ? ` at ${server.url}` : ""}, ${rounds} round(s), medians; couch ${couchAuth.length === 0 ? "with basic auth (the node transport)" : "with --cookie"}; node ${process.version}, ${cores} CPUs`)
out("")
const serverCpus = (row: Row) => row.measures.flatMap((m) => (m.serverCpu === undefined ? [] : [m.serverCpu]))
out("| operation | tool | wall time | docs/s | CPU | server CPU | (CPU + server CPU) / cores | peak RSS |")
out("| --- | --- | --- | --- | --- | --- | --- | --- |")
for (const row of rows) {
  if (row.measures.length === 0) {
    out(`| ${row.op} | ${row.tool} | n/a | | | | | |`)
    continue
  }
  const wall = median(row.measures.map((m) => m.wall))
  const cpu = median(row.measures.map((m) => m.cpu))
  const server = serverCpus(row)
  // the floor of the wall time on these cores: the CPU both processes need, spread over all of them (per round)
  const floor = median(row.measures.map((m) => (m.cpu + (m.serverCpu ?? 0)) / cores))
  out(`| ${row.op} | ${row.tool} | ${wall.toFixed(1)} s | ${Math.round(docs / wall)} | ${cpu.toFixed(1)} s | ${server.length === 0 ? "n/a" : `${median(server).toFixed(1)} s`} | ${server.length === 0 ? "n/a" : `${floor.toFixed(1)} s`} | ${mib(median(row.measures.map((m) => m.rss)))} |`)
}
for (const op of ["backup", "restore"] as const) {
  const [ours, theirs] = rows.filter((row) => row.op === op)
  if (theirs!.measures.length === 0) continue
  const ratio = median(theirs!.measures.map((m) => m.wall)) / median(ours!.measures.map((m) => m.wall))
  out(`${op}: couch at ${ratio.toFixed(2)}x couchbackup's docs/s (target 1.25x)`)
}
out(identical ? "every restored database equals the source" : "A RESTORED DATABASE DIFFERS FROM THE SOURCE")
if (!complete) out("A BACKUP FILE IS INCOMPLETE (its figures do not count)")
process.exit(identical ? 0 : 1)
