/**
 * What every client driver implements, and the helpers the promise-based drivers share. A driver module imports
 * its client library itself, and the worker loads only the driver it runs: a process measuring undici never
 * loads effect or nano.
 */
import { randomBytes } from "node:crypto"
import { makeDoc, type Spec } from "../shared.js"

export interface Attachments {
  readonly put: (docId: string, chunks: number) => Promise<void>
  /** Reads the attachment back, answers its length. */
  readonly get: (docId: string) => Promise<number>
}

export interface Driver {
  /** `n` sequential GETs of the document. */
  readonly getDocs: (n: number) => Promise<void>
  /** `n` GETs of the document, `concurrency` in flight. */
  readonly getDocsConcurrent: (n: number, concurrency: number) => Promise<void>
  /** Writes documents `from` .. `from + n - 1` in batches, `spec.concurrency` in flight; answers how many were written. */
  readonly bulkInsert: (prefix: string, from: number, n: number) => Promise<number>
  /** Reads `_changes` (at most `limit`); answers the number of changes. */
  readonly changes: (limit: number | undefined) => Promise<number>
  /** Reads `_all_docs?include_docs=true` (at most `limit`); answers the number of rows with a document. */
  readonly allDocs: (limit: number | undefined) => Promise<number>
  /** Absent when the client cannot (effect-couch before `db.attachment`). */
  readonly attachments: Attachments | undefined
  readonly close: () => Promise<void>
}

export type MakeDriver = (spec: Spec) => Promise<Driver>

export const mib = 1024 * 1024

/** The attachment's content: 1 MiB of random bytes, sent `attachmentMiB` times. */
export const block: Buffer = randomBytes(mib)
export const attachmentName = "blob.bin"

export const check = (what: string, actual: unknown, expected: unknown) => {
  if (actual !== expected) throw new Error(`${what}: expected ${String(expected)}, got ${String(actual)}`)
}

export const dbPath = (spec: Spec) => `/${encodeURIComponent(spec.db)}`

/** `n` calls of `op`, `concurrency` in flight. */
export const pool = async (n: number, concurrency: number, op: () => Promise<void>) => {
  let started = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (started < n) {
      started++
      await op()
    }
  }))
}

export type BenchDoc = ReturnType<typeof makeDoc>

/** A JSON call of a promise-based HTTP client: the status checked (2xx), the JSON body parsed. */
export type JsonCall = <A>(method: "GET" | "POST", path: string, body?: string) => Promise<A>

/**
 * The workloads of a client that is a bare HTTP client (undici, fetch): each one a single JSON request, as a
 * hand-written program would send it.
 */
export const jsonDriver = (
  spec: Spec,
  call: JsonCall,
  attachments: Attachments,
  close: () => Promise<void>
): Driver => {
  const db = dbPath(spec)
  return {
    ...getLoops(async () => {
      const doc = await call<{ _id: string }>("GET", `${db}/${encodeURIComponent(spec.docId)}`)
      check("_id", doc._id, spec.docId)
    }),
    bulkInsert: (prefix, from, n) =>
      bulkPool(spec, prefix, from, n, async (docs) => {
        const results = await call<Array<{ rev?: string; error?: string }>>(
          "POST",
          `${db}/_bulk_docs`,
          JSON.stringify({ docs })
        )
        return countWritten(results)
      }),
    changes: async (limit) =>
      (await call<{ results: Array<unknown> }>("GET", `${db}/_changes${limit === undefined ? "" : `?limit=${limit}`}`))
        .results.length,
    allDocs: async (limit) =>
      (await call<{ rows: Array<{ doc?: unknown }> }>(
        "GET",
        `${db}/_all_docs?include_docs=true${limit === undefined ? "" : `&limit=${limit}`}`
      )).rows.filter((row) => row.doc != null).length,
    attachments,
    close
  }
}

/** The number of successful entries of a `_bulk_docs` answer. */
export const countWritten = (results: ReadonlyArray<{ readonly rev?: string; readonly error?: string }>) =>
  results.filter((result) => result.error === undefined && result.rev !== undefined).length

/** The URL of the benchmark's attachment on a document. */
export const attachmentUrl = (spec: Spec, docId: string) =>
  `${spec.server.url}${dbPath(spec)}/${encodeURIComponent(docId)}/${attachmentName}`

/** `n` sequential runs of `op`, then `n` runs with `concurrency` in flight: the two get-doc loops. */
export const getLoops = (getOne: () => Promise<void>) => ({
  getDocs: async (n: number) => {
    for (let i = 0; i < n; i++) await getOne()
  },
  getDocsConcurrent: (n: number, concurrency: number) => pool(n, concurrency, getOne)
})

/** Builds the batches of a bulk insert as they are needed, `spec.concurrency` in flight. */
export const bulkPool = async (
  spec: Spec,
  prefix: string,
  from: number,
  n: number,
  write: (docs: Array<BenchDoc>) => Promise<number>
) => {
  const batches = Math.ceil(n / spec.batchSize)
  let next = 0
  let written = 0
  await Promise.all(Array.from({ length: Math.min(spec.concurrency, batches) }, async () => {
    while (next < batches) {
      const batch = next++
      const docs: Array<BenchDoc> = []
      const end = Math.min(n, (batch + 1) * spec.batchSize)
      for (let i = batch * spec.batchSize; i < end; i++) docs.push(makeDoc(from + i, prefix))
      const count = await write(docs)
      written += count
    }
  }))
  return written
}
