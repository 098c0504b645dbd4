/**
 * Writing to stdout, files and gzip streams with backpressure, and the progress reports on stderr.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import type { Writable } from "node:stream"
import * as Zlib from "node:zlib"
import { RunError } from "./errors.js"

/** A sink of text (or its bytes): each write waits while the stream's buffer is full; `end` flushes and closes. */
export interface Sink {
  readonly write: (text: string | Uint8Array) => Effect.Effect<void, RunError>
  readonly end: Effect.Effect<void, RunError>
}

const fileProblem = (what: string, error: unknown): RunError => {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined
  const text = code === "ENOSPC" ?
    "no space left on the device" :
    code === "ENOENT" ?
    "no such file or directory" :
    code === "EACCES" ?
    "permission denied" :
    error instanceof Error ?
    error.message :
    String(error)
  return new RunError({ description: `${what}: ${text}` })
}

/** Wraps a Node writable. */
export const fromWritable = (stream: Writable, what: string, closeAtEnd: boolean): Effect.Effect<Sink> =>
  Effect.sync(() => {
    let failure: RunError | undefined
    stream.on("error", (error) => {
      failure = fileProblem(what, error)
    })
    const write = (text: string | Uint8Array): Effect.Effect<void, RunError> =>
      Effect.async<void, RunError>((resume) => {
        if (failure !== undefined) return resume(Effect.fail(failure))
        const ok = stream.write(text)
        if (ok) return resume(Effect.void)
        const onDrain = () => {
          stream.off("error", onError)
          resume(Effect.void)
        }
        const onError = (error: unknown) => {
          stream.off("drain", onDrain)
          resume(Effect.fail(fileProblem(what, error)))
        }
        stream.once("drain", onDrain)
        stream.once("error", onError)
      })
    const end: Effect.Effect<void, RunError> = Effect.async<void, RunError>((resume) => {
      if (failure !== undefined) return resume(Effect.fail(failure))
      if (!closeAtEnd) return resume(Effect.void)
      stream.once("error", (error) => resume(Effect.fail(fileProblem(what, error))))
      stream.end(() => resume(Effect.void))
    })
    return { write, end }
  })

/** Standard output (never closed). */
export const stdout: Effect.Effect<Sink> = Effect.suspend(() => fromWritable(process.stdout, "stdout", false))

/**
 * A file (or stdout when `path` is undefined), optionally gzipped. `append` opens it for appending. The file
 * is closed when the scope closes if `end` was not run.
 */
export const open = (options: {
  readonly path: string | undefined
  readonly gzip: boolean
  readonly append?: boolean | undefined
}): Effect.Effect<Sink, RunError, Scope.Scope> =>
  Effect.gen(function*() {
    const what = options.path ?? "stdout"
    const target: Writable = options.path === undefined ?
      process.stdout :
      yield* Effect.acquireRelease(
        Effect.async<Fs.WriteStream, RunError>((resume) => {
          const file = Fs.createWriteStream(options.path!, { flags: options.append === true ? "a" : "w" })
          file.once("open", () => resume(Effect.succeed(file)))
          file.once("error", (error) => resume(Effect.fail(fileProblem(options.path!, error))))
        }),
        (file) => Effect.sync(() => file.destroyed || file.closed ? undefined : file.end())
      )
    if (!options.gzip) return yield* fromWritable(target, what, options.path !== undefined)
    const gzip = Zlib.createGzip()
    gzip.pipe(target, { end: options.path !== undefined })
    const sink = yield* fromWritable(gzip, what, true)
    // the gzip stream's last bytes reach the target after its writable side finishes: wait for them
    const ended = Effect.async<void>((resume) => {
      if (gzip.readableEnded) return resume(Effect.void)
      gzip.once("end", () => resume(Effect.void))
    })
    const targetClosed = options.path === undefined ?
      Effect.async<void>((resume) => {
        process.stdout.write("", () => resume(Effect.void))
      }) :
      Effect.async<void, RunError>((resume) => {
        const file = target as Fs.WriteStream
        if (file.closed) return resume(Effect.void)
        file.once("close", () => resume(Effect.void))
        file.once("error", (error) => resume(Effect.fail(fileProblem(what, error))))
      })
    return { write: sink.write, end: sink.end.pipe(Effect.zipRight(ended), Effect.zipRight(targetClosed)) }
  })

