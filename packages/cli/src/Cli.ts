/**
 * The `couch` command-line tool: its command tree and how it runs.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Errors from "./internal/errors.js"
import * as Commands from "./internal/commands.js"

/**
 * The `couch` command and its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("couch").pipe(
  Command.withDescription("A CouchDB command-line tool: backup, restore, export, import, tail, replicate, and more"),
  Command.withSubcommands(Commands.subcommands)
)

/**
 * The tool's version.
 *
 * @since 0.1.0
 * @category models
 */
export const version = "0.0.0"

/**
 * Runs `couch` with the process's arguments (`argv` as `process.argv`: the first two are node and the script) and
 * resolves to the exit code: 0, 1 (a server, connection or file failure), 2 (a usage error), 3 (some documents
 * failed), 130 (interrupted). A failure is one line on stderr.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number> =>
  Command.run(command, { name: "couch", version })(argv).pipe(
    Effect.provide(NodeContext.layer),
    Effect.exit,
    Effect.map((exit) => {
      if (Exit.isSuccess(exit)) return Errors.ExitCode.ok
      const { code, line } = Errors.describe(exit.cause)
      if (line !== undefined) process.stderr.write(`couch: ${line}\n`)
      return code
    }),
    Effect.catchAllCause((cause) =>
      Effect.sync(() => {
        process.stderr.write(`couch: internal error: ${Cause.pretty(cause).split("\n")[0]}\n`)
        return Errors.ExitCode.failure
      })
    )
  )
