/**
 * `couch backup`: every document's winning revision, with its `_revisions`, in couchbackup's format, in
 * constant memory; resumable from its log.
 *
 * The ids come from one streamed `_all_docs` request, in batches; each batch is logged (`:t`), read with
 * `_bulk_get?revs=true` (several in flight), written to the file as one line in order, and logged done (`:d` with
 * the file's length). A resumed backup cuts the file back to the last batch done, reads the batches logged but
 * not done, then lists the ids after the last one logged: the file is the same as an uninterrupted backup's.
 */
import type * as Database from "@effect-couch/client/Database"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as BackupFile from "./backupFile.js"
import { RunError, UsageError } from "./errors.js"
import * as Input from "./input.js"
import * as Output from "./output.js"

/** The options of a backup. */
export interface BackupOptions {
  readonly file: string | undefined
  readonly gzip: boolean
  readonly resume: boolean
  readonly log: string | undefined
  readonly format: "couchbackup" | "ndjson"
  readonly batchSize: number
  readonly concurrency: number
}

interface Resumed {
  readonly nextBatch: number
  readonly offset: number
  readonly pending: ReadonlyArray<{ readonly batch: number; readonly ids: ReadonlyArray<string> }>
  readonly lastId: string | undefined
  readonly complete: boolean
  readonly written: number
}

const logProblem = (path: string, error: unknown) =>
  new RunError({ description: `${path}: ${error instanceof Error ? error.message : String(error)}` })

/** Reads a backup's log: what was done, what was listed and not done, where the listing stopped. */
const readLog = (log: string, headerLength: number): Effect.Effect<Resumed, UsageError | RunError> =>
  Effect.gen(function*() {
    const pending = new Map<number, ReadonlyArray<string>>()
    const offsets = new Map<number, number | undefined>()
    let lastBatch = -1
    let lastId: string | undefined
    let complete = false
    yield* Input.lines(log, false).pipe(Stream.runForEach((line) =>
      Effect.sync(() => {
        const entry = BackupFile.parseLogLine(line.text)
        switch (entry._tag) {
          case "Todo":
            pending.set(entry.batch, entry.ids)
            if (entry.batch > lastBatch) {
              lastBatch = entry.batch
              lastId = entry.ids.at(-1) ?? lastId
            }
            break
          case "Done":
            pending.delete(entry.batch)
            offsets.set(entry.batch, entry.offset)
            break
          case "Complete":
            complete = true
            break
        }
      })
    ))
    // batches are written in order: the done ones are 0..k
    let k = -1
    while (offsets.has(k + 1)) k++
    const offset = k < 0 ? headerLength : offsets.get(k)
    if (offset === undefined) {
      return yield* new UsageError({ description: `${log} is a couchbackup log: resume it with couchbackup` })
    }
    for (const batch of offsets.keys()) {
      if (batch > k) return yield* new RunError({ description: `${log}: batch ${batch} done before batch ${k + 1}` })
    }
    const rest = [...pending.entries()].filter(([batch]) => batch > k).sort(([a], [b]) => a - b)
    return {
      nextBatch: lastBatch + 1,
      offset,
      pending: rest.map(([batch, ids]) => ({ batch, ids })),
      lastId,
      complete,
      written: 0
    }
  })

