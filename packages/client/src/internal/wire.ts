/**
 * Lists of rows in CouchDB's answers (`_all_docs`, `_changes`), checked with a plain function per row: a schema
 * per row costs more than everything else a page's reading does.
 */
import * as Channel from "effect/Channel"
import type * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as Stream from "effect/Stream"
import * as CouchError from "../CouchError.js"
import { writeBounded } from "./chunks.js"
import * as Request from "./request.js"

/**
 * A schema for an array whose elements `problem` checks: it answers what is wrong with one, or `undefined` when it
 * is a `A`. The elements are not copied. The failure names the first bad element and its index.
 */
export const checkedArray = <A>(
  name: string,
  problem: (element: unknown) => string | undefined
): Schema.Schema<ReadonlyArray<A>> => {
  const check = (input: unknown, ast: SchemaAST.AST) => {
    if (!Array.isArray(input)) return ParseResult.fail(new ParseResult.Type(ast, input, `${name}: expected an array`))
    for (let i = 0; i < input.length; i++) {
      const wrong = problem(input[i])
      if (wrong !== undefined) {
        return ParseResult.fail(new ParseResult.Type(ast, input[i], `${name}[${i}]: ${wrong}`))
      }
    }
    return ParseResult.succeed(input as ReadonlyArray<A>)
  }
  return Schema.declare([], {
    decode: () => (input, _, ast) => check(input, ast),
    encode: () => (input, _, ast) => check(input, ast)
  }, { identifier: name })
}

/** Whether a value is a JSON object (not an array, not null). */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** What is wrong with an optional field of an object, checked by `ok`; `undefined` when nothing is. */
export const optionalField = (
  object: Record<string, unknown>,
  field: string,
  expected: string,
  ok: (value: unknown) => boolean
): string | undefined =>
  object[field] === undefined || ok(object[field]) ? undefined : `${field} is not ${expected}`

/** Whether a value is a string. */
export const isString = (value: unknown): value is string => typeof value === "string"

/** Whether a value is a boolean. */
export const isBoolean = (value: unknown): value is boolean => typeof value === "boolean"

/** A sequence: CouchDB 2+ sends strings, CouchDB 1.x and PouchDB numbers. */
export const isSequence = (value: unknown): boolean => typeof value === "string" || typeof value === "number"

/** Why `_bulk_get` gives no document for a revision asked for. */
export interface BulkGetError {
  readonly id?: string
  readonly rev?: string
  readonly error: string
  readonly reason?: string
}
/** A result of `_bulk_get`: a requested id and, per revision asked for, the document or why it is not there. */
export interface BulkGetResult {
  readonly id: string
  readonly docs: ReadonlyArray<{ readonly error: BulkGetError } | { readonly ok: unknown }>
}
/** What is wrong with an entry of a result's `docs`: `{ error: { error, id?, rev?, reason? } }` or `{ ok }`. */
export const bulkGetEntryProblem = (entry: unknown): string | undefined => {
  if (!isObject(entry)) return "not an object"
  const error = entry.error
  if (isObject(error) && typeof error.error === "string") {
    const wrong = optionalField(error, "id", "a string", isString) ??
      optionalField(error, "rev", "a string", isString) ??
      optionalField(error, "reason", "a string", isString)
    if (wrong === undefined) return undefined
    if (!("ok" in entry)) return `error.${wrong}`
  }
  return "ok" in entry ? undefined : "neither ok nor an error"
}
/**
 * What is wrong with a result of `_bulk_get` (`undefined`: nothing), checked in a loop: the answer of a batch holds
 * every document of it. A property test holds it to the schema it replaced.
 */
export const bulkGetResultProblem = (result: unknown): string | undefined => {
  if (!isObject(result)) return "not an object"
  if (typeof result.id !== "string") return "id is not a string"
  if (!Array.isArray(result.docs)) return "docs is not an array"
  for (let i = 0; i < result.docs.length; i++) {
    const wrong = bulkGetEntryProblem(result.docs[i])
    if (wrong !== undefined) return `docs[${i}]: ${wrong}`
  }
  return undefined
}

