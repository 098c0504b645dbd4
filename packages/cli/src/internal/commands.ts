/**
 * The `couch` commands: their arguments and options, and what each runs.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Prompt from "@effect/cli/Prompt"
import * as CouchSession from "@effect-couch/client/CouchSession"
import type * as Database from "@effect-couch/client/Database"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Backup from "./backup.js"
import * as BackupFile from "./backupFile.js"
import * as Checkpoint from "./checkpoint.js"
import { type Connection, connectionOptions, reporting, sessionLayer } from "./connection.js"
import { RunError, UsageError } from "./errors.js"
import * as Input from "./input.js"
import * as Json from "./json.js"
import * as Output from "./output.js"
import * as Replicate from "./replicate.js"
import * as Restore from "./restore.js"
import * as Transfer from "./transfer.js"
import * as Transform from "./transform.js"

/**
 * Runs `body` with the session the options describe. A user without a password, on a terminal, is asked for one
 * (typed without echo: nothing is shown).
 */
const withSession = <A, E>(
  connection: Connection,
  body: (couch: CouchSession.Service) => Effect.Effect<A, E, never>
) =>
  Effect.gen(function*() {
    const ask = Option.isSome(connection.user) && Option.isNone(connection.password) && process.stdin.isTTY === true &&
      process.stderr.isTTY === true
    const password = ask ?
      Option.some(yield* Prompt.hidden({ message: `password for ${Option.getOrElse(connection.user, () => "")}` })) :
      connection.password
    return yield* Effect.flatMap(CouchSession.CouchSession, body).pipe(
      Effect.provide(sessionLayer({ ...connection, password }))
    )
  })

const dbArg = Args.text({ name: "db" }).pipe(Args.withDescription("the database's name"))

/** The optional file argument of the commands that read or write one (stdin or stdout without it). */
const fileArg = (description: string) => Args.path({ name: "file" }).pipe(Args.withDescription(description), Args.optional)

/** `--gzip` of the commands that write: the output is gzipped. */
const gzipOutput = Options.boolean("gzip").pipe(Options.withDescription("gzip the output"))

/** `--gzip` of the commands that read: what they read is gzipped (a gzipped file is detected without it). */
const gzipInput = (description: string) => Options.boolean("gzip").pipe(Options.withDescription(description))

/** `--create` of the commands that write into a database. */
const createOption = Options.boolean("create").pipe(Options.withDescription("create the database if it is missing"))

const batchSize = Options.integer("batch-size").pipe(
  Options.withDescription("documents per request"),
  Options.withDefault(500)
)
const concurrency = Options.integer("concurrency").pipe(
  Options.withDescription("requests in flight at once"),
  Options.withDefault(5)
)

const positive = (value: number, name: string): Effect.Effect<number, UsageError> =>
  Number.isInteger(value) && value > 0 ?
    Effect.succeed(value) :
    Effect.fail(new UsageError({ description: `--${name} must be a positive integer` }))

/** A database that must exist: a missing one is a one-line error that says so. */
const existing = (couch: CouchSession.Service, name: string, hint = "") =>
  couch.database(name).pipe(
    Effect.catchTag("NotFoundError", () => new RunError({ description: `database ${name} does not exist${hint}` }))
  )

const openDatabase = (couch: CouchSession.Service, name: string, create: boolean) =>
  create ? couch.create(name, { existsOk: true }) : existing(couch, name, " (--create creates it)")

/** What restore and import share: the input file checked, the batch options, the database (created if asked). */
const writeSetup = (
  couch: CouchSession.Service,
  config: {
    readonly file: Option.Option<string>
    readonly batchSize: number
    readonly concurrency: number
    readonly db: string
    readonly create: boolean
  }
) =>
  Effect.gen(function*() {
    const file = Option.getOrUndefined(config.file)
    if (file !== undefined) yield* Input.checkReadable(file)
    const writeOptions: Restore.WriteOptions = {
      batchSize: yield* positive(config.batchSize, "batch-size"),
      concurrency: yield* positive(config.concurrency, "concurrency")
    }
    const db: Database.Database = yield* openDatabase(couch, config.db, config.create)
    return { file, writeOptions, db }
  })

