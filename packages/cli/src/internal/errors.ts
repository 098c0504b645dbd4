/**
 * The CLI's own errors and how every failure becomes one line on stderr and an exit code.
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as CouchError from "@effect-couch/client/CouchError"
import * as Cause from "effect/Cause"
import * as Schema from "effect/Schema"

/** Exit codes (README, "Exit codes"). */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  partial: 3,
  interrupted: 130
} as const

/** The command line is wrong: an option's value, a selector that is not JSON, a file that cannot be read. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  description: Schema.String
}) {
  override get message(): string {
    return this.description
  }
}

/** Something failed at run time that is not the server's answer: a file, a malformed input line. */
export class RunError extends Schema.TaggedError<RunError>()("RunError", {
  description: Schema.String
}) {
  override get message(): string {
    return this.description
  }
}

/** The command finished, but some documents were refused (each reported on stderr). */
export class PartialFailure extends Schema.TaggedError<PartialFailure>()("PartialFailure", {
  failed: Schema.Number,
  total: Schema.Number
}) {
  override get message(): string {
    return `${this.failed} of ${this.total} documents failed`
  }
}

const oneLine = (text: string): string => text.replace(/\s*[\r\n]+\s*/g, " ").trim()

const hint = (error: CouchError.CouchError): string => {
  switch (error._tag) {
    case "UnauthorizedError":
      return " (check --user and --password, or COUCHDB_USER and COUCHDB_PASSWORD)"
    case "ForbiddenError":
      return " (the user lacks the permission)"
    case "NotFoundError":
      return error.reason === "Database does not exist." || error.reason === "no_db_file" ?
        " (no such database; restore and import take --create)" :
        ""
    case "TransportError":
      return error.reason === "connection" ? " (is the server running at --url / COUCHDB_URL?)" : ""
    default:
      return ""
  }
}

/** The line printed for a failure, and the exit code. */
export const describe = (cause: Cause.Cause<unknown>): { readonly line: string | undefined; readonly code: number } => {
  if (Cause.isInterruptedOnly(cause)) return { line: "interrupted", code: ExitCode.interrupted }
  const failure = Cause.failureOption(cause)
  if (failure._tag === "None") {
    const defect = Cause.squash(cause)
    const text = defect instanceof Error ? defect.message : String(defect)
    return { line: `internal error: ${oneLine(text)}`, code: ExitCode.failure }
  }
  const error = failure.value
  // Ctrl-C at a prompt
  if (typeof error === "object" && error !== null && "_tag" in error && error._tag === "QuitException") {
    return { line: "interrupted", code: ExitCode.interrupted }
  }
  if (ValidationError.isValidationError(error)) {
    // @effect/cli has printed the help, or the error, already
    return { line: undefined, code: ValidationError.isHelpRequested(error) ? ExitCode.ok : ExitCode.usage }
  }
  if (error instanceof UsageError) return { line: oneLine(error.message), code: ExitCode.usage }
  if (error instanceof PartialFailure) return { line: oneLine(error.message), code: ExitCode.partial }
  if (error instanceof RunError) return { line: oneLine(error.message), code: ExitCode.failure }
  if (CouchError.isCouchError(error)) {
    if (error._tag === "InvalidArgumentError") return { line: oneLine(error.message), code: ExitCode.usage }
    return { line: oneLine(error.message) + hint(error), code: ExitCode.failure }
  }
  const text = error instanceof Error ? error.message : String(error)
  return { line: oneLine(text), code: ExitCode.failure }
}
