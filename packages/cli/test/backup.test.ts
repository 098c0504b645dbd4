import { Attachment, CouchSession } from "@effect-couch/client"
import type { Database } from "@effect-couch/client"
import { CouchTestServer } from "@effect-couch/testing"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
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

/** Every document's id, winning revision and whether it is deleted, from the changes feed, sorted by id. */
const leaves = (db: Database.Database) =>
  db.changes().pipe(
    Stream.filterMap((event) =>
      event._tag === "Change" ? Option.some(`${event.id} ${event.changes[0]!.rev}${event.deleted ? " deleted" : ""}`) : Option.none()
    ),
    Stream.runCollect,
    Effect.map((rows) => [...rows].sort())
  )

/** A source with 40 documents, 4 of them deleted, 3 with attachments (one binary, one with two). */
const withDeletedAndAttachments = Effect.gen(function*() {
  const { db, name } = yield* sourceDb(40)
  const docs = yield* contents(db)
  for (const doc of docs.slice(10, 14)) yield* db.remove(doc._id, doc._rev!)
  yield* db.put({ _id: "att-1", kind: "text", _attachments: { "a.txt": Attachment.inline("text/plain", "hello é") } })
  yield* db.put({
    _id: "att-2",
    _attachments: {
      "bin/raw.dat": Attachment.inline("application/octet-stream", new Uint8Array([0, 1, 2, 250, 255])),
      "b.json": Attachment.inline("application/json", "{\"x\":1}")
    }
  })
  const third = yield* db.put({ _id: "att-3", n: 3 })
  const photo = yield* db.attachment("att-3", "photo.png")
  yield* photo.put(new Uint8Array(3000).map((_, i) => i % 256), { rev: third.rev, contentType: "image/png" })
  return { db, name }
})

