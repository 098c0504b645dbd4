/**
 * What the orchestrator (`main.ts`) and the client processes (`worker.ts`) share: workloads, clients, the spec of
 * one run and its result, the benchmark documents.
 */

export const workloads = [
  "get-doc",
  "get-doc-concurrent",
  "bulk-insert",
  "changes-read",
  "all-docs-read",
  "attachment"
] as const
export type Workload = typeof workloads[number]

export const clients = ["effect-couch", "nano", "undici", "fetch", "effect-platform", "effect-undici"] as const
export type Client = typeof clients[number]
/**
 * `effect-platform` (the platform's HttpClient alone) and `effect-undici` (one `Effect.async` over undici per
 * request: the floor of a transport of one's own) are diagnostics, run when asked for.
 */
export const defaultClients: ReadonlyArray<Client> = ["effect-couch", "nano", "undici", "fetch"]

/**
 * A client as measured in a workload: `changes-read` measures effect-couch's normal feed (in one request, as by
 * default, and paged), its continuous feed and a follower, `all-docs-read` its read in one request and its paged read.
 */
export interface Contender {
  readonly label: string
  readonly client: Client
  readonly variant?: "continuous" | "follow" | "paged" | "promise" | "client" | "arrays" | undefined
  /** Run with the baseline build of effect-couch (`--baseline DIR`) instead of the workspace's. */
  readonly baseline?: boolean | undefined
  /**
   * effect-couch's HTTP: `node`, `@effect-couch/node`'s layer (requests through its undici transport), or
   * `platform`, `NodeHttpClient.layerUndici` alone (`--transport`).
   */
  readonly transport?: "node" | "platform" | undefined
}

export interface ServerInfo {
  readonly url: string
  readonly username: string
  readonly password: string
  readonly version: string
}

/** One run of one contender in one workload, in its own process. */
export interface Spec {
  readonly workload: Workload
  readonly contender: Contender
  readonly server: ServerInfo
  readonly db: string
  /** Operations to measure: GETs, documents to write, changes or rows expected, attachments to write and read. */
  readonly count: number
  /** Operations before the measurement (JIT, connections). */
  readonly warmup: number
  readonly concurrency: number
  readonly batchSize: number
  readonly pageSize: number
  readonly docId: string
  readonly attachmentMiB: number
  /** After get-doc-concurrent, bursts of 1,000 GETs in flight, and the heap before and after them. */
  readonly burst: boolean
  /** Write a CPU profile of the measurement (only) to this file. */
  readonly profile?: string | undefined
}

export interface Result {
  readonly label: string
  /** Operations measured (GETs, documents, changes, rows, MiB moved). */
  readonly ops: number
  readonly wallMs: number
  readonly cpuUserMicros: number
  readonly cpuSystemMicros: number
  /** The highest `process.memoryUsage().rss`, sampled every 20 ms from the start of the measurement. */
  readonly peakRssBytes: number
  /** `process.resourceUsage().maxRSS`: the kernel's high-water mark for the whole process. */
  readonly maxRssBytes: number
  /** RSS just before the measurement (after the warm-up and a GC). */
  readonly baseRssBytes: number
  /** RSS once the client library is loaded and its session made, before the warm-up (after a GC). */
  readonly loadedRssBytes: number
  /** The highest `heapUsed`, sampled with the RSS. */
  readonly peakHeapUsedBytes: number
  readonly extra?: Record<string, number> | undefined
}

export const resultMarker = "BENCH_RESULT "

/** The benchmark's small document. */
export const makeDoc = (i: number, prefix = "doc") => ({
  _id: `${prefix}-${String(i).padStart(7, "0")}`,
  type: "item",
  n: i,
  name: `document ${i}`,
  tags: ["bench", i % 2 === 0 ? "even" : "odd"],
  done: i % 3 === 0
})

export const basicAuth = (server: ServerInfo) =>
  `Basic ${Buffer.from(`${server.username}:${server.password}`).toString("base64")}`
