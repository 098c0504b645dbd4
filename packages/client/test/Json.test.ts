/**
 * The check that a request body is JSON that loses nothing: it passes every JSON value and names the first place
 * where a value is not JSON.
 */
import { Arbitraries } from "@effect-couch/testing"
import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import { jsonProblem } from "../src/internal/json.js"

/** A place inside a JSON value: the steps to it, and the value with `bad` put there. */
const placed = (value: unknown, steps: ReadonlyArray<number>, bad: unknown): { path: string; value: unknown } => {
  const [step, ...rest] = steps
  if (step === undefined || value === null || typeof value !== "object") {
    return { path: "$", value: bad }
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return { path: "$[0]", value: [bad] }
    const index = step % value.length
    const inner = placed(value[index], rest, bad)
    return {
      path: `$[${index}]${inner.path.slice(1)}`,
      value: value.map((item, i) => i === index ? inner.value : item)
    }
  }
  const keys = Object.keys(value)
  if (keys.length === 0) return { path: "$.x", value: { x: bad } }
  const key = keys[step % keys.length]
  const inner = placed((value as Record<string, unknown>)[key], rest, bad)
  return { path: `$.${key}${inner.path.slice(1)}`, value: { ...value, [key]: inner.value } }
}

const cycle = (): unknown => {
  const self: Record<string, unknown> = {}
  self["self"] = self
  return self
}

describe("jsonProblem", () => {
  it.prop("every JSON value passes", [Arbitraries.jsonValue], ([value]) => {
    assert.isUndefined(jsonProblem(value))
  })

  it.prop(
    "a value JSON cannot hold, anywhere, is named by its path",
    [
      Arbitraries.jsonValue,
      FastCheck.array(FastCheck.nat(), { maxLength: 4 }),
      FastCheck.constantFrom<[unknown, string]>(
        [1n, "is a BigInt"],
        [() => 1, "is a function"],
        [Symbol("s"), "is a symbol"],
        [Number.NaN, "is NaN"],
        [Infinity, "is Infinity"],
        [cycle(), "refers back to itself"]
      )
    ],
    ([value, steps, [bad, says]]) => {
      const { path, value: hostile } = placed(value, steps, bad)
      const problem = jsonProblem(hostile)
      const expectedPath = says.startsWith("refers") ? `${path}.self` : path
      assert.strictEqual(problem?.startsWith(`${expectedPath} ${says}`), true, `${problem} (expected ${expectedPath})`)
    }
  )

  it("undefined is refused in an array (JSON makes it null), and dropped silently nowhere else", () => {
    assert.strictEqual(jsonProblem({ list: [1, undefined] }), "$.list[1] is undefined, which JSON would turn into null")
    assert.isUndefined(jsonProblem({ a: undefined, b: [1] }))
  })
})
