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
  /**
   * The same without an effect, for the documents of a page read in a loop; `undefined` when this document needs
   * asynchronous decoding (a schema with asynchronous parts), for which `decode` is the way.
   */
  readonly decodeSync: (json: unknown) => Either.Either<A, D> | undefined
  readonly encode: (doc: A) => Effect.Effect<unknown, CouchError.InvalidArgumentError>
  /**
   * The same without an effect, for the documents of a batch encoded in a loop; `undefined` when this document
   * needs asynchronous encoding, for which `encode` is the way.
   */
  readonly encodeSync: (doc: A) => Either.Either<unknown, CouchError.InvalidArgumentError> | undefined
}

export const untyped: Codec<Document.Document, never> = {
  // CouchDB answers documents as JSON objects with an `_id`: nothing to check or convert.
  decode: (json) => Effect.succeed(json as Document.Document),
  decodeSync: (json) => Either.right(json as Document.Document),
  encode: Effect.succeed,
  encodeSync: Either.right
}

export const idOf = (json: unknown): string =>
  typeof json === "object" && json !== null && typeof (json as { _id?: unknown })._id === "string" ?
    (json as { _id: string })._id :
    "(no _id)"

const isIssueList = (
  issues: ReadonlyArray<ParseResult.ParseIssue> | ParseResult.ParseIssue
): issues is ReadonlyArray<ParseResult.ParseIssue> => Array.isArray(issues)

/** Whether a parse issue says that decoding needs to be asynchronous. */
const needsAsync = (issue: ParseResult.ParseIssue): boolean => {
  switch (issue._tag) {
    case "Forbidden":
      return true
    case "Pointer":
    case "Refinement":
    case "Transformation":
      return needsAsync(issue.issue)
    case "Composite":
      return isIssueList(issue.issues) ? issue.issues.some(needsAsync) : needsAsync(issue.issues)
    default:
      return false
  }
}

/** A parse issue (or the error that carries it) as the tree Schema's formatter writes it. */
const described = (issue: ParseResult.ParseIssue | ParseResult.ParseError): string =>
  ParseResult.TreeFormatter.formatErrorSync(
    issue instanceof ParseResult.ParseError ? issue : new ParseResult.ParseError({ issue })
  )

export const typed = <A, I>(schema: Schema.Schema<A, I>): Codec<A, Document.DocumentDecodeError> => {
  const decode = Schema.decodeUnknown(schema)
  const decodeEither = ParseResult.decodeUnknownEither(schema)
  const encode = Schema.encode(schema)
  const encodeEither = ParseResult.encodeEither(schema)
  const encodeError = (issue: ParseResult.ParseIssue | ParseResult.ParseError) =>
    new CouchError.InvalidArgumentError({ argument: "document", description: described(issue) })
  const decodeError = (json: unknown, issue: ParseResult.ParseIssue | ParseResult.ParseError) =>
    new Document.DocumentDecodeError({ id: idOf(json), description: described(issue) })
  return {
    decode: (json) => Effect.mapError(decode(json), (error) => decodeError(json, error)),
    decodeSync: (json) => {
      const decoded = decodeEither(json)
      if (Either.isRight(decoded)) return Either.right(decoded.right)
      return needsAsync(decoded.left) ? undefined : Either.left(decodeError(json, decoded.left))
    },
    encode: (doc) => Effect.mapError(encode(doc), encodeError),
    encodeSync: (doc) => {
      const encoded = encodeEither(doc)
      if (Either.isRight(encoded)) return Either.right(encoded.right)
      return needsAsync(encoded.left) ? undefined : Either.left(encodeError(encoded.left))
    }
  }
}

const notADocument = () => new CouchError.InvalidArgumentError({ argument: "document", description: "not a document" })

