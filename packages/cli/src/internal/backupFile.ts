/**
 * The backup file format (couchbackup 2.11's, "full" mode) and the log that lets a backup resume.
 *
 * File: a first line of metadata, `{"name":"@cloudant/couchbackup","version":"2.11.12","mode":"full",
 * "attachments":false}`, then one JSON array of documents per line (each with `_rev` and `_revisions`). A file
 * resumed by couchbackup has a `{"marker":"@cloudant/couchbackup:resume"}` line (possibly after a broken one).
 * `--format ndjson` writes one document per line and no metadata.
 *
 * Log (couchbackup's log lines): `:t batchN [{"id":...},...]` when a batch's ids are listed, `:d batchN OFFSET`
 * when its line is in the file (OFFSET, the file's length after it, is this tool's addition; couchbackup ignores
 * it), `:changes_complete` when every id is listed. A backup with deleted documents lists them from the changes
 * feed: a deleted document's entry carries its tombstone's `rev`, and each `:t` line is followed (in the same
 * write) by `:s batchN SEQ`, the feed's sequence after the batch, where a resumed listing starts.
 */
import type * as Document from "@effect-couch/client/Document"

/** The metadata line's `name` and `version`: the couchbackup release whose format is written. */
export const metadata = (attachments: boolean) => ({
  name: "@cloudant/couchbackup",
  version: "2.11.12",
  mode: "full",
  attachments
})

/** What a backup's listing asks `_bulk_get` for: a document's winning revision, or this revision (a tombstone). */
export interface Wanted {
  readonly id: string
  readonly rev?: string | undefined
}

/** The line a resumed couchbackup file carries. */
export const resumeMarker = JSON.stringify({ marker: "@cloudant/couchbackup:resume" })

/** A parsed log line. */
export type LogLine =
  | { readonly _tag: "Todo"; readonly batch: number; readonly wanted: ReadonlyArray<Wanted> }
  | { readonly _tag: "Seq"; readonly batch: number; readonly seq: string | number }
  | { readonly _tag: "Done"; readonly batch: number; readonly offset: number | undefined }
  | { readonly _tag: "Complete" }
  | { readonly _tag: "Other" }

const todoLine = /^:t\s+batch(\d+)\s+(.*)$/
const doneLine = /^:d\s+batch(\d+)(?:\s+(\d+))?\s*$/
const seqLine = /^:s\s+batch(\d+)\s+(.*)$/

/** Reads one log line; a broken `:t` line (an interrupted write) is `Other`. */
export const parseLogLine = (line: string): LogLine => {
  const todo = todoLine.exec(line)
  if (todo !== null) {
    try {
      const ids: unknown = JSON.parse(todo[2]!)
      if (Array.isArray(ids)) {
        return {
          _tag: "Todo",
          batch: Number(todo[1]),
          wanted: ids.map((entry) => {
            const { id, rev } = entry as { readonly id: unknown; readonly rev?: unknown }
            return typeof rev === "string" ? { id: String(id), rev } : { id: String(id) }
          })
        }
      }
    } catch {
      // an interrupted line
    }
    return { _tag: "Other" }
  }
  const seq = seqLine.exec(line)
  if (seq !== null) {
    try {
      const value: unknown = JSON.parse(seq[2]!)
      if (typeof value === "string" || typeof value === "number") return { _tag: "Seq", batch: Number(seq[1]), seq: value }
    } catch {
      // an interrupted line
    }
    return { _tag: "Other" }
  }
  const done = doneLine.exec(line)
  if (done !== null) {
    return { _tag: "Done", batch: Number(done[1]), offset: done[2] === undefined ? undefined : Number(done[2]) }
  }
  return line.startsWith(":changes_complete") ? { _tag: "Complete" } : { _tag: "Other" }
}

/** The log line of a listed batch (and, listed from the changes feed, the sequence after it). */
export const todo = (batch: number, wanted: ReadonlyArray<Wanted>, seq?: string | number): string =>
  `:t batch${batch} ${JSON.stringify(wanted.map(({ id, rev }) => (rev === undefined ? { id } : { id, rev })))}\n` +
  (seq === undefined ? "" : `:s batch${batch} ${JSON.stringify(seq)}\n`)

/** The log line of a batch written to the file. */
export const done = (batch: number, offset: number): string => `:d batch${batch} ${offset}\n`

/** The log line once every id is listed. */
export const complete = ":changes_complete\n"

/** What a line of a backup (or NDJSON) file holds. */
export type FileLine =
  | { readonly _tag: "Docs"; readonly docs: ReadonlyArray<Document.Document> }
  | { readonly _tag: "Skip" }
  | { readonly _tag: "Bad"; readonly why: string }

const isDocument = (value: unknown): value is Document.Document =>
  typeof value === "object" && value !== null && !Array.isArray(value) && typeof (value as { _id?: unknown })._id ===
    "string"

/** Reads a line of a backup file: documents, a line to skip (metadata, a resume marker, blank), or a bad line. */
export const parseFileLine = (text: string, number: number): FileLine => {
  if (text.trim() === "" || text === resumeMarker) return { _tag: "Skip" }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    // couchbackup's resume leaves a broken line followed by the marker
    if (text.endsWith(resumeMarker)) return { _tag: "Skip" }
    return { _tag: "Bad", why: "not JSON" }
  }
  if (Array.isArray(value)) {
    return value.every(isDocument) ?
      { _tag: "Docs", docs: value } :
      { _tag: "Bad", why: "an array with an element that is not a document with an _id" }
  }
  if (isDocument(value)) return { _tag: "Docs", docs: [value] }
  if (typeof value === "object" && value !== null) {
    const object = value as Record<string, unknown>
    if (number === 1 && typeof object.name === "string" && typeof object.mode === "string") return { _tag: "Skip" }
    if (object.marker === "@cloudant/couchbackup:resume") return { _tag: "Skip" }
  }
  return { _tag: "Bad", why: "neither an array of documents nor a document" }
}
