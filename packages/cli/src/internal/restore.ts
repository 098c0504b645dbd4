/**
 * `couch restore` (and the writing half of `couch import`): documents in `_bulk_docs` batches, several in flight;
 * documents that carry a `_rev` are written with `new_edits=false`, keeping their revisions (and `_revisions`
 * history). Each refused document is reported on stderr; the command then ends with exit code 3.
 */
import type * as Database from "@effect-couch/client/Database"
import type * as Document from "@effect-couch/client/Document"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { PartialFailure } from "./errors.js"
import * as Output from "./output.js"

/**
 * A document of a backup without its attachment stubs (metadata whose bodies the backup lacks: it was made
 * without `--attachments`): written with them, the whole `_bulk_docs` request would be refused (412
 * `missing_stub`). `undefined` when the document has no stubs.
 */
export const withoutStubs = (doc: Document.Document): Document.Document | undefined => {
  const attachments = doc._attachments as Record<string, { readonly stub?: unknown }> | undefined
  if (typeof attachments !== "object" || attachments === null) return undefined
  const kept: Record<string, unknown> = {}
  let stubs = 0
  for (const name in attachments) {
    if (attachments[name]?.stub === true) stubs++
    else kept[name] = attachments[name]
  }
  if (stubs === 0) return undefined
  const { _attachments: _, ...rest } = doc
  return (Object.keys(kept).length === 0 ? rest : { ...rest, _attachments: kept }) as Document.Document
}

/** The options of a write of many documents. */
export interface WriteOptions {
  readonly batchSize: number
  readonly concurrency: number
}

/** What a write of many documents did. */
export interface WriteSummary {
  readonly written: number
  readonly failed: number
}

/**
 * Writes every document of `docs`. Fails with `PartialFailure` when some were refused (after writing the
 * others), with the stream's error when it fails (what was written stays written).
 */
export const writeAll = <E, R>(
  db: Database.Database,
  docs: Stream.Stream<Document.Document, E, R>,
  options: WriteOptions,
  reporting: Output.Reporting,
  what: string,
  detail?: Parameters<typeof Output.progress>[3]
): Effect.Effect<WriteSummary, E | Database.BulkWriteError | PartialFailure, R> =>
  Effect.scoped(Effect.gen(function*() {
    const progress = yield* Output.progress(reporting, what, undefined, detail)
    const started = Date.now()
    let written = 0
    let failed = 0
    yield* docs.pipe(
      Stream.grouped(options.batchSize),
      Stream.mapEffect((chunk) => {
        const batch = Chunk.toReadonlyArray(chunk)
        const kept = batch.filter((doc) => typeof doc._rev === "string")
        const fresh = batch.filter((doc) => typeof doc._rev !== "string")
        return Effect.map(
          Effect.all([
            kept.length === 0 ? Effect.succeed([]) : db.bulkDocs(kept, { newEdits: false }),
            fresh.length === 0 ? Effect.succeed([]) : db.bulkDocs(fresh)
          ]),
          ([a, b]) => ({ size: batch.length, failures: [...a, ...b].flatMap((r) => (r._tag === "Left" ? [r.left] : [])) })
        )
      }, { concurrency: options.concurrency }),
      Stream.runForEach(({ failures, size }) =>
        Effect.gen(function*() {
          for (const failure of failures) {
            yield* Effect.sync(() =>
              process.stderr.write(
                (reporting.json ?
                  JSON.stringify({ failed: failure.id, error: failure.error, reason: failure.reason }) :
                  `failed: ${failure.id}: ${failure.error}${failure.reason === undefined ? "" : `: ${failure.reason}`}`) +
                  "\n"
              )
            )
          }
          failed += failures.length
          written += size - failures.length
          yield* progress.add(size)
        })
      )
    )
    yield* Output.report(
      reporting,
      `${what}: ${written} documents written${failed === 0 ? "" : `, ${failed} failed`} in ${
        ((Date.now() - started) / 1000).toFixed(1)
      } s (${Output.perSecond(written + failed, started)} docs/s)`,
      { done: what, written, failed, ms: Date.now() - started }
    )
    if (failed > 0) return yield* new PartialFailure({ failed, total: written + failed })
    return { written, failed }
  }))
