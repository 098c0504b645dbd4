/**
 * A document read through a transport takes a path of its own (`Database.get`: the answer parsed and decoded in the
 * step that receives it): it must end exactly as the same read through the platform's client, for every answer a
 * server can give, and keep its span's promises (ended on every exit, interruption included; nothing said on the
 * caller's span when tracing is off).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { CouchAuth, CouchSession, CouchTransport } from "../src/index.js"
import { spanRecorder } from "./fake.js"

const encoder = new TextEncoder()

const document = Schema.Struct({ _id: Schema.Literal("doc"), _rev: Schema.String }, Schema.Record({ key: Schema.String, value: Schema.Unknown }))

/**
 * One answer of the server, as both the transport and the client give it: a status, a body (a value sent as JSON,
 * or a text sent as it is), whether it breaks off after its first half, whether the transport hands it whole with
 * the answer (`received`) or only as `body`/`stream`, and whether it names its request.
 */
const answers = Schema.Struct({
  status: Schema.Literal(200, 201, 202, 304, 400, 401, 403, 404, 409, 412, 429, 500, 502, 503),
  body: Schema.Union(
    document,
    Schema.Struct({ error: Schema.String, reason: Schema.String }),
    Schema.Literal("", "<html>bad gateway</html>", "{\"_id\":\"doc\"", "null", "[1,2]", "{\"_id\":\"doc\",\"_rev\":\"1-a\"}")
  ),
  broken: Schema.Boolean,
  received: Schema.Boolean,
  requestId: Schema.Boolean
})

type Answer = typeof answers.Type

const headersOf = (answer: Answer): Record<string, string> => ({
  "content-type": "application/json",
  ...(answer.requestId ? { "x-couch-request-id": "req-7" } : {})
})

const bytesOf = (answer: Answer) => {
  // a 304 has no body in HTTP
  if (answer.status === 304) return new Uint8Array(0)
  const bytes = encoder.encode(typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body))
  return answer.broken ? bytes.subarray(0, bytes.length >> 1) : bytes
}

const breakOff = new Error("socket closed mid-body")

/** The answer through a transport. */
const transportAnswer = (answer: Answer): CouchTransport.Response => {
  const bytes = bytesOf(answer)
  const failure = new CouchTransport.SendError({ reason: "body", cause: breakOff })
  return {
    status: answer.status,
    headers: headersOf(answer),
    body: answer.broken ? Effect.fail(failure) : Effect.succeed(bytes),
    stream: answer.broken ? Stream.concat(Stream.make(bytes), Stream.fail(failure)) : Stream.make(bytes),
    ...(answer.received && !answer.broken ? { received: bytes } : {})
  }
}

/** The same answer through the platform's client: a web response whose body breaks off where the other's does. */
const clientAnswer = (answer: Answer) =>
  HttpClient.make((request) => {
    const bytes = bytesOf(answer)
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        controller.enqueue(bytes)
        if (answer.broken) controller.error(breakOff)
        else controller.close()
      }
    })
    return Effect.succeed(HttpClientResponse.fromWeb(
      request,
      new Response(answer.status === 304 ? null : body, { status: answer.status, headers: headersOf(answer) })
    ))
  })

const unused = HttpClient.make((request) =>
  Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: "the client was used" }))
)

/** A read of `doc` by a session over `client`, typed or not, without retries. */
const read = (client: HttpClient.HttpClient, typed: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    const couch = yield* CouchSession.make({ url: "http://couch.test", auth: CouchAuth.basic("u", Redacted.make("p")), retry: false })
    const db = yield* couch.use("things")
    return typed ? yield* db.withSchema(document).get("doc") : yield* db.get("doc")
  })).pipe(Effect.provide(Layer.succeed(HttpClient.HttpClient, client)))

/** What an exit says, without the parts that name the path it took (the platform's request, its causes). */
const told = (exit: Exit.Exit<unknown, unknown>): unknown =>
  Exit.match(exit, {
    onSuccess: (value) => ({ success: value }),
    onFailure: (cause) => {
      const failure = Option.getOrUndefined(Cause.failureOption(cause)) as Record<string, unknown> | undefined
      if (failure === undefined) return { defect: Cause.pretty(cause) }
      const { cause: _, ...fields } = failure
      return { failure: { ...fields } }
    }
  })

