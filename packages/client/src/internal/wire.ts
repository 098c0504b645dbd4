/**
 * Lists of rows in CouchDB's answers (`_all_docs`, `_changes`), checked with a plain function per row: a schema
 * per row costs more than everything else a page's reading does.
 */
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"

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

/** A sequence: CouchDB 2+ sends strings, CouchDB 1.x and PouchDB numbers. */
export const isSequence = (value: unknown): boolean => typeof value === "string" || typeof value === "number"
