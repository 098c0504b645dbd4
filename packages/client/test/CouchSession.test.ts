import { Arbitraries, CouchTestServer } from "@effect-couch/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Cookies from "@effect/platform/Cookies"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { CouchAuth, CouchError, CouchSession } from "../src/index.js"
import { databaseNameProblem } from "../src/internal/names.js"
import { fakeClient, json } from "./fake.js"
import { TestLive, testDatabase, throwawayUser } from "./support.js"

const sessionAs = (auth: CouchAuth.CouchAuth) =>
  Effect.flatMap(CouchTestServer.CouchTestServer, (server) => CouchSession.make({ url: server.url, auth }))

const leftOf = <A, E>(either: Either.Either<A, E>): E | undefined => Either.isLeft(either) ? either.left : undefined

layer(TestLive, { excludeTestServices: true })("CouchSession against the test server", (it) => {
  it.effect("info gives the server's version", () =>
    Effect.gen(function*() {
      const couch = yield* CouchSession.CouchSession
      const server = yield* CouchTestServer.CouchTestServer
      const info = yield* couch.info
      assert.isString(info.version)
      assert.isTrue(info.version.length > 0)
      if (server.kind === "couchdb") assert.strictEqual(info.couchdb, "Welcome")
    }))

  it.effect("checkCredentials accepts the admin and the session knows who it is", () =>
    Effect.gen(function*() {
      const couch = yield* CouchSession.CouchSession
      const server = yield* CouchTestServer.CouchTestServer
      yield* couch.checkCredentials
      const session = yield* couch.session
      assert.strictEqual(session.userCtx.name, server.admin.username)
      assert.include(session.userCtx.roles, "_admin")
    }))

  // Failed logins count towards CouchDB 3.4's lockout of the user: they go to a user of their own, never the admin.
  it.scoped("a wrong password fails checkCredentials and an admin-only call with UnauthorizedError", () =>
    Effect.gen(function*() {
      const user = yield* throwawayUser("wrongbasic")
      const wrong = yield* sessionAs(CouchAuth.basic(user.name, "not-the-password"))
      const checked = yield* Effect.either(wrong.checkCredentials)
      assert.instanceOf(leftOf(checked), CouchError.UnauthorizedError)
      const created = yield* Effect.either(wrong.create(`never-${Date.now()}`))
      assert.instanceOf(leftOf(created), CouchError.UnauthorizedError)
    }))

  it.scoped("a cookie login with a wrong password fails with UnauthorizedError", () =>
    Effect.gen(function*() {
      const user = yield* throwawayUser("wrongcookie")
      const result = yield* Effect.either(sessionAs(CouchAuth.cookie(user.name, "not-the-password")))
      assert.instanceOf(leftOf(result), CouchError.UnauthorizedError)
    }))

  it.scoped("a user locked out after failed logins gets ForbiddenError from info, session and checkCredentials", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      if (!server.capabilities.loginLockout) return
      const user = yield* throwawayUser("locked")
      const wrong = yield* sessionAs(CouchAuth.basic(user.name, "not-the-password"))
      for (let i = 0; i < 6; i++) yield* Effect.ignore(wrong.checkCredentials)
      const right = yield* sessionAs(CouchAuth.basic(user.name, user.password))
      for (const operation of [right.info, right.session, right.checkCredentials]) {
        const error = leftOf(yield* Effect.either(operation))
        assert.instanceOf(error, CouchError.ForbiddenError)
        assert.match(error?._tag === "ForbiddenError" ? error.reason ?? "" : "", /locked/)
      }
    }))

  it.effect("a cookie session logs in, and once closed stops sending the cookie and has logged out", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      const issued: Array<string> = []
      const seen: Array<string> = []
      const record = (client: HttpClient.HttpClient) =>
        client.pipe(HttpClient.tap((response) => {
          const cookie = Cookies.getValue(response.cookies, "AuthSession")
          if (Option.isSome(cookie)) issued.push(cookie.value)
          seen.push(`${response.request.method} ${new URL(response.request.url, server.url).pathname}`)
          return Effect.void
        }))
      const couch = yield* Effect.scoped(
        Effect.gen(function*() {
          const couch = yield* CouchSession.make({
            url: server.url,
            auth: CouchAuth.cookie(server.admin.username, server.admin.password),
            transformClient: record
          })
          const session = yield* couch.session
          assert.strictEqual(session.userCtx.name, server.admin.username)
          yield* couch.checkCredentials
          return couch
        })
      )
      assert.isTrue(issued.length >= 1 && issued[0] !== "")
      assert.deepStrictEqual(seen.slice(-1), ["DELETE /_session"])
      // the closed session sends no cookie: the server sees it as anonymous
      const after = yield* couch.session
      assert.isNull(after.userCtx.name)
      assert.instanceOf(leftOf(yield* Effect.either(couch.checkCredentials)), CouchError.UnauthorizedError)
      // close is idempotent
      yield* couch.close
      yield* couch.close
    }))

  it.scoped("an AuthSession cookie from elsewhere authenticates; an invalid one runs as anonymous", () =>
    Effect.gen(function*() {
      const server = yield* CouchTestServer.CouchTestServer
      let cookie = ""
      yield* sessionAs(CouchAuth.cookie(server.admin.username, server.admin.password)).pipe(
        Effect.provideService(HttpClient.HttpClient, yield* HttpClient.HttpClient.pipe(Effect.map(
          HttpClient.tap((response) => {
            const value = Cookies.getValue(response.cookies, "AuthSession")
            if (Option.isSome(value) && value.value !== "") cookie = value.value
            return Effect.void
          })
        ))),
        Effect.scoped
      )
      assert.notStrictEqual(cookie, "")
      const bogus = yield* sessionAs(CouchAuth.authSession("YWRtaW46NjVGMDAwMDA6bm9wZQ"))
      assert.isNull((yield* bogus.session).userCtx.name)
      assert.instanceOf(leftOf(yield* Effect.either(bogus.checkCredentials)), CouchError.UnauthorizedError)
    }))

  it.scoped("create makes a database; a second create is PreconditionFailedError, unless existsOk", () =>
    Effect.gen(function*() {
      const couch = yield* CouchSession.CouchSession
      const name = `create-${Date.now()}-${Math.floor(Math.random() * 1e6)}`
      yield* Effect.addFinalizer(() => Effect.ignore(Effect.flatMap(couch.use(name), (db) => db.delete)))
      const db = yield* couch.create(name)
      assert.strictEqual(db.name, name)
      assert.strictEqual((yield* db.info).dbName, name)
      const again = yield* Effect.either(couch.create(name))
      const error = leftOf(again)
      assert.instanceOf(error, CouchError.PreconditionFailedError)
      assert.strictEqual(error?._tag === "PreconditionFailedError" ? error.status : 0, 412)
      const existing = yield* couch.create(name, { existsOk: true })
      assert.strictEqual(existing.name, name)
      const keys = yield* couch.keys({ startkey: name, endkey: name })
      assert.deepStrictEqual(keys, [name])
    }))

  it.effect("database gives NotFoundError for a database that does not exist", () =>
    Effect.gen(function*() {
      const couch = yield* CouchSession.CouchSession
      const result = yield* Effect.either(couch.database(`missing-${Date.now()}`))
      assert.instanceOf(leftOf(result), CouchError.NotFoundError)
    }))

  it.scoped("database finds an existing database; info, exists and delete work on it", () =>
    Effect.gen(function*() {
      const couch = yield* CouchSession.CouchSession
      const created = yield* testDatabase()
      const db = yield* couch.database(created.name)
      const info = yield* db.info
      assert.strictEqual(info.dbName, created.name)
      assert.strictEqual(info.docCount, 0)
      assert.isTrue(yield* db.exists)
      yield* db.delete
      assert.isFalse(yield* db.exists)
      assert.instanceOf(leftOf(yield* Effect.either(db.info)), CouchError.NotFoundError)
    }))

  it.scoped("keys honours startkey, endkey, limit, skip and descending", () =>
    Effect.gen(function*() {
      const couch = yield* CouchSession.CouchSession
      const prefix = `keys-${Date.now()}-`
      const names = ["a", "b", "c", "d"].map((suffix) => prefix + suffix)
      for (const name of names) {
        yield* couch.create(name)
        yield* Effect.addFinalizer(() => Effect.ignore(Effect.flatMap(couch.use(name), (db) => db.delete)))
      }
      const range = { startkey: prefix, endkey: `${prefix}\ufff0` }
      assert.deepStrictEqual(yield* couch.keys(range), names)
      assert.deepStrictEqual(yield* couch.keys({ ...range, limit: 2, skip: 1 }), names.slice(1, 3))
      assert.deepStrictEqual(
        yield* couch.keys({ startkey: range.endkey, endkey: range.startkey, descending: true }),
        [...names].reverse()
      )
    }))

  it.effect.prop(
    "the local name check agrees with the server",
    [FastCheck.oneof(Arbitraries.databaseName, Arbitraries.invalidDatabaseName)],
    ([name]) =>
      Effect.gen(function*() {
        const server = yield* CouchTestServer.CouchTestServer
        const couch = yield* CouchSession.CouchSession
        // "" is no database name at all: PUT / is another endpoint
        if (!server.capabilities.validDatabaseNames || name === "") return
        if (!server.capabilities.slashInDatabaseNames && name.includes("/")) return
        // ask the server directly, bypassing the local check
        const response = yield* couch.client.put(`/${encodeURIComponent(name)}`)
        if (response.status === 201 || response.status === 202) {
          yield* couch.client.del(`/${encodeURIComponent(name)}`)
        }
        const serverAccepts = response.status !== 400
        const problem = databaseNameProblem(name)
        assert.strictEqual(problem === undefined, serverAccepts, `name ${JSON.stringify(name)}`)
        if (!serverAccepts) {
          // a name that is too long is refused for that, with the server's word for it
          const answer = (yield* response.json) as { readonly error?: unknown }
          assert.strictEqual(problem?.includes("database_name_too_long") === true, answer.error === "database_name_too_long")
        }
      }).pipe(Effect.orDie),
    { fastCheck: { numRuns: 40 } }
  )
})