describe("a document read through a transport", () => {
  it.effect.prop(
    "ends as the same read through the client, for every answer (whole, streamed, broken off, refused)",
    [answers, Schema.Boolean],
    ([answer, typed]) =>
      Effect.gen(function*() {
        const direct = yield* Effect.exit(read(
          CouchTransport.withTransport(unused, { send: () => Effect.succeed(transportAnswer(answer)) }),
          typed
        ))
        const viaClient = yield* Effect.exit(read(clientAnswer(answer), typed))
        assert.deepStrictEqual(told(direct), told(viaClient))
      }),
    { fastCheck: { numRuns: 400 } }
  )

  it.effect("a failure of the transport is a TransportError of its reason", () =>
    Effect.gen(function*() {
      for (const reason of ["connection", "timeout", "encode"] as const) {
        const exit = yield* Effect.exit(read(
          CouchTransport.withTransport(unused, {
            send: () => Effect.fail(new CouchTransport.SendError({ reason, cause: new Error("refused") }))
          }),
          false
        ))
        const failure = told(exit) as { failure: { _tag: string; reason: string; url: string } }
        assert.strictEqual(failure.failure._tag, "TransportError")
        assert.strictEqual(failure.failure.reason, reason)
        assert.strictEqual(failure.failure.url, "http://couch.test/things/doc")
      }
    }))

  it.live("a transient failure is retried by the session's schedule", () =>
    Effect.gen(function*() {
      let sent = 0
      const couch = CouchSession.make({ url: "http://couch.test", auth: CouchAuth.basic("u", Redacted.make("p")) })
      const doc = yield* Effect.scoped(Effect.flatMap(couch, (session) => Effect.flatMap(session.use("things"), (db) => db.get("doc")))).pipe(
        Effect.provide(Layer.succeed(
          HttpClient.HttpClient,
          CouchTransport.withTransport(unused, {
            send: () =>
              Effect.sync(() =>
                transportAnswer(++sent < 3 ?
                  { status: 503, body: { error: "unavailable", reason: "busy" }, broken: false, received: true, requestId: false } :
                  { status: 200, body: { _id: "doc", _rev: "1-a" }, broken: false, received: true, requestId: false })
              )
          })
        ))
      )
      assert.strictEqual(sent, 3)
      assert.deepStrictEqual(doc, { _id: "doc", _rev: "1-a" })
    }))

  it.live("its span ends on every exit, interruption included, and is the caller's child", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* spanRecorder
      const never = CouchTransport.withTransport(unused, { send: () => Effect.never })
      const fiber = yield* read(never, false).pipe(Effect.withSpan("caller"), Effect.withTracer(tracer), Effect.fork)
      yield* Effect.yieldNow()
      yield* Effect.sleep("10 millis")
      yield* Fiber.interrupt(fiber)
      const get = spans.find((span) => span.name === "Database.get")
      assert.isDefined(get)
      assert.strictEqual(Option.getOrUndefined(get!.parent)?.spanId, spans.find((span) => span.name === "caller")?.spanId)
      assert.strictEqual(get!.attributes.get("couchdb.document"), "doc")
      assert.strictEqual(get!.attributes.get("couchdb.database"), "things")
      assert.isTrue(get!.status._tag === "Ended" && Exit.isInterrupted(get!.status.exit))
    }))

  it.effect("with tracing off, it makes no span and says nothing on the caller's", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* spanRecorder
      const ok: Answer = { status: 200, body: { _id: "doc", _rev: "1-a" }, broken: false, received: true, requestId: true }
      const client = CouchTransport.withTransport(unused, { send: () => Effect.succeed(transportAnswer(ok)) })
      yield* Effect.withSpan(
        Effect.locally(read(client, false), FiberRef.currentTracerEnabled, false),
        "caller"
      ).pipe(Effect.withTracer(tracer))
      assert.deepStrictEqual(spans.map((span) => span.name), ["caller"])
      assert.deepStrictEqual([...spans[0].attributes.keys()], [])
    }))
})