// ---------------------------------------------------------------------------------------------------------------
// info, ls

const info = Command.make(
  "info",
  { ...connectionOptions, db: Args.text({ name: "db" }).pipe(Args.optional) },
  (config) =>
    withSession(config, (couch) =>
      Option.match(config.db, {
        onNone: () => Effect.flatMap(couch.info, Json.print),
        onSome: (name) => Effect.flatMap(existing(couch, name), (db) => Effect.flatMap(db.info, Json.print))
      }))
).pipe(Command.withDescription("the server's information, or a database's (document count, sizes, update sequence)"))

const ls = Command.make("ls", connectionOptions, (config) =>
  withSession(config, (couch) =>
    Effect.flatMap(couch.keys(), (names) =>
      config.json ?
        Json.printLine(names) :
        Effect.sync(() => {
          if (names.length > 0) process.stdout.write(names.join("\n") + "\n")
        })))).pipe(Command.withDescription("the databases' names, one a line (--json: a JSON array)"))

// ---------------------------------------------------------------------------------------------------------------
// get, put, find

const get = Command.make(
  "get",
  {
    ...connectionOptions,
    db: dbArg,
    id: Args.text({ name: "id" }),
    rev: Options.text("rev").pipe(Options.withDescription("this revision, not the winning one"), Options.optional),
    revs: Options.boolean("revs").pipe(Options.withDescription("with _revisions"))
  },
  (config) =>
    withSession(config, (couch) =>
      Effect.gen(function*() {
        const db = yield* couch.use(config.db)
        const doc = yield* db.get(config.id, { rev: Option.getOrUndefined(config.rev), revs: config.revs || undefined })
        yield* Json.print(doc)
      }))
).pipe(Command.withDescription("a document, as JSON"))

const readAll = (path: string | undefined): Effect.Effect<string, UsageError | RunError> =>
  path === undefined ?
    Effect.tryPromise({
      try: async () => {
        const chunks: Array<Buffer> = []
        for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
        return Buffer.concat(chunks).toString("utf8")
      },
      catch: (error) => new RunError({ description: `reading stdin: ${String(error)}` })
    }) :
    Effect.zipRight(Input.checkReadable(path), Effect.sync(() => Fs.readFileSync(path, "utf8")))

const put = Command.make(
  "put",
  {
    ...connectionOptions,
    db: dbArg,
    id: Args.text({ name: "id" }),
    file: Args.file({ name: "file" }).pipe(Args.withDescription("the document (default: stdin)"), Args.optional)
  },
  (config) =>
    withSession(config, (couch) =>
      Effect.gen(function*() {
        const text = yield* readAll(Option.getOrUndefined(config.file))
        const body = yield* Json.parseObject(text, "the document")
        const db = yield* couch.use(config.db)
        const result = yield* db.put({ ...body, _id: config.id })
        yield* Json.printLine({ ok: true, id: result.id, rev: result.rev })
      }))
).pipe(Command.withDescription("writes a document (JSON from a file or stdin; give its _rev to update it)"))

const find = Command.make(
  "find",
  {
    ...connectionOptions,
    db: dbArg,
    selector: Args.text({ name: "selector" }).pipe(Args.withDescription("a Mango selector, as JSON")),
    fields: Options.text("fields").pipe(Options.withDescription("comma-separated fields to return"), Options.optional),
    limit: Options.integer("limit").pipe(Options.withDescription("at most this many documents"), Options.optional)
  },
  (config) =>
    withSession(config, (couch) =>
      Effect.gen(function*() {
        const selector = yield* Json.parseObject(config.selector, "the selector")
        const db = yield* couch.use(config.db)
        const fields = Option.map(config.fields, (text) => text.split(",").map((field) => field.trim()))
        const limit = Option.getOrUndefined(config.limit)
        const docs = db.findStream({
          selector,
          ...(Option.isSome(fields) ? { fields: fields.value as ReadonlyArray<"_id"> } : {}),
          ...(limit === undefined ? {} : { limit: Math.min(limit, 1000) })
        })
        yield* (limit === undefined ? docs : Stream.take(docs, limit)).pipe(Stream.runForEach(Json.printLine))
      }))
).pipe(Command.withDescription("the documents matching a Mango selector, one JSON line each"))

