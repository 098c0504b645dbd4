// The consumer test's CommonJS TypeScript module (nodenext only): its imports compile to `require`, so they are
// typed by the `require` conditions of the packages' exports (dist/cjs/*.d.ts).
import { CouchAuth, type CouchError, CouchSession } from "@effect-couch/client"
import { CouchTestServer } from "@effect-couch/testing"
import type * as HttpClient from "@effect/platform/HttpClient"
import { Effect, Layer } from "effect"

export const SessionLive: Layer.Layer<
  CouchSession.CouchSession,
  CouchError.CouchError,
  CouchTestServer.CouchTestServer | HttpClient.HttpClient
> = Layer.scoped(
    CouchSession.CouchSession,
    Effect.flatMap(CouchTestServer.CouchTestServer, (server) =>
      CouchSession.make({ url: server.url, auth: CouchAuth.basic(server.admin.username, server.admin.password) }))
  )
