/**
 * Multipart bodies as CouchDB writes and reads them (`multipart/related`): a byte reader over a streamed body
 * (a part's bytes handed on as they arrive, never collected), the parts of a document answer (the JSON part, then
 * one part per attachment), and the body of a document written with its attachments.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

/** A body that is not the multipart answer it says it is. */
export class Malformed {
  readonly _tag = "Malformed"
  constructor(readonly reason: "truncated" | "malformed", readonly description: string) {}
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The bytes of a text (UTF-8). */
export const utf8 = (text: string): Uint8Array => encoder.encode(text)

/** The text of bytes (UTF-8, a malformed sequence read as U+FFFD). */
export const text = (bytes: Uint8Array): string => decoder.decode(bytes)

/** Where `needle` starts in `haystack` at or after `from`, or -1. */
export const indexOf = (haystack: Uint8Array, needle: Uint8Array, from: number): number => {
  const first = needle[0]
  const last = haystack.length - needle.length
  outer: for (let i = Math.max(0, from); i <= last; i++) {
    if (haystack[i] !== first) continue
    for (let j = 1; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer
    }
    return i
  }
  return -1
}

/**
 * A reader of a body pulled chunk by chunk: what it holds beyond what it gave is at most one chunk (plus, while
 * it looks for a delimiter, the bytes before it, bounded by `max`).
 */
export interface Reader<E> {
  /** The bytes up to `delimiter` (which is read too); `Malformed` past `max` bytes or at the end of the body. */
  readonly until: (delimiter: Uint8Array, max: number, what: string) => Effect.Effect<Uint8Array, E | Malformed>
  /** The next `count` bytes, without reading them; fewer at the end of the body. */
  readonly peek: (count: number) => Effect.Effect<Uint8Array, E>
  /** The next bytes, at most `count` of them (as many as the body has at hand); `Malformed` at its end. */
  readonly take: (count: number, what: string) => Effect.Effect<Uint8Array, E | Malformed>
}

/** A reader of the chunks `pull` gives (`Option.none()` at the end). */
export const reader = <E>(pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<E>>): Reader<E> => {
  // What is held is `store[start, end)`. A chunk is appended in the room after `end`, never over bytes handed out
  // (they lie before `start`); a full store is replaced by one twice as large holding only what is held, so that a
  // long search for a delimiter copies each byte a bounded number of times. With nothing held, a chunk becomes the
  // store as it is (an attachment's bytes are handed on without a copy).
  let store: Uint8Array = new Uint8Array(0)
  let start = 0
  let end = 0
  const held = () => store.subarray(start, end)
  const append = (bytes: Uint8Array) => {
    if (start === end) {
      store = bytes
      start = 0
      end = bytes.length
      return
    }
    if (store.length - end < bytes.length) {
      const live = end - start
      const grown = new Uint8Array(Math.max(2 * live, live + bytes.length))
      grown.set(store.subarray(start, end), 0)
      store = grown
      start = 0
      end = live
    }
    store.set(bytes, end)
    end += bytes.length
  }
  let ended = false
  /** Reads one more chunk into what is held; `false` at the end of the body. */
  const more: Effect.Effect<boolean, E> = Effect.suspend(() =>
    ended ? Effect.succeed(false) : Effect.matchEffect(pull, {
      onFailure: Option.match({
        onNone: () => {
          ended = true
          return Effect.succeed(false)
        },
        onSome: (error) => Effect.fail(error)
      }),
      onSuccess: (chunk) => {
        for (const bytes of chunk) append(bytes)
        return Effect.succeed(true)
      }
    })
  )
  const until = (delimiter: Uint8Array, max: number, what: string): Effect.Effect<Uint8Array, E | Malformed> => {
    const search = (from: number): Effect.Effect<Uint8Array, E | Malformed> => {
      const bytes = held()
      const at = indexOf(bytes, delimiter, from)
      if (at >= 0) {
        start += at + delimiter.length
        return Effect.succeed(bytes.subarray(0, at))
      }
      if (bytes.length > max + delimiter.length) {
        return Effect.fail(new Malformed("malformed", `${what} is longer than ${max} bytes`))
      }
      const next = Math.max(0, bytes.length - delimiter.length + 1)
      return Effect.flatMap(more, (got) =>
        got ? search(next) : Effect.fail(new Malformed("truncated", `the body ended in ${what}`)))
    }
    return Effect.suspend(() => search(0))
  }
  const peek = (count: number): Effect.Effect<Uint8Array, E> =>
    Effect.suspend(() =>
      end - start >= count ?
        Effect.succeed(store.subarray(start, start + count)) :
        Effect.flatMap(more, (got) => got ? peek(count) : Effect.succeed(held()))
    )
  const take = (count: number, what: string): Effect.Effect<Uint8Array, E | Malformed> =>
    Effect.suspend(() => {
      if (end > start) {
        const bytes = store.subarray(start, start + Math.min(count, end - start))
        start += bytes.length
        return Effect.succeed(bytes)
      }
      return Effect.flatMap(more, (got) =>
        got ? take(count, what) : Effect.fail(new Malformed("truncated", `the body ended in ${what}`)))
    })
  return { until, peek, take }
}

/** The boundary of a `multipart/*` content type (quoted or not), or `undefined`. */
export const boundaryOf = (contentType: string): string | undefined => {
  const match = /;\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType)
  return match === null ? undefined : match[1] ?? match[2]
}

