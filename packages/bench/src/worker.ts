/**
 * One client process: runs one workload with one client against a server and prints its measurement as one
 * `BENCH_RESULT {...}` line. Started by `main.ts` with the spec as JSON in argv[2]; never run by tests.
 *
 * `main.ts` bundles this file with esbuild (the libraries stay external) and runs the bundle with plain `node`, so
 * that no TypeScript loader adds to the client's memory or CPU. Each client is driven the way its users drive it
 * (`drivers/`): effect-couch as one Effect (a loop, `Effect.forEach` with a concurrency, a Stream), the others
 * with promises. Every client checks what it reads (the document's `_id`, the number of rows, changes or written
 * documents), so that nothing measured is skipped work.
 */
import * as Fs from "node:fs"
import * as Inspector from "node:inspector/promises"
import { check, type Driver, type MakeDriver, mib } from "./drivers/common.js"
import { type Result, resultMarker, type Spec } from "./shared.js"

const spec: Spec = JSON.parse(process.argv[2] ?? "null")
if (spec === null) {
  process.stderr.write("worker.ts is started by main.ts (pnpm bench)\n")
  process.exit(2)
}

/** Only the driver measured is loaded (its library with it). */
const drivers: Record<Spec["contender"]["client"], () => Promise<{ readonly make: MakeDriver }>> = {
  "effect-couch": () => import("./drivers/effect-couch.js"),
  nano: () => import("./drivers/nano.js"),
  undici: () => import("./drivers/undici.js"),
  fetch: () => import("./drivers/fetch.js"),
  "effect-platform": () => import("./drivers/effect-platform.js"),
  "effect-undici": () => import("./drivers/effect-undici.js")
}

// -- measurement -----------------------------------------------------------------------------------------------

let peakRss = 0
let peakHeap = 0
const sample = () => {
  const { heapUsed, rss } = process.memoryUsage()
  if (rss > peakRss) peakRss = rss
  if (heapUsed > peakHeap) peakHeap = heapUsed
}
/** RSS once the client is loaded and its session made, before any warm-up. */
let loadedRss = 0

/** Profiles the measurement alone (not the start-up, not the warm-up) when the spec asks for a profile. */
const profiled = async <A>(body: () => Promise<A>): Promise<A> => {
  if (spec.profile === undefined) return body()
  const session = new Inspector.Session()
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.setSamplingInterval", { interval: 100 })
  await session.post("Profiler.start")
  const result = await body()
  const { profile } = await session.post("Profiler.stop")
  Fs.writeFileSync(spec.profile, JSON.stringify(profile))
  session.disconnect()
  return result
}

const measure = async (
  ops: number,
  body: () => Promise<Record<string, number> | void>
): Promise<Result> => profiled(() => measureNow(ops, body))

/** Clock ticks per second of `/proc`'s CPU times (Linux's `USER_HZ`, 100 on every architecture Node runs on). */
const ticksPerSecond = 100

/**
 * The CPU time of the process's main thread and of all its other threads (V8's GC and compiler helpers, libuv's
 * pool), in µs, from `/proc/self/task` (Linux); `undefined` elsewhere. It tells work moved off the main thread
 * (parallel scavenges, concurrent marking) from the main thread's own.
 */
const threadCpu = (): { readonly main: number; readonly others: number } | undefined => {
  try {
    let main = 0
    let others = 0
    for (const task of Fs.readdirSync("/proc/self/task")) {
      const stat = Fs.readFileSync(`/proc/self/task/${task}/stat`, "utf8")
      // the fields after the command (which may hold spaces), from the state on: utime and stime are the 12th and 13th
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      const micros = (Number(fields[11]) + Number(fields[12])) * (1_000_000 / ticksPerSecond)
      if (Number(task) === process.pid) main += micros
      else others += micros
    }
    return { main, others }
  } catch {
    return undefined
  }
}

/**
 * Waits until V8's helper threads are idle (their CPU unchanged over 30 ms; at most 2 s): the sweeping that a forced
 * collection leaves to them, and compilations the warm-up queued, are the harness's and the warm-up's work, which a
 * short measurement (1,000 GETs on a real server) would otherwise count, more of it for a larger heap.
 */
const quiet = async () => {
  const deadline = performance.now() + 2000
  let before = threadCpu()
  while (before !== undefined && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 30))
    const now = threadCpu()
    if (now === undefined || now.others === before.others) return
    before = now
  }
}

