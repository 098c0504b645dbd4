/**
 * Mango queries over a database or one of its partitions: `_find` (one page, or every page as a stream that
 * follows the bookmark) and `_explain`.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as Database from "../Database.js"
import type * as Mango from "../Mango.js"
import * as MangoSchemas from "../Mango.js"
import { type Codec, decodeAll } from "./codec.js"
import { readErrors, streamSpanOf } from "./endpoint.js"
import * as Json from "./json.js"
import * as Paging from "./paging.js"
import * as Request from "./request.js"

/** A `_find` answer: a page of documents, with its bookmark, warning and execution statistics. */
const FindAnswer = Schema.Struct({
  docs: Schema.Array(Schema.Unknown),
  bookmark: Schema.optional(Schema.String),
  warning: Schema.optional(Schema.String),
  execution_stats: Schema.optional(MangoSchemas.ExecutionStats)
})

/** The `_find` body of a query (also the body of `_explain`). */
const findBody = <A>(query: Mango.FindQuery<A>) => ({
  selector: query.selector,
  fields: query.fields,
  sort: query.sort,
  limit: query.limit,
  skip: query.skip,
  use_index: query.useIndex,
  r: query.r,
  bookmark: query.bookmark,
  update: query.update,
  stable: query.stable,
  execution_stats: query.executionStats,
  conflicts: query.conflicts
})

/** Where `findStream` has got to: the bookmark of the next page, and the documents read so far (plus `skip`). */
interface FindStreamPosition {
  readonly bookmark: string | undefined
  readonly skip: number
}

/** The Mango operations over `queryRoot` (the database, or one of its partitions), each in its span. */
export const make = <A, D>(
  transport: Request.Transport,
  queryRoot: string,
  codec: Codec<A, D>,
  attributes: Readonly<Record<string, string>>
): Pick<Database.Queries<A, D>, "find" | "findStream" | "explain"> => {
  const find = (query: Mango.FindQuery<A>) =>
    Effect.flatMap(Json.body(findBody(query), "query"), (body) =>
      Request.json(
        transport,
        { method: "POST", path: `${queryRoot}/_find`, body, idempotent: true },
        FindAnswer,
        readErrors
      )).pipe(
        Effect.flatMap((answer) =>
          Effect.map(decodeAll(codec, answer.docs), (docs): Mango.FindResult<A> => ({
            docs,
            bookmark: answer.bookmark,
            warning: answer.warning,
            executionStats: answer.execution_stats
          }))
        )
      )

  const findStream = (query: Mango.FindQuery<A>): Stream.Stream<A, Database.ReadError | D> => {
    const pageSize = query.limit ?? 100
    return Paging.paginate<FindStreamPosition, A, Database.ReadError | D, never>(
      { bookmark: query.bookmark, skip: query.skip ?? 0 },
      (state) =>
        Effect.map(
          find({
            ...query,
            limit: pageSize,
            bookmark: state.bookmark,
            // servers without bookmarks (the embedded test server) page by skip
            skip: state.bookmark === undefined ? state.skip : undefined
          }),
          (result) => {
            const docs = Chunk.unsafeFromArray(result.docs)
            const more = result.docs.length >= pageSize && result.docs.length > 0 &&
              (result.bookmark === undefined || result.bookmark !== state.bookmark)
            return [
              docs,
              more ?
                Option.some({ bookmark: result.bookmark, skip: state.skip + result.docs.length }) :
                Option.none()
            ] as const
          }
        )
    )
  }

  const explain = (query: Mango.FindQuery<A>) =>
    Effect.flatMap(Json.body(findBody(query), "query"), (body) =>
      Request.json(
        transport,
        { method: "POST", path: `${queryRoot}/_explain`, body, idempotent: true },
        MangoSchemas.Explanation,
        readErrors
      ))

  // every operation is a span with the database (and partition): a stream's span covers its whole life, its
  // requests' spans are its children
  const streamSpan = streamSpanOf(attributes)
  return {
    find: (query) => find(query).pipe(Effect.withSpan("Database.find", { attributes })),
    findStream: (query) => findStream(query).pipe(streamSpan("findStream")),
    explain: (query) => explain(query).pipe(Effect.withSpan("Database.explain", { attributes }))
  }
}