/** The headers of a part, names in lower case (`Name: value` lines). */
export const parseHeaders = (block: Uint8Array): Readonly<Record<string, string>> => {
  const headers: Record<string, string> = {}
  for (const line of text(block).split("\r\n")) {
    const colon = line.indexOf(":")
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return headers
}

/**
 * The attachment a part of CouchDB's answer holds, from its `Content-Disposition: attachment; filename="..."`.
 * CouchDB writes the name as it is, quotes included, so the name is all up to the last quote.
 */
export const filenameOf = (disposition: string | undefined): string | undefined => {
  const match = disposition === undefined ? null : /;\s*filename="(.*)"\s*$/.exec(disposition)
  return match === null ? undefined : match[1]
}

/** A part's `Content-Length`, or `undefined` when it has none that is a length. */
export const lengthOf = (header: string | undefined): number | undefined => {
  if (header === undefined || !/^\d+$/.test(header)) return undefined
  const length = Number(header)
  return Number.isSafeInteger(length) ? length : undefined
}

/** The largest JSON part read (CouchDB's `max_document_size` is 8 MB by default). */
export const maxJsonPart = 64 * 1024 * 1024

/** One part of a multipart body to write: its headers, then bytes or a stream of its given length. */
export interface OutgoingPart<E, R> {
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array | Stream.Stream<Uint8Array, E, R>
  readonly length: number
}

/** A boundary no body holds by chance (128 random bits). */
export const randomBoundary = (): string => {
  const bytes = new Uint8Array(16)
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")
}

/**
 * A multipart body: its parts framed by the boundary, as a stream, and its exact length (every part's length is
 * known, so the body is sent with a `Content-Length`).
 */
export const body = <E, R>(
  boundary: string,
  parts: ReadonlyArray<OutgoingPart<E, R>>
): { readonly stream: Stream.Stream<Uint8Array, E, R>; readonly length: number } => {
  const pieces: Array<Stream.Stream<Uint8Array, E, R>> = []
  let length = 0
  parts.forEach((part, i) => {
    const head = utf8(
      `${i === 0 ? "" : "\r\n"}--${boundary}\r\n` +
        Object.entries(part.headers).map(([name, value]) => `${name}: ${value}\r\n`).join("") +
        "\r\n"
    )
    pieces.push(Stream.succeed(head))
    pieces.push(part.body instanceof Uint8Array ? Stream.succeed(part.body) : part.body)
    length += head.length + part.length
  })
  const tail = utf8(`\r\n--${boundary}--`)
  pieces.push(Stream.succeed(tail))
  length += tail.length
  return { stream: Stream.concatAll(Chunk.unsafeFromArray(pieces)), length }
}
