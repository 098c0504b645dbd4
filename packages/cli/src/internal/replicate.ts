/**
 * `couch replicate`: a replication through `_replicate`, its progress read from the scheduler
 * (`/_scheduler/jobs`: docs read, written, failed, changes pending), cancelled when the command is interrupted.
 */
import type * as CouchSession from "@effect-couch/client/CouchSession"
import type * as Replication from "@effect-couch/client/Replication"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Json from "./json.js"
import * as Output from "./output.js"

/** The options of `couch replicate` that are the replication's own. */
export interface ReplicateOptions {
  readonly credentials?: Replication.Credentials | undefined
  readonly createTarget?: boolean | undefined
  readonly selector?: Record<string, unknown> | undefined
}

/** An endpoint's URL as the scheduler shows it: no credentials, no trailing slash. */
const bare = (url: string): string => {
  try {
    const parsed = new URL(url)
    parsed.username = ""
    parsed.password = ""
    return decodeURIComponent(parsed.toString().replace(/\/+$/, ""))
  } catch {
    return url.replace(/\/+$/, "")
  }
}

/** Whether the scheduler's endpoint `shown` is `given` (a database name of this server, or a URL). */
const sameEndpoint = (shown: string | undefined, given: string): boolean => {
  if (shown === undefined) return false
  const url = bare(shown)
  return /^https?:\/\//.test(given) ? url === bare(given) : url.endsWith(`/${given}`)
}

/** The job of a replication: by its id (continuous), or the one-shot `_replicate` job from source to target. */
const findJob = (
  couch: CouchSession.Service,
  match: { readonly id: string } | { readonly source: string; readonly target: string }
): Effect.Effect<Replication.SchedulerJob | undefined, Replication.SchedulerError> =>
  Effect.map(couch.scheduler.jobs(), ({ jobs }) =>
    jobs.find((job) =>
      "id" in match ?
        job.id === match.id :
        (job.docId ?? null) === null && !job.id.includes("+continuous") && sameEndpoint(job.source, match.source) &&
        sameEndpoint(job.target, match.target)
    ))

/**
 * Polls the scheduler for the job and sets the progress from it: done = documents read, total = read +
 * changes pending. A server without a scheduler (404) gives no progress. Remembers the job's id.
 */
const watch = (
  couch: CouchSession.Service,
  match: Parameters<typeof findJob>[1],
  progress: Output.Progress,
  seen: { id: string | undefined; info: Replication.ReplicationInfo | undefined },
  period: Duration.DurationInput
) =>
  findJob(couch, match).pipe(
    Effect.flatMap((job) => {
      if (job === undefined) return Effect.void
      seen.id = job.id
      const info = job.info ?? undefined
      if (info === undefined) return Effect.void
      seen.info = info
      const read = info.docsRead ?? 0
      const pending = info.changesPending ?? undefined
      return progress.set(read, pending === undefined ? undefined : read + pending)
    }),
    Effect.repeat(Schedule.spaced(period)),
    // no scheduler (PouchDB Server, CouchDB before 2.1), or it failed: the replication goes on without progress
    Effect.ignore
  )

const detail = (seen: { readonly info: Replication.ReplicationInfo | undefined }) => () =>
  seen.info === undefined ? undefined : {
    text: `written ${seen.info.docsWritten ?? 0}, failed ${seen.info.docWriteFailures ?? 0}, pending ${
      seen.info.changesPending ?? "?"
    }`,
    fields: {
      docsRead: seen.info.docsRead,
      docsWritten: seen.info.docsWritten,
      docWriteFailures: seen.info.docWriteFailures,
      changesPending: seen.info.changesPending
    }
  }

const cancel = (couch: CouchSession.Service, id: string, reporting: Output.Reporting) =>
  couch.cancelReplication(id).pipe(
    Effect.matchEffect({
      onSuccess: () => Output.warn(reporting, `replicate interrupted: replication ${id} cancelled`, { cancelled: id }),
      onFailure: (error) =>
        Output.warn(reporting, `replicate interrupted: cancelling replication ${id} failed: ${error.message}`, {
          cancelled: id,
          error: error.message
        })
    })
  )

const pollPeriod = (reporting: Output.Reporting) =>
  process.stderr.isTTY === true && !reporting.json ? Duration.seconds(1) : Duration.seconds(5)

/**
 * A one-shot replication: waits for it (without a timeout: it takes what it takes), prints the server's answer;
 * progress from the scheduler meanwhile. Interrupted, it cancels the job.
 */
export const oneShot = (
  couch: CouchSession.Service,
  source: string,
  target: string,
  options: ReplicateOptions,
  reporting: Output.Reporting
) =>
  Effect.scoped(Effect.gen(function*() {
    const seen: { id: string | undefined; info: Replication.ReplicationInfo | undefined } = {
      id: undefined,
      info: undefined
    }
    const progress = yield* Output.progress(reporting, "replicate", undefined, detail(seen))
    const period = pollPeriod(reporting)
    const watcher = yield* Effect.fork(Effect.delay(watch(couch, { source, target }, progress, seen, period), "500 millis"))
    const started = Date.now()
    const result = yield* couch.replicate(source, target, { ...options, timeout: Duration.infinity }).pipe(
      Effect.onInterrupt(() =>
        Effect.gen(function*() {
          yield* Fiber.interrupt(watcher)
          const id = seen.id ?? (yield* Effect.map(Effect.option(findJob(couch, { source, target })), (job) =>
            job._tag === "Some" ? job.value?.id : undefined))
          if (id !== undefined) yield* cancel(couch, id, reporting)
        })
      )
    )
    yield* Fiber.interrupt(watcher)
    yield* Json.print(result)
    const last = result.history[0]
    yield* Output.report(
      reporting,
      `replicate: ${last?.docsWritten ?? result.docsWritten ?? 0} documents written, ${
        last?.docWriteFailures ?? result.docWriteFailures ?? 0
      } failed, in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      {
        done: "replicate",
        docsRead: last?.docsRead ?? result.docsRead,
        docsWritten: last?.docsWritten ?? result.docsWritten,
        docWriteFailures: last?.docWriteFailures ?? result.docWriteFailures,
        ms: Date.now() - started
      }
    )
  }))

/**
 * A continuous replication: started, its id printed (`{"ok":true,"id":...}`); with `detach` that is all,
 * else its progress is watched until the command is interrupted, which cancels it.
 */
export const continuous = (
  couch: CouchSession.Service,
  source: string,
  target: string,
  options: ReplicateOptions,
  reporting: Output.Reporting,
  detach: boolean
) =>
  Effect.scoped(Effect.gen(function*() {
    const started = yield* couch.replicate(source, target, { ...options, continuous: true })
    yield* Json.printLine({ ok: started.ok, id: started.localId })
    const id = started.localId
    if (detach) return
    const seen: { id: string | undefined; info: Replication.ReplicationInfo | undefined } = { id, info: undefined }
    const progress = yield* Output.progress(reporting, "replicate", undefined, detail(seen))
    const period = pollPeriod(reporting)
    const watching = id === undefined ?
      Effect.never :
      Effect.zipRight(watch(couch, { id }, progress, seen, period), Effect.never)
    yield* watching.pipe(Effect.onInterrupt(() => (id === undefined ? Effect.void : cancel(couch, id, reporting))))
  }))
