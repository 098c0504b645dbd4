/**
 * Read-modify-write on a cluster: the writes of `modify` and `ensureView` reach every copy of a database, and
 * `settle` then resolves the conflicts concurrent writers may have left, so that one writer's revision wins.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as CouchError from "../CouchError.js"
import * as Database from "../Database.js"
import type * as Document from "../Document.js"
import { readErrors, writeErrors } from "./endpoint.js"
import * as Request from "./request.js"
import * as Writers from "./writers.js"

/** A revision and its history (`_revisions`). */
const RevisionAndHistory = Schema.Struct({
  _rev: Schema.String,
  _deleted: Schema.optional(Schema.Boolean),
  _revisions: Schema.optional(Schema.Struct({ start: Schema.Number, ids: Schema.Array(Schema.String) }))
})

/** Every leaf of a document, as `open_revs=all&revs=true` answers (a leaf a copy lacks is `missing`). */
const Leaves = Schema.Array(Schema.Union(Schema.Struct({ ok: RevisionAndHistory }), Schema.Struct({ missing: Schema.String })))

/** A document's winning revision, with its history, and the other leaves that are not deleted. */
interface Winner {
  readonly winner: typeof RevisionAndHistory.Type
  readonly others: ReadonlyArray<string>
}

/** Whether revision `a` wins over `b` as CouchDB picks: not deleted first, then the longer, then the greater id. */
const winsOver = (a: typeof RevisionAndHistory.Type, b: typeof RevisionAndHistory.Type): boolean => {
  if ((a._deleted === true) !== (b._deleted === true)) return b._deleted === true
  const [pa, pb] = [Number.parseInt(a._rev, 10), Number.parseInt(b._rev, 10)]
  if (pa !== pb) return pa > pb
  return a._rev.slice(a._rev.indexOf("-") + 1) > b._rev.slice(b._rev.indexOf("-") + 1)
}

/** The winner among a document's leaves (`undefined` when it has none). */
export const winnerOf = (leaves: typeof Leaves.Type): Winner | undefined => {
  const found = leaves.flatMap((leaf) => "ok" in leaf ? [leaf.ok] : [])
  const winner = found.reduce<typeof RevisionAndHistory.Type | undefined>(
    (best, leaf) => best === undefined || winsOver(leaf, best) ? leaf : best,
    undefined
  )
  if (winner === undefined) return undefined
  const others = found.filter((leaf) => leaf !== winner && leaf._deleted !== true).map((leaf) => leaf._rev)
  return { winner, others }
}

/** Whether `rev` is the winning revision or one of its ancestors. */
const onWinningBranch = (doc: typeof RevisionAndHistory.Type, rev: string): boolean => {
  if (doc._rev === rev) return true
  const history = doc._revisions
  if (history === undefined) return false
  const [position, hash] = [Number.parseInt(rev, 10), rev.slice(rev.indexOf("-") + 1)]
  const index = history.start - position
  return index >= 0 && history.ids[index] === hash
}

/**
 * A read-modify-write on a cluster (or answered 202): concurrent writers from the same revision may each have been
 * accepted by some copies, and a writer may have written on a revision that has just lost to a concurrent one
 * (both answered 201), leaving conflicts. The writes of `modify` and `ensureView` ask every copy
 * (`w` = `copies`), so that once a write is answered every copy has answered it (or timed out), and every revision
 * that competes with it is on some copy already.
 *
 * The document's leaves are then read from every copy (`open_revs=all`, `r` = `copies`: a copy's own `_conflicts`
 * may lack a leaf that another copy has), with their histories, round after round:
 * - this revision is on the winning branch: the other leaves are removed (their writers lost, and will apply
 *   their changes again on the winner), and the document read again, until no conflict is left; then it won;
 * - it is not: its leaf is removed, and the document read once more, since a writer may have written on it in the
 *   meantime (then its change is in the winner, and it won); if not, the write fails with `ConflictError`, so that
 *   the caller's retry applies its change again on the winner.
 * Removals ask every copy too, so that no copy keeps a removed leaf for a late writer to write on. (A write that is
 * not visible at all is taken as lost.) Best effort, not consensus: see the README's Clusters section.
 */
export const settle = (
  transport: Request.Transport,
  path: string,
  written: Document.WriteResult,
  copies: number | undefined
): Effect.Effect<Document.WriteResult, CouchError.ConflictError | Database.WriteError> => {
  // a local document has no revision tree: nothing to settle
  if ((written.accepted !== true && copies === undefined) || written.id.startsWith("_local/")) return Effect.succeed(written)
  // every leaf, from every copy (a copy's own `_conflicts` may lack a leaf another copy has)
  const read = Request.json(
    transport,
    { method: "GET", path, params: { open_revs: "all", revs: "true", r: copies ?? 3 } },
    Leaves,
    readErrors
  ).pipe(
    Effect.map((leaves): Winner => winnerOf(leaves) ?? { winner: { _rev: written.rev }, others: [] }),
    Effect.catchTag("NotFoundError", (): Effect.Effect<Winner> => Effect.succeed({ winner: { _rev: written.rev }, others: [] }))
  )
  // a leaf that is gone, or that someone wrote on, answers 404 or 409: nothing left to do with it
  const removeLeaf = (rev: string) =>
    Request.written(transport, { method: "DELETE", path, params: { rev, w: copies }, idempotent: true }, writeErrors).pipe(
      Effect.asVoid,
      Effect.catchTags({ NotFoundError: () => Effect.void, ConflictError: () => Effect.void })
    )
  const lost = new CouchError.ConflictError({
    method: "PUT",
    url: Request.fullUrl(transport, { method: "PUT", path }),
    status: 409,
    error: "conflict",
    reason: "a concurrent write from the same revision won; this write's revision was removed"
  })
  const round = (
    rounds: number,
    removedOwn: boolean
  ): Effect.Effect<Document.WriteResult, CouchError.ConflictError | Database.WriteError> =>
    Effect.flatMap(read, ({ others, winner }) => {
      if (onWinningBranch(winner, written.rev)) {
        if (others.length === 0 || rounds === 0) return Effect.succeed(written)
        return Effect.zipRight(Effect.forEach(others, removeLeaf, { discard: true }), round(rounds - 1, removedOwn))
      }
      if (removedOwn || rounds === 0) return Effect.fail(lost)
      return Effect.zipRight(removeLeaf(written.rev), round(rounds - 1, true))
    })
  return round(8, false)
}

/**
 * The number of copies (`n`) of the database at `root` when it has more than one (a cluster), known once per
 * session: the `r` and `w` of the reads and writes of `modify` and `ensureView`, which must reach every copy;
 * `undefined` for one copy, or a server that does not say (no `r`, no `w`).
 */
export const copiesOf = (transport: Request.Transport, root: string) =>
  Writers.copiesOf(
    transport,
    root,
    Effect.map(Request.json(transport, { method: "GET", path: root }, Database.DatabaseInfo, readErrors), (info) => info.cluster?.n)
  ).pipe(Effect.map((n) => n !== undefined && n > 1 ? n : undefined))