/** A document with its attachments' bodies inline (base64), for comparison. */
const withBodies = (db: Database.Database, id: string) => db.get(id, { attachments: true })

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

    for (const mode of [[], ["--include-deleted"]]) {
      it.scoped(`an interrupted backup, resumed, gives the same file as an uninterrupted one ${mode.join(" ")}`, () =>
        Effect.gen(function*() {
          const { db, name } = yield* sourceDb(800)
          if (mode.length > 0) {
            for (const doc of (yield* contents(db)).slice(100, 110)) yield* db.remove(doc._id, doc._rev!)
          }
          const dir = yield* scratch
          const whole = join(dir, "whole.txt")
          const cut = join(dir, "cut.txt")
          assert.strictEqual((yield* couch(["backup", name, whole, "--batch-size", "20", "-q", ...mode])).code, 0)
          // interrupted with SIGINT once some batches are done
          const interrupted = yield* couch(["backup", name, cut, "--batch-size", "20", "--concurrency", "2", ...mode], {
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
          if (mode.length > 0) {
            // resumed without the option the log was written with
            const mismatch = yield* couch(["backup", name, cut, "--batch-size", "20", "--resume"])
            assert.strictEqual(mismatch.code, 2, mismatch.stderr)
            assert.match(mismatch.stderr, /^couch: \S+ is the log of a backup with --include-deleted/)
          }
          const resumed = yield* couch(["backup", name, cut, "--batch-size", "20", "--resume", ...mode])
          assert.strictEqual(resumed.code, 0, resumed.stderr)
          if (mode.length === 0) {
            assert.strictEqual(readFileSync(cut, "utf8"), readFileSync(whole, "utf8"))
          } else {
            // the changes feed of a database in several shards interleaves them as they answer: the same
            // documents, each once, not always in the same order
            const docsOf = (file: string) =>
              readFileSync(file, "utf8").split("\n").slice(1).filter((line) => line !== "").flatMap((line) =>
                (JSON.parse(line) as Array<{ _id: string }>).map((doc) => JSON.stringify(doc))
              ).sort()
            const docs = docsOf(cut)
            assert.strictEqual(docs.length, 801)
            assert.strictEqual(docs.filter((doc) => doc.includes("\"_deleted\":true")).length, 10)
            assert.deepStrictEqual(docs, docsOf(whole))
          }
          // nothing left to resume
          const again = yield* couch(["backup", name, cut, "--resume"])
          assert.strictEqual(again.code, 2)
          assert.match(again.stderr, /^couch: nothing to resume/)
        }))
    }

    it.scoped("--include-deleted --attachments: tombstones and attachment bodies come back", () =>
      Effect.gen(function*() {
        const { db, name } = yield* withDeletedAndAttachments
        const dir = yield* scratch
        const file = join(dir, "full.txt")
        const backup = yield* couch(["backup", name, file, "--include-deleted", "--attachments", "--batch-size", "7"])
        assert.strictEqual(backup.code, 0, backup.stderr)
        assert.notMatch(backup.stderr, /stubs/)
        const lines = readFileSync(file, "utf8").split("\n")
        assert.strictEqual(JSON.parse(lines[0]!).attachments, true)
        const backedUp = lines.slice(1).filter((line) => line !== "").flatMap((line) =>
          JSON.parse(line) as Array<Record<string, unknown>>
        )
        assert.strictEqual(backedUp.filter((doc) => doc._deleted === true).length, 4)
        const att2 = backedUp.find((doc) => doc._id === "att-2")!._attachments as Record<string, { data?: string }>
        assert.strictEqual(att2["bin/raw.dat"]!.data, Buffer.from([0, 1, 2, 250, 255]).toString("base64"))

        const target = yield* targetName("cli-full")
        const restore = yield* couch(["restore", target, file, "--create", "--batch-size", "5"])
        assert.strictEqual(restore.code, 0, restore.stderr)
        assert.notMatch(restore.stderr, /without their attachments/)
        const couchSession = yield* CouchSession.CouchSession
        const copy = yield* couchSession.use(target)
        assert.deepStrictEqual(yield* contents(copy), yield* contents(db))
        // the same winning revisions, deleted ones included
        const sourceLeaves = yield* leaves(db)
        assert.strictEqual(sourceLeaves.filter((leaf) => leaf.endsWith(" deleted")).length, 4)
        assert.deepStrictEqual(yield* leaves(copy), sourceLeaves)
        // the embedded server's database information has no doc_del_count
        if ((yield* CouchTestServer.CouchTestServer).kind === "couchdb") assert.strictEqual((yield* copy.info).docDelCount, 4)
        for (const id of ["att-1", "att-2", "att-3"]) {
          assert.deepStrictEqual(yield* withBodies(copy, id), yield* withBodies(db, id), id)
        }
        const png = yield* (yield* copy.attachment("att-3", "photo.png")).get()
        const bytes = Buffer.concat(yield* Stream.runCollect(png.stream).pipe(Effect.map((chunks) => [...chunks])))
        assert.strictEqual(bytes.length, 3000)
        assert.strictEqual(bytes[299], 299 % 256)
      }))

    it.scoped("without --attachments: stubs in the backup, said so; the restore writes the documents without them", () =>
      Effect.gen(function*() {
        const { db, name } = yield* withDeletedAndAttachments
        const dir = yield* scratch
        const file = join(dir, "stubs.txt")
        const backup = yield* couch(["backup", name, file, "-q"])
        assert.strictEqual(backup.code, 0, backup.stderr)
        assert.match(backup.stderr, /^backup: 3 documents have attachments, which are not in the backup/)
        assert.notInclude(readFileSync(file, "utf8"), "\"_deleted\"")
        const target = yield* targetName("cli-stubs")
        const restore = yield* couch(["restore", target, file, "--create", "--json"])
        assert.strictEqual(restore.code, 0, restore.stderr)
        const warning = restore.stderr.split("\n").filter((line) => line.includes("\"warning\"")).map((line) =>
          JSON.parse(line)
        )
        assert.deepStrictEqual(warning, [{
          warning: "attachments not in the backup",
          documents: 3,
          ids: ["att-1", "att-2", "att-3"]
        }])
        const couchSession = yield* CouchSession.CouchSession
        const copy = yield* couchSession.use(target)
        const source = yield* contents(db)
        const restored = yield* contents(copy)
        // the same documents and revisions, without their attachments; no deleted ones
        assert.deepStrictEqual(restored, source.map(({ _attachments: _, ...doc }) => doc))
        assert.strictEqual((yield* copy.info).docDelCount ?? 0, 0)
        // couchbackup's --attachments metadata line names what the file holds
        const withAtt = join(dir, "att.txt")
        assert.strictEqual((yield* couch(["backup", name, withAtt, "--attachments", "-q"])).code, 0)
        // a resume with other options than the file was begun with is refused
        writeFileSync(`${withAtt}.log`, "")
        const resumedWrong = yield* couch(["backup", name, withAtt, "--resume"])
        assert.strictEqual(resumedWrong.code, 2, resumedWrong.stderr)
        assert.match(resumedWrong.stderr, /^couch: \S+att\.txt was not begun with these options/)
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
