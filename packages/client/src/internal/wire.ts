/**
 * Lists of rows in CouchDB's answers (`_all_docs`, `_changes`), checked with a plain function per row: a schema
 * per row costs more than everything else a page's reading does.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as Stream from "effect/Stream"
import type * as CouchError from "../CouchError.js"
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

/** A sequence: CouchDB 2+ sends strings, CouchDB 1.x and PouchDB numbers. */
export const isSequence = (value: unknown): boolean => typeof value === "string" || typeof value === "number"

/**
 * Finds the elements of the top-level `rows` array (or another `field`) of a JSON answer as its text arrives, for reading a long answer
 * row by row in constant memory. `push` takes the next piece of text and gives the rows it completed, each as its
 * JSON text; `end` says whether a whole `rows` array was seen. Strings (and the brackets in them) are skipped, so
 * any JSON is read right whatever its layout (CouchDB writes a row a line; other servers one long line).
 */
export const rowsScanner = (field = "rows") => {
  const key = JSON.stringify(field)
  let depth = 0
  let inString = false
  let escaped = false
  // the text not yet consumed: from the start of the row being read, or of the key being read
  let pending = ""
  let keyStart = -1
  let lastKey: string | undefined
  let inRows = false
  let rowsDone = false
  let rowStart = -1
  let inScalar = false
  return {
    push: (text: string): Array<string> => {
      const rows: Array<string> = []
      const buffer = pending + text
      let i = pending.length
      // offsets into `buffer`; rebased when the consumed part is dropped
      for (; i < buffer.length; i++) {
        const c = buffer.charCodeAt(i)
        if (inString) {
          if (escaped) escaped = false
          else if (c === 92) escaped = true // backslash
          else if (c === 34) { // closing quote
            inString = false
            if (depth === 1 && keyStart >= 0) {
              lastKey = buffer.slice(keyStart, i + 1)
              keyStart = -1
            }
          }
          continue
        }
        switch (c) {
          case 34: // opening quote
            inString = true
            if (depth === 1) keyStart = i
            // a row that is a string: not a row object, reported as one that is not
            if (inRows && depth === 2) rows.push("null")
            break
          case 123: // {
          case 91: // [
            if (inRows && depth === 2 && rowStart < 0) rowStart = i
            depth++
            if (c === 91 && depth === 2 && lastKey === key && !rowsDone) inRows = true
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
      }
      const keep = rowStart >= 0 ? rowStart : keyStart >= 0 ? keyStart : buffer.length
      pending = buffer.slice(keep)
      if (rowStart >= 0) rowStart -= keep
      if (keyStart >= 0) keyStart -= keep
      return rows
    },
    end: (): boolean => rowsDone && depth === 0 && !inString
  }
}

/**
 * Sends a request whose answer has a long `rows` array and streams the rows as the body arrives: each piece of the
 * body gives the rows it completes, checked by `problem` (a bad row is a `ResponseDecodeError` naming its index)
 * and built by `build`. An answer that ends before its `rows` array does is a `ResponseDecodeError` too.
 */
export const streamedRows = <B, E, const Errors extends ReadonlyArray<CouchError.StatusErrorClass>>(
  transport: Request.Transport,
  request: Request.Request,
  errors: Errors,
  problem: (row: unknown) => string | undefined,
  build: (rows: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<B>, E>
): Stream.Stream<B, E | Request.ErrorsOf<Errors> | CouchError.RequestError> =>
  Stream.unwrap(Request.execute(transport, request, errors, (response) => Effect.succeed(response.stream))).pipe(
    Stream.mapError((error) =>
      error._tag === "ResponseError" ?
        Request.decodeFailure(transport, request, `the answer broke off: ${error.description ?? error.reason}`) :
        error
    ),
    (body) =>
      Stream.suspend(() => {
        const decoder = new TextDecoder()
        const scanner = rowsScanner()
        let index = 0
        const rowsOf = (text: string): Effect.Effect<Chunk.Chunk<B>, E | CouchError.ResponseDecodeError> => {
          const rows: Array<unknown> = []
          for (const rowText of scanner.push(text)) {
            let row: unknown
            try {
              row = JSON.parse(rowText)
            } catch {
              return Effect.fail(Request.decodeFailure(transport, request, `rows[${index}] is not JSON`))
            }
            const wrong = problem(row)
            if (wrong !== undefined) return Effect.fail(Request.decodeFailure(transport, request, `rows[${index}]: ${wrong}`))
            rows.push(row)
            index++
          }
          return Effect.map(build(rows), Chunk.unsafeFromArray)
        }
        return body.pipe(
          Stream.mapChunksEffect((chunk) => {
            let text = ""
            for (const bytes of chunk) text += decoder.decode(bytes, { stream: true })
            return rowsOf(text)
          }),
          Stream.concat(Stream.flattenChunks(Stream.fromEffect(Effect.suspend(() =>
            Effect.flatMap(rowsOf(decoder.decode()), (last) =>
              scanner.end() ?
                Effect.succeed(last) :
                Effect.fail(Request.decodeFailure(transport, request, "the answer ended before its rows did")))
          ))))
        )
      })
  )
