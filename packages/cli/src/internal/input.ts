/**
 * Reading an input file (or stdin) line by line, gunzipped when it is gzip, in constant memory.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import type { Readable } from "node:stream"
import { StringDecoder } from "node:string_decoder"
import * as Zlib from "node:zlib"
import { RunError, UsageError } from "./errors.js"

/** A line of input and its number (from 1). */
export interface Line {
  readonly text: string
  readonly number: number
}

/** Whether a file is gzip (by its first two bytes). */
export const isGzipFile = (path: string): boolean => {
  const fd = Fs.openSync(path, "r")
  try {
    const head = Buffer.alloc(2)
    const n = Fs.readSync(fd, head, 0, 2, 0)
    return n === 2 && head[0] === 0x1f && head[1] === 0x8b
  } finally {
    Fs.closeSync(fd)
  }
}

/** Checks that an input file can be read: a usage error (exit 2) when it is missing or unreadable. */
export const checkReadable = (path: string): Effect.Effect<void, UsageError> =>
  Effect.try({
    try: () => {
      const stat = Fs.statSync(path)
      if (stat.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" })
      Fs.accessSync(path, Fs.constants.R_OK)
    },
    catch: (error) => {
      const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : ""
      const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ?
        "is a directory" :
        String(error)
      return new UsageError({ description: `cannot read ${path}: ${why}` })
    }
  })

/**
 * The lines of a file (stdin when `path` is undefined); a gzip file (by its first bytes, or `gzip` for stdin) is
 * gunzipped. CR LF and LF end lines; a last line without one counts.
 */
export const lines = (path: string | undefined, gzip: boolean): Stream.Stream<Line, UsageError | RunError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    if (path !== undefined) yield* checkReadable(path)
    const what = path ?? "stdin"
    const source: Readable = yield* Effect.acquireRelease(
      Effect.sync((): Readable => {
        const raw: Readable = path === undefined ? process.stdin : Fs.createReadStream(path)
        const unzip = path === undefined ? gzip : isGzipFile(path)
        if (!unzip) return raw
        const gunzip = Zlib.createGunzip()
        raw.on("error", (error) => gunzip.destroy(error))
        return raw.pipe(gunzip)
      }),
      (stream) => Effect.sync(() => stream.destroy())
    )
    // the stream's own async iterator reads a chunk only when the last one is consumed (readline's would queue
    // lines without bound when the consumer is slower than the file)
    // a line longer than a chunk (a backup's batch of 500 documents spans several) is kept in pieces and joined
    // once: each chunk is scanned once (concatenating and splitting the rest again cost O(line²))
    const decoder = new StringDecoder("utf8")
    let pieces: Array<string> = []
    let number = 0
    const line = (text: string): Line => ({ text: text.endsWith("\r") ? text.slice(0, -1) : text, number: ++number })
    const split = (text: string, last: boolean): Array<Line> => {
      const out: Array<Line> = []
      let start = 0
      for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
        const piece = text.slice(start, end)
        if (pieces.length === 0) {
          out.push(line(piece))
        } else {
          pieces.push(piece)
          out.push(line(pieces.join("")))
          pieces = []
        }
        start = end + 1
      }
      if (start < text.length) pieces.push(text.slice(start))
      if (last && pieces.length > 0) {
        out.push(line(pieces.join("")))
        pieces = []
      }
      return out
    }
    return Stream.fromAsyncIterable(
      source as AsyncIterable<Buffer | string>,
      (error) =>
        new RunError({
          description: `reading ${what}: ${error instanceof Error ? error.message : String(error)}`
        })
    ).pipe(
      Stream.mapConcat((chunk) => split(typeof chunk === "string" ? chunk : decoder.write(chunk), false)),
      Stream.concat(Stream.suspend(() => Stream.fromIterable(split(decoder.end(), true))))
    )
  }))