// ---------------------------------------------------------------------------------------------------------------
// backup, restore

const backup = Command.make(
  "backup",
  {
    ...connectionOptions,
    db: dbArg,
    file: fileArg("the backup file (default: stdout)"),
    gzip: gzipOutput,
    resume: Options.boolean("resume").pipe(Options.withDescription("continue an interrupted backup from its log")),
    log: Options.text("log").pipe(Options.withDescription("the log file (default: FILE.log)"), Options.optional),
    format: Options.choice("format", ["couchbackup", "ndjson"]).pipe(
      Options.withDescription("couchbackup's format (default) or one document a line"),
      Options.withDefault("couchbackup" as const)
    ),
    includeDeleted: Options.boolean("include-deleted").pipe(
      Options.withDescription("deleted documents too (their tombstones, listed from the changes feed)")
    ),
    attachments: Options.boolean("attachments").pipe(
      Options.withDescription("attachments inline, base64 (couchbackup's --attachments); else only their stubs")
    ),
    batchSize,
    concurrency
  },
  (config) =>
    withSession(config, (couch) =>
      Effect.gen(function*() {
        const options: Backup.BackupOptions = {
          file: Option.getOrUndefined(config.file),
          gzip: config.gzip,
          resume: config.resume,
          log: Option.getOrUndefined(config.log),
          format: config.format,
          batchSize: yield* positive(config.batchSize, "batch-size"),
          concurrency: yield* positive(config.concurrency, "concurrency"),
          includeDeleted: config.includeDeleted,
          attachments: config.attachments
        }
        const db = yield* existing(couch, config.db)
        const started = Date.now()
        const { withStubs, written } = yield* Backup.backup(db, options, reporting(config)).pipe(
          Effect.onInterrupt(() =>
            Effect.sync(() =>
              process.stderr.write(
                options.file === undefined || options.gzip ?
                  "backup interrupted: the output is incomplete\n" :
                  `backup interrupted: ${options.file} is incomplete; run again with --resume to continue\n`
              )
            )
          )
        )
        yield* Output.report(
          reporting(config),
          `backup: ${written} documents in ${((Date.now() - started) / 1000).toFixed(1)} s (${
            Output.perSecond(written, started)
          } docs/s)`,
          { done: "backup", documents: written, withoutAttachments: withStubs, ms: Date.now() - started }
        )
        if (withStubs > 0) {
          yield* Output.warn(
            reporting(config),
            `backup: ${withStubs} documents have attachments, which are not in the backup (only their stubs: a restore writes these documents without them); --attachments includes them`,
            { warning: "attachments left out", documents: withStubs }
          )
        }
      }))
).pipe(Command.withDescription(
    "every document (winning revision, with _revisions; deleted ones and attachments if asked) to a file, in couchbackup's format"
  ))