describe("refused before any request", () => {
  it.effect.prop("an invalid database name is InvalidArgumentError and sends nothing", [
    Arbitraries.invalidDatabaseName
  ], ([name]) =>
    Effect.gen(function*() {
      const fake = fakeClient(() => json(201, { ok: true }))
      yield* Effect.scoped(
        Effect.gen(function*() {
          const couch = yield* CouchSession.make({ url: "http://couch.test" })
          assert.instanceOf(leftOf(yield* Effect.either(couch.create(name))), CouchError.InvalidArgumentError)
          assert.instanceOf(leftOf(yield* Effect.either(couch.database(name))), CouchError.InvalidArgumentError)
          assert.instanceOf(leftOf(yield* Effect.either(couch.use(name))), CouchError.InvalidArgumentError)
        })
      ).pipe(Effect.provide(fake.layer))
      assert.strictEqual(fake.seen.length, 0)
    }))

  it.effect.prop("a valid database name reaches exactly its path", [Arbitraries.databaseName], ([name]) =>
    Effect.gen(function*() {
      const fake = fakeClient(() => json(201, { ok: true }))
      yield* Effect.scoped(
        Effect.flatMap(CouchSession.make({ url: "http://couch.test/prefix" }), (couch) => couch.create(name))
      ).pipe(Effect.provide(fake.layer))
      assert.strictEqual(fake.seen.length, 1)
      assert.strictEqual(decodeURIComponent(fake.seen[0].url.pathname), `/prefix/${name}`)
      assert.strictEqual(fake.seen[0].url.pathname.split("/").length, 3)
    }))
})

