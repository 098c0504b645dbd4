/**
 * The check that a request body is JSON that loses nothing: it passes every JSON value and names the first place
 * where a value is not JSON.
 */
import { Arbitraries } from "@effect-couch/testing"
import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import { fullProblem, isPlainJson, jsonProblem } from "../src/internal/json.js"

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

  it.prop(
    "the fast check passes only what the full check passes, and jsonProblem always says what the full check says",
    [
      FastCheck.oneof(
        Arbitraries.jsonValue,
        FastCheck.anything({
          withBigInt: true,
          withBoxedValues: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withNullPrototype: true,
          withObjectString: true,
          withSparseArray: true,
          withTypedArray: true,
          maxDepth: 4
        })
      ),
      FastCheck.array(FastCheck.nat(), { maxLength: 4 }),
      FastCheck.constantFrom<unknown>(1n, () => 1, Symbol("s"), Number.NaN, -Infinity, undefined, cycle(), new Date(0), 1, "s")
    ],
    ([value, steps, bad]) => {
      for (const candidate of [value, placed(value, steps, bad).value]) {
        const full = fullProblem(candidate)
        if (isPlainJson(candidate)) assert.isUndefined(full)
        assert.strictEqual(jsonProblem(candidate), full)
      }
    }
  )

  it("a value deeper than the fast check goes, or a cycle under it, is decided by the full check", () => {
    let deep: unknown = { leaf: [1, "a", null] }
    for (let i = 0; i < 300; i++) deep = i % 2 === 0 ? [deep] : { next: deep }
    assert.isFalse(isPlainJson(deep))
    assert.isUndefined(jsonProblem(deep))
    const holder: Record<string, unknown> = { list: [] }
    ;(holder.list as Array<unknown>).push({ back: holder })
    assert.strictEqual(jsonProblem(holder), "$.list[0].back refers back to itself (a cycle)")
  })
})