/**
 * Finds the elements of the top-level `rows` array (or another `field`) of a JSON answer as its text arrives, for
 * reading a long answer row by row in constant memory. `push` takes the next piece of text and gives the rows it
 * completed, each as its JSON text. `end` gives the rest of the answer, its text without the rows (`{"total_rows":
 * 3,"rows":[]}`, `{"results":[],"last_seq":"9-g"}`), once a whole `rows` array was seen, and `undefined` otherwise.
 * Strings (and the brackets in them) are skipped, so any JSON is read right whatever its layout (CouchDB writes a
 * row a line; other servers one long line).
 */
export const rowsScanner = (field = "rows") => {
  const key = JSON.stringify(field)
  let depth = 0
  let inString = false
  // the text not yet consumed: from the start of the row being read, or of the key being read
  let pending = ""
  let keyStart = -1
  let lastKey: string | undefined
  let inRows = false
  let rowsDone = false
  let rowStart = -1
  let inScalar = false
  // the answer without its rows, and where its next piece starts in the text being read (-1 inside the rows)
  let envelope = ""
  let envelopeFrom = 0
  // where the open string's text starts in the text being read (or where this piece starts, for a string begun in
  // an earlier piece), and whether an odd run of backslashes ended the earlier pieces of that string
  let stringFrom = 0
  let escapeCarry = false
  /** Whether the character at `at` is escaped: an odd run of backslashes precedes it in the open string. */
  const escapedAt = (buffer: string, at: number): boolean => {
    let backslash = at - 1
    while (backslash >= stringFrom && buffer.charCodeAt(backslash) === 92) backslash--
    const odd = (at - 1 - backslash) % 2 === 1
    return backslash < stringFrom && escapeCarry ? !odd : odd
  }
  return {
    push: (text: string): Array<string> => {
      const rows: Array<string> = []
      const buffer = pending === "" ? text : pending + text
      const length = buffer.length
      // offsets into `buffer`; rebased when the consumed part is dropped
      let i = pending.length
      stringFrom = i
      while (i < length) {
        if (inString) {
          // the closing quote: the next one that an even number of backslashes (or none) precedes
          let quote = buffer.indexOf("\"", i)
          while (quote >= 0 && escapedAt(buffer, quote)) quote = buffer.indexOf("\"", quote + 1)
          if (quote < 0) {
            escapeCarry = escapedAt(buffer, length)
            break
          }
          inString = false
          if (depth === 1 && keyStart >= 0) {
            lastKey = buffer.slice(keyStart, quote + 1)
            keyStart = -1
          }
          i = quote + 1
          continue
        }
        const c = buffer.charCodeAt(i)
        switch (c) {
          case 34: // opening quote
            inString = true
            stringFrom = i + 1
            escapeCarry = false
            if (depth === 1) keyStart = i
            // a row that is a string: not a row object, reported as one that is not
            if (inRows && depth === 2) rows.push("null")
            break
          case 123: // {
          case 91: // [
            if (inRows && depth === 2 && rowStart < 0) rowStart = i
            depth++
            if (c === 91 && depth === 2 && lastKey === key && !rowsDone) {
              inRows = true
              envelope += buffer.slice(envelopeFrom, i + 1)
              envelopeFrom = -1
            }
            break
          case 125: // }
          case 93: // ]
            inScalar = false
            depth--
            if (inRows && depth === 2 && rowStart >= 0) {
              rows.push(buffer.slice(rowStart, i + 1))
              rowStart = -1
            } else if (inRows && depth === 1) {
              inRows = false
              rowsDone = true
              envelopeFrom = i
            }
            break
          case 44: // comma
            inScalar = false
            break
          default:
            // a row that is a number, a boolean or null: not a row object, reported as one that is not
            if (inRows && depth === 2 && c > 32 && !inScalar) {
              rows.push("null")
              inScalar = true
            }
        }
        i++
      }
      // a string still open runs to the end of the text: kept only when it is a key or in a row
      const keep = rowStart >= 0 ? rowStart : keyStart >= 0 ? keyStart : length
      if (envelopeFrom >= 0) {
        envelope += buffer.slice(envelopeFrom, keep)
        envelopeFrom = 0
      }
      pending = buffer.slice(keep)
      if (rowStart >= 0) rowStart -= keep
      if (keyStart >= 0) keyStart -= keep
      return rows
    },
    end: (): string | undefined => rowsDone && depth === 0 && !inString ? envelope + pending : undefined
  }
}

