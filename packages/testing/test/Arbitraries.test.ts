import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import { Arbitraries, CouchTestServer } from "../src/index.js"
import { request, TestLayer } from "./utils.js"

const dbNamePattern = /^[a-z][a-z0-9_$()+/-]*$/
const systemDatabases = ["_users", "_replicator", "_global_changes"]

describe("Arbitraries", () => {
  it.prop("DatabaseName matches CouchDB's rule", { name: Arbitraries.DatabaseName }, ({ name }) => {
    expect(name).toMatch(dbNamePattern)
    expect(name.length).toBeGreaterThanOrEqual(1)
    expect(name.split("/").at(-1)?.length).toBeLessThanOrEqual(238)
    expect(CouchTestServer.isValidDatabaseName(name)).toBe(true)
  })

  it.prop("DatabaseNameWithoutSlash has no /", { name: Arbitraries.DatabaseNameWithoutSlash }, ({ name }) => {
    expect(name).toMatch(dbNamePattern)
    expect(name).not.toContain("/")
  })

  it.prop("InvalidDatabaseName never matches", { name: Arbitraries.InvalidDatabaseName }, ({ name }) => {
    expect(name.length <= 238 && dbNamePattern.test(name)).toBe(false)
    expect(systemDatabases).not.toContain(name)
    expect(CouchTestServer.isValidDatabaseName(name)).toBe(false)
  })

  it.prop("DocumentId is a non-empty id CouchDB accepts", { id: Arbitraries.DocumentId }, ({ id }) => {
    expect(id.length).toBeGreaterThan(0)
    if (id.startsWith("_")) expect(id).toMatch(/^_(design|local)\/./s)
    expect(() => encodeURIComponent(id)).not.toThrow()
  })

  it.prop("JsonDocument round-trips through JSON and has no _ keys", { doc: Arbitraries.JsonDocument }, ({ doc }) => {
    expect(JSON.parse(JSON.stringify(doc))).toStrictEqual(doc)
    for (const key of Object.keys(doc)) expect(key.startsWith("_")).toBe(false)
  })

  it.prop("JsonValue round-trips through JSON", [Arbitraries.JsonValue], ([value]) => {
    expect(JSON.parse(JSON.stringify(value))).toStrictEqual(value)
  })

  it("covers the hostile cases", () => {
    const names = FastCheck.sample(Arbitraries.databaseName, 2000)
    expect(names.some((n) => n.length <= 13)).toBe(true)
    expect(names.some((n) => n.length > 200)).toBe(true)
    expect(names.some((n) => n.includes("/"))).toBe(true)
    const invalid = FastCheck.sample(Arbitraries.invalidDatabaseName, 2000)
    expect(invalid).toContain("")
    expect(invalid.some((n) => n.length > 238)).toBe(true)
    expect(invalid.some((n) => /^[0-9]/.test(n))).toBe(true)
    expect(invalid.some((n) => /^_/.test(n))).toBe(true)
    expect(invalid.some((n) => /[A-Z]/.test(n))).toBe(true)
    expect(invalid.some((n) => /[ .#?%]/.test(n))).toBe(true)
    const ids = FastCheck.sample(Arbitraries.documentId, 2000)
    for (const fragment of ["/", "+", "%", "?", "#", " ", ".."]) {
      expect(ids.some((id) => id.includes(fragment)), fragment).toBe(true)
    }
    expect(ids.some((id) => id.startsWith("_design/"))).toBe(true)
    expect(ids.some((id) => id.startsWith("_local/"))).toBe(true)
    expect(ids.some((id) => /[\ud800-\udbff][\udc00-\udfff]/.test(id))).toBe(true)
  })
})

layer(TestLayer, { excludeTestServices: true })("Arbitraries against the server", (it) => {
  it.effect.prop(
    "the server refuses every InvalidDatabaseName",
    { name: Arbitraries.InvalidDatabaseName },
    ({ name }) =>
      Effect.gen(function*() {
        if (name === "") return
        const answer = yield* request("PUT", `/${encodeURIComponent(name)}`, { auth: "admin" })
        expect(answer.status).toBe(400)
        // a name of the right characters is refused for its length
        const tooLong = /^[a-z][a-z0-9_$()+/-]*$/.test(name)
        expect(answer.json).toMatchObject({ error: tooLong ? "database_name_too_long" : "illegal_database_name" })
      }),
    { fastCheck: { numRuns: 30 } }
  )

  it.effect.prop(
    "documents with hostile ids and arbitrary bodies round-trip",
    { id: Arbitraries.DocumentId, doc: Arbitraries.JsonDocument },
    ({ doc, id }) =>
      Effect.gen(function*() {
        const db = yield* CouchTestServer.database("roundtrip")
        const path = `/${db}/${id.startsWith("_design/") || id.startsWith("_local/") ? id.slice(0, id.indexOf("/") + 1) + encodeURIComponent(id.slice(id.indexOf("/") + 1)) : encodeURIComponent(id)}`
        const put = yield* request("PUT", path, { auth: "admin", body: doc })
        expect(put.status, put.text).toBe(201)
        const got = yield* request("GET", path, { auth: "admin" })
        expect(got.status).toBe(200)
        const { _id, _rev, ...body } = got.json as Record<string, unknown>
        expect(_id).toBe(id)
        expect(body).toStrictEqual(doc)
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: 25 } }
  )
})
