/**
 * Property-test generators for CouchDB clients, as `Schema`s (usable with `@effect/vitest`'s
 * `it.prop("...", { name: Arbitraries.DatabaseName }, ...)` and `Arbitrary.make`) and as plain
 * FastCheck arbitraries.
 *
 * @since 0.1.0
 */
import * as Arbitrary from "effect/Arbitrary"
import * as Schema from "effect/Schema"
import * as Embedded from "./internal/embedded.js"

/** effect's FastCheck module, as handed to `arbitrary` annotations. */
type FC = Parameters<Arbitrary.LazyArbitrary<unknown>>[0]
type Arb<A> = ReturnType<Arbitrary.LazyArbitrary<A>>

// -----------------------------------------------------------------------------
// Database names
// -----------------------------------------------------------------------------

const lowercase = "abcdefghijklmnopqrstuvwxyz"
const nameChars = `${lowercase}0123456789_$()+-`

const chars = (fc: FC, alphabet: string) => fc.constantFrom(...alphabet.split(""))

const databaseNameWith = (fc: FC, alphabet: string): Arb<string> => {
  const tail = (minLength: number, maxLength: number) => fc.string({ unit: chars(fc, alphabet), minLength, maxLength })
  return fc
    .tuple(
      chars(fc, lowercase),
      fc.oneof(
        { weight: 12, arbitrary: tail(0, 12) },
        { weight: 3, arbitrary: tail(13, 60) },
        { weight: 1, arbitrary: tail(200, Embedded.maxDatabaseNameLength - 1) },
        { weight: 1, arbitrary: fc.constant("x".repeat(Embedded.maxDatabaseNameLength - 1)) }
      )
    )
    .map(([head, rest]) => head + rest)
}

/**
 * A valid CouchDB database name (`^[a-z][a-z0-9_$()+/-]*$`, 1 to 238 characters, mostly short),
 * including names with `/`. The system databases (`_users`, ...) are not generated.
 */
const databaseNameGen = (fc: FC): Arb<string> =>
  fc.oneof(
    { weight: 12, arbitrary: databaseNameWith(fc, nameChars + "/") },
    // longer than 238 in all, but no segment is: CouchDB limits each segment (a path segment of its shard files)
    {
      weight: 1,
      arbitrary: fc.tuple(databaseNameWith(fc, nameChars), databaseNameWith(fc, nameChars)).map(([a, b]) =>
        `${a.padEnd(200, "d")}/${b.padEnd(200, "f")}`
      )
    }
  )

/**
 * A valid database name without `/` (for servers whose `capabilities.slashInDatabaseNames` is
 * `false`, such as the embedded one).
 */
const databaseNameWithoutSlashGen = (fc: FC): Arb<string> => databaseNameWith(fc, nameChars)

/**
 * A valid CouchDB database name; see {@link databaseName}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DatabaseName: Schema.Schema<string> = Schema.String.pipe(
  Schema.filter((s) => Embedded.databaseNamePattern.test(s) && !Embedded.isDatabaseNameTooLong(s)),
  Schema.annotations({
    identifier: "DatabaseName",
    description: "a valid CouchDB database name",
    arbitrary: () => databaseNameGen
  })
)

/**
 * A valid database name without `/`; see {@link databaseNameWithoutSlash}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DatabaseNameWithoutSlash: Schema.Schema<string> = DatabaseName.pipe(
  Schema.filter((s) => !s.includes("/")),
  Schema.annotations({
    identifier: "DatabaseNameWithoutSlash",
    arbitrary: () => databaseNameWithoutSlashGen
  })
)

const forbiddenNameChars = [
  " ",
  ".",
  "#",
  "?",
  "%",
  "@",
  "!",
  "*",
  ":",
  ",",
  ";",
  "=",
  "&",
  "~",
  "\\",
  "\"",
  "'",
  "<",
  ">",
  "[",
  "]",
  "{",
  "}",
  "|",
  "^",
  "`",
  "\t",
  "é",
  "ß",
  "中",
  "😀"
]

/**
 * A string CouchDB refuses as a database name: uppercase letters, a leading digit, underscore
 * (other than the system databases) or symbol, the empty string, 239+ characters, forbidden
 * characters (space, `.`, `#`, `?`, `%`, ...) and non-ASCII (including astral) characters.
 */
