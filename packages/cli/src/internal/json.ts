/**
 * JSON given on the command line (selectors, documents): parsed, or a usage error naming what was wrong.
 */
import * as Effect from "effect/Effect"
import { UsageError } from "./errors.js"

/** Parses `text` as JSON; a usage error names `what` it was. */
export const parse = (text: string, what: string): Effect.Effect<unknown, UsageError> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (error) =>
      new UsageError({ description: `${what} is not JSON: ${error instanceof Error ? error.message : String(error)}` })
  })

/** Parses `text` as a JSON object. */
export const parseObject = (text: string, what: string): Effect.Effect<Record<string, unknown>, UsageError> =>
  Effect.flatMap(parse(text, what), (value) =>
    typeof value === "object" && value !== null && !Array.isArray(value) ?
      Effect.succeed(value as Record<string, unknown>) :
      Effect.fail(new UsageError({ description: `${what} must be a JSON object` })))

/** One JSON line on stdout. */
export const printLine = (value: unknown): Effect.Effect<void> =>
  Effect.sync(() => {
    process.stdout.write(JSON.stringify(value) + "\n")
  })

/** Indented JSON on stdout. */
export const print = (value: unknown): Effect.Effect<void> =>
  Effect.sync(() => {
    process.stdout.write(JSON.stringify(value, null, 2) + "\n")
  })
