/**
 * A checkpoint file: the last sequence handled, written atomically (a temporary file renamed over it).
 */
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import { RunError } from "./errors.js"

/** The sequence in a checkpoint file, or undefined when there is none yet. */
export const read = (path: string): Effect.Effect<string | number | undefined, RunError> =>
  Effect.try({
    try: () => {
      if (!Fs.existsSync(path)) return undefined
      const parsed = JSON.parse(Fs.readFileSync(path, "utf8")) as { readonly seq?: unknown }
      if (typeof parsed.seq === "string" || typeof parsed.seq === "number") return parsed.seq
      throw new Error("no seq in it")
    },
    catch: (error) =>
      new RunError({ description: `checkpoint ${path}: ${error instanceof Error ? error.message : String(error)}` })
  })

/** Writes a checkpoint. */
export const write = (path: string, seq: string | number): Effect.Effect<void, RunError> =>
  Effect.try({
    try: () => {
      const temporary = `${path}.tmp`
      Fs.writeFileSync(temporary, JSON.stringify({ seq }) + "\n")
      Fs.renameSync(temporary, path)
    },
    catch: (error) =>
      new RunError({ description: `checkpoint ${path}: ${error instanceof Error ? error.message : String(error)}` })
  })
