/**
 * `couch backup`: every document's winning revision, with its `_revisions`, in couchbackup's format, in
 * constant memory; resumable from its log.
 *
 * The ids come from one streamed `_all_docs` request (with `--include-deleted`, from one streamed `_changes`
 * request, whose deleted documents are asked for at their tombstone's revision), in batches; each batch is logged
 * (`:t`), read with `_bulk_get?revs=true` (`&attachments=true` with `--attachments`; several in flight), written to
 * the file as one line in order, and logged done (`:d` with the file's length). A resumed backup cuts the file
 * back to the last batch done, reads the batches logged but not done, then lists the ids after the last one logged
 * (or the changes after its sequence): the file is the same as an uninterrupted backup's.
 */
import type * as Database from "@effect-couch/client/Database"
import type * as Document from "@effect-couch/client/Document"
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
  /** Deleted documents too (their tombstones), listed from the changes feed. */
  readonly includeDeleted: boolean
  /** Attachments inline (base64), as couchbackup's `--attachments` writes them; else only their stubs. */
  readonly attachments: boolean
}

interface Batch {
  readonly batch: number
  readonly wanted: ReadonlyArray<BackupFile.Wanted>
}

interface Resumed {
  readonly nextBatch: number
  readonly offset: number
  readonly pending: ReadonlyArray<Batch>
  readonly lastId: string | undefined
  /** Listed from the changes feed: where the listing goes on. */
  readonly since: string | number | undefined
  readonly complete: boolean
}

const logProblem = (path: string, error: unknown) =>
  new RunError({ description: `${path}: ${error instanceof Error ? error.message : String(error)}` })

/** Reads a backup's log: what was done, what was listed and not done, where the listing stopped. */
const readLog = (
  log: string,
  headerLength: number,
  includeDeleted: boolean
): Effect.Effect<Resumed, UsageError | RunError> =>
  Effect.gen(function*() {
    const listed = new Map<number, ReadonlyArray<BackupFile.Wanted>>()
    const seqs = new Map<number, string | number>()
    const offsets = new Map<number, number | undefined>()
    let complete = false
    yield* Input.lines(log, false).pipe(Stream.runForEach((line) =>
      Effect.sync(() => {
        const entry = BackupFile.parseLogLine(line.text)
        switch (entry._tag) {
          case "Todo":
            listed.set(entry.batch, entry.wanted)
            break
          case "Seq":
            seqs.set(entry.batch, entry.seq)
            break
          case "Done":
            offsets.set(entry.batch, entry.offset)
            break
          case "Complete":
            complete = true
            break
        }
      })
    ))
    const fromChanges = seqs.size > 0
    if (listed.size > 0 && fromChanges !== includeDeleted) {
      return yield* new UsageError({
        description: `${log} is the log of a backup ${fromChanges ? "with" : "without"} --include-deleted: resume it ${
          fromChanges ? "with" : "without"
        } that option`
      })
    }
    // listed from the changes feed, a batch counts once its sequence is logged too
    const batches = [...listed.entries()].filter(([batch]) => !fromChanges || seqs.has(batch)).sort(([a], [b]) => a - b)
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
    const last = batches.at(-1)
    return {
      nextBatch: last === undefined ? 0 : last[0] + 1,
      offset,
      pending: batches.filter(([batch]) => batch > k).map(([batch, wanted]) => ({ batch, wanted })),
      lastId: last?.[1].at(-1)?.id,
      since: last === undefined ? undefined : seqs.get(last[0]),
      complete
    }
  })

/** Whether a document carries attachment stubs (metadata without the bodies). */
export const hasStubs = (doc: Record<string, unknown>): boolean => {
  const attachments = doc._attachments
  if (typeof attachments !== "object" || attachments === null) return false
  for (const name in attachments) {
    if ((attachments as Record<string, { readonly stub?: unknown }>)[name]?.stub === true) return true
  }
  return false
}

const newline = 10

const attachmentsKey = Buffer.from("\"_attachments\"")

/** Whether a document, as the server wrote it, may carry attachment stubs: it names `_attachments`. */
const mayHaveStubs = (doc: Buffer): boolean => doc.indexOf(attachmentsKey) >= 0

