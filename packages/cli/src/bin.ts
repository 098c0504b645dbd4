/**
 * The `couch` executable: runs the command line, exits with its code; Ctrl-C (SIGINT) or SIGTERM interrupts the
 * command, whose finalizers close its files, and exits with 130.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Cli from "./Cli.js"

const fiber = Effect.runFork(Cli.run(process.argv))
let interrupted = false
const onSignal = () => {
  if (interrupted) process.exit(130)
  interrupted = true
  Effect.runFork(Fiber.interrupt(fiber))
}
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)
fiber.addObserver((exit) => {
  const code = exit._tag === "Success" ? exit.value : interrupted ? 130 : 1
  process.exitCode = code
  // stdout and stderr are flushed before exiting; open sockets (keep-alive) must not keep the process up
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)))
})
