import { CouchSession } from "@effect-couch/client"
import { CouchTestServer } from "@effect-couch/testing"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { contents, couch, scratch, TestLive } from "./support.js"

const database = Effect.gen(function*() {
  const name = yield* CouchTestServer.database("cli-cmd")
  const couchSession = yield* CouchSession.CouchSession
  return { name, db: yield* couchSession.use(name) }
})

const jsonLines = (text: string) =>
  text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Record<string, unknown>)

describe("couch commands", () => {
  layer(TestLive, { timeout: 60_000 })((it) => {
    it.scoped("put, get, find, info", () =>
      Effect.gen(function*() {
        const { name } = yield* database
        const put = yield* couch(["put", name, "a b/é"], { input: JSON.stringify({ n: 1, tag: "x" }) })
        assert.strictEqual(put.code, 0, put.stderr)
        assert.strictEqual(JSON.parse(put.stdout).id, "a b/é")
        assert.strictEqual((yield* couch(["put", name, "c"], { input: "{\"n\":2}" })).code, 0)
        const got = yield* couch(["get", name, "a b/é"])
        assert.strictEqual(got.code, 0, got.stderr)
        assert.deepInclude(JSON.parse(got.stdout), { _id: "a b/é", n: 1, tag: "x" })
        const found = yield* couch(["find", name, "{\"n\":{\"$gte\":2}}", "--fields", "_id,n"])
        assert.strictEqual(found.code, 0, found.stderr)
        assert.deepStrictEqual(jsonLines(found.stdout), [{ _id: "c", n: 2 }])
        const info = yield* couch(["info", name])
        assert.strictEqual(JSON.parse(info.stdout).docCount, 2)
        // a conflict: the document exists and the body has no _rev
        const conflict = yield* couch(["put", name, "c"], { input: "{\"n\":3}" })
        assert.strictEqual(conflict.code, 1)
        assert.match(conflict.stderr, /^couch: PUT \S+ answered 409[^\n]*\n$/)
        // usage errors (independent runs, at once)
        const [badSelector, missingId, unknown] = yield* Effect.all([
          couch(["find", name, "{n:1}"]),
          couch(["get", name]),
          couch(["frobnicate"])
        ], { concurrency: "unbounded" })
        assert.strictEqual(badSelector.code, 2)
        assert.match(badSelector.stderr, /^couch: the selector is not JSON/)
        assert.strictEqual(missingId.code, 2)
        assert.strictEqual(unknown.code, 2)
      }))

    it.scoped("a wrong password: one line, exit 1, no password in it", () =>
      Effect.gen(function*() {
        const couchSession = yield* CouchSession.CouchSession
        const user = `cli-user-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
        yield* couchSession.createUser({ name: user, password: `Pw-${Math.random().toString(36).slice(2)}` })
        yield* Effect.addFinalizer(() => Effect.ignore(couchSession.deleteUser(user)))
        const wrong = "Wrong-Pw-3d8f7a"
        const server = yield* CouchTestServer.CouchTestServer
        // the embedded server answers GET / and a cookie login with a wrong password as anonymous: ls (_all_dbs) is
        // refused there too; the cookie login only on CouchDB
        for (const args of server.kind === "couchdb" ? [["ls"], ["ls", "--cookie"]] : [["ls"]]) {
          const run = yield* couch(args, { env: { COUCHDB_USER: user, COUCHDB_PASSWORD: wrong } })
          assert.strictEqual(run.code, 1, `${args.join(" ")}: ${run.stderr}${run.stdout}`)
          assert.match(run.stderr, /^couch: [^\n]*401[^\n]*--password[^\n]*\n$/)
          assert.notInclude(run.stderr + run.stdout, wrong)
        }
        const viaOption = yield* couch(["ls", "--user", user, "--password", wrong], {
          env: { COUCHDB_USER: undefined, COUCHDB_PASSWORD: undefined }
        })
        assert.strictEqual(viaOption.code, 1, viaOption.stderr + viaOption.stdout)
        assert.notInclude(viaOption.stderr, wrong)
      }))

    it.scoped("CSV import: quoted fields, unicode, empty cells; export back", () =>
      Effect.gen(function*() {
        const { db, name } = yield* database
        const dir = yield* scratch
        const file = join(dir, "people.csv")
        writeFileSync(
          file,
          "\uFEFFcode,name,city,age,note\r\n" +
            "p1,\"Doe, Jane\",Zürich,42,\"she said \"\"hi\"\"\"\r\n" +
            "p2,李小龙,,7,\"two\nlines\"\r\n" +
            "p3,Ω,Αθήνα,,\n"
        )
        const imported = yield* couch(["import", name, file, "--id", "code", "--infer"])
        assert.strictEqual(imported.code, 0, imported.stderr)
        const docs = (yield* contents(db)).map(({ _rev: _, ...doc }) => doc)
        assert.deepStrictEqual(docs, [
          { _id: "p1", code: "p1", name: "Doe, Jane", city: "Zürich", age: 42, note: "she said \"hi\"" },
          { _id: "p2", code: "p2", name: "李小龙", age: 7, note: "two\nlines" },
          { _id: "p3", code: "p3", name: "Ω", city: "Αθήνα" }
        ])
        const exported = yield* couch(["export", name, "--format", "csv", "--fields", "_id,name,city,note"])
        assert.strictEqual(exported.code, 0, exported.stderr)
        assert.strictEqual(
          exported.stdout,
          "_id,name,city,note\np1,\"Doe, Jane\",Zürich,\"she said \"\"hi\"\"\"\np2,李小龙,,\"two\nlines\"\np3,Ω,Αθήνα,\n"
        )
        const json = yield* couch(["export", name, "--format", "json", "--fields", "_id,age"])
        assert.deepStrictEqual(JSON.parse(json.stdout), [{ _id: "p1", age: 42 }, { _id: "p2", age: 7 }, { _id: "p3" }])
        // NDJSON with a malformed line: exit 1 naming the line
        const bad = join(dir, "bad.ndjson")
        writeFileSync(bad, "{\"_id\":\"n1\"}\n{\"_id\":\n")
        const malformed = yield* couch(["import", name, bad, "-q"])
        assert.strictEqual(malformed.code, 1)
        assert.match(malformed.stderr, /^couch: line 2 of \S+bad\.ndjson: not JSON\n$/)
      }))

    it.scoped("--transform (a module's default export) and --id-field on import and export", () =>
      Effect.gen(function*() {
        const { db, name } = yield* database
        const dir = yield* scratch
        const input = join(dir, "in.ndjson")
        writeFileSync(input, [
          { code: "k1", name: "ann" },
          { code: "k2", name: "bob", skip: true },
          { code: "k3", name: "éva" }
        ].map((doc) => JSON.stringify(doc)).join("\n") + "\n")
        const upper = join(dir, "upper.mjs")
        writeFileSync(
          upper,
          "export default (doc) => doc.skip ? null : { ...doc, name: doc.name.toUpperCase(), seen: doc._id }\n"
        )
        const imported = yield* couch(["import", name, input, "--id-field", "code", "--transform", upper])
        assert.strictEqual(imported.code, 0, imported.stderr)
        assert.deepStrictEqual((yield* contents(db)).map(({ _rev: _, ...doc }) => doc), [
          { _id: "k1", code: "k1", name: "ANN", seen: "k1" },
          { _id: "k3", code: "k3", name: "ÉVA", seen: "k3" }
        ])
        // an async transform on export; it sees every document, design documents too
        yield* db.put({ _id: "_design/x", views: {} })
        const pick = join(dir, "pick.mjs")
        writeFileSync(
          pick,
          "export default async (doc) => doc._id.startsWith(\"_design/\") ? null : { id: doc._id, name: doc.name }\n"
        )
        const exported = yield* couch(["export", name, "--transform", pick])
        assert.strictEqual(exported.code, 0, exported.stderr)
        assert.deepStrictEqual(jsonLines(exported.stdout), [{ id: "k1", name: "ANN" }, { id: "k3", name: "ÉVA" }])
        // --id is --id-field's short name
        writeFileSync(input, "{\"code\":\"k9\"}\n")
        assert.strictEqual((yield* couch(["import", name, input, "--id", "code", "-q"])).code, 0)
        assert.strictEqual((yield* db.get("k9")).code, "k9")
        // a module without a default function: usage; a transform that throws or gives a string: one line, exit 1
        const none = join(dir, "none.mjs")
        writeFileSync(none, "export const f = 1\n")
        const throws = join(dir, "throws.mjs")
        writeFileSync(throws, "export default (doc) => { if (doc.code === \"k9\") throw new Error(\"no k9\"); return doc }\n")
        const text = join(dir, "text.mjs")
        writeFileSync(text, "export default (doc) => \"text\"\n")
        const [noDefault, thrown, notObject] = yield* Effect.all([
          couch(["export", name, "--transform", none]),
          couch(["export", name, "--transform", throws, "-q"]),
          couch(["import", name, input, "--transform", text, "-q"])
        ], { concurrency: "unbounded" })
        assert.strictEqual(noDefault.code, 2, noDefault.stderr)
        assert.match(noDefault.stderr, /^couch: --transform \S+none\.mjs: its default export must be a function[^\n]*\n$/)
        assert.strictEqual(thrown.code, 1, thrown.stderr)
        assert.match(thrown.stderr, /^couch: --transform \S+throws\.mjs failed on document k9: no k9\n$/)
        assert.strictEqual(notObject.code, 1, notObject.stderr)
        assert.match(notObject.stderr, /^couch: --transform \S+text\.mjs gave string for a document, not an object or null\n$/)
      }))

    it.scoped("replicate: one-shot with its counts; continuous watched from the scheduler, cancelled by Ctrl-C or --cancel", () =>
      Effect.gen(function*() {
        const { db, name } = yield* database
        const server = yield* CouchTestServer.CouchTestServer
        const couchSession = yield* CouchSession.CouchSession
        yield* db.bulkDocs(Array.from({ length: 200 }, (_, i) => ({ _id: `r${String(i).padStart(3, "0")}`, i })))
        const target = yield* CouchTestServer.database("cli-repl")
        const copy = yield* couchSession.use(target)
        // PouchDB's replicator (the embedded server) takes the credentials in the URLs only
        const credentials = server.capabilities.couchReplicator ? [] : ["--credentials", "url"]
        const once = yield* couch(["replicate", name, target, "--json", ...credentials])
        assert.strictEqual(once.code, 0, once.stderr)
        const summary = jsonLines(once.stderr).find((line) => line.done === "replicate")!
        assert.strictEqual(summary.docsWritten, 200, once.stderr)
        assert.strictEqual(JSON.parse(once.stdout).ok, true)
        assert.deepStrictEqual(yield* contents(copy), yield* contents(db))
        // the embedded server has no scheduler and its continuous replications have no id
        if (!server.capabilities.scheduler || !server.capabilities.couchReplicator) return

        // continuous: its id on stdout, progress from /_scheduler/jobs on stderr; SIGINT cancels it
        const second = `${target}-c`
        yield* Effect.addFinalizer(() => Effect.ignore(Effect.flatMap(couchSession.use(second), (d) => d.delete)))
        let id: string | undefined
        const watched = yield* couch(["replicate", name, second, "--continuous", "--create-target", "--json"], {
          onStart: (child) => {
            let out = ""
            let err = ""
            child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")))
            child.stderr!.on("data", (chunk: Buffer) => {
              err += chunk.toString("utf8")
              // a progress line that has read every document: cancel with Ctrl-C
              if (out.includes("\n") && /"progress":"replicate"[^\n]*"docsWritten":200/.test(err)) {
                id ??= (JSON.parse(out.split("\n")[0]!) as { id: string }).id
                child.kill("SIGINT")
              }
            })
          }
        })
        assert.strictEqual(watched.code, 130, watched.stderr)
        const started = JSON.parse(watched.stdout.split("\n")[0]!) as { ok: boolean; id: string }
        assert.strictEqual(started.id, id)
        assert.ok(jsonLines(watched.stderr).some((line) => line.cancelled === started.id), watched.stderr)
        const jobs = yield* couchSession.scheduler.jobs()
        assert.isFalse(jobs.jobs.some((job) => job.id === started.id), "the job is gone")
        assert.strictEqual((yield* (yield* couchSession.use(second)).info).docCount, 200)

        // --detach leaves it running; --cancel ID stops it
        const detached = yield* couch(["replicate", name, second, "--continuous", "--detach"])
        assert.strictEqual(detached.code, 0, detached.stderr)
        const detachedId = (JSON.parse(detached.stdout) as { id: string }).id
        assert.ok((yield* couchSession.scheduler.jobs()).jobs.some((job) => job.id === detachedId))
        const cancelled = yield* couch(["replicate", name, second, "--cancel", detachedId])
        assert.strictEqual(cancelled.code, 0, cancelled.stderr)
        assert.isFalse((yield* couchSession.scheduler.jobs()).jobs.some((job) => job.id === detachedId))
        const misuse = yield* couch(["replicate", name, second, "--detach"])
        assert.strictEqual(misuse.code, 2)
      }), { timeout: 120_000 })

    it.scoped("tail resumes from its checkpoint", () =>
      Effect.gen(function*() {
        const { db, name } = yield* database
        const dir = yield* scratch
        const checkpoint = join(dir, "seq.json")
        yield* db.bulkDocs(Array.from({ length: 5 }, (_, i) => ({ _id: `d${i}`, i })))
        const first = yield* couch(["tail", name, "--checkpoint", checkpoint, "--limit", "3", "--include-docs"])
        assert.strictEqual(first.code, 0, first.stderr)
        const firstChanges = jsonLines(first.stdout)
        assert.strictEqual(firstChanges.length, 3)
        assert.ok(firstChanges.every((change) => (change.doc as { _id: string })._id === change.id))
        assert.ok(existsSync(checkpoint))
        yield* db.bulkDocs([{ _id: "d5", i: 5 }])
        const second = yield* couch(["tail", name, "--checkpoint", checkpoint, "--once"])
        assert.strictEqual(second.code, 0, second.stderr)
        const ids = [...firstChanges, ...jsonLines(second.stdout)].map((change) => change.id)
        assert.deepStrictEqual([...new Set(ids)].sort(), ["d0", "d1", "d2", "d3", "d4", "d5"])
        assert.strictEqual(ids.length, 6, "no change twice")
        // nothing new: the checkpoint now holds the feed's end
        const third = yield* couch(["tail", name, "--checkpoint", checkpoint, "--once"])
        assert.strictEqual(third.stdout, "")
        assert.ok(JSON.parse(readFileSync(checkpoint, "utf8")).seq !== undefined)
        // a selector filter
        const selected = yield* couch(["tail", name, "--once", "--selector", "{\"i\":{\"$gt\":3}}"])
        assert.deepStrictEqual(jsonLines(selected.stdout).map((change) => change.id).sort(), ["d4", "d5"])
      }))
  })
})
