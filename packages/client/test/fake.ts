import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Tracer from "effect/Tracer"

/** What the fake server saw of one request. */
export interface Seen {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
}

/** An answer of the fake server: a web `Response`, or `"reset"` for a connection failure. */
export type Answer = Response | "reset"

/**
 * A fake `HttpClient` layer answering every request with `answer`, and the list of requests it saw.
 */
export const fakeClient = (answer: (seen: Seen) => Answer) => {
  const seen: Array<Seen> = []
  const client = HttpClient.make((request: HttpClientRequest.HttpClientRequest, url: URL) => {
    const entry: Seen = { method: request.method, url, headers: { ...request.headers } }
    seen.push(entry)
    const response = answer(entry)
    return response === "reset" ?
      Effect.fail(
        new HttpClientError.RequestError({ request, reason: "Transport", cause: new Error("socket hang up") })
      ) :
      Effect.succeed(HttpClientResponse.fromWeb(request, response))
  })
  return { seen, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

/** A JSON response. */
export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } })

/** A tracer that keeps every span it starts, over the current one: provide it with `Effect.withTracer`. */
export const spanRecorder = Effect.map(Effect.tracer, (base) => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (...args) => {
      const span = base.span(...args)
      spans.push(span)
      return span
    },
    context: base.context
  })
  return { spans, tracer }
})
