/**
 * A document read or written with its attachments in one `multipart/related` request: `GET /{db}/{docid}` with
 * `attachments=true` (each attachment's bytes handed to a handler as they arrive, never base64, never collected)
 * and `PUT /{db}/{docid}` with the attachments after the JSON, each announced `follows: true` in `_attachments`.
 */
import type * as HttpBody from "@effect/platform/HttpBody"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Attachment from "../Attachment.js"
import * as CouchError from "../CouchError.js"
import type * as Database from "../Database.js"
import type * as Document from "../Document.js"
import { attachmentNameProblem, contentTypeProblem, sendStream } from "./attachment.js"
import type { Codec } from "./codec.js"
import * as Design from "./design.js"
import { boolParam, documentParams, openRevsParams, readErrors, writeErrors } from "./endpoint.js"
import * as Json from "./json.js"
import * as Multipart from "./multipart.js"
import * as Names from "./names.js"
import * as Request from "./request.js"

const putErrors = [...writeErrors, CouchError.PayloadTooLargeError] as const

/** An `open_revs` answer read as JSON (by a server that does not answer `multipart/mixed`). */
const OpenRevsJson = Schema.Array(Schema.Union(
  Schema.Struct({ missing: Schema.String }),
  Schema.Struct({ ok: Schema.Unknown })
))

const invalid = (argument: string, description: string) =>
  Effect.fail(new CouchError.InvalidArgumentError({ argument, description }))

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** A stub of an `_attachments` entry: what CouchDB says of an attachment, or `undefined`. */
const stubOf = (doc: Record<string, unknown>, name: string): Record<string, unknown> | undefined => {
  const attachments = doc["_attachments"]
  const stub = isRecord(attachments) ? attachments[name] : undefined
  return isRecord(stub) ? stub : undefined
}

/**
 * The document as `get` gives it: the attachments that followed it are stubs (`stub: true`), so that it can be
 * written back as it is.
 */
const asStubs = (doc: Record<string, unknown>): Record<string, unknown> => {
  const attachments = doc["_attachments"]
  if (!isRecord(attachments)) return doc
  const stubs: Record<string, unknown> = {}
  for (const [name, entry] of Object.entries(attachments)) {
    if (isRecord(entry) && entry["follows"] === true) {
      const { encoded_length: _length, encoding: _encoding, follows: _follows, ...rest } = entry
      stubs[name] = { ...rest, stub: true }
    } else {
      stubs[name] = entry
    }
  }
  return { ...doc, _attachments: stubs }
}

/** A document whose attachments are inline (`data`) as `get` gives it without them: stubs. */
const inlineAsStubs = (doc: Record<string, unknown>): Record<string, unknown> => {
  const attachments = doc["_attachments"]
  if (!isRecord(attachments)) return doc
  const stubs: Record<string, unknown> = {}
  for (const [name, entry] of Object.entries(attachments)) {
    if (isRecord(entry) && typeof entry["data"] === "string") {
      const { data: _data, ...rest } = entry
      stubs[name] = { ...rest, stub: true }
    } else {
      stubs[name] = entry
    }
  }
  return { ...doc, _attachments: stubs }
}

/** The bytes of a gzip stream, decompressed as they arrive (`DecompressionStream`, in browsers and Node 18+). */
const gunzip = (
  compressed: Stream.Stream<Uint8Array, Attachment.PartError>,
  failure: (description: string) => CouchError.ResponseDecodeError
): Stream.Stream<Uint8Array, Attachment.PartError> => {
  let sourceFailure: Attachment.PartError | undefined
  const source = Stream.tapError(compressed, (error) => Effect.sync(() => (sourceFailure = error)))
  return Stream.unwrapScoped(Effect.map(Stream.toReadableStreamEffect(source), (readable) =>
    Stream.fromReadableStream(
      () => readable.pipeThrough(new DecompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>),
      (cause) => sourceFailure ?? failure(`a gzip-compressed attachment could not be decompressed: ${String(cause)}`)
    )))
}