/** Runs a backup of `db`. Returns the number of documents written. */
export const backup = (
  db: Database.Database,
  options: BackupOptions,
  reporting: Output.Reporting
): Effect.Effect<number, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const header = options.format === "couchbackup" ? JSON.stringify(BackupFile.metadata) + "\n" : ""
    const headerLength = Buffer.byteLength(header)
    const logPath = options.log ?? (options.file === undefined || options.gzip ? undefined : `${options.file}.log`)
    if (options.resume) {
      if (options.file === undefined) return yield* new UsageError({ description: "--resume needs a file" })
      if (options.gzip) return yield* new UsageError({ description: "--resume cannot continue a --gzip backup" })
      if (!Fs.existsSync(logPath!)) {
        return yield* new UsageError({ description: `nothing to resume: no log ${logPath} (it is removed once a backup completes)` })
      }
      yield* Input.checkReadable(options.file)
    }
    const resumed: Resumed = options.resume ?
      yield* readLog(logPath!, headerLength) :
      { nextBatch: 0, offset: headerLength, pending: [], lastId: undefined, complete: false, written: 0 }
    const info = yield* db.info
    const progress = yield* Output.progress(reporting, "backup", info.docCount)

    // the file: a file descriptor written synchronously (its lines reach the OS before the log says done), or a
    // stream for gzip and stdout
    let offset = resumed.offset
    let writeLine: (text: string) => Effect.Effect<void, RunError>
    let finish: Effect.Effect<void, RunError>
    if (options.file !== undefined && !options.gzip) {
      const path = options.file
      if (options.resume) {
        const size = Fs.statSync(path).size
        if (size < offset) {
          return yield* new RunError({ description: `${path} is shorter than its log says: not the file of ${logPath}` })
        }
        yield* Effect.try({ try: () => Fs.truncateSync(path, offset), catch: (e) => logProblem(path, e) })
      }
      const fd = yield* Effect.acquireRelease(
        Effect.try({ try: () => Fs.openSync(path, options.resume ? "a" : "w"), catch: (e) => logProblem(path, e) }),
        (fd) => Effect.sync(() => Fs.closeSync(fd))
      )
      writeLine = (text) => Effect.try({ try: () => void Fs.writeSync(fd, text), catch: (e) => logProblem(path, e) })
      finish = Effect.try({ try: () => Fs.fsyncSync(fd), catch: (e) => logProblem(path, e) })
    } else {
      const sink = yield* Output.open({ path: options.file, gzip: options.gzip })
      writeLine = sink.write
      finish = sink.end
    }
    if (!options.resume) yield* writeLine(header)

    const logFd = logPath === undefined ? undefined : yield* Effect.acquireRelease(
      Effect.try({ try: () => Fs.openSync(logPath, options.resume ? "a" : "w"), catch: (e) => logProblem(logPath, e) }),
      (fd) => Effect.sync(() => Fs.closeSync(fd))
    )
    const log = (text: string) =>
      logFd === undefined ?
        Effect.void :
        Effect.try({ try: () => void Fs.writeSync(logFd, text), catch: (e) => logProblem(logPath!, e) })

    // the batches: those logged but not done, then the ids after the last one logged
    let nextBatch = resumed.nextBatch
    const listed: Stream.Stream<{ readonly batch: number; readonly ids: ReadonlyArray<string> }, unknown> =
      resumed.complete ? Stream.empty : db.allDocs({
        oneRequest: true,
        ...(resumed.lastId === undefined ? {} : { startkey: resumed.lastId })
      }).pipe(
        Stream.filterMap((row) => "value" in row && row.id !== resumed.lastId ? Option.some(row.id) : Option.none()),
        Stream.grouped(options.batchSize),
        Stream.mapEffect((ids) => {
          const batch = { batch: nextBatch++, ids: Chunk.toReadonlyArray(ids) }
          return Effect.as(log(BackupFile.todo(batch.batch, batch.ids)), batch)
        }),
        Stream.concat(Stream.fromEffect(log(BackupFile.complete)).pipe(Stream.drain))
      )
    let written = 0
    yield* Stream.fromIterable(resumed.pending).pipe(
      Stream.concat(listed),
      Stream.mapEffect(({ batch, ids }) =>
        Effect.map(
          db.bulkGet(ids.map((id) => ({ id })), { revs: true }),
          (results) => ({
            batch,
            docs: results.flatMap((result) => result.docs.flatMap((doc) => (doc._tag === "Right" ? [doc.right] : [])))
          })
        ), { concurrency: options.concurrency }),
      Stream.runForEach(({ batch, docs }) =>
        Effect.gen(function*() {
          const text = options.format === "couchbackup" ?
            JSON.stringify(docs) + "\n" :
            docs.map((doc) => JSON.stringify(doc) + "\n").join("")
          yield* writeLine(text)
          offset += Buffer.byteLength(text)
          yield* log(BackupFile.done(batch, offset))
          written += docs.length
          yield* progress.add(docs.length)
        })
      )
    )
    yield* finish
    if (logPath !== undefined) yield* Effect.sync(() => Fs.rmSync(logPath, { force: true }))
    return written
  }))
