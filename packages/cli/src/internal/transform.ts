/**
 * `--transform MODULE` of export and import: a JavaScript module whose default export maps each document,
 * `(doc) => doc | null` (or a Promise of it); `null` or `undefined` leaves the document out.
 */
import * as Effect from "effect/Effect"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import { RunError, UsageError } from "./errors.js"
import * as Input from "./input.js"

/** A loaded transform: the document it gives, or `undefined` for one left out. */
export type Transform = (
  doc: Record<string, unknown>
) => Effect.Effect<Record<string, unknown> | undefined, RunError>

const message = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** Loads the module at `path` (relative to the working directory); a usage error when it has no default function. */
export const load = (path: string): Effect.Effect<Transform, UsageError> =>
  Effect.gen(function*() {
    yield* Input.checkReadable(path)
    const module = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(Path.resolve(path)).href) as Promise<{ readonly default?: unknown }>,
      catch: (error) => new UsageError({ description: `--transform ${path}: ${message(error)}` })
    })
    const f = module.default
    if (typeof f !== "function") {
      return yield* new UsageError({
        description: `--transform ${path}: its default export must be a function (doc) => doc | null`
      })
    }
    const what = (doc: Record<string, unknown>) => (typeof doc._id === "string" ? `document ${doc._id}` : "a document")
    const check = (doc: Record<string, unknown>, result: unknown): Effect.Effect<Record<string, unknown> | undefined, RunError> =>
      result === null || result === undefined ?
        Effect.succeed(undefined) :
        typeof result === "object" && !Array.isArray(result) ?
        Effect.succeed(result as Record<string, unknown>) :
        Effect.fail(
          new RunError({ description: `--transform ${path} gave ${typeof result} for ${what(doc)}, not an object or null` })
        )
    const failed = (doc: Record<string, unknown>, error: unknown) =>
      new RunError({ description: `--transform ${path} failed on ${what(doc)}: ${message(error)}` })
    // a synchronous function's result is taken as it is; a Promise is awaited
    return (doc) =>
      Effect.suspend(() => {
        let result: unknown
        try {
          result = (f as (doc: unknown) => unknown)(doc)
        } catch (error) {
          return Effect.fail(failed(doc, error))
        }
        if (typeof (result as { readonly then?: unknown } | null)?.then === "function") {
          return Effect.flatMap(
            Effect.tryPromise({ try: () => result as Promise<unknown>, catch: (error) => failed(doc, error) }),
            (value) => check(doc, value)
          )
        }
        return check(doc, result)
      })
  })