/**
 * A batch's line of the backup file from its documents as the server wrote them (`bulkGetRaw`: neither parsed nor
 * written again): couchbackup's JSON array of them, or one per line. A document written over several lines (a
 * server that lays its JSON out) is written again on one.
 */
const rawLine = (docs: ReadonlyArray<Buffer>, format: BackupOptions["format"]): Buffer => {
  const parts: Array<Uint8Array> = []
  const separator = Buffer.from(format === "couchbackup" ? "," : "\n")
  if (format === "couchbackup") parts.push(Buffer.from("["))
  docs.forEach((doc, i) => {
    if (i > 0) parts.push(separator)
    parts.push(doc.indexOf(newline) < 0 ? doc : Buffer.from(JSON.stringify(JSON.parse(doc.toString("utf8")))))
  })
  parts.push(Buffer.from(format === "couchbackup" ? "]\n" : docs.length === 0 ? "" : "\n"))
  return Buffer.concat(parts)
}

/** The bytes of a document as a `Buffer` over the same memory (a transport's answer is one already). */
const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/**
 * The documents with their attachments' bodies: a server whose `_bulk_get` leaves `attachments=true` aside (the
 * embedded test server, PouchDB's) answers stubs, and those documents are read one by one (`GET ?attachments=true`).
 */
const withAttachments = (db: Database.Database, docs: ReadonlyArray<Document.Document>) =>
  docs.some(hasStubs) ?
    Effect.forEach(
      docs,
      (doc) => hasStubs(doc) ? db.get(doc._id, { rev: doc._rev, revs: true, attachments: true }) : Effect.succeed(doc),
      { concurrency: 4 }
    ) :
    Effect.succeed(docs)

/** What a backup did: the documents written, and how many of them have attachments only as stubs. */
export interface BackupSummary {
  readonly written: number
  readonly withStubs: number
}

