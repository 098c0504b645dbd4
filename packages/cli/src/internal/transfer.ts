/**
 * `couch export` and `couch import`: documents as NDJSON, a JSON array or CSV (a header row naming the fields).
 */
import type * as Database from "@effect-couch/client/Database"
import type * as Document from "@effect-couch/client/Document"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import type { Readable } from "node:stream"
import * as Zlib from "node:zlib"
import * as Csv from "./csv.js"
import { RunError, type UsageError } from "./errors.js"
import * as Input from "./input.js"
import * as Output from "./output.js"
import type { Transform } from "./transform.js"

/** The formats of export and import. */
export type Format = "ndjson" | "json" | "csv"

/** The format a file's name says (`.csv`, `.json`; anything else NDJSON). */
export const formatOf = (path: string | undefined): Format =>
  path === undefined ? "ndjson" : /\.csv(\.gz)?$/i.test(path) ? "csv" : /\.json(\.gz)?$/i.test(path) ? "json" : "ndjson"

/** The options of an import. */
export interface ImportOptions {
  readonly file: string | undefined
  readonly format: Format
  /** The field whose value becomes `_id` (else each document keeps its `_id`, or the server gives one). */
  readonly idField: string | undefined
  /** CSV: numbers, booleans and null read as such (else every cell is a string). */
  readonly infer: boolean
  readonly gzip: boolean
  /** `--transform`: each document mapped (after `idField`), or left out. */
  readonly transform?: Transform | undefined
}

/** The documents through a transform (those it leaves out dropped). */
const transformed = <E, R>(
  docs: Stream.Stream<Record<string, unknown>, E, R>,
  transform: Transform | undefined
): Stream.Stream<Record<string, unknown>, E | RunError, R> =>
  transform === undefined ? docs : docs.pipe(
    Stream.mapEffect(transform),
    Stream.filter((doc): doc is Record<string, unknown> => doc !== undefined)
  )

const withId = (doc: Record<string, unknown>, idField: string | undefined): Record<string, unknown> => {
  if (idField === undefined) return doc
  const id = doc[idField]
  return id === undefined || id === null || id === "" ? doc : { ...doc, _id: String(id) }
}

const source = (path: string | undefined, gzip: boolean): Effect.Effect<Readable, UsageError> =>
  Effect.gen(function*() {
    if (path !== undefined) yield* Input.checkReadable(path)
    const raw: Readable = path === undefined ? process.stdin : Fs.createReadStream(path)
    return gzip || (path !== undefined && path.endsWith(".gz")) ? raw.pipe(Zlib.createGunzip()) : raw
  })

const csvDocuments = (
  path: string | undefined,
  options: ImportOptions
): Stream.Stream<Record<string, unknown>, UsageError | RunError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const input = yield* Effect.acquireRelease(source(path, options.gzip), (stream) => Effect.sync(() => stream.destroy()))
    input.setEncoding("utf8")
    const csv = Csv.parser()
    let header: ReadonlyArray<string> | undefined
    let line = 0
    const what = path ?? "stdin"
    const toDocs = (rows: ReadonlyArray<ReadonlyArray<string>>) =>
      Effect.suspend(() => {
        const docs: Array<Record<string, unknown>> = []
        for (const row of rows) {
          line++
          if (header === undefined) {
            header = row.map((name) => name.trim())
            if (header.some((name) => name === "")) {
              return Effect.fail(new RunError({ description: `${what}: the header row has an empty field name` }))
            }
            continue
          }
          if (row.length > header.length) {
            return Effect.fail(
              new RunError({ description: `row ${line} of ${what}: ${row.length} cells, the header names ${header.length}` })
            )
          }
          const doc: Record<string, unknown> = {}
          row.forEach((cell, i) => {
            // an empty cell leaves its field out
            if (cell !== "") doc[header![i]!] = Csv.value(cell, options.infer)
          })
          docs.push(withId(doc, options.idField))
        }
        return Effect.succeed(docs)
      })
    return Stream.fromAsyncIterable(
      input as AsyncIterable<string>,
      (error) => new RunError({ description: `reading ${what}: ${error instanceof Error ? error.message : String(error)}` })
    ).pipe(
      Stream.mapConcatEffect((text) => toDocs(csv.feed(text))),
      Stream.concat(Stream.suspend(() => {
        try {
          return Stream.fromIterableEffect(toDocs(csv.end()))
        } catch (error) {
          return Stream.fail(new RunError({ description: `${what}: ${error instanceof Error ? error.message : String(error)}` }))
        }
      }))
    )
  }))

