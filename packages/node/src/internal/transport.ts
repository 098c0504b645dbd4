/**
 * The undici transport: one `Effect.async` per request over a dispatcher's `dispatch`, the answer handed on when its
 * status and headers arrive, its body buffered as it comes (paused past a high-water mark until it is read).
 */
import * as CouchTransport from "@effect-couch/client/CouchTransport"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { Readable } from "node:stream"
import type { Dispatcher } from "undici"

/** The most of an unread body kept before the connection is paused (a streamed body past it waits for its reader). */
const highWaterMark = 1024 * 1024

/** A body announced at most this long (`content-length`) is read whole before its answer is handed on. */
const wholeBelow = 64 * 1024

/** Why undici failed, as a transport's reason. */
const reasonOf = (error: unknown): CouchTransport.SendError["reason"] => {
  const code = (error as { readonly code?: unknown } | null)?.code
  switch (code) {
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return "timeout"
    case "UND_ERR_INVALID_ARG":
    case "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH":
      return "encode"
    default:
      return "connection"
  }
}

const interrupted = new Error("the request was interrupted")

/**
 * A body as it arrives: the chunks not yet read, whether it ended or failed, the reader waiting for more. Held by
 * undici's handler and by the answer; the answer being collected unread aborts the request.
 */
class Body {
  chunks: Array<Buffer> = []
  size = 0
  ended = false
  failure: CouchTransport.SendError | undefined = undefined
  controller: Dispatcher.DispatchController | undefined = undefined
  /** Called when something arrives (a chunk, the end, a failure) while a reader waits. */
  wake: (() => void) | undefined = undefined
  /** A whole-body read: never paused. */
  whole = false
  aborted = false

  data(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.size += chunk.length
    if (!this.whole && this.size > highWaterMark && this.controller !== undefined && !this.controller.paused) {
      this.controller.pause()
    }
    this.notify()
  }

  end(): void {
    this.ended = true
    // Nothing of undici's is needed once the body is complete, and its controller holds the answer's raw header
    // buffers: V8 may pretenure some of a request's objects (allocation-site pretenuring), and a dead object in
    // the old generation keeps what it points to alive through every young collection until the next full one.
    // Let go of it, and a read's young objects die young (the young objects surviving a collection fell from
    // ~3 MB to ~0.7 MB per collection in a loop of GETs).
    this.controller = undefined
    this.notify()
  }

  fail(error: unknown): void {
    this.failure = new CouchTransport.SendError({ reason: "body", cause: error })
    this.notify()
  }

  notify(): void {
    const wake = this.wake
    if (wake !== undefined) {
      this.wake = undefined
      wake()
    }
  }

  abort(): void {
    if (this.ended || this.failure !== undefined || this.aborted) return
    this.aborted = true
    this.controller?.abort(interrupted)
  }

  /** The chunks read so far, taken; the connection goes on if it was paused. */
  take(): Array<Buffer> {
    const chunks = this.chunks
    this.chunks = []
    this.size = 0
    if (this.controller !== undefined && this.controller.paused) this.controller.resume()
    return chunks
  }
}

/** Aborts the request of an answer that was dropped before its body was read to its end. */
const unread = new FinalizationRegistry<Body>((body) => body.abort())

const concat = (chunks: ReadonlyArray<Buffer>): Uint8Array =>
  chunks.length === 1 ? chunks[0] : chunks.length === 0 ? new Uint8Array(0) : Buffer.concat(chunks)

class Answer implements CouchTransport.Response {
  private whole: Uint8Array | undefined = undefined

  constructor(
    readonly status: number,
    readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>,
    private readonly source: Body
  ) {
    if (!source.ended) unread.register(this, source, this)
  }

  get received(): Uint8Array | undefined {
    if (this.whole !== undefined) return this.whole
    const source = this.source
    if (!source.ended || source.failure !== undefined) return undefined
    unread.unregister(this)
    return this.whole = concat(source.take())
  }

  get body(): Effect.Effect<Uint8Array, CouchTransport.SendError> {
    const source = this.source
    const received = this.received
    if (received !== undefined) return Effect.succeed(received)
    if (source.failure !== undefined) return Effect.fail(source.failure)
    source.whole = true
    if (source.controller !== undefined && source.controller.paused) source.controller.resume()
    return Effect.async<Uint8Array, CouchTransport.SendError>((resume) => {
      // the whole body: woken on every chunk, done at its end
      const wake = (): void => {
        if (source.failure !== undefined) return resume(Effect.fail(source.failure))
        if (!source.ended) {
          source.wake = wake
          return
        }
        unread.unregister(this)
        resume(Effect.succeed(this.whole = concat(source.take())))
      }
      source.wake = wake
      return Effect.sync(() => {
        source.wake = undefined
        source.abort()
      })
    })
  }