/** Runs a backup of `db`. */
export const backup = (
  db: Database.Database,
  options: BackupOptions,
  reporting: Output.Reporting
): Effect.Effect<BackupSummary, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const header = options.format === "couchbackup" ?
      JSON.stringify(BackupFile.metadata(options.attachments)) + "\n" :
      ""
    const headerLength = Buffer.byteLength(header)
    const logPath = options.log ?? (options.file === undefined || options.gzip ? undefined : `${options.file}.log`)
    if (options.resume) {
      if (options.file === undefined) return yield* new UsageError({ description: "--resume needs a file" })
      if (options.gzip) return yield* new UsageError({ description: "--resume cannot continue a --gzip backup" })
      if (!Fs.existsSync(logPath!)) {
        return yield* new UsageError({ description: `nothing to resume: no log ${logPath} (it is removed once a backup completes)` })
      }
      yield* Input.checkReadable(options.file)
      if (header !== "") {
        const head = yield* Effect.try({
          try: () => {
            const fd = Fs.openSync(options.file!, "r")
            try {
              const bytes = Buffer.alloc(headerLength)
              return bytes.subarray(0, Fs.readSync(fd, bytes, 0, headerLength, 0)).toString("utf8")
            } finally {
              Fs.closeSync(fd)
            }
          },
          catch: (e) => logProblem(options.file!, e)
        })
        if (head !== header) {
          return yield* new UsageError({
            description: `${options.file} was not begun with these options (its first line: ${
              head.split("\n")[0]
            }): resume with the same --attachments and --format`
          })
        }
      }
    }
    const resumed: Resumed = options.resume ?
      yield* readLog(logPath!, headerLength, options.includeDeleted) :
      { nextBatch: 0, offset: headerLength, pending: [], lastId: undefined, since: undefined, complete: false }
    const info = yield* db.info
    const progress = yield* Output.progress(
      reporting,
      "backup",
      info.docCount + (options.includeDeleted ? info.docDelCount ?? 0 : 0)
    )

    // the file: a file descriptor written synchronously (its lines reach the OS before the log says done), or a
    // stream for gzip and stdout
    let offset = resumed.offset
    let writeLine: (line: Uint8Array) => Effect.Effect<void, RunError>
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
      writeLine = (line) => Effect.try({ try: () => void Fs.writeSync(fd, line), catch: (e) => logProblem(path, e) })
      finish = Effect.try({ try: () => Fs.fsyncSync(fd), catch: (e) => logProblem(path, e) })
    } else {
      const sink = yield* Output.open({ path: options.file, gzip: options.gzip })
      writeLine = sink.write
      finish = sink.end
    }
    if (!options.resume) yield* writeLine(Buffer.from(header))

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
    const logged = (wanted: ReadonlyArray<BackupFile.Wanted>, seq?: string | number) => {
      const batch: Batch = { batch: nextBatch++, wanted }
      return Effect.as(log(BackupFile.todo(batch.batch, batch.wanted, seq)), batch)
    }
    const listing: Stream.Stream<Batch, unknown> = options.includeDeleted ?
      db.changes({ oneRequest: true, ...(resumed.since === undefined ? {} : { since: resumed.since }) }).pipe(
        Stream.filterMap((event) => (event._tag === "Change" ? Option.some(event) : Option.none())),
        Stream.grouped(options.batchSize),
        Stream.mapEffect((chunk) => {
          const changes = Chunk.toReadonlyArray(chunk)
          return logged(
            changes.map((change) =>
              change.deleted && change.changes[0] !== undefined ? { id: change.id, rev: change.changes[0].rev } : {
                id: change.id
              }
            ),
            changes.at(-1)!.seq
          )
        })
      ) :
      db.allDocs({
        oneRequest: true,
        ...(resumed.lastId === undefined ? {} : { startkey: resumed.lastId })
      }).pipe(
        Stream.filterMap((row) => "value" in row && row.id !== resumed.lastId ? Option.some({ id: row.id }) : Option.none()),
        Stream.grouped(options.batchSize),
        Stream.mapEffect((wanted) => logged(Chunk.toReadonlyArray(wanted)))
      )
    const listed = resumed.complete ?
      Stream.empty :
      Stream.concat(listing, Stream.fromEffect(log(BackupFile.complete)).pipe(Stream.drain))
    let written = 0
    let withStubs = 0
    yield* Stream.fromIterable(resumed.pending).pipe(
      Stream.concat(listed),
      Stream.mapEffect(({ batch, wanted }) =>
        options.attachments ?
          db.bulkGet(wanted, { revs: true, attachments: true }).pipe(
            Effect.map((results) =>
              results.flatMap((result) => result.docs.flatMap((doc) => (doc._tag === "Right" ? [doc.right] : [])))
            ),
            Effect.flatMap((docs) => withAttachments(db, docs)),
            Effect.map((docs) => {
              const text = options.format === "couchbackup" ?
                JSON.stringify(docs) + "\n" :
                docs.map((doc) => JSON.stringify(doc) + "\n").join("")
              return { batch, line: Buffer.from(text), count: docs.length, stubs: 0 }
            })
          ) :
          // the documents as the server wrote them: a backup hands them on untouched
          db.bulkGetRaw(wanted, { revs: true }).pipe(
            Effect.map((results) => {
              const docs: Array<Buffer> = []
              let stubs = 0
              for (const result of results) {
                for (const entry of result.docs) {
                  if (entry._tag === "Left") continue
                  const doc = asBuffer(entry.right)
                  if (mayHaveStubs(doc) && hasStubs(JSON.parse(doc.toString("utf8")))) stubs++
                  docs.push(doc)
                }
              }
              return { batch, line: rawLine(docs, options.format), count: docs.length, stubs }
            })
          ), { concurrency: options.concurrency }),
      Stream.runForEach(({ batch, count, line, stubs }) =>
        Effect.gen(function*() {
          yield* writeLine(line)
          offset += line.length
          yield* log(BackupFile.done(batch, offset))
          written += count
          withStubs += stubs
          yield* progress.add(count)
        })
      )
    )
    yield* finish
    if (logPath !== undefined) yield* Effect.sync(() => Fs.rmSync(logPath, { force: true }))
    return { written, withStubs }
  }))