const invalidDatabaseNameGen = (fc: FC): Arb<string> => {
  const valid = databaseNameWith(fc, nameChars)
  const insert = (char: Arb<string>) =>
    fc.tuple(valid, char, fc.nat()).map(([name, c, at]) => {
      const i = at % (name.length + 1)
      return name.slice(0, i) + c + name.slice(i)
    })
  return fc
    .oneof(
      { weight: 3, arbitrary: insert(chars(fc, lowercase.toUpperCase())) },
      { weight: 2, arbitrary: fc.tuple(chars(fc, "0123456789"), valid).map(([d, n]) => d + n) },
      { weight: 2, arbitrary: fc.tuple(chars(fc, "_$()+-/"), valid).map(([c, n]) => c + n) },
      { weight: 1, arbitrary: fc.constant("") },
      {
        weight: 1,
        arbitrary: fc
          .string({
            unit: chars(fc, nameChars),
            minLength: Embedded.maxDatabaseNameLength,
            maxLength: Embedded.maxDatabaseNameLength + 40
          })
          .map((rest) => "a" + rest)
      },
      // a last segment (after a /) over 238 characters
      {
        weight: 1,
        arbitrary: fc.integer({ min: Embedded.maxDatabaseNameLength + 1, max: Embedded.maxDatabaseNameLength + 20 })
          .map((length) => `a/${"b".repeat(length)}`)
      },
      { weight: 4, arbitrary: insert(fc.constantFrom(...forbiddenNameChars)) },
      { weight: 1, arbitrary: insert(fc.string({ unit: "grapheme", minLength: 1, maxLength: 3 })) }
    )
    .filter((s) => !Embedded.isValidDatabaseName(s))
}

/**
 * A string CouchDB refuses as a database name; see {@link invalidDatabaseName}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const InvalidDatabaseName: Schema.Schema<string> = Schema.String.pipe(
  Schema.filter((s) => !Embedded.isValidDatabaseName(s)),
  Schema.annotations({
    identifier: "InvalidDatabaseName",
    description: "a string CouchDB refuses as a database name",
    arbitrary: () => invalidDatabaseNameGen
  })
)

// -----------------------------------------------------------------------------
// Document ids
// -----------------------------------------------------------------------------

const hostileFragments = [
  "/",
  "+",
  "%",
  "%2F",
  "%2B",
  "%25",
  "?",
  "#",
  "&",
  "=",
  " ",
  "  ",
  "..",
  "../_security",
  "./",
  "\\",
  ";",
  ":",
  "@",
  "$",
  ",",
  "\"",
  "'",
  "<",
  ">",
  "é",
  "ß",
  "中文",
  "😀",
  "👩‍👩‍👧",
  "\u00a0",
  "\u200b",
  "\ud834\udd1e",
  "_design",
  "_local",
  "_all_docs",
  "attachment.txt"
]

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

const isWellFormed = (s: string) => !loneSurrogate.test(s)

const isAllowedId = (id: string) =>
  id.length > 0 && (!id.startsWith("_") || /^_(design|local)\/./s.test(id)) &&
  // a whole path segment "." or ".." is removed by URL normalisation: no URL can name such a document
  !/^(_design\/|_local\/)?\.{1,2}$/.test(id)

/**
 * A document id (any non-empty string CouchDB accepts), weighted towards the hostile: unicode
 * including astral characters and emoji, `/`, `+`, `%`, `%2F`, `?`, `#`, `&`, `=`, spaces, `..`,
 * `../_security`, and `_design/` and `_local/` prefixed ids. Ids never start with `_` otherwise
 * (CouchDB refuses them), are never `.` or `..` after their prefix (no URL can name those), and never
 * contain lone surrogates (they cannot be URL-encoded).
 */
const documentIdGen = (fc: FC): Arb<string> => {
  const hostile = fc
    .array(
      fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...hostileFragments) },
        { weight: 2, arbitrary: fc.string({ minLength: 1, maxLength: 6 }) }
      ),
      { minLength: 1, maxLength: 6 }
    )
    .map((parts) => parts.join(""))
  const body = fc.oneof(
    { weight: 3, arbitrary: hostile },
    { weight: 2, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) },
    { weight: 2, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 20 }) }
  )
  return fc
    .oneof(
      { weight: 6, arbitrary: body },
      { weight: 1, arbitrary: body.map((s) => `_design/${s}`) },
      { weight: 1, arbitrary: body.map((s) => `_local/${s}`) }
    )
    .map((id) => (isAllowedId(id) ? id : `x${id}`))
    .filter(isWellFormed)
}

