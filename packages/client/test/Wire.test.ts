/**
 * The incremental reader of a long answer's `rows`: whatever the layout and wherever the text is cut, it finds
 * exactly the rows of the answer, in order.
 */
import { Arbitraries } from "@effect-couch/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { DbUpdates } from "../src/index.js"
import { AllDocsRow, allDocsRowProblem } from "../src/internal/allDocs.js"
import { ChangeRow, changeRowProblem, LastSeqLine, lastSeqLine } from "../src/internal/changes.js"
import { updateRowProblem } from "../src/internal/dbUpdates.js"
import { ViewRow, viewRowProblem } from "../src/internal/views.js"
import { bulkGetResultProblem, isObject, rowsScanner } from "../src/internal/wire.js"

const scan = (text: string, cuts: ReadonlyArray<number>, field?: string) => {
  const scanner = rowsScanner(field)
  const points = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b)
  const rows: Array<unknown> = []
  let from = 0
  for (const point of [...points, text.length]) {
    for (const row of scanner.push(text.slice(from, point))) rows.push(JSON.parse(row))
    from = point
  }
  return { rows, rest: scanner.end() }
}

/** Strings rich in what the scanner must get right: quotes, backslashes, brackets. */
const tricky = FastCheck.array(FastCheck.constantFrom("\\", "\"", "[", "]", "{", "}", ",", "a", "é", "\n"), {
  maxLength: 12
}).map((parts) => parts.join(""))

const row = FastCheck.record({
  id: FastCheck.string(),
  key: FastCheck.oneof(Arbitraries.jsonValue, tricky),
  value: FastCheck.record({ rev: FastCheck.string() }),
  doc: Arbitraries.jsonValue
})

describe("rowsScanner", () => {
  it.prop(
    "finds every row of an answer, one line or a row a line, cut anywhere",
    [
      FastCheck.array(row, { maxLength: 8 }),
      Arbitraries.jsonValue,
      FastCheck.boolean(),
      FastCheck.array(FastCheck.nat(), { maxLength: 12 })
    ],
    ([rows, other, couchLayout, cuts]) => {
      const answer = { "total_rows": rows.length, "rows_before": other, "offset": 0, rows, "update_seq": other }
      const text = couchLayout ?
        `{"total_rows":${rows.length},"offset":0,"rows":[\r\n${rows.map((r) => JSON.stringify(r)).join(",\r\n")}\r\n]}\n` :
        JSON.stringify(answer)
      const result = scan(text, cuts)
      assert.deepStrictEqual(result.rows, rows)
      assert.isDefined(result.rest)
      assert.deepStrictEqual(
        JSON.parse(result.rest),
        couchLayout ? { total_rows: rows.length, offset: 0, rows: [] } : { ...answer, rows: [] }
      )
    }
  )

  it("rows that are not objects are reported as rows (null), not skipped", () => {
    assert.deepStrictEqual(scan(`{"rows":[{"a":1}, 12, "x", true, null, [1]]}`, [5, 17]).rows, [
      { a: 1 },
      null,
      null,
      null,
      null,
      [1]
    ])
  })

  it("reads another field when asked, and only that one", () => {
    const scanner = rowsScanner("results")
    const rows = scanner.push(`{"rows":[{"x":1}],"results":[{"seq":"1-a"},{"seq":"2-b"}],"last_seq":"2-b"}`)
    assert.deepStrictEqual(rows.map((row) => JSON.parse(row)), [{ seq: "1-a" }, { seq: "2-b" }])
    assert.deepStrictEqual(JSON.parse(scanner.end() ?? "null"), { rows: [{ x: 1 }], results: [], last_seq: "2-b" })
  })

  it("an answer without a whole rows array is incomplete", () => {
    assert.isUndefined(scan(`{"rows":[{"a":1}`, []).rest)
    assert.isUndefined(scan(`{"error":"x"}`, []).rest)
    assert.strictEqual(scan(`{"rows":[]}`, []).rest, `{"rows":[]}`)
  })

  it.prop(
    "keeps what follows the rows, such as the last sequence of a changes feed, cut anywhere",
    [
      FastCheck.array(FastCheck.record({ seq: tricky, id: tricky }), { maxLength: 5 }),
      FastCheck.oneof(tricky, FastCheck.integer()),
      FastCheck.array(FastCheck.nat(), { maxLength: 12 })
    ],
    ([results, lastSeq, cuts]) => {
      const text = JSON.stringify({ results, last_seq: lastSeq, pending: 0 })
      const { rest, rows } = scan(text, cuts, "results")
      assert.deepStrictEqual(rows, results)
      assert.deepStrictEqual(JSON.parse(rest ?? "null"), { results: [], last_seq: lastSeq, pending: 0 })
    }
  )
})

/** The schema a `_bulk_get` result was decoded with before its loop check: the reference it must agree with. */
const BulkGetResultSchema = Schema.Struct({
  id: Schema.String,
  docs: Schema.Array(Schema.Union(
    Schema.Struct({
      error: Schema.Struct({
        id: Schema.optional(Schema.String),
        rev: Schema.optional(Schema.String),
        error: Schema.String,
        reason: Schema.optional(Schema.String)
      })
    }),
    Schema.Struct({ ok: Schema.Unknown })
  ))
})