/** The documents of an import file, in constant memory (but for a JSON array, read whole). */
export const documents = (options: ImportOptions): Stream.Stream<Document.Document, UsageError | RunError> => {
  const path = options.file
  const what = path ?? "stdin"
  const docs: Stream.Stream<Record<string, unknown>, UsageError | RunError> = options.format === "csv" ?
    csvDocuments(path, options) :
    options.format === "json" ?
    Stream.unwrap(Effect.gen(function*() {
      const input = yield* source(path, options.gzip)
      const text = yield* Effect.tryPromise({
        try: async () => {
          const chunks: Array<Buffer> = []
          for await (const chunk of input) chunks.push(chunk as Buffer)
          return Buffer.concat(chunks).toString("utf8")
        },
        catch: (error) => new RunError({ description: `reading ${what}: ${String(error)}` })
      })
      const value = yield* Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: (error) => new RunError({ description: `${what} is not JSON: ${error instanceof Error ? error.message : ""}` })
      })
      if (!Array.isArray(value)) return yield* new RunError({ description: `${what} is not a JSON array` })
      const bad = (value as ReadonlyArray<unknown>).findIndex((doc) =>
        typeof doc !== "object" || doc === null || Array.isArray(doc)
      )
      if (bad >= 0) return yield* new RunError({ description: `element ${bad} of ${what} is not an object` })
      return Stream.fromIterable(value as ReadonlyArray<Record<string, unknown>>).pipe(
        Stream.map((doc) => withId(doc, options.idField))
      )
    })) :
    Input.lines(path, options.gzip).pipe(
      Stream.filter((line) => line.text.trim() !== ""),
      Stream.mapEffect((line) =>
        Effect.try({
          try: () => {
            const value = JSON.parse(line.text) as unknown
            if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object")
            return withId(value as Record<string, unknown>, options.idField)
          },
          catch: (error) =>
            new RunError({
              description: `line ${line.number} of ${what}: ${
                error instanceof SyntaxError ? "not JSON" : "not a JSON object"
              }`
            })
        })
      )
    )
  // a document without _id gets one from the server (POST semantics of _bulk_docs)
  return transformed(docs, options.transform) as Stream.Stream<Document.Document, UsageError | RunError>
}

/** The options of an export. */
export interface ExportOptions {
  readonly file: string | undefined
  readonly format: Format
  readonly selector: Record<string, unknown> | undefined
  /** The fields to write (CSV: the columns; default the first document's fields). */
  readonly fields: ReadonlyArray<string> | undefined
  readonly gzip: boolean
  readonly designDocuments: boolean
  /** `--transform`: each document mapped before it is written (before `fields`), or left out. */
  readonly transform?: Transform | undefined
}

const pick = (doc: Record<string, unknown>, fields: ReadonlyArray<string> | undefined) => {
  if (fields === undefined) return doc
  const out: Record<string, unknown> = {}
  for (const field of fields) if (field in doc) out[field] = doc[field]
  return out
}

/** Writes every document (or those matching the selector); returns how many. */
export const exportAll = (
  db: Database.Database,
  options: ExportOptions,
  reporting: Output.Reporting
): Effect.Effect<number, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const sink = yield* Output.open({ path: options.file, gzip: options.gzip })
    // without a selector, every document: the total is the database's count (design documents among them)
    const total = options.selector === undefined && options.designDocuments ? (yield* db.info).docCount : undefined
    const progress = yield* Output.progress(reporting, "export", total)
    const docs: Stream.Stream<Record<string, unknown>, unknown> = transformed(
      options.selector === undefined ?
        db.allDocs({ includeDocs: true, oneRequest: true, designDocuments: options.designDocuments }).pipe(
          Stream.filterMap((row) => ("doc" in row && row.doc != null ? Option.some(row.doc) : Option.none()))
        ) :
        db.findStream({ selector: options.selector, limit: 1000 }),
      options.transform
    )
    let count = 0
    let columns = options.fields
    if (options.format === "json") yield* sink.write("[")
    yield* docs.pipe(
      Stream.mapChunks((chunk) => chunk),
      Stream.runForEach((doc) =>
        Effect.gen(function*() {
          let text: string
          if (options.format === "csv") {
            if (columns === undefined) columns = Object.keys(doc)
            text = (count === 0 ? Csv.row(columns) : "") + Csv.row(columns.map((column) => doc[column]))
          } else {
            const json = JSON.stringify(pick(doc, options.fields))
            text = options.format === "json" ? (count === 0 ? "\n" : ",\n") + json : json + "\n"
          }
          yield* sink.write(text)
          count++
          yield* progress.add(1)
        })
      )
    )
    if (options.format === "json") yield* sink.write(count === 0 ? "]\n" : "\n]\n")
    if (options.format === "csv" && count === 0 && columns !== undefined) yield* sink.write(Csv.row(columns))
    yield* sink.end
    return count
  }))
