import * as Either from "effect/Either"
import * as Effect from "effect/Effect"
import { InvalidArgumentError } from "../CouchError.js"

/** CouchDB's rule for database names (docs.couchdb.org, `PUT /{db}`). */
const databaseNamePattern = /^[a-z][a-z0-9_$()+/-]*$/

/** The system databases whose names break the rule. */
const systemDatabases: ReadonlySet<string> = new Set(["_users", "_replicator", "_global_changes"])

/**
 * The longest last segment (after the last `/`) of a database name CouchDB accepts. Each `/`-separated segment of
 * a name is a path segment of its shard files on the server (`shards/<range>/a/b.<10-digit timestamp>.couch`), and
 * a file system name holds at most 255 bytes: 238 characters for the last segment, 255 for the others. A longer one
 * is answered 400 `database_name_too_long`.
 */
export const maxDatabaseNameLength = 238

/** The longest segment before a `/` of a database name (a directory of the server's shard files). */
export const maxDatabaseDirectoryLength = 255

/** Why a database name is invalid, or `undefined` when it is valid. */
export const databaseNameProblem = (name: string): string | undefined => {
  if (systemDatabases.has(name)) return undefined
  if (name.length === 0) return "a database name cannot be empty"
  if (!databaseNamePattern.test(name)) {
    return `${
      JSON.stringify(name)
    } must begin with a lowercase letter (a-z) and hold only lowercase letters, digits and _ $ ( ) + - /`
  }
  const segments = name.split("/")
  const last = segments[segments.length - 1] ?? ""
  if (last.length > maxDatabaseNameLength) {
    return `the last segment of a database name (after its last /) has at most ${maxDatabaseNameLength} characters, ` +
      `this one has ${last.length} (CouchDB: database_name_too_long)`
  }
  const directory = segments.slice(0, -1).find((segment) => segment.length > maxDatabaseDirectoryLength)
  if (directory !== undefined) {
    return `a segment of a database name before a / has at most ${maxDatabaseDirectoryLength} characters, ` +
      `this one has ${directory.length} (CouchDB: database_name_too_long)`
  }
  return undefined
}

/** Checks a database name and gives its encoded path segment. */
export const databasePath = (name: string): Effect.Effect<string, InvalidArgumentError> => {
  const problem = databaseNameProblem(name)
  return problem === undefined ?
    Effect.succeed(encodeSegment(name)) :
    Effect.fail(new InvalidArgumentError({ argument: "database name", description: problem }))
}

/**
 * Encodes one path segment exactly: `encodeURIComponent` (which also turns `+` into `%2B`, so servers that read
 * `+` as a space see a plus).
 */
export const encodeSegment = (segment: string): string => encodeURIComponent(segment)

const designPrefix = "_design/"
const localPrefix = "_local/"

/** A design document's name: its id without the `_design/` prefix (given with or without it). */
export const designName = (ddoc: string): string =>
  ddoc.startsWith(designPrefix) ? ddoc.slice(designPrefix.length) : ddoc

/** A design document's id: its name with the `_design/` prefix (given with or without it). */
export const designId = (ddoc: string): string => designPrefix + designName(ddoc)

/** A design document's name as one encoded path segment (after `_design/`). */
export const designSegment = (ddoc: string): string => encodeSegment(designName(ddoc))

/**
 * Why a document id cannot be addressed by a URL path, or `undefined` when it can.
 *
 * `.` and `..` would be removed by URL normalisation (WHATWG URLs treat `%2e` as a dot too), and an id starting
 * with `_` that is not a design or local document would name an endpoint (`_all_docs`, `_security`, ...).
 */
export const documentIdProblem = (id: string): string | undefined => {
  if (id.length === 0) return "a document id cannot be empty"
  const name = id.startsWith(designPrefix) ?
    id.slice(designPrefix.length) :
    id.startsWith(localPrefix) ?
    id.slice(localPrefix.length) :
    id.startsWith("_") ?
    undefined :
    id
  if (name === undefined) {
    return `${JSON.stringify(id)}: only design (_design/) and local (_local/) document ids may start with _`
  }
  if (name.length === 0) return `${JSON.stringify(id)} has an empty name after its prefix`
  if (!isWellFormed(id)) return `${JSON.stringify(id)} holds a lone surrogate, which no URL can carry`
  if (name === "." || name === "..") {
    return `${JSON.stringify(id)} cannot be addressed in a URL path: URL normalisation would remove the dots`
  }
  return undefined
}

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** Whether a string is well-formed UTF-16 (no lone surrogate), so that `encodeURIComponent` accepts it. */
export const isWellFormed = (text: string): boolean => !loneSurrogate.test(text)

/** Checks a document id and gives its path: one encoded segment, the `_design/` or `_local/` prefix kept. */
export const documentPath = (id: string): Either.Either<string, InvalidArgumentError> => {
  const problem = documentIdProblem(id)
  return problem === undefined ?
    Either.right(encodeDocumentId(id)) :
    Either.left(new InvalidArgumentError({ argument: "document id", description: problem }))
}

/** Encodes a valid document id as a path: the `_design/` or `_local/` prefix keeps its slash. */
export const encodeDocumentId = (id: string): string =>
  id.startsWith(designPrefix) ?
    designPrefix + encodeSegment(id.slice(designPrefix.length)) :
    id.startsWith(localPrefix) ?
    localPrefix + encodeSegment(id.slice(localPrefix.length)) :
    encodeSegment(id)