const restore = Command.make(
  "restore",
  {
    ...connectionOptions,
    db: dbArg,
    file: fileArg("a backup file, couch's or couchbackup's, gzipped or not (default: stdin)"),
    create: createOption,
    gzip: gzipInput("stdin is gzipped (a file is detected)"),
    batchSize,
    concurrency
  },
  (config) =>
    withSession(config, (couch) =>
      Effect.gen(function*() {
        const { db, file, writeOptions } = yield* writeSetup(couch, config)
        const what = file ?? "stdin"
        // documents backed up without --attachments carry stubs: written without them, and said so
        const stubbed: Array<string> = []
        let stubbedCount = 0
        // how much of the file is read, for the progress (a gzipped file's size does not tell)
        const size = file === undefined || Input.isGzipFile(file) ? undefined : Fs.statSync(file).size
        let bytes = 0
        const detail = size === undefined || size === 0 ? undefined : () => {
          const percent = Math.min(100, Math.floor((bytes * 100) / size))
          return { text: `${percent}% of the file read`, fields: { fileBytes: size, bytesRead: bytes } }
        }
        const docs = Input.lines(file, config.gzip).pipe(
          Stream.mapConcatEffect((line) => {
            if (detail !== undefined) bytes += Buffer.byteLength(line.text) + 1
            const parsed = BackupFile.parseFileLine(line.text, line.number)
            switch (parsed._tag) {
              case "Docs":
                return Effect.succeed(parsed.docs.map((doc) => {
                  const stripped = Restore.withoutStubs(doc)
                  if (stripped === undefined) return doc
                  if (stubbedCount++ < 5) stubbed.push(doc._id)
                  return stripped
                }))
              case "Skip":
                return Effect.succeed([])
              case "Bad":
                return Effect.fail(new RunError({ description: `line ${line.number} of ${what}: ${parsed.why}` }))
            }
          })
        )
        yield* Restore.writeAll(db, docs, writeOptions, reporting(config), "restore", detail).pipe(
          Effect.onInterrupt(() =>
            Effect.sync(() => process.stderr.write("restore interrupted: the database has part of the file\n"))
          ),
          Effect.ensuring(Effect.suspend(() =>
            stubbedCount === 0 ? Effect.void : Output.warn(
              reporting(config),
              `restore: ${stubbedCount} documents written without their attachments (the backup holds only their stubs; back up with --attachments to keep them): ${
                stubbed.join(", ")
              }${stubbedCount > stubbed.length ? ", ..." : ""}`,
              { warning: "attachments not in the backup", documents: stubbedCount, ids: stubbed }
            )
          ))
        )
      }))
).pipe(Command.withDescription("writes a backup's documents, keeping their revisions (new_edits=false)"))

// ---------------------------------------------------------------------------------------------------------------
// tail

const tail = Command.make(
  "tail",
  {
    ...connectionOptions,
    db: dbArg,
    since: Options.text("since").pipe(
      Options.withDescription("start after this sequence (\"now\": only new changes; default: the beginning)"),
      Options.optional
    ),
    includeDocs: Options.boolean("include-docs").pipe(Options.withDescription("each change with its document")),
    selector: Options.text("selector").pipe(Options.withDescription("only documents matching this Mango selector"), Options.optional),
    checkpoint: Options.text("checkpoint").pipe(
      Options.withDescription("a file keeping the last sequence printed: read at start, written after each change"),
      Options.optional
    ),
    limit: Options.integer("limit").pipe(Options.withDescription("stop after this many changes"), Options.optional),
    once: Options.boolean("once").pipe(Options.withDescription("stop at the end of the feed instead of following it"))
  },
  (config) =>
    withSession(config, (couch) =>
      Effect.gen(function*() {
        const selector = Option.isSome(config.selector) ?
          yield* Json.parseObject(config.selector.value, "the selector") :
          undefined
        const checkpointPath = Option.getOrUndefined(config.checkpoint)
        const saved = checkpointPath === undefined ? undefined : yield* Checkpoint.read(checkpointPath)
        const since = saved ?? Option.getOrUndefined(config.since)
        const db = yield* existing(couch, config.db)
        const options = {
          since,
          includeDocs: config.includeDocs || undefined,
          ...(selector === undefined ? {} : { filter: { _tag: "Selector" as const, selector } })
        }
        const changes: Stream.Stream<
          { readonly id: string; readonly seq: string | number; readonly line: unknown },
          unknown
        > = config.once ?
          db.changes(options).pipe(
            Stream.tap((event) =>
              event._tag === "LastSeq" && checkpointPath !== undefined ?
                Checkpoint.write(checkpointPath, event.lastSeq) :
                Effect.void
            ),
            Stream.filterMap((event) => (event._tag === "Change" ? Option.some(event) : Option.none())),
            Stream.map((change) => ({ id: change.id, seq: change.seq, line: lineOf(change) }))
          ) :
          Stream.unwrap(Effect.map(db.follow(options), (follower) =>
            follower.changes.pipe(Stream.map((change) => ({ id: change.id, seq: change.seq, line: lineOf(change) })))))
        const limit = Option.getOrUndefined(config.limit)
        yield* (limit === undefined ? changes : Stream.take(changes, limit)).pipe(
          Stream.runForEach((change) =>
            Effect.zipRight(
              Json.printLine(change.line),
              checkpointPath === undefined ? Effect.void : Checkpoint.write(checkpointPath, change.seq)
            )
          )
        )
      }))
).pipe(Command.withDescription("the changes feed, one JSON line per change; resumable with --checkpoint"))

