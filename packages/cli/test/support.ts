import { CouchAuth, CouchSession } from "@effect-couch/client"
import type { Database } from "@effect-couch/client"
import { CouchTestServer } from "@effect-couch/testing"
import { NodeHttpClient } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** The bundled binary (test/globalSetup.ts). */
export const binary = join(import.meta.dirname, "..", "build", "couch.mjs")

/** The test server, an HTTP client, and an admin session. */
export const TestLive = Layer.scoped(
  CouchSession.CouchSession,
  Effect.flatMap(CouchTestServer.CouchTestServer, (server) =>
    CouchSession.make({ url: server.url, auth: CouchAuth.basic(server.admin.username, server.admin.password) }))
).pipe(Layer.provideMerge(Layer.merge(CouchTestServer.layer, NodeHttpClient.layerUndici)))

/** What a run of the binary did. */
export interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  /** Standard output as bytes (a gzip backup). */
  readonly bytes: Buffer
  readonly stderr: string
}

/** The environment of a run: the test server's URL and admin credentials. */
export const serverEnv = Effect.map(CouchTestServer.CouchTestServer, (server) => ({
  COUCHDB_URL: server.url,
  COUCHDB_USER: server.admin.username,
  COUCHDB_PASSWORD: Redacted.value(server.admin.password)
}))

/** Starts `node couch.mjs ...args`; `onStart` sees the child (to signal it). */
export const couch = (
  args: ReadonlyArray<string>,
  options: {
    readonly input?: string | undefined
    readonly env?: Record<string, string | undefined> | undefined
    readonly onStart?: ((child: ChildProcess) => void) | undefined
  } = {}
) =>
  Effect.flatMap(serverEnv, (env) =>
    Effect.async<Run>((resume) => {
      const child = spawn(process.execPath, [binary, ...args], {
        env: { PATH: process.env.PATH, ...env, ...options.env },
        stdio: ["pipe", "pipe", "pipe"]
      })
      const out: Array<Buffer> = []
      let stderr = ""
      child.stdout.on("data", (chunk: Buffer) => out.push(chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      child.on("close", (code, signal) => {
        const bytes = Buffer.concat(out)
        resume(Effect.succeed({ code, signal, stdout: bytes.toString("utf8"), bytes, stderr }))
      })
      child.stdin.end(options.input ?? "")
      options.onStart?.(child)
      return Effect.sync(() => child.kill("SIGKILL"))
    }))

/** A scratch directory for a test, removed after it. */
export const scratch = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "couch-cli-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Every document of a database (winning revisions), sorted by id. */
export const contents = (db: Database.Database) =>
  db.allDocs({ includeDocs: true }).pipe(
    Stream.runCollect,
    Effect.map((rows) =>
      [...rows].flatMap((row) => ("doc" in row && row.doc !== undefined && row.doc !== null ? [row.doc] : []))
        .sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))
    )
  )

/** Writes `n` documents of about 200 bytes, some of them updated (second revisions), and a design document. */
export const seed = (db: Database.Database, n: number) =>
  Effect.gen(function*() {
    const docs = Array.from({ length: n }, (_, i) => ({
      _id: `doc-${String(i).padStart(6, "0")}`,
      n: i,
      name: `name ${i} é ü 日本`,
      tags: ["a", "b", String(i % 7)],
      nested: { even: i % 2 === 0, text: "x".repeat(i % 50) }
    }))
    const written = yield* db.bulkDocs(docs)
    const updates = written.slice(0, Math.min(10, n)).flatMap((result, i) =>
      result._tag === "Right" ? [{ ...docs[i]!, _rev: result.right.rev, updated: true }] : []
    )
    if (updates.length > 0) yield* db.bulkDocs(updates)
    yield* db.put({ _id: "_design/app", views: { byN: { map: "function (doc) { emit(doc.n, null) }" } } })
  })