/** How a command reports: progress and summaries on stderr, as text or JSON lines, or not at all. */
export interface Reporting {
  readonly quiet: boolean
  readonly json: boolean
}

/** One line on stderr (a summary, a document's failure), unless quiet. */
export const report = (reporting: Reporting, text: string, fields: Record<string, unknown>): Effect.Effect<void> =>
  Effect.sync(() => {
    if (reporting.quiet) return
    process.stderr.write(reporting.json ? JSON.stringify(fields) + "\n" : text + "\n")
  })

/** A warning on stderr, printed even with `--quiet` (what was left out of a backup or a restore). */
export const warn = (reporting: Reporting, text: string, fields: Record<string, unknown>): Effect.Effect<void> =>
  Effect.sync(() => {
    process.stderr.write(reporting.json ? JSON.stringify(fields) + "\n" : text + "\n")
  })

/** A counter of documents done, with a progress line every second (on a TTY, one line redrawn). */
export interface Progress {
  readonly add: (n: number) => Effect.Effect<void>
  /** Sets what is done (and the total, when it changes: a replication's pending changes). */
  readonly set: (done: number, total?: number | undefined) => Effect.Effect<void>
  readonly done: Effect.Effect<number>
}

const rate = (done: number, ms: number) => (ms <= 0 ? 0 : Math.round((done * 1000) / ms))

/**
 * Starts reporting the progress of `what` (`"backup"`, `"restore"`, ...) until the scope closes. `total`, when
 * known, gives a percentage and an ETA; `detail` adds to each line (text) or to its JSON fields.
 */
export const progress = (
  reporting: Reporting,
  what: string,
  total: number | undefined,
  detail?: () => { readonly text: string; readonly fields: Record<string, unknown> } | undefined
): Effect.Effect<Progress, never, Scope.Scope> =>
  Effect.gen(function*() {
    const count = yield* Ref.make(0)
    let of = total
    const started = Date.now()
    const tty = process.stderr.isTTY === true && !reporting.json
    const line = (done: number) => {
      const ms = Date.now() - started
      const perSecond = rate(done, ms)
      const total = of
      const percent = total === undefined ? "" : ` of ${total} (${total === 0 ? 100 : Math.floor((done * 100) / total)}%)`
      const eta = total !== undefined && perSecond > 0 && done < total ?
        `, eta ${Math.ceil((total - done) / perSecond)} s` :
        ""
      const extra = detail?.()
      return reporting.json ?
        JSON.stringify({ progress: what, done, total, docsPerSecond: perSecond, elapsedMs: ms, ...extra?.fields }) :
        `${what}: ${done}${percent} documents, ${perSecond} docs/s${eta}${extra === undefined ? "" : `, ${extra.text}`}`
    }
    const tick = Effect.flatMap(Ref.get(count), (done) =>
      Effect.sync(() => {
        process.stderr.write(tty ? `\r${line(done)}\x1b[K` : line(done) + "\n")
      }))
    if (!reporting.quiet) {
      const period = tty ? "1 second" : "5 seconds"
      const fiber = yield* Effect.forkDaemon(Effect.repeat(Effect.delay(tick, period), Schedule.spaced(period)))
      yield* Effect.addFinalizer(() =>
        Effect.zipRight(
          Fiber.interrupt(fiber),
          Effect.sync(() => {
            if (tty) process.stderr.write("\r\x1b[K")
          })
        )
      )
    }
    return {
      add: (n) => Ref.update(count, (c) => c + n),
      set: (done, total) =>
        Effect.zipRight(
          Effect.sync(() => {
            if (total !== undefined) of = total
          }),
          Ref.set(count, done)
        ),
      done: Ref.get(count)
    }
  })

/** The rate of a finished job, for its summary. */
export const perSecond = (done: number, started: number): number => rate(done, Date.now() - started)