const measureNow = async (
  ops: number,
  body: () => Promise<Record<string, number> | void>
): Promise<Result> => {
  global.gc?.()
  await quiet()
  const baseRss = process.memoryUsage.rss()
  peakRss = baseRss
  peakHeap = process.memoryUsage().heapUsed
  const sampler = setInterval(sample, 20)
  const threads = threadCpu()
  const cpu = process.cpuUsage()
  const start = performance.now()
  const measured = await body()
  const wallMs = performance.now() - start
  const used = process.cpuUsage(cpu)
  const threadsAfter = threadCpu()
  // a thread that ended during the measurement is not counted: the split is read beside the process's total
  const split = threads === undefined || threadsAfter === undefined ? undefined : {
    mainThreadCpuMicros: threadsAfter.main - threads.main,
    otherThreadsCpuMicros: threadsAfter.others - threads.others
  }
  const extra = measured === undefined && split === undefined ? undefined : { ...measured, ...split }
  clearInterval(sampler)
  sample()
  return {
    label: spec.contender.label,
    ops,
    wallMs,
    cpuUserMicros: used.user,
    cpuSystemMicros: used.system,
    peakRssBytes: peakRss,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    baseRssBytes: baseRss,
    loadedRssBytes: loadedRss,
    peakHeapUsedBytes: peakHeap,
    extra
  }
}

/** Requests in flight in a burst, and how many bursts. */
const burstSize = 1000
const bursts = 5

/** The heap in use once garbage is collected (twice: finalizers of the first collection free more). */
const settledHeap = () => {
  global.gc?.()
  global.gc?.()
  return process.memoryUsage().heapUsed
}

/**
 * After the measurement: bursts of 1,000 GETs in flight on the same client, then whether the heap returns to
 * where it was before them, and stays there after as many bursts again (nothing retained per request).
 */
const burst = async (driver: Driver): Promise<Record<string, number>> => {
  const before = settledHeap()
  let peak = before
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed)
  }, 5)
  for (let i = 0; i < bursts; i++) await driver.getDocsConcurrent(burstSize, burstSize)
  const after = settledHeap()
  // the same again: what the first bursts left (open connections of the pool) is there once, not per burst
  for (let i = 0; i < bursts; i++) await driver.getDocsConcurrent(burstSize, burstSize)
  clearInterval(sampler)
  const again = settledHeap()
  return {
    heapBeforeBurstMiB: before / mib,
    heapPeakBurstMiB: peak / mib,
    heapAfterBurstMiB: after / mib,
    heapAfterMoreBurstsMiB: again / mib
  }
}

const run = async (driver: Driver): Promise<Result> => {
  switch (spec.workload) {
    case "get-doc": {
      await driver.getDocs(spec.warmup)
      return measure(spec.count, () => driver.getDocs(spec.count))
    }
    case "get-doc-concurrent": {
      await driver.getDocsConcurrent(spec.warmup, spec.concurrency)
      const result = await measure(spec.count, () => driver.getDocsConcurrent(spec.count, spec.concurrency))
      return spec.burst ? { ...result, extra: await burst(driver) } : result
    }
    case "bulk-insert": {
      // warm up with documents of their own ids, in the same database
      check("warm-up documents written", await driver.bulkInsert("warmup", 0, spec.warmup), spec.warmup)
      return measure(spec.count, async () => {
        check("documents written", await driver.bulkInsert("doc", 0, spec.count), spec.count)
      })
    }
    case "changes-read": {
      await driver.changes(spec.warmup)
      return measure(spec.count, async () => {
        check("changes read", await driver.changes(undefined), spec.count)
      })
    }
    case "all-docs-read": {
      await driver.allDocs(spec.warmup)
      return measure(spec.count, async () => {
        check("rows read", await driver.allDocs(undefined), spec.count)
      })
    }
    case "attachment": {
      const attachments = driver.attachments
      if (attachments === undefined) throw new Error("skip: this client has no attachments")
      await attachments.put("warmup", 1)
      check("warm-up attachment length", await attachments.get("warmup"), mib)
      let putMs = 0
      let getMs = 0
      // ops: MiB moved, up and down
      return measure(spec.count * spec.attachmentMiB * 2, async () => {
        for (let i = 0; i < spec.count; i++) {
          const docId = `attachment-${i}`
          const t0 = performance.now()
          await attachments.put(docId, spec.attachmentMiB)
          const t1 = performance.now()
          check("attachment length", await attachments.get(docId), spec.attachmentMiB * mib)
          putMs += t1 - t0
          getMs += performance.now() - t1
        }
        return { putMs, getMs }
      })
    }
  }
}

const main = async () => {
  const { make } = await drivers[spec.contender.client]()
  const driver = await make(spec)
  global.gc?.()
  loadedRss = process.memoryUsage.rss()
  const result = await run(driver)
  await driver.close()
  process.stdout.write(`${resultMarker}${JSON.stringify(result)}\n`)
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${spec.contender.label} ${spec.workload}: ${error instanceof Error ? error.stack : String(error)}\n`)
    process.exit(1)
  }
)