  get stream(): Stream.Stream<Uint8Array, CouchTransport.SendError> {
    const source = this.source
    const waitMore = Effect.async<void>((resume) => {
      source.wake = () => resume(Effect.void)
      return Effect.sync(() => {
        source.wake = undefined
      })
    })
    const pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<CouchTransport.SendError>> = Effect.suspend(() => {
      if (source.chunks.length > 0) return Effect.succeed(Chunk.unsafeFromArray<Uint8Array>(source.take()))
      if (source.failure !== undefined) return Effect.fail(Option.some(source.failure))
      if (source.ended) {
        // `this` (the answer) is held by the stream: it stays reachable, not aborted by the registry, while read
        unread.unregister(this)
        return Effect.fail(Option.none())
      }
      return Effect.zipRight(waitMore, pull)
    })
    return Stream.repeatEffectChunkOption(pull).pipe(
      Stream.ensuring(Effect.sync(() => source.abort()))
    )
  }
}

/** Splits a full URL into undici's origin and path (with the query). */
const split = (url: string): { readonly origin: string; readonly path: string } => {
  const slash = url.indexOf("/", url.indexOf("//") + 2)
  return slash === -1 ? { origin: url, path: "/" } : { origin: url.slice(0, slash), path: url.slice(slash) }
}

/**
 * undici's handler of one request: hands the answer on when its status and headers arrive, or, for a body of a
 * known small length, once the whole body is there (one step for the reader instead of two). One object per
 * request, its callbacks on the prototype.
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly source = new Body()
  /** The answer was handed on, or is being read whole. */
  started = false
  /** The status and headers of an answer being read whole before it is handed on. */
  pending: { readonly status: number; readonly headers: Answer["headers"] } | undefined = undefined

  constructor(private readonly resume: (effect: Effect.Effect<CouchTransport.Response, CouchTransport.SendError>) => void) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.source.controller = controller
    if (this.source.aborted) controller.abort(interrupted)
  }

  onResponseStart(_: Dispatcher.DispatchController, status: number, headers: Answer["headers"]): void {
    if (status < 200) return
    this.started = true
    const length = headers["content-length"]
    if (typeof length === "string" && Number(length) <= wholeBelow) {
      this.source.whole = true
      this.pending = { status, headers }
      return
    }
    this.resume(Effect.succeed(new Answer(status, headers, this.source)))
  }

  onResponseData(_: Dispatcher.DispatchController, chunk: Buffer): void {
    this.source.data(chunk)
  }

  onResponseEnd(): void {
    this.source.end()
    const pending = this.pending
    // let go of the headers too, once the answer holds them (see `Body.end`)
    this.pending = undefined
    if (pending !== undefined) this.resume(Effect.succeed(new Answer(pending.status, pending.headers, this.source)))
  }

  onResponseError(_: Dispatcher.DispatchController, error: Error): void {
    if (this.pending !== undefined) {
      this.pending = undefined
      return this.resume(Effect.fail(new CouchTransport.SendError({ reason: "body", cause: error })))
    }
    if (this.started) return this.source.fail(error)
    if (this.source.aborted) return
    this.resume(Effect.fail(new CouchTransport.SendError({ reason: reasonOf(error), cause: error })))
  }

  /** The request's fiber was interrupted: a request whose answer was not handed on yet is aborted. */
  interrupt(): void {
    if (!this.started || this.pending !== undefined) {
      this.source.aborted = true
      this.source.controller?.abort(interrupted)
    }
  }
}

/** Sends one request through `dispatcher`; `body` is what undici sends. */
const dispatch = (
  dispatcher: Dispatcher,
  request: CouchTransport.Request,
  body: Uint8Array | Readable | null
): Effect.Effect<CouchTransport.Response, CouchTransport.SendError> =>
  Effect.async<CouchTransport.Response, CouchTransport.SendError>((resume) => {
    const { origin, path } = split(request.url)
    const exchange = new Exchange(resume)
    try {
      dispatcher.dispatch({
        origin,
        path,
        method: request.method,
        headers: request.headers as Record<string, string>,
        body
      }, exchange)
    } catch (error) {
      return resume(Effect.fail(new CouchTransport.SendError({ reason: reasonOf(error), cause: error })))
    }
    return Effect.sync(() => exchange.interrupt())
  })

/** The transport over a dispatcher (an `Agent`, a `Pool`, ...). */
export const make = (dispatcher: Dispatcher): CouchTransport.CouchTransport => ({
  send: (request) => {
    const body = request.body
    if (body === undefined || body instanceof Uint8Array) return dispatch(dispatcher, request, body ?? null)
    // a streamed body: read by undici as a node stream, run on the caller's runtime
    return Effect.flatMap(
      Effect.runtime<never>(),
      (runtime) =>
        dispatch(dispatcher, request, Readable.from(Stream.toAsyncIterableRuntime(body, runtime), { objectMode: false }))
    )
  }
})
