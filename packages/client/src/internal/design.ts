/**
 * Design documents checked before they are sent: the fields CouchDB 3.5 checks (with its rules: `couch_mrview`'s
 * `validate_ddoc_fields`, each view's map function, the built-in reduce functions it knows), and, as aiocouch does,
 * no top-level field CouchDB does not read (a misspelt `view` would be stored and never used).
 */
import * as Effect from "effect/Effect"
import * as CouchError from "../CouchError.js"

/** The top-level fields of a design document: CouchDB's own, the search indexes', and `lib` for code modules. */
const designFields: ReadonlySet<string> = new Set([
  "_id",
  "_rev",
  "_deleted",
  "_attachments",
  "_revisions",
  "_conflicts",
  "_deleted_conflicts",
  "_local_seq",
  "_revs_info",
  "language",
  "options",
  "views",
  "validate_doc_update",
  "updates",
  "filters",
  "shows",
  "lists",
  "rewrites",
  "autoupdate",
  "indexes",
  "nouveau",
  "lib"
])

/** The built-in reduce functions of CouchDB 3.5 (`_top_N` and `_bottom_N` rank 1 to 100). */
const builtinReduce = /^(?:_sum|_count|_stats|_approx_count_distinct|_first|_last|_(?:top|bottom)_(?:[1-9]\d?|100))$/

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** Why a design document would be refused or useless, or `undefined` when it is well formed. */
export const designProblem = (doc: Record<string, unknown>): string | undefined => {
  for (const key of Object.keys(doc)) {
    if (!designFields.has(key)) {
      return `a design document has no field ${JSON.stringify(key)} (fields: ${[...designFields].filter((f) => !f.startsWith("_")).join(", ")})`
    }
  }
  const field = (path: string, value: unknown, type: "string" | "object" | "boolean", also?: "string" | "array") => {
    const ok = (t: string) =>
      t === "object" ? isRecord(value) : t === "array" ? Array.isArray(value) : typeof value === t
    return value === undefined || ok(type) || (also !== undefined && ok(also)) ?
      undefined :
      `\`${path}\` must be ${also === undefined ? `of ${type} type` : `of ${type} or ${also} type`}`
  }
  const language = doc["language"]
  const problem = field("language", language, "string") ??
    field("options", doc["options"], "object") ??
    field("validate_doc_update", doc["validate_doc_update"], "string") ??
    field("rewrites", doc["rewrites"], "string", "array") ??
    field("autoupdate", doc["autoupdate"], "boolean") ??
    field("views", doc["views"], "object")
  if (problem !== undefined) return problem
  const options = doc["options"]
  if (isRecord(options)) {
    for (const name of ["include_design", "local_seq", "partitioned"]) {
      const optionProblem = field(`options.${name}`, options[name], "boolean")
      if (optionProblem !== undefined) return optionProblem
    }
  }
  for (const section of ["updates", "filters", "shows", "lists"]) {
    const functions = doc[section]
    const sectionProblem = field(section, functions, "object")
    if (sectionProblem !== undefined) return sectionProblem
    if (isRecord(functions)) {
      for (const [name, source] of Object.entries(functions)) {
        if (typeof source !== "string" && !isRecord(source)) return `\`${section}.${name}\` must be of string or object type`
      }
    }
  }
  const views = doc["views"]
  if (isRecord(views)) {
    for (const [name, view] of Object.entries(views)) {
      if (!isRecord(view)) return `\`views.${name}\` must be of object type`
      if (name === "lib") continue
      const viewProblem = viewDefinitionProblem(name, view, language === "query" ? "object" : "string")
      if (viewProblem !== undefined) return viewProblem
    }
  }
  return undefined
}

/** Why a view's definition would be refused, or `undefined`. */
export const viewDefinitionProblem = (
  name: string,
  view: Record<string, unknown>,
  mapType: "string" | "object" = "string"
): string | undefined => {
  const map = view["map"]
  if (map === undefined) return `the view ${JSON.stringify(name)} has no map function`
  if (mapType === "string" ? typeof map !== "string" : !isRecord(map)) return `\`views.${name}.map\` must be of ${mapType} type`
  const reduce = view["reduce"]
  if (reduce === undefined) return undefined
  if (typeof reduce !== "string") return `\`views.${name}.reduce\` must be of string type`
  if (reduce.startsWith("_") && !builtinReduce.test(reduce.trim())) {
    return `${JSON.stringify(reduce)} is not a built-in reduce function (_sum, _count, _stats, _approx_count_distinct, _first, _last, _top_N, _bottom_N)`
  }
  return undefined
}

/** Fails with `InvalidArgumentError` when `doc`, written under `id`, is a design document that is not well formed. */
export const check = (id: string, doc: unknown): Effect.Effect<void, CouchError.InvalidArgumentError> => {
  if (!id.startsWith("_design/") || !isRecord(doc)) return Effect.void
  const problem = designProblem(doc)
  return problem === undefined ?
    Effect.void :
    Effect.fail(new CouchError.InvalidArgumentError({ argument: "design document", description: `${id}: ${problem}` }))
}
