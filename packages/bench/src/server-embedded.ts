/**
 * The embedded test server (express-pouchdb, in memory) in a process of its own, so that its CPU and memory are
 * not the client's. Prints `{"url","username","password","version"}` as one JSON line on stdout once it listens,
 * then runs until its parent closes stdin or sends SIGTERM.
 */
import { CouchTestServer } from "@effect-couch/testing"
import { Deferred, Effect, Redacted } from "effect"

const program = Effect.scoped(
  Effect.gen(function*() {
    const server = yield* CouchTestServer.makeEmbedded
    process.stdout.write(
      `${
        JSON.stringify({
          url: server.url,
          username: server.admin.username,
          password: Redacted.value(server.admin.password),
          version: server.version
        })
      }\n`
    )
    const done = yield* Deferred.make<void>()
    const stop = () => Deferred.unsafeDone(done, Effect.void)
    process.once("SIGTERM", stop)
    process.once("SIGINT", stop)
    process.stdin.on("end", stop)
    process.stdin.on("close", stop)
    process.stdin.resume()
    yield* Deferred.await(done)
  })
)

Effect.runPromise(program).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`embedded server failed: ${String(error)}\n`)
    process.exit(1)
  }
)
