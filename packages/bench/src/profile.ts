/**
 * Reads a V8 CPU profile (`.cpuprofile`) and tells where the time goes: the top functions by self time, the top
 * by total (inclusive) time, and self time added up by module (effect-couch's files, effect's files, platform,
 * undici, node internals, GC).
 *
 *   pnpm --filter @effect-couch/bench exec tsx src/profile.ts results/profiles/effect-couch-get-doc.cpuprofile
 */
import * as Fs from "node:fs"
import * as Path from "node:path"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
  readonly columnNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}
export interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

/** Where a script lives, shortened: `client/internal/request.ts`, `effect/internal/fiberRuntime.js`, `undici/lib/...`. */
export const moduleOf = (url: string): string => {
  if (url === "") return "(native)"
  const client = url.match(/packages\/(client|testing)\/src\/(.*)$/)
  if (client !== null) return `${client[1]}/${client[2]}`
  const pkg = url.match(/.*node_modules\/((?:@[^/]+\/)?[^/]+)\/(?:dist\/(?:esm|cjs)\/)?(.*)$/)
  if (pkg !== null) return `${pkg[1]}/${pkg[2]}`
  if (url.startsWith("node:")) return url
  if (url.startsWith("wasm:")) return "undici/llhttp (wasm)"
  return url.replace(/^(file:\/\/)?.*\/packages\//, "")
}

/** A position in a source file. */
export interface Location {
  readonly url: string
  /** 0-based, as in a profile. */
  readonly line: number
}

const base64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/** The segments of a source map's `mappings`, per generated line: [generated column, source, original line]. */
const decodeMappings = (mappings: string): Array<Array<readonly [number, number, number]>> => {
  const lines: Array<Array<readonly [number, number, number]>> = []
  let source = 0
  let originalLine = 0
  for (const text of mappings.split(";")) {
    const segments: Array<readonly [number, number, number]> = []
    let column = 0
    for (const segment of text.split(",")) {
      if (segment === "") continue
      const values: Array<number> = []
      let value = 0
      let shift = 0
      for (const char of segment) {
        const digit = base64.indexOf(char)
        value += (digit & 31) << shift
        if (digit & 32) {
          shift += 5
        } else {
          values.push(value & 1 ? -(value >>> 1) : value >>> 1)
          value = 0
          shift = 0
        }
      }
      column += values[0] ?? 0
      if (values.length >= 4) {
        source += values[1]
        originalLine += values[2]
        segments.push([column, source, originalLine])
      }
    }
    lines.push(segments)
  }
  return lines
}

/**
 * Maps positions in the bundled worker (`build/worker/*.js`, with esbuild's source maps) back to the TypeScript source,
 * so that a profile names effect-couch's files and lines.
 */
export const bundleLocator = () => {
  const maps = new Map<string, { readonly sources: ReadonlyArray<string>; readonly lines: ReturnType<typeof decodeMappings> } | null>()
  const mapOf = (url: string) => {
    let map = maps.get(url)
    if (map === undefined) {
      map = null
      try {
        const file = url.startsWith("file://") ? new URL(url).pathname : url
        const raw = JSON.parse(Fs.readFileSync(`${file}.map`, "utf8")) as { sources: Array<string>; mappings: string }
        map = { sources: raw.sources.map((source) => Path.resolve(Path.dirname(file), source)), lines: decodeMappings(raw.mappings) }
      } catch {
        // no source map
      }
      maps.set(url, map)
    }
    return map
  }
  return (url: string, line: number, column: number): Location => {
    if (!/\/build\/worker[^/]*\//.test(url)) return { url, line }
    const map = mapOf(url)
    const segments = map?.lines[line]
    if (map == null || segments === undefined || segments.length === 0) return { url, line }
    let found = segments[0]
    for (const segment of segments) {
      if (segment[0] > column) break
      found = segment
    }
    return { url: map.sources[found[1]] ?? url, line: found[2] }
  }
}

/** A coarser bucket: effect-couch, the parts of effect, platform, undici, node, V8. */
export const bucketOf = (url: string, functionName: string): string => {
  if (url === "") return /^\(.*\)$/.test(functionName) ? functionName : "V8/native (socket writes, JSON.parse, ...)"
  const module = moduleOf(url)
  if (module.startsWith("client/") || module.startsWith("testing/")) return "effect-couch (packages/client)"
  if (module.startsWith("bench/")) return "bench harness"
  if (module.startsWith("effect/")) {
    const file = module.slice("effect/".length)
    if (/ParseResult|SchemaAST|Schema\.js|schema\//.test(file)) return "effect: Schema (decode/encode)"
    if (/tracer|Tracer|metric/.test(file)) return "effect: tracing (spans)"
    if (/[sS]chedule/.test(file)) return "effect: Schedule"
    if (/stream|channel|sink|take|Chunk/.test(file)) return "effect: Stream/Channel/Chunk"
    return "effect: runtime (fibers, core, FiberRefs, Context)"
  }
  if (module.startsWith("@effect/platform-node/")) return "@effect/platform-node (undici client)"
  if (module.startsWith("@effect/platform/")) return "@effect/platform (HttpClient, request, headers, url)"
  if (module.startsWith("undici/")) return "undici"
  if (url.startsWith("node:")) return "node internals (streams, events, AbortController)"
  const pkg = module.match(/^((?:@[^/]+\/)?[^/]+)\//)
  return pkg === null ? module : pkg[1]
}

export interface Row {
  readonly name: string
  readonly where: string
  readonly selfMs: number
  readonly totalMs: number
}

export interface Summary {
  readonly totalMs: number
  readonly samples: number
  readonly bySelf: ReadonlyArray<Row>
  readonly byTotal: ReadonlyArray<Row>
  readonly byBucket: ReadonlyArray<{ readonly bucket: string; readonly selfMs: number }>
  readonly byModule: ReadonlyArray<{ readonly bucket: string; readonly selfMs: number }>
  readonly idleMs: number
}

export const summarize = (
  profile: CpuProfile,
  locate: (url: string, line: number, column: number) => Location = (url, line) => ({ url, line })
): Summary => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const locations = new Map(
    profile.nodes.map((node) => [node.id, locate(node.callFrame.url, node.callFrame.lineNumber, node.callFrame.columnNumber)])
  )
  const keyOf = (node: ProfileNode) => {
    const frame = node.callFrame
    const at = locations.get(node.id) ?? { url: frame.url, line: frame.lineNumber }
    return `${frame.functionName || "(anonymous)"}\u0000${moduleOf(at.url)}${at.url === "" ? "" : `:${at.line + 1}`}`
  }
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  const buckets = new Map<string, number>()
  const modules = new Map<string, number>()
  let idleMicros = 0
  let totalMicros = 0
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    totalMicros += delta
    const node = byId.get(id)
    if (node === undefined) return
    const key = keyOf(node)
    self.set(key, (self.get(key) ?? 0) + delta)
    const bucket = bucketOf(locations.get(node.id)?.url ?? node.callFrame.url, node.callFrame.functionName)
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + delta)
    const url = locations.get(node.id)?.url ?? node.callFrame.url
    const module = url === "" ? node.callFrame.functionName : moduleOf(url)
    modules.set(module, (modules.get(module) ?? 0) + delta)
    if (node.callFrame.functionName === "(idle)") idleMicros += delta
    const seen = new Set<string>()
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const ancestor = byId.get(current)
      if (ancestor === undefined) break
      const ancestorKey = keyOf(ancestor)
      if (seen.has(ancestorKey)) continue
      seen.add(ancestorKey)
      total.set(ancestorKey, (total.get(ancestorKey) ?? 0) + delta)
    }
  })
  const rows = [...new Set([...self.keys(), ...total.keys()])].map((key): Row => {
    const [name, where] = key.split("\u0000")
    return { name, where, selfMs: (self.get(key) ?? 0) / 1000, totalMs: (total.get(key) ?? 0) / 1000 }
  })
  return {
    totalMs: totalMicros / 1000,
    samples: profile.samples.length,
    bySelf: [...rows].sort((a, b) => b.selfMs - a.selfMs),
    byTotal: [...rows].sort((a, b) => b.totalMs - a.totalMs),
    byBucket: [...buckets].map(([bucket, micros]) => ({ bucket, selfMs: micros / 1000 })).sort((a, b) =>
      b.selfMs - a.selfMs
    ),
    byModule: [...modules].map(([bucket, micros]) => ({ bucket, selfMs: micros / 1000 })).sort((a, b) =>
      b.selfMs - a.selfMs
    ),
    idleMs: idleMicros / 1000
  }
}