/** How {@link streamedRows} reads the rows (`W` on the wire) of an answer and what follows them. */
export interface RowsReader<W, B, E> {
  /** The field holding the rows (default `rows`). */
  readonly field?: string | undefined
  /** What is wrong with a row, or `undefined` when it is a `W`. */
  readonly problem: (row: unknown) => string | undefined
  /** The elements of the stream made from checked rows. */
  readonly build: (rows: ReadonlyArray<W>) => Effect.Effect<ReadonlyArray<B>, E>
  /** The elements that end the stream, made from the rest of the answer (its rows empty), or what is wrong with it. */
  readonly rest?: ((answer: Record<string, unknown>) => ReadonlyArray<B> | string) | undefined
  /** How to go on when the answer breaks off; without it, a break fails the stream. */
  readonly resume?: Resume<W> | undefined
}

/** How a stream read in one request goes on with another when its answer breaks off. */
export interface Resume<W> {
  /**
   * The request for the rows after `last`, the `delivered`-th row the stream handed on; the new answer will start
   * with `repeated` rows already delivered (see `samePlace`), which a `limit` must count.
   */
  readonly request: (last: W, delivered: number, repeated: number) => Request.Request
  /**
   * Whether a row stands where another does (the same key, in a view): the new answer starts at the place of the
   * last row delivered, and as many rows at that place as were delivered are dropped. Without it, the new answer
   * starts after the last row.
   */
  readonly samePlace?: ((a: W, b: W) => boolean) | undefined
}

/** Where a resumable stream is: the last row handed on, how many were, and the rows the next answer repeats. */
interface Position<W> {
  last: W | undefined
  delivered: number
  /** How many of the rows delivered last stand at the last one's place. */
  atLastPlace: number
  /** How many rows at the last one's place the answer being read starts with, to drop. */
  toDrop: number
}

/** Whether a failure is an answer that broke off, which resuming can cure. */
const isBrokenOff = (error: unknown): boolean =>
  error instanceof CouchError.ResponseDecodeError && error.reason === "truncated"

/**
 * Sends a request whose answer has a long array of rows and streams the rows as the body arrives: each piece of the
 * body gives the rows it completes, checked and built by the reader (a bad row is a `ResponseDecodeError` naming
 * its index), and the rest of the answer can end the stream. An answer that ends before its rows do is a
 * `ResponseDecodeError` too.
 *
 * With `resume`, an answer that breaks off (the connection drops) after delivering some rows is followed by a new
 * request for the rest, when the session retries transient failures; one that breaks before delivering anything
 * fails, as does every break in a session without a retry policy.
 */
export const streamedRows = <W, B, E, const Errors extends ReadonlyArray<CouchError.StatusErrorClass>>(
  transport: Request.Transport,
  request: Request.Request,
  errors: Errors,
  reader: RowsReader<W, B, E>
): Stream.Stream<B, E | Request.ErrorsOf<Errors> | CouchError.RequestError> => {
  const resume = transport.retry === undefined ? undefined : reader.resume
  if (resume === undefined) return rowsOfAnswer(transport, request, errors, reader, undefined)
  return Stream.suspend(() => {
    const position: Position<W> = { last: undefined, delivered: 0, atLastPlace: 0, toDrop: 0 }
    // the rows at the last one's place that a new answer starts with
    const repeated = () => resume.samePlace === undefined ? 0 : position.atLastPlace
    const attempt = (
      request: Request.Request
    ): Stream.Stream<B, E | Request.ErrorsOf<Errors> | CouchError.RequestError> => {
      const before = position.delivered
      position.toDrop = repeated()
      return Stream.catchAll(rowsOfAnswer(transport, request, errors, reader, position), (error) =>
        isBrokenOff(error) && position.delivered > before && position.last !== undefined ?
          attempt(resume.request(position.last, position.delivered, repeated())) :
          Stream.fail(error))
    }
    return attempt(request)
  })
}