describe("secrets", () => {
  it.effect.prop(
    "no password appears in any error, message or printed form",
    [FastCheck.stringMatching(/^[A-Za-z0-9!#$%&*+,;=~\u00e9\u4e2d]{12,30}$/)],
    ([password]) =>
      Effect.gen(function*() {
        const answers = [
          () => json(401, { error: "unauthorized", reason: "Name or password is incorrect." }),
          () => new Response("<html>502</html>", { status: 502 }),
          () => "reset" as const,
          () => json(200, { unexpected: true })
        ]
        const texts: Array<string> = []
        for (const answer of answers) {
          const fake = fakeClient(answer)
          for (const auth of [CouchAuth.basic("u", password), CouchAuth.cookie("u", password)]) {
            const result = yield* Effect.scoped(
              Effect.flatMap(CouchSession.make({ url: "http://couch.test", auth, retry: false }), (couch) =>
                Effect.zipRight(couch.checkCredentials, couch.info))
            ).pipe(Effect.provide(fake.layer), Effect.either)
            const error = leftOf(result)
            assert.isDefined(error)
            texts.push(String(error), error?.message ?? "", JSON.stringify(error), Redacted.make(password).toString())
          }
          const inUrl = yield* Effect.scoped(
            CouchSession.make({ url: `http://u:${encodeURIComponent(password)}@couch.test`, retry: false })
          ).pipe(
            Effect.flatMap((couch) => couch.info),
            Effect.provide(fake.layer),
            Effect.either
          )
          texts.push(String(leftOf(inUrl)), JSON.stringify(leftOf(inUrl)))
        }
        for (const text of texts) assert.notInclude(text, password)
      })
  )
})
