import * as Schedule from "effect/Schedule"

/**
 * The default retry policy of idempotent requests: exponential from 100 ms, capped at 2 s, jittered, three
 * retries.
 */
export const retry = Schedule.exponential("100 millis").pipe(
  Schedule.either(Schedule.spaced("2 seconds")),
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(3))
)
