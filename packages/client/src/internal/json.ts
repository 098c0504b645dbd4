/**
 * JSON bodies that lose nothing: a value JSON would silently change (a function, `undefined` in an array, a
 * non-finite number) or cannot hold (a `BigInt`, a cycle) is refused before any request.
 */
import * as HttpBody from "@effect/platform/HttpBody"
import * as Effect from "effect/Effect"
import { InvalidArgumentError } from "../CouchError.js"

/** The first place where a value is not JSON, described, or `undefined` when it is JSON. */
export const jsonProblem = (value: unknown): string | undefined => {
  const ancestors = new Set<object>()
  const visit = (value: unknown, path: string, inArray: boolean): string | undefined => {
    switch (typeof value) {
      case "string":
      case "boolean":
        return undefined
      case "number":
        return Number.isFinite(value) ? undefined : `${path} is ${value}, which JSON cannot hold`
      case "undefined":
        return inArray ? `${path} is undefined, which JSON would turn into null` : undefined
      case "bigint":
        return `${path} is a BigInt, which JSON cannot hold`
      case "function":
      case "symbol":
        return `${path} is a ${typeof value}, which JSON would drop`
      case "object": {
        if (value === null) return undefined
        if (ancestors.has(value)) return `${path} refers back to itself (a cycle)`
        if (typeof (value as { toJSON?: unknown }).toJSON === "function") return undefined
        ancestors.add(value)
        let problem: string | undefined
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length && problem === undefined; i++) {
            problem = visit(value[i], `${path}[${i}]`, true)
          }
        } else {
          for (const key in value) {
            problem = visit((value as Record<string, unknown>)[key], `${path}.${key}`, false)
            if (problem !== undefined) break
          }
        }
        ancestors.delete(value)
        return problem
      }
    }
  }
  return visit(value, "$", false)
}

/** A JSON request body, or an `InvalidArgumentError` naming what is not JSON. */
export const body = (
  value: unknown,
  argument = "document"
): Effect.Effect<HttpBody.HttpBody, InvalidArgumentError> => {
  const problem = jsonProblem(value)
  return problem === undefined ?
    Effect.succeed(HttpBody.unsafeJson(value)) :
    Effect.fail(new InvalidArgumentError({ argument, description: problem }))
}

/** A JSON request body for a value built by the library itself (known to be JSON). */
export const bodyUnchecked = (value: unknown): HttpBody.HttpBody => HttpBody.unsafeJson(value)
