/**
 * JSON bodies that lose nothing: a value JSON would silently change (a function, `undefined` in an array, a
 * non-finite number) or cannot hold (a `BigInt`, a cycle) is refused before any request.
 */
import * as HttpBody from "@effect/platform/HttpBody"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { InvalidArgumentError } from "../CouchError.js"

/** How deep the fast check goes before it leaves the value to the full one (which tells a cycle from depth). */
const fastDepth = 100

/**
 * Whether a value is plain JSON, by a walk that keeps no path and no set of ancestors: `true` only for a value the
 * full check passes; `false` for anything it is not sure of (a value to report, a `toJSON`, a deep or cyclic
 * value), which the full check then decides. The test suite checks both agree on every value it generates.
 */
export const isPlainJson = (value: unknown, depth = 0): boolean => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true
    case "number":
      return Number.isFinite(value)
    case "object": {
      if (value === null) return true
      if (depth >= fastDepth) return false
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i]
          if (item === undefined || !isPlainJson(item, depth + 1)) return false
        }
        return true
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === "function") return false
      for (const key in value) {
        const field = (value as Record<string, unknown>)[key]
        if (field !== undefined && !isPlainJson(field, depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}

/** The first place where a value is not JSON, described, or `undefined` when it is JSON. */
export const jsonProblem = (value: unknown): string | undefined => isPlainJson(value) ? undefined : fullProblem(value)

/** {@link jsonProblem} by the full walk, which names the path of the value it reports. */
export const fullProblem = (value: unknown): string | undefined => {
  const ancestors = new Set<object>()
  // the path to the value being visited; written out only when there is a problem to name
  const path: Array<string | number> = []
  /** What is wrong with the value at `path`, or `undefined`. */
  const visit = (value: unknown, inArray: boolean): string | undefined => {
    switch (typeof value) {
      case "string":
      case "boolean":
        return undefined
      case "number":
        return Number.isFinite(value) ? undefined : `is ${value}, which JSON cannot hold`
      case "undefined":
        return inArray ? "is undefined, which JSON would turn into null" : undefined
      case "bigint":
        return "is a BigInt, which JSON cannot hold"
      case "function":
      case "symbol":
        return `is a ${typeof value}, which JSON would drop`
      case "object": {
        if (value === null) return undefined
        if (ancestors.has(value)) return "refers back to itself (a cycle)"
        if (typeof (value as { toJSON?: unknown }).toJSON === "function") return undefined
        ancestors.add(value)
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length; i++) {
            path.push(i)
            const problem = visit(value[i], true)
            if (problem !== undefined) return problem
            path.pop()
          }
        } else {
          for (const key in value) {
            path.push(key)
            const problem = visit((value as Record<string, unknown>)[key], false)
            if (problem !== undefined) return problem
            path.pop()
          }
        }
        ancestors.delete(value)
        return undefined
      }
    }
  }
  const problem = visit(value, false)
  return problem === undefined ?
    undefined :
    `${path.reduce<string>((text, step) => typeof step === "number" ? `${text}[${step}]` : `${text}.${step}`, "$")} ${problem}`
}

/** A JSON request body, or an `InvalidArgumentError` naming what is not JSON. */
export const body = (
  value: unknown,
  argument = "document"
): Effect.Effect<HttpBody.HttpBody, InvalidArgumentError> => {
  const made = bodyNow(value, argument)
  return Either.isRight(made) ? Effect.succeed(made.right) : Effect.fail(made.left)
}

/** {@link body} made now, without an effect: for a body made before the effect that sends it runs. */
export const bodyNow = (
  value: unknown,
  argument = "document"
): Either.Either<HttpBody.HttpBody, InvalidArgumentError> => {
  const problem = jsonProblem(value)
  return problem === undefined ?
    Either.right(HttpBody.unsafeJson(value)) :
    Either.left(new InvalidArgumentError({ argument, description: problem }))
}

/** A JSON request body for a value built by the library itself (known to be JSON). */
export const bodyUnchecked = (value: unknown): HttpBody.HttpBody => HttpBody.unsafeJson(value)