const lineOf = (change: {
  readonly id: string
  readonly seq: string | number
  readonly changes: ReadonlyArray<{ readonly rev: string }>
  readonly deleted: boolean
  readonly doc?: unknown
}) => ({
  seq: change.seq,
  id: change.id,
  changes: change.changes,
  ...(change.deleted ? { deleted: true } : {}),
  ...(change.doc === undefined ? {} : { doc: change.doc })
})

// ---------------------------------------------------------------------------------------------------------------
// export, import

const formatOption = Options.choice("format", ["ndjson", "json", "csv"]).pipe(
  Options.withDescription("NDJSON, a JSON array, or CSV with a header row (default: by the file's extension, else NDJSON)"),
  Options.optional
)

/** `--transform MODULE` of export and import. */
const transformOption = Options.file("transform").pipe(
  Options.withDescription(
    "a JavaScript module whose default export maps each document: (doc) => doc, or null to leave it out (may be async)"
  ),
  Options.optional
)

const loadTransform = (path: Option.Option<string>) =>
  Option.isSome(path) ? Effect.map(Transform.load(path.value), Option.some) : Effect.succeed(Option.none())

const exportCommand = Command.make(
  "export",
  {
    ...connectionOptions,
    db: dbArg,
    file: fileArg("the output file (default: stdout)"),
    format: formatOption,
    selector: Options.text("selector").pipe(Options.withDescription("only the documents matching this Mango selector"), Options.optional),
    fields: Options.text("fields").pipe(
      Options.withDescription("comma-separated fields (CSV: the columns; default the first document's fields)"),
      Options.optional
    ),
    noDesign: Options.boolean("no-design").pipe(Options.withDescription("leave the design documents out")),
    transform: transformOption,
    gzip: gzipOutput
  },
  (config) =>
    withSession(config, (couch) =>
      Effect.gen(function*() {
        const file = Option.getOrUndefined(config.file)
        const selector = Option.isSome(config.selector) ?
          yield* Json.parseObject(config.selector.value, "the selector") :
          undefined
        const transform = yield* loadTransform(config.transform)
        const db = yield* existing(couch, config.db)
        const started = Date.now()
        const count = yield* Transfer.exportAll(db, {
          transform: Option.getOrUndefined(transform),
          file,
          format: Option.getOrElse(config.format, () => Transfer.formatOf(file)),
          selector,
          fields: Option.getOrUndefined(Option.map(config.fields, (text) => text.split(",").map((f) => f.trim()))),
          gzip: config.gzip,
          designDocuments: !config.noDesign
        }, reporting(config))
        yield* Output.report(reporting(config), `export: ${count} documents in ${((Date.now() - started) / 1000).toFixed(1)} s`, {
          done: "export",
          documents: count,
          ms: Date.now() - started
        })
      }))
).pipe(Command.withDescription("documents as NDJSON, a JSON array or CSV"))