/** The elements of one answer, as {@link streamedRows} describes, moving the position of a resumable stream. */
const rowsOfAnswer = <W, B, E, const Errors extends ReadonlyArray<CouchError.StatusErrorClass>>(
  transport: Request.Transport,
  request: Request.Request,
  errors: Errors,
  reader: RowsReader<W, B, E>,
  position: Position<W> | undefined
): Stream.Stream<B, E | Request.ErrorsOf<Errors> | CouchError.RequestError> =>
  Stream.unwrap(Request.execute(transport, request, errors, (response) => Effect.succeed(response.stream))).pipe(
    Stream.mapError((error) =>
      error._tag === "ResponseError" ?
        Request.decodeFailure(transport, request, "truncated", `the answer broke off: ${error.description ?? error.reason}`) :
        error
    ),
    (body) =>
      Stream.suspend(() => {
        const field = reader.field ?? "rows"
        const samePlace = reader.resume?.samePlace
        const decoder = new TextDecoder()
        const scanner = rowsScanner(field)
        let index = 0
        const failure = (problem: string, reason: "truncated" | "malformed" = "malformed") =>
          Effect.fail(Request.decodeFailure(transport, request, reason, problem))
        /** Hands rows on: the position moves to the last of them. */
        const delivered = (rows: ReadonlyArray<W>) => {
          if (position === undefined) return
          for (const row of rows) {
            const last = position.last
            position.atLastPlace = samePlace !== undefined && last !== undefined && samePlace(row, last) ?
              position.atLastPlace + 1 :
              1
            position.last = row
          }
          position.delivered += rows.length
        }
        const rowsOf = (text: string): Effect.Effect<ReadonlyArray<B>, E | CouchError.ResponseDecodeError> => {
          const rows: Array<W> = []
          for (const rowText of scanner.push(text)) {
            let row: unknown
            try {
              row = JSON.parse(rowText)
            } catch {
              return failure(`${field}[${index}] is not JSON`)
            }
            const wrong = reader.problem(row)
            if (wrong !== undefined) return failure(`${field}[${index}]: ${wrong}`)
            index++
            if (position !== undefined && position.toDrop > 0) {
              // a resumed answer repeats the rows at the last one's place that were delivered
              if (samePlace !== undefined && position.last !== undefined && samePlace(row as W, position.last)) {
                position.toDrop--
                continue
              }
              position.toDrop = 0
            }
            rows.push(row as W)
          }
          if (rows.length === 0) return Effect.succeed([])
          return Effect.map(reader.build(rows), (elements) => {
            delivered(rows)
            return elements
          })
        }
        const restOf = (text: string | undefined): Effect.Effect<ReadonlyArray<B>, CouchError.ResponseDecodeError> => {
          if (text === undefined) return failure(`the answer ended before its ${field} did`, "truncated")
          if (reader.rest === undefined) return Effect.succeed([])
          let answer: unknown
          try {
            answer = JSON.parse(text)
          } catch {
            return failure("the answer is not JSON")
          }
          const rest = isObject(answer) ? reader.rest(answer) : "the answer is not an object"
          return typeof rest === "string" ? failure(rest) : Effect.succeed(rest)
        }
        // each piece of the body gives the rows it completes, in chunks of a bounded length (a slow reader can be
        // handed a megabyte of pieces at once); the end gives the last rows and the rest of the answer
        const read: Channel.Channel<
          Chunk.Chunk<B>,
          Chunk.Chunk<Uint8Array>,
          E | CouchError.ResponseDecodeError | Stream.Stream.Error<typeof body>,
          Stream.Stream.Error<typeof body>,
          unknown,
          unknown
        > = Channel.readWithCause({
          onInput: (chunk: Chunk.Chunk<Uint8Array>) => {
            let text = ""
            for (const bytes of chunk) text += decoder.decode(bytes, { stream: true })
            return Channel.flatMap(Channel.fromEffect(rowsOf(text)), (elements) => Channel.zipRight(writeBounded(elements), read))
          },
          onFailure: (cause) => Channel.failCause(cause),
          onDone: () =>
            Channel.flatMap(
              Channel.fromEffect(Effect.suspend(() =>
                Effect.flatMap(rowsOf(decoder.decode()), (last) =>
                  Effect.map(restOf(scanner.end()), (rest) => rest.length === 0 ? last : [...last, ...rest]))
              )),
              writeBounded
            )
        })
        return Stream.pipeThroughChannel(body, read)
      })
  )
