import * as Effect from "effect/Effect"
import * as CouchError from "../CouchError.js"
import * as Database from "../Database.js"
import * as Request from "./request.js"

/** Builds the value of a database whose name is already checked and encoded. */
export const make = (transport: Request.Transport, name: string, path: string): Database.Database => {
  const root = `/${path}`
  const attributes = { "couchdb.database": name }
  return {
    name,
    info: Request.json(
      transport,
      { method: "GET", path: root },
      Database.DatabaseInfo,
      [CouchError.NotFoundError, CouchError.ForbiddenError]
    ).pipe(Effect.withSpan("Database.info", { attributes })),
    delete: Request.discard(
      transport,
      { method: "DELETE", path: root },
      [CouchError.NotFoundError, CouchError.ForbiddenError]
    ).pipe(Effect.asVoid, Effect.withSpan("Database.delete", { attributes }))
  }
}