/** Values near a `_bulk_get` result: well-formed ones, with a field dropped, replaced or added, and anything. */
const nearBulkGetResult = FastCheck.oneof(
  Arbitrary.make(BulkGetResultSchema),
  FastCheck.tuple(
    Arbitrary.make(BulkGetResultSchema),
    FastCheck.nat(),
    FastCheck.constantFrom("id", "docs", "error", "ok", "rev", "reason"),
    FastCheck.oneof(FastCheck.constant(undefined), Arbitraries.jsonValue, FastCheck.constant({ error: 1 }))
  ).map(([result, at, field, value]) => {
    const docs = result.docs.map((entry) => ({ ...entry })) as Array<Record<string, unknown>>
    if (docs.length === 0 || field === "id" || field === "docs") return { ...result, [field]: value }
    const entry = docs[at % docs.length]!
    if (field === "error" || field === "ok") {
      if (value === undefined) delete entry[field]
      else entry[field] = value
    } else if (typeof entry.error === "object" && entry.error !== null) {
      entry.error = { ...entry.error, [field]: value }
    }
    return { ...result, docs }
  }),
  Arbitraries.jsonValue
)

describe("bulkGetResultProblem", () => {
  it.prop("accepts exactly what the schema it replaced accepts", [nearBulkGetResult], ([value]) => {
    assert.strictEqual(bulkGetResultProblem(value) === undefined, Schema.is(BulkGetResultSchema)(value), JSON.stringify(value))
  }, { fastCheck: { numRuns: 2000 } })
})

/** Where a field of a row is: its keys, and in an array an index (taken modulo the array's length). */
type FieldPath = ReadonlyArray<string | number>

/** In place of a field's new value: the field is removed. */
const absent = Symbol("absent")

/**
 * `value` with the field at `path` replaced by `by` (removed when `absent`), copying only what leads to it; a path
 * through a field or an element that is not there leaves the value as it is.
 */
const withField = (value: unknown, path: FieldPath, by: unknown): unknown => {
  if (path.length === 0 || typeof value !== "object" || value === null) return value
  const [at, ...rest] = path
  if (Array.isArray(value)) {
    if (value.length === 0 || typeof at !== "number") return value
    const index = at % value.length
    return rest.length === 0 && by === absent ?
      value.filter((_, i) => i !== index) :
      value.map((element, i) => i === index ? (rest.length === 0 ? by : withField(element, rest, by)) : element)
  }
  const key = String(at)
  const copy: Record<string, unknown> = { ...value }
  if (rest.length > 0) {
    if (!(key in copy)) return value
    copy[key] = withField(copy[key], rest, by)
  } else if (by === absent) {
    delete copy[key]
  } else {
    copy[key] = by
  }
  return copy
}

/** What replaces a field: nothing, `undefined`, a value of another type, or any JSON. */
const replacement = FastCheck.oneof(
  FastCheck.constant(absent),
  FastCheck.constant(undefined),
  FastCheck.constantFrom(null, "", 0, -1.5, true, false, {}, [], [{}], { rev: 1 }),
  Arbitraries.jsonValue
)

/**
 * Values near the rows a schema decodes (`wire`, the schema's encoded side): well-formed rows, rows with one field (at one of `paths`) removed or
 * replaced, objects of the row's top-level fields with any JSON values, and any JSON.
 */
const nearRows = <I>(wire: Schema.Schema<I>, paths: ReadonlyArray<FieldPath>): FastCheck.Arbitrary<unknown> => {
  const fields = [...new Set(paths.map((path) => String(path[0])))]
  return FastCheck.oneof(
    Arbitrary.make(wire),
    FastCheck.tuple(Arbitrary.make(wire), FastCheck.constantFrom(...paths), replacement).map(([row, path, by]) =>
      withField(row, path, by)
    ),
    FastCheck.record(Object.fromEntries(fields.map((field) => [field, Arbitraries.jsonValue])), { requiredKeys: [] }),
    Arbitraries.jsonValue
  )
}

/** The runs of each property that holds a row's fast check to its schema. */
const numRuns = 2000

/**
 * Holds a row's fast check to its schema, the source of truth: on values near the rows, it finds nothing wrong with
 * a value exactly when the schema decodes it.
 */
const heldToSchema = <A, I>(
  problem: (value: unknown) => string | undefined,
  schema: Schema.Schema<A, I>,
  paths: ReadonlyArray<FieldPath>
) =>
  it.prop("accepts exactly what its schema decodes", [nearRows(Schema.encodedSchema(schema), paths)], ([value]) => {
    const decoded = Schema.decodeUnknownEither(schema)(value)
    assert.strictEqual(problem(value) === undefined, Either.isRight(decoded), `${JSON.stringify(value)}`)
  }, { fastCheck: { numRuns } })

describe("allDocsRowProblem", () => {
  heldToSchema(allDocsRowProblem, AllDocsRow, [
    ["id"],
    ["key"],
    ["value"],
    ["value", "rev"],
    ["value", "deleted"],
    ["doc"],
    ["error"]
  ])
})

describe("changeRowProblem", () => {
  heldToSchema(changeRowProblem, ChangeRow, [
    ["seq"],
    ["id"],
    ["changes"],
    ["changes", 0],
    ["changes", 0, "rev"],
    ["deleted"],
    ["doc"]
  ])
})

describe("lastSeqLine", () => {
  heldToSchema(
    (value) => {
      if (!isObject(value)) return "not an object"
      const line = lastSeqLine(value)
      return typeof line === "string" ? line : undefined
    },
    LastSeqLine,
    [["last_seq"], ["pending"]]
  )
})

describe("viewRowProblem", () => {
  heldToSchema(viewRowProblem, ViewRow, [["id"], ["key"], ["value"], ["doc"], ["error"]])
})

describe("updateRowProblem", () => {
  // its values are near the wire side of the event's schema, `{ db_name, type, seq }`
  heldToSchema(updateRowProblem, DbUpdates.DbUpdate, [["db_name"], ["type"], ["seq"]])
})