/** Delivers documents that do not match as `Left` values instead of failing. */
export const either = <A, D>(codec: Codec<A, D>): Codec<Either.Either<A, D>, never> => ({
  decode: (json) => Effect.either(codec.decode(json)),
  decodeSync: (json) => {
    const decoded = codec.decodeSync(json)
    return decoded === undefined ? undefined : Either.right(decoded)
  },
  encode: Either.match({ onLeft: () => Effect.fail(notADocument()), onRight: codec.encode }),
  encodeSync: Either.match({ onLeft: () => Either.left(notADocument()), onRight: codec.encodeSync })
})

/**
 * Encodes the documents of a batch in a plain loop, now: the encoded documents, the first failure, or `undefined`
 * when a document needs asynchronous encoding (then it is `codec.encode`, an effect per document).
 */
export const encodeAllNow = <A, D>(
  codec: Codec<A, D>,
  docs: Iterable<A>
): Either.Either<Array<unknown>, CouchError.InvalidArgumentError> | undefined => {
  const out: Array<unknown> = []
  for (const doc of docs) {
    const encoded = codec.encodeSync(doc)
    if (encoded === undefined) return undefined
    if (Either.isLeft(encoded)) return Either.left(encoded.left)
    out.push(encoded.right)
  }
  return Either.right(out)
}

/**
 * Decodes the documents of a page: in a plain loop when the codec decodes synchronously, with an effect per
 * document otherwise. The first document that does not decode fails the page.
 */
export const decodeAll = <A, D>(codec: Codec<A, D>, jsons: ReadonlyArray<unknown>): Effect.Effect<Array<A>, D> => {
  const out: Array<A> = new Array(jsons.length)
  for (let i = 0; i < jsons.length; i++) {
    const decoded = codec.decodeSync(jsons[i])
    if (decoded === undefined) return Effect.forEach(jsons, codec.decode)
    if (Either.isLeft(decoded)) return Effect.fail(decoded.left)
    out[i] = decoded.right
  }
  return Effect.succeed(out)
}

/**
 * {@link decodeRows} without an effect: the rows, the first document that does not decode, or `undefined` when a
 * document needs asynchronous decoding (then {@link decodeRows} is the way). The continuous feed builds the rows
 * of every piece of its body with it, in the stream stage that parses them.
 */
export const decodeRowsSync = <W, B, A, D>(
  codec: Codec<A, D>,
  rows: ReadonlyArray<W>,
  docOf: (row: W) => unknown,
  plain: (row: W) => B,
  withDoc: (row: W, doc: A) => B
): Either.Either<Array<B>, D> | undefined => {
  const out: Array<B> = new Array(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]
    const json = docOf(row)
    if (json === undefined) {
      out[i] = plain(row)
      continue
    }
    const decoded = codec.decodeSync(json)
    if (decoded === undefined) return undefined
    if (Either.isLeft(decoded)) return Either.left(decoded.left)
    out[i] = withDoc(row, decoded.right)
  }
  return Either.right(out)
}

/**
 * Builds the rows of a page, decoding the document each one carries (`docOf` gives it, or `undefined` for a row
 * without one): in a plain loop ({@link decodeRowsSync}) when the codec decodes synchronously, with an effect per
 * document otherwise. The first document that does not decode fails the page.
 */
export const decodeRows = <W, B, A, D>(
  codec: Codec<A, D>,
  rows: ReadonlyArray<W>,
  docOf: (row: W) => unknown,
  plain: (row: W) => B,
  withDoc: (row: W, doc: A) => B
): Effect.Effect<Array<B>, D> => {
  const sync = decodeRowsSync(codec, rows, docOf, plain, withDoc)
  if (sync !== undefined) return Either.isLeft(sync) ? Effect.fail(sync.left) : Effect.succeed(sync.right)
  return Effect.forEach(rows, (row) => {
    const json = docOf(row)
    return json === undefined ? Effect.succeed(plain(row)) : Effect.map(codec.decode(json), (doc) => withDoc(row, doc))
  })
}
