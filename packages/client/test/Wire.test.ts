/**
 * The incremental reader of a long answer's `rows`: whatever the layout and wherever the text is cut, it finds
 * exactly the rows of the answer, in order.
 */
import { Arbitraries } from "@effect-couch/testing"
import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import { rowsScanner } from "../src/internal/wire.js"

const scan = (text: string, cuts: ReadonlyArray<number>) => {
  const scanner = rowsScanner()
  const points = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b)
  const rows: Array<unknown> = []
  let from = 0
  for (const point of [...points, text.length]) {
    for (const row of scanner.push(text.slice(from, point))) rows.push(JSON.parse(row))
    from = point
  }
  return { rows, complete: scanner.end() }
}

const row = FastCheck.record({
  id: FastCheck.string(),
  key: Arbitraries.jsonValue,
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
      assert.isTrue(result.complete)
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
    assert.isTrue(scanner.end())
  })

  it("an answer without a whole rows array is incomplete", () => {
    assert.isFalse(scan(`{"rows":[{"a":1}`, []).complete)
    assert.isFalse(scan(`{"error":"x"}`, []).complete)
    assert.isTrue(scan(`{"rows":[]}`, []).complete)
  })
})
