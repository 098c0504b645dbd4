import { CouchSession } from "@effect-couch/client"
import { CouchTestServer } from "@effect-couch/testing"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { contents, couch, scratch, seed, TestLive } from "./support.js"

const sourceDb = (n: number) =>
  Effect.gen(function*() {
    const name = yield* CouchTestServer.database("cli-src")
    const couchSession = yield* CouchSession.CouchSession
    const db = yield* couchSession.use(name)
    yield* seed(db, n)
    return { name, db }
  })

/** A fresh name for a database that the CLI creates (deleted after the test). */
const targetName = (prefix: string) =>
  Effect.gen(function*() {
    const couchSession = yield* CouchSession.CouchSession
    const name = `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
    yield* Effect.addFinalizer(() => Effect.ignore(Effect.flatMap(couchSession.use(name), (db) => db.delete)))
    return name
  })

describe("couch backup / restore", () => {
  layer(TestLive, { timeout: 60_000 })((it) => {
    it.scoped("backup then restore gives the same documents, revisions and bodies", () =>
      Effect.gen(function*() {
        const { db, name } = yield* sourceDb(600)
        const dir = yield* scratch
        const file = join(dir, "backup.txt")
        const backup = yield* couch(["backup", name, file, "--batch-size", "100"])
        assert.strictEqual(backup.code, 0, backup.stderr)
        const lines = readFileSync(file, "utf8").split("\n")
        assert.deepStrictEqual(JSON.parse(lines[0]!), {
          name: "@cloudant/couchbackup",
          version: "2.11.12",
          mode: "full",
          attachments: false
        })
        const first = JSON.parse(lines[1]!) as Array<{ _id: string; _rev: string; _revisions?: { start: number } }>
        assert.strictEqual(first.length, 100)
        const server = yield* CouchTestServer.CouchTestServer
        // the embedded server's _bulk_get leaves out _revisions (revs=true is ignored)
        if (server.kind === "couchdb") assert.ok(first.every((doc) => doc._revisions!.start >= 1))
        assert.isFalse(existsSync(`${file}.log`), "the log is removed once the backup completes")

        const target = yield* targetName("cli-dst")
        const restore = yield* couch(["restore", target, file, "--create", "--batch-size", "150"])
        assert.strictEqual(restore.code, 0, restore.stderr)
        const couchSession = yield* CouchSession.CouchSession
        const restored = yield* contents(yield* couchSession.use(target))
        const source = yield* contents(db)
        assert.strictEqual(restored.length, 601)
        assert.deepStrictEqual(restored, source)
        if (server.kind === "couchdb") {
          // the history came along: a second revision restored with its first one
          const updated = yield* (yield* couchSession.use(target)).get("doc-000000", { revs: true })
          assert.strictEqual((updated._revisions as { ids: Array<string> }).ids.length, 2)
        }
      }))

    it.scoped("gzip to stdout, restored from stdin", () =>
      Effect.gen(function*() {
        const { db, name } = yield* sourceDb(300)
        const backup = yield* couch(["backup", name, "--gzip", "--quiet"])
        assert.strictEqual(backup.code, 0, backup.stderr)
        assert.strictEqual(backup.stderr, "")
        const text = gunzipSync(backup.bytes).toString("utf8")
        assert.ok(text.startsWith("{\"name\":\"@cloudant/couchbackup\""))
        const target = yield* targetName("cli-dst")
        const restore = yield* couch(["restore", target, "--create", "--quiet"], { input: text })
        assert.strictEqual(restore.code, 0, restore.stderr)
        const couchSession = yield* CouchSession.CouchSession
        assert.deepStrictEqual(yield* contents(yield* couchSession.use(target)), yield* contents(db))
      }))

    it.scoped("an interrupted backup, resumed, gives the same file as an uninterrupted one", () =>
      Effect.gen(function*() {
        const { name } = yield* sourceDb(800)
        const dir = yield* scratch
        const whole = join(dir, "whole.txt")
        const cut = join(dir, "cut.txt")
        assert.strictEqual((yield* couch(["backup", name, whole, "--batch-size", "20", "-q"])).code, 0)
        // interrupted with SIGINT once some batches are done
        const interrupted = yield* couch(["backup", name, cut, "--batch-size", "20", "--concurrency", "2"], {
          onStart: (child) => {
            const timer = setInterval(() => {
              const log = existsSync(`${cut}.log`) ? readFileSync(`${cut}.log`, "utf8") : ""
              if ((log.match(/^:d /gm) ?? []).length >= 5) {
                clearInterval(timer)
                child.kill("SIGINT")
              }
            }, 5)
            child.on("close", () => clearInterval(timer))
          }
        })
        assert.strictEqual(interrupted.code, 130, interrupted.stderr)
        assert.match(interrupted.stderr, /--resume/)
        assert.notStrictEqual(readFileSync(cut, "utf8"), readFileSync(whole, "utf8"))
        // a batch line broken off mid-way, as a kill can leave it
        writeFileSync(cut, readFileSync(cut, "utf8") + "[{\"_id\":\"doc-0", { flag: "w" })
        const resumed = yield* couch(["backup", name, cut, "--batch-size", "20", "--resume"])
        assert.strictEqual(resumed.code, 0, resumed.stderr)
        assert.strictEqual(readFileSync(cut, "utf8"), readFileSync(whole, "utf8"))
        // nothing left to resume
        const again = yield* couch(["backup", name, cut, "--resume"])
        assert.strictEqual(again.code, 2)
        assert.match(again.stderr, /^couch: nothing to resume/)
      }))

    it.scoped("a file written by couchbackup restores", () =>
      Effect.gen(function*() {
        const { db, name } = yield* sourceDb(500)
        const server = yield* CouchTestServer.CouchTestServer
        const dir = yield* scratch
        const file = join(dir, "couchbackup.txt")
        const bin = createRequire(import.meta.url).resolve("@cloudant/couchbackup/bin/couchbackup.bin.js")
        const url = new URL(server.url)
        if (server.kind === "embedded") {
          // couchbackup logs in with {"username", "password"}, which express-pouchdb refuses: read a public database
          yield* db.setSecurity({})
        } else {
          url.username = server.admin.username
          url.password = Redacted.value(server.admin.password)
        }
        const made = yield* Effect.async<{ code: number | null; stderr: string }>((resume) => {
          const child = spawn(process.execPath, [bin, "--url", url.toString(), "--db", name, "--output", file, "--log", join(dir, "cb.log")], {
            stdio: ["ignore", "ignore", "pipe"]
          })
          let stderr = ""
          child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
          child.on("close", (code) => resume(Effect.succeed({ code, stderr })))
        })
        assert.strictEqual(made.code, 0, made.stderr)
        assert.match(readFileSync(file, "utf8"), /^\{"name":"@cloudant\/couchbackup","version":"2\.11\.\d+","mode":"full"/)
        const target = yield* targetName("cli-dst")
        const restore = yield* couch(["restore", target, file, "--create"])
        assert.strictEqual(restore.code, 0, restore.stderr)
        const couchSession = yield* CouchSession.CouchSession
        assert.deepStrictEqual(yield* contents(yield* couchSession.use(target)), yield* contents(db))
      }))

    it.scoped("bad input: a missing file, a malformed line, a missing database", () =>
      Effect.gen(function*() {
        const dir = yield* scratch
        const target = yield* targetName("cli-bad")
        const missing = yield* couch(["restore", target, join(dir, "nope.txt"), "--create"])
        assert.strictEqual(missing.code, 2)
        assert.match(missing.stderr, /^couch: cannot read .*nope\.txt: no such file\n$/)

        const bad = join(dir, "bad.txt")
        writeFileSync(bad, "[{\"_id\":\"a\",\"x\":1}]\n{not json\n")
        const malformed = yield* couch(["restore", target, bad, "--create", "-q"])
        assert.strictEqual(malformed.code, 1)
        assert.match(malformed.stderr, /^couch: line 2 of .*bad\.txt: not JSON\n$/)

        const noDb = yield* couch(["backup", `cli-none-${Date.now().toString(36)}`, join(dir, "x.txt")])
        assert.strictEqual(noDb.code, 1)
        assert.match(noDb.stderr, /^couch: database cli-none-\w+ does not exist[^\n]*\n$/)
      }))
  })
})
