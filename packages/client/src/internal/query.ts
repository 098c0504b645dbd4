/**
 * The queries shared by a database and by one of its partitions: Mango (`mango.ts`) and views (`views.ts`), put
 * together; and the check of a partition key.
 */
import type * as Database from "../Database.js"
import type { Codec } from "./codec.js"
import * as Mango from "./mango.js"
import * as Names from "./names.js"
import type * as Request from "./request.js"
import * as Views from "./views.js"

/** The query operations over `queryRoot` (the database, or one of its partitions): Mango's and the views'. */
export const make = <A, D>(
  transport: Request.Transport,
  queryRoot: string,
  codec: Codec<A, D>,
  attributes: Readonly<Record<string, string>>
): Database.Queries<A, D> => ({
  ...Mango.make(transport, queryRoot, codec, attributes),
  ...Views.make(transport, queryRoot, codec, attributes)
})

/** Why a partition key is invalid, or `undefined` when it is valid. */
export const partitionProblem = (partition: string): string | undefined =>
  partition.length === 0 ?
    "a partition key cannot be empty" :
    partition.startsWith("_") ?
    `${JSON.stringify(partition)}: a partition key cannot start with _` :
    partition.includes(":") ?
    `${JSON.stringify(partition)}: a partition key cannot contain :` :
    !Names.isWellFormed(partition) ?
    `${JSON.stringify(partition)} holds a lone surrogate` :
    undefined