const importCommand = Command.make(
  "import",
  {
    ...connectionOptions,
    db: dbArg,
    file: fileArg("the input file (default: stdin)"),
    format: formatOption,
    id: Options.text("id-field").pipe(
      Options.withAlias("id"),
      Options.withDescription("the field whose value is the document's _id (--id for short)"),
      Options.optional
    ),
    transform: transformOption,
    infer: Options.boolean("infer").pipe(Options.withDescription("CSV: numbers, true, false and null as such (else strings)")),
    create: createOption,
    gzip: gzipInput("the input is gzipped (a .gz file is detected)"),
    batchSize,
    concurrency
  },
  (config) =>
    withSession(config, (couch) =>
      Effect.gen(function*() {
        const transform = yield* loadTransform(config.transform)
        const { db, file, writeOptions } = yield* writeSetup(couch, config)
        const docs = Transfer.documents({
          transform: Option.getOrUndefined(transform),
          file,
          format: Option.getOrElse(config.format, () => Transfer.formatOf(file)),
          idField: Option.getOrUndefined(config.id),
          infer: config.infer,
          gzip: config.gzip
        })
        yield* Restore.writeAll(db, docs, writeOptions, reporting(config), "import")
      }))
).pipe(Command.withDescription("writes documents from NDJSON, a JSON array or CSV (a header row names the fields)"))

// ---------------------------------------------------------------------------------------------------------------
// replicate

const replicate = Command.make(
  "replicate",
  {
    ...connectionOptions,
    source: Args.text({ name: "source" }).pipe(Args.withDescription("a database of this server, or a URL")),
    target: Args.text({ name: "target" }).pipe(Args.withDescription("a database of this server, or a URL")),
    createTarget: Options.boolean("create-target").pipe(Options.withDescription("create the target if it is missing")),
    continuous: Options.boolean("continuous").pipe(
      Options.withDescription("a continuous replication: prints its id, then its progress until Ctrl-C, which cancels it")
    ),
    detach: Options.boolean("detach").pipe(
      Options.withDescription("with --continuous: print the id and leave it running (stop it with --cancel ID)")
    ),
    cancel: Options.text("cancel").pipe(
      Options.withDescription("cancel the replication with this id (as --continuous printed it)"),
      Options.optional
    ),
    selector: Options.text("selector").pipe(Options.withDescription("only the documents matching this Mango selector"), Options.optional),
    credentials: Options.choice("credentials", ["auth", "headers", "url"]).pipe(
      Options.withDescription(
        "how the replicator is given the credentials: CouchDB 3's auth objects (default), headers, or in the URLs (PouchDB Server)"
      ),
      Options.withDefault("auth" as const)
    )
  },
  (config) =>
    withSession(config, (couch) =>
      Effect.gen(function*() {
        const selector = Option.isSome(config.selector) ?
          yield* Json.parseObject(config.selector.value, "the selector") :
          undefined
        const options = {
          credentials: config.credentials,
          ...(config.createTarget ? { createTarget: true } : {}),
          ...(selector === undefined ? {} : { selector })
        }
        if (Option.isSome(config.cancel)) return yield* Json.printLine(yield* couch.cancelReplication(config.cancel.value))
        if (config.detach && !config.continuous) {
          return yield* new UsageError({ description: "--detach goes with --continuous" })
        }
        return yield* config.continuous ?
          Replicate.continuous(couch, config.source, config.target, options, reporting(config), config.detach) :
          Replicate.oneShot(couch, config.source, config.target, options, reporting(config))
      }))
).pipe(
  Command.withDescription(
    "replicates source to target through _replicate, with progress from the scheduler (one-shot: waits and prints the counts)"
  )
)

/** Every subcommand of `couch`. */
export const subcommands = [
  info,
  ls,
  get,
  put,
  find,
  backup,
  restore,
  exportCommand,
  importCommand,
  tail,
  replicate
] as const