const pct = (part: number, whole: number) => `${(100 * part / whole).toFixed(1)}%`

/** A Markdown report of a profile; `ops` divides times into per-operation costs. Shares are of the busy time. */
export const report = (title: string, summary: Summary, ops: number, top = 25): string => {
  const busy = summary.totalMs - summary.idleMs
  const perOp = (ms: number) => (ms * 1000 / ops).toFixed(1)
  const table = (rows: ReadonlyArray<{ readonly bucket: string; readonly selfMs: number }>) => [
    "| | self ms | share of busy | µs/op |",
    "| --- | ---: | ---: | ---: |",
    ...rows.filter((b) => b.bucket !== "(idle)").slice(0, top).map((b) =>
      `| ${b.bucket} | ${b.selfMs.toFixed(0)} | ${pct(b.selfMs, busy)} | ${perOp(b.selfMs)} |`
    )
  ]
  const lines = [
    `### ${title}`,
    "",
    `${summary.samples} samples over ${summary.totalMs.toFixed(0)} ms, ${ops} operations; busy (not idle) ${
      busy.toFixed(0)
    } ms: ${perOp(busy)} µs per operation (the profiler's own cost included).`,
    "",
    "Self time by part:",
    "",
    ...table(summary.byBucket),
    "",
    "Self time by file:",
    "",
    ...table(summary.byModule),
    "",
    `Top ${top} functions by self time:`,
    "",
    "| function | where | self ms | share of busy | total ms |",
    "| --- | --- | ---: | ---: | ---: |",
    ...summary.bySelf.filter((r) => r.name !== "(idle)").slice(0, top).map((r) =>
      `| ${r.name} | ${r.where} | ${r.selfMs.toFixed(0)} | ${pct(r.selfMs, busy)} | ${r.totalMs.toFixed(0)} |`
    ),
    "",
    `Top ${top} functions of effect-couch and @effect/platform by total (inclusive) time:`,
    "",
    "| function | where | total ms | share of busy | µs/op |",
    "| --- | --- | ---: | ---: | ---: |",
    ...summary.byTotal.filter((r) => /^(client|@effect\/platform)/.test(r.where)).slice(0, top).map((r) =>
      `| ${r.name} | ${r.where} | ${r.totalMs.toFixed(0)} | ${pct(r.totalMs, busy)} | ${perOp(r.totalMs)} |`
    ),
    ""
  ]
  return lines.join("\n")
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write("usage: tsx src/profile.ts <file.cpuprofile> [operations]\n")
    process.exit(2)
  }
  const profile: CpuProfile = JSON.parse(Fs.readFileSync(file, "utf8"))
  process.stdout.write(report(file, summarize(profile, bundleLocator()), Number(process.argv[3] ?? 1)))
}