/**
 * A document id; see {@link documentId}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DocumentId: Schema.Schema<string> = Schema.String.pipe(
  Schema.filter((id) => isAllowedId(id) && isWellFormed(id)),
  Schema.annotations({
    identifier: "DocumentId",
    description: "a CouchDB document id",
    arbitrary: () => documentIdGen
  })
)

// -----------------------------------------------------------------------------
// JSON
// -----------------------------------------------------------------------------

/**
 * A JSON value that survives a round trip through CouchDB unchanged.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | ReadonlyArray<JsonValue>
  | { readonly [key: string]: JsonValue }

/**
 * A JSON object usable as a document body: no top-level key starts with `_`.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonDocument = { readonly [key: string]: JsonValue }

const jsonString = (fc: FC) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 20 }) },
    { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }) },
    { weight: 1, arbitrary: fc.constantFrom("", "😀", "\u0000", "\n\t\"\\", "\ud834\udd1e", "%2F", "null") }
  )

const jsonNumber = (fc: FC) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.integer() },
    { weight: 1, arbitrary: fc.maxSafeInteger() },
    {
      weight: 2,
      arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n))
    }
  )

// Never `__proto__`: JavaScript servers (the embedded one) and object spreads drop or misread such a key.
const jsonKey = (fc: FC) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ maxLength: 10 }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 6 }) }
  ).filter((key) => key !== "__proto__")

const jsonLeaf = (fc: FC): Arb<JsonValue> =>
  fc.oneof(jsonString(fc), jsonNumber(fc), fc.boolean(), fc.constant(null))

const jsonValueWithDepth = (fc: FC, depth: number): Arb<JsonValue> => {
  if (depth <= 0) return jsonLeaf(fc)
  const inner = jsonValueWithDepth(fc, depth - 1)
  return fc.oneof(
    { weight: 4, arbitrary: jsonLeaf(fc) },
    { weight: 1, arbitrary: fc.array(inner, { maxLength: 5 }) },
    { weight: 1, arbitrary: fc.dictionary(jsonKey(fc), inner, { maxKeys: 5 }) }
  )
}

/**
 * A JSON value: strings (including unicode), finite numbers that round-trip through JSON (safe
 * integers and doubles; never `-0`), booleans, `null`, and arrays/objects nested at most
 * `maxDepth` (default 3) levels with at most 5 entries each, whose keys are never `__proto__`.
 */
const jsonValueGen = (fc: FC, options?: { readonly maxDepth?: number | undefined }): Arb<JsonValue> =>
  jsonValueWithDepth(fc, options?.maxDepth ?? 3)

/**
 * A JSON object whose top-level keys do not start with `_` (a document body without `_id`/`_rev`).
 */
const jsonDocumentGen = (
  fc: FC,
  options?: { readonly maxDepth?: number | undefined }
): Arb<JsonDocument> =>
  fc.dictionary(
    jsonKey(fc).filter((k) => !k.startsWith("_")),
    jsonValueWithDepth(fc, Math.max((options?.maxDepth ?? 3) - 1, 0)),
    { maxKeys: 8 }
  )

const isJsonValue = (u: unknown): u is JsonValue => {
  if (u === null || typeof u === "boolean" || typeof u === "string") return true
  if (typeof u === "number") return Number.isFinite(u) && !Object.is(u, -0)
  if (Array.isArray(u)) return u.every(isJsonValue)
  if (typeof u === "object") return Object.values(u).every(isJsonValue)
  return false
}

/**
 * A JSON value; see {@link jsonValue}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonValue: Schema.Schema<JsonValue> = Schema.declare(isJsonValue, {
  identifier: "JsonValue",
  description: "a JSON value that round-trips through CouchDB",
  arbitrary: () => (fc) => jsonValueGen(fc)
})

/**
 * A JSON document body; see {@link jsonDocument}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonDocument: Schema.Schema<JsonDocument> = Schema.declare(
  (u: unknown): u is JsonDocument =>
    typeof u === "object" && u !== null && !Array.isArray(u) && isJsonValue(u) &&
    Object.keys(u).every((k) => !k.startsWith("_")),
  {
    identifier: "JsonDocument",
    description: "a JSON object whose top-level keys do not start with _",
    arbitrary: () => (fc) => jsonDocumentGen(fc)
  }
)

// -----------------------------------------------------------------------------
// Plain FastCheck arbitraries
// -----------------------------------------------------------------------------

/**
 * {@link DatabaseName} as a FastCheck arbitrary.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const databaseName = Arbitrary.make(DatabaseName)

/**
 * {@link DatabaseNameWithoutSlash} as a FastCheck arbitrary.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const databaseNameWithoutSlash = Arbitrary.make(DatabaseNameWithoutSlash)

/**
 * {@link InvalidDatabaseName} as a FastCheck arbitrary.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const invalidDatabaseName = Arbitrary.make(InvalidDatabaseName)

/**
 * {@link DocumentId} as a FastCheck arbitrary.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const documentId = Arbitrary.make(DocumentId)

/**
 * {@link JsonValue} as a FastCheck arbitrary.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const jsonValue = Arbitrary.make(JsonValue)

/**
 * {@link JsonDocument} as a FastCheck arbitrary.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const jsonDocument = Arbitrary.make(JsonDocument)
