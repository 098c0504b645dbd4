/**
 * Codecs: how documents of a database (untyped, typed with a schema, or delivered as `Either`) are read from and
 * written to JSON.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as CouchError from "../CouchError.js"
import * as Document from "../Document.js"

/** How documents of type `A` are read from and written to JSON. */
export interface Codec<A, D> {
  readonly decode: (json: unknown) => Effect.Effect<A, D>
  readonly encode: (doc: A) => Effect.Effect<unknown, CouchError.InvalidArgumentError>
}

export const untyped: Codec<Document.Document, never> = {
  // CouchDB answers documents as JSON objects with an `_id`: nothing to check or convert.
  decode: (json) => Effect.succeed(json as Document.Document),
  encode: Effect.succeed
}

export const idOf = (json: unknown): string =>
  typeof json === "object" && json !== null && typeof (json as { _id?: unknown })._id === "string" ?
    (json as { _id: string })._id :
    "(no _id)"

export const typed = <A, I>(schema: Schema.Schema<A, I>): Codec<A, Document.DocumentDecodeError> => {
  const decode = Schema.decodeUnknown(schema)
  const encode = Schema.encode(schema)
  return {
    decode: (json) =>
      Effect.mapError(decode(json), (error) =>
        new Document.DocumentDecodeError({
          id: idOf(json),
          description: ParseResult.TreeFormatter.formatErrorSync(error)
        })),
    encode: (doc) =>
      Effect.mapError(encode(doc), (error) =>
        new CouchError.InvalidArgumentError({
          argument: "document",
          description: ParseResult.TreeFormatter.formatErrorSync(error)
        }))
  }
}

/** Delivers documents that do not match as `Left` values instead of failing. */
export const either = <A, D>(codec: Codec<A, D>): Codec<Either.Either<A, D>, never> => ({
  decode: (json) => Effect.either(codec.decode(json)),
  encode: Either.match({
    onLeft: () =>
      Effect.fail(new CouchError.InvalidArgumentError({ argument: "document", description: "not a document" })),
    onRight: codec.encode
  })
})

