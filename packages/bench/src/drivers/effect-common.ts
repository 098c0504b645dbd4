/** What the two Effect drivers share (a module of its own so that the promise-based drivers never load effect). */
import * as Effect from "effect/Effect"
import type * as ManagedRuntime from "effect/ManagedRuntime"

/** The two get-doc loops as an Effect user writes them: a sequential loop, and `Effect.forEach` with a concurrency. */
export const effectGetLoops = <R>(runtime: ManagedRuntime.ManagedRuntime<R, unknown>, getOne: Effect.Effect<void, unknown, R>) => ({
  getDocs: (n: number) =>
    runtime.runPromise(Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* getOne
    })),
  getDocsConcurrent: (n: number, concurrency: number) =>
    runtime.runPromise(Effect.forEach(Array.from({ length: n }), () => getOne, { concurrency, discard: true }))
})