/** `getWithAttachments` and `putWithAttachments` of the documents read and written through `codec`. */
export const make = <A, D>(
  transport: Request.Transport,
  root: string,
  codec: Codec<A, D>,
  span: (operation: string, id?: string) => <X, E, R>(effect: Effect.Effect<X, E, R>) => Effect.Effect<X, E, R>
): Pick<Database.Documents<A, D>, "getWithAttachments" | "getOpenRevisionsWithAttachments" | "putWithAttachments"> => {
  const docPath = (id: string) => Either.map(Names.documentPath(id), (path) => `${root}/${path}`)

  /** What reading a multipart answer of `request` needs: its reader, the lock of its parts, its failures. */
  interface Parts {
    readonly read: Multipart.Reader<CouchError.TransportError>
    readonly lock: Effect.Semaphore
    readonly malformed: (reason: "truncated" | "malformed", description: string) => CouchError.ResponseDecodeError
    readonly orFail: <X, E2, R2>(
      effect: Effect.Effect<X, E2 | Multipart.Malformed, R2>
    ) => Effect.Effect<X, E2 | CouchError.ResponseDecodeError, R2>
  }

  /** Reads the multipart body of `response` with `use`, in a scope that closes the connection after it. */
  const withParts = <X, E, R>(
    request: Request.Request,
    response: HttpClientResponse.HttpClientResponse,
    use: (parts: Parts) => Effect.Effect<X, E, R>
  ): Effect.Effect<X, E, R> =>
    Effect.scoped(Effect.gen(function*() {
      const malformed = (reason: "truncated" | "malformed", description: string) =>
        Request.decodeFailure(transport, request, reason, description)
      const body = Stream.mapError(response.stream, (error) =>
        new CouchError.TransportError({
          method: request.method,
          url: Request.fullUrl(transport, request),
          reason: "connection",
          description: `the body could not be read to its end: ${error.message}`,
          cause: error
        }))
      const read = Multipart.reader(yield* Stream.toPull(body))
      const lock = yield* Effect.makeSemaphore(1)
      const orFail = <X2, E2, R2>(effect: Effect.Effect<X2, E2 | Multipart.Malformed, R2>) =>
        Effect.catchIf(
          effect,
          (error): error is Multipart.Malformed => error instanceof Multipart.Malformed,
          (error) => Effect.fail(malformed(error.reason, error.description))
        )
      return yield* use({ read, lock, malformed, orFail })
    }))

  const blankLine = Multipart.utf8("\r\n\r\n")

  /** A JSON part's document: its attachments that followed it made stubs, decoded. */
  const jsonPart = (parts: Parts, bytes: Uint8Array) =>
    Effect.flatMap(
      Effect.try({
        try: (): unknown => JSON.parse(Multipart.text(bytes)),
        catch: () => parts.malformed("malformed", "a document part is not JSON")
      }),
      (json) =>
        isRecord(json) ? Effect.succeed(json) : Effect.fail(parts.malformed("malformed", "a document part is not a JSON object"))
    )

  /**
   * A `multipart/related` body whose boundary is `boundary`, the reader at its start: the document, then each
   * attachment to `onAttachment`; read through its closing delimiter.
   */
  const related = <E, R>(
    parts: Parts,
    boundary: string,
    onAttachment: (attachment: Attachment.Part, doc: A) => Effect.Effect<void, E, R>,
    decompress: boolean
  ): Effect.Effect<A, Attachment.PartError | D | E, R> =>
    Effect.gen(function*() {
      const { lock, malformed, orFail, read } = parts
      const delimiter = Multipart.utf8(`\r\n--${boundary}`)

      yield* orFail(read.until(Multipart.utf8(`--${boundary}`), 4096, "the preamble"))
      yield* orFail(read.until(blankLine, 16_384, "the document part's headers"))
      const json = yield* jsonPart(parts, yield* orFail(read.until(delimiter, Multipart.maxJsonPart, "the document part")))
      const doc = yield* codec.decode(asStubs(json))
      // the attachments that follow, in the document's order: the names of parts that do not say theirs
      const following = Object.keys(isRecord(json["_attachments"]) ? json["_attachments"] : {}).filter((name) =>
        stubOf(json, name)?.["follows"] === true
      )
      const seen = new Set<string>()

      for (;;) {
        const next = yield* read.peek(2)
        if (Multipart.text(next) === "--") {
          yield* orFail(read.take(2, "the closing delimiter"))
          return doc
        }
        const headers = Multipart.parseHeaders(
          yield* orFail(read.until(blankLine, 16_384, "an attachment part's headers"))
        )
        const name = Multipart.filenameOf(headers["content-disposition"]) ?? following.find((n) => !seen.has(n))
        const stub = name === undefined ? undefined : stubOf(json, name)
        if (name === undefined || stub === undefined || seen.has(name)) {
          return yield* Effect.fail(
            malformed("malformed", `a part that is no attachment of the document (${name ?? "unnamed"})`)
          )
        }
        seen.add(name)
        const partLength = Multipart.lengthOf(headers["content-length"])
        if (partLength === undefined) {
          return yield* Effect.fail(malformed("malformed", `the part of ${JSON.stringify(name)} has no Content-Length`))
        }
        let remaining = partLength
        const raw: Stream.Stream<Uint8Array, Attachment.PartError> = Stream.repeatEffectOption(
          lock.withPermits(1)(Effect.suspend(() =>
            remaining === 0 ? Effect.fail(Option.none()) : orFail(read.take(remaining, `the attachment ${JSON.stringify(name)}`)).pipe(
              Effect.map((bytes) => {
                remaining -= bytes.length
                return bytes
              }),
              Effect.mapError(Option.some)
            )
          ))
        )
        const encoding = headers["content-encoding"]
        const gzipped = encoding !== undefined && encoding.toLowerCase() === "gzip"
        const part: Attachment.Part = {
          name,
          contentType: headers["content-type"] ?? (typeof stub["content_type"] === "string" ? stub["content_type"] : "application/octet-stream"),
          length: typeof stub["length"] === "number" ? stub["length"] : undefined,
          digest: typeof stub["digest"] === "string" ? stub["digest"] : undefined,
          revpos: typeof stub["revpos"] === "number" ? stub["revpos"] : undefined,
          encoding: gzipped && decompress ? undefined : encoding,
          stream: gzipped && decompress ? gunzip(raw, (description) => malformed("malformed", description)) : raw
        }
        yield* onAttachment(part, doc)
        // what the handler did not read is skipped; the part's stream ends
        yield* lock.withPermits(1)(Effect.suspend(function skip(): Effect.Effect<void, Attachment.PartError> {
          if (remaining === 0) return Effect.void
          return Effect.flatMap(orFail(read.take(remaining, `the attachment ${JSON.stringify(name)}`)), (bytes) => {
            remaining -= bytes.length
            return skip()
          })
        }))
        const end = yield* orFail(read.take(delimiter.length, "the end of an attachment part"))
        // a part ends with its delimiter; `take` may give it in pieces
        let ended = Multipart.text(end)
        while (ended.length < delimiter.length) {
          ended += Multipart.text(yield* orFail(read.take(delimiter.length - ended.length, "the end of an attachment part")))
        }
        if (ended !== Multipart.text(delimiter)) {
          return yield* Effect.fail(
            malformed("malformed", `the part of ${JSON.stringify(name)} is longer than its Content-Length`)
          )
        }
      }
    })

  const getWithAttachments: Database.Documents<A, D>["getWithAttachments"] = (id, onAttachment, options = {}) =>
    Effect.gen(function*() {
      const path = yield* docPath(id)
      const request: Request.Request = {
        method: "GET",
        path,
        params: { ...documentParams(options), attachments: "true" },
        headers: { accept: "multipart/related, application/json" }
      }
      // the request's timeout bounds its answer's headers; the attachments are read at the handler's pace
      const response = yield* Request.execute(transport, request, readErrors, Effect.succeed)
      const contentType = response.headers["content-type"] ?? ""
      if (!/^multipart\/related\b/i.test(contentType)) {
        // no attachment: CouchDB answers the document as JSON
        return yield* Request.readJson(transport, request, response, (json) =>
          codec.decode(isRecord(json) ? asStubs(json) : json))
      }
      const boundary = Multipart.boundaryOf(contentType)
      if (boundary === undefined) {
        return yield* Effect.fail(
          Request.decodeFailure(transport, request, "malformed", `a multipart answer without a boundary (${contentType})`)
        )
      }
      return yield* withParts(request, response, (parts) =>
        related(parts, boundary, onAttachment, options.decompress !== false))
    }).pipe(span("getWithAttachments", id))

  /** The attachments a JSON answer holds inline (base64), each given to `onAttachment` as a part. */
  const inlineParts = <E, R>(
    json: Record<string, unknown>,
    doc: A,
    onAttachment: (attachment: Attachment.Part, doc: A) => Effect.Effect<void, E, R>
  ): Effect.Effect<void, E, R> => {
    const attachments = json["_attachments"]
    if (!isRecord(attachments)) return Effect.void
    return Effect.forEach(Object.entries(attachments), ([name, stub]) => {
      if (!isRecord(stub) || typeof stub["data"] !== "string") return Effect.void
      const bytes = Encoding.decodeBase64(stub["data"])
      if (Either.isLeft(bytes)) return Effect.void
      return onAttachment({
        name,
        contentType: typeof stub["content_type"] === "string" ? stub["content_type"] : "application/octet-stream",
        length: bytes.right.length,
        digest: typeof stub["digest"] === "string" ? stub["digest"] : undefined,
        revpos: typeof stub["revpos"] === "number" ? stub["revpos"] : undefined,
        encoding: undefined,
        stream: Stream.succeed(bytes.right)
      }, doc)
    }, { discard: true })
  }

  /** An `open_revs` answer's entry: the document at a revision (its attachments made stubs), or a missing one. */
  const openRevision = (json: Record<string, unknown>): Effect.Effect<Document.OpenRevision<A>, D> =>
    typeof json["missing"] === "string" && json["_id"] === undefined ?
      Effect.succeed({ _tag: "Missing", rev: json["missing"] }) :
      Effect.map(codec.decode(asStubs(json)), (doc) => ({ _tag: "Found", doc }))

  const getOpenRevisionsWithAttachments: Database.Documents<A, D>["getOpenRevisionsWithAttachments"] = (
    id,
    revs,
    onAttachment,
    options = {}
  ) =>
    Effect.gen(function*() {
      const path = yield* docPath(id)
      const request: Request.Request = {
        method: "GET",
        path,
        params: openRevsParams(revs, { ...options, attachments: true }),
        headers: { accept: "multipart/mixed, application/json" }
      }
      const response = yield* Request.execute(transport, request, readErrors, Effect.succeed)
      const contentType = response.headers["content-type"] ?? ""
      if (!/^multipart\/mixed\b/i.test(contentType)) {
        // a server that answers JSON: the attachments are inline, handed on from there
        const answer = yield* Request.decodeJson(transport, request, OpenRevsJson)(response)
        return yield* Effect.forEach(answer, (entry) => {
          const json = "ok" in entry && isRecord(entry.ok) ? entry.ok : { missing: "missing" in entry ? entry.missing : "" }
          return Effect.tap(openRevision(inlineAsStubs(json)), (revision) =>
            revision._tag === "Found" ? inlineParts(json, revision.doc, onAttachment) : Effect.void)
        })
      }
      const boundary = Multipart.boundaryOf(contentType)
      if (boundary === undefined) {
        return yield* Effect.fail(
          Request.decodeFailure(transport, request, "malformed", `a multipart answer without a boundary (${contentType})`)
        )
      }
      const decompress = options.decompress !== false
      return yield* withParts(request, response, (parts) =>
        Effect.gen(function*() {
          const { orFail, read } = parts
          const delimiter = Multipart.utf8(`\r\n--${boundary}`)
          const revisions: Array<Document.OpenRevision<A>> = []
          yield* orFail(read.until(Multipart.utf8(`--${boundary}`), 4096, "the preamble"))
          for (;;) {
            if (Multipart.text(yield* read.peek(2)) === "--") return revisions
            const headers = Multipart.parseHeaders(yield* orFail(read.until(blankLine, 16_384, "a revision's headers")))
            const partType = headers["content-type"] ?? ""
            const nested = /^multipart\/related\b/i.test(partType) ? Multipart.boundaryOf(partType) : undefined
            if (nested !== undefined) {
              const doc = yield* related(parts, nested, onAttachment, decompress)
              revisions.push({ _tag: "Found", doc })
              yield* orFail(read.until(delimiter, 16, "the end of a revision"))
            } else {
              const json = yield* jsonPart(parts, yield* orFail(read.until(delimiter, Multipart.maxJsonPart, "a revision")))
              revisions.push(yield* openRevision(json))
            }
          }
        }))
    }).pipe(span("getOpenRevisionsWithAttachments", id))

  const putWithAttachments = <E, R>(
    doc: A,
    uploads: ReadonlyArray<Attachment.Upload<E, R>>,
    options: Attachment.MultipartPutOptions = {}
  ): Effect.Effect<Document.WriteResult, Database.WriteError | CouchError.PayloadTooLargeError | E, R> =>
    Effect.gen(function*() {
      const encoded = yield* codec.encode(doc)
      if (!isRecord(encoded) || typeof encoded["_id"] !== "string") {
        return yield* invalid("document", "a document written with its attachments needs an _id")
      }
      const path = yield* docPath(encoded["_id"])
      yield* Design.check(encoded["_id"], encoded)
      // each upload's bytes (a string encoded once) or stream, and its length
      const byName = new Map<string, {
        readonly contentType: string
        readonly body: Uint8Array | Stream.Stream<Uint8Array, E | CouchError.InvalidArgumentError, R>
        readonly length: number
      }>()
      for (const upload of uploads) {
        const problem = attachmentNameProblem(upload.name) ??
          contentTypeProblem(upload.contentType) ??
          (byName.has(upload.name) ? `${JSON.stringify(upload.name)} is given twice` : undefined)
        if (problem !== undefined) return yield* invalid("attachment", problem)
        const body = typeof upload.content === "string" ? Multipart.utf8(upload.content) : upload.content
        const length = body instanceof Uint8Array ? body.length : upload.contentLength
        if (length === undefined || !Number.isSafeInteger(length) || length < 0) {
          return yield* invalid(
            "content length",
            `${JSON.stringify(upload.name)}: a stream is sent with its length (contentLength, an integer from 0)`
          )
        }
        if (upload.contentLength !== undefined && upload.contentLength !== length) {
          return yield* invalid(
            "content length",
            `${JSON.stringify(upload.name)} has ${length} bytes, not the ${upload.contentLength} of contentLength`
          )
        }
        byName.set(upload.name, {
          contentType: upload.contentType.trim(),
          body: body instanceof Uint8Array ? body : lengthChecked(upload.name, length, body),
          length
        })
      }
      const attachments: Record<string, unknown> = isRecord(encoded["_attachments"]) ? { ...encoded["_attachments"] } : {}
      for (const [name, upload] of byName) {
        attachments[name] = { follows: true, content_type: upload.contentType, length: upload.length }
      }
      const json = { ...encoded, _attachments: attachments }
      const problem = Json.jsonProblem(json)
      if (problem !== undefined) return yield* invalid("document", problem)
      // CouchDB matches the parts to the `follows` entries in the order the JSON names them
      const order = Object.keys(attachments).filter((name) => isRecord(attachments[name]) && attachments[name]["follows"] === true)
      const missing = order.find((name) => !byName.has(name))
      if (missing !== undefined) {
        return yield* invalid("attachment", `${JSON.stringify(missing)} says it follows, but no content is given for it`)
      }
      const jsonBytes = Multipart.utf8(JSON.stringify(json))
      const boundary = Multipart.randomBoundary()
      const multipart = Multipart.body(boundary, [
        { headers: { "Content-Type": "application/json" }, body: jsonBytes, length: jsonBytes.length },
        ...order.map((name) => {
          const upload = byName.get(name)!
          return {
            headers: {
              "Content-Disposition": `attachment; filename="${name.replace(/["\\]/g, (c) => `\\${c}`)}"`,
              "Content-Type": upload.contentType,
              "Content-Length": String(upload.length)
            },
            body: upload.body,
            length: upload.length
          }
        })
      ])
      const send = (body: HttpBody.HttpBody) =>
        Request.written(transport, {
          method: "PUT",
          path,
          params: {
            batch: options.batch === true ? "ok" : undefined,
            new_edits: boolParam(options.newEdits),
            w: options.w
          },
          body,
          timeout: options.timeout,
          idempotent: typeof encoded["_rev"] === "string"
        }, putErrors)
      return yield* sendStream(
        multipart.stream,
        `multipart/related; boundary="${boundary}"`,
        multipart.length,
        send
      )
    }).pipe(span("putWithAttachments"))

  return { getWithAttachments, getOpenRevisionsWithAttachments, putWithAttachments }
}

/** A stream that fails with `InvalidArgumentError` when it is not `length` bytes long. */
const lengthChecked = <E, R>(
  name: string,
  length: number,
  content: Stream.Stream<Uint8Array, E, R>
): Stream.Stream<Uint8Array, E | CouchError.InvalidArgumentError, R> => {
  let given = 0
  const problem = (description: string) =>
    new CouchError.InvalidArgumentError({ argument: "content length", description: `${JSON.stringify(name)}: ${description}` })
  return Stream.concat(
    Stream.mapEffect(content, (bytes) => {
      given += bytes.length
      return given > length ?
        Effect.fail(problem(`the stream gave more than the ${length} bytes of contentLength`)) :
        Effect.succeed(bytes)
    }),
    Stream.suspend(() =>
      given === length ? Stream.empty : Stream.fail(problem(`the stream gave ${given} bytes, not the ${length} of contentLength`))
    )
  )
}
