/** nano 11 (built on Node's fetch), with its defaults: credentials in the URL, the global dispatcher. */
import Nano from "nano"
import { attachmentName, block, bulkPool, check, countWritten, getLoops, type MakeDriver } from "./common.js"

export const make: MakeDriver = async (spec) => {
  const url = new URL(spec.server.url)
  url.username = encodeURIComponent(spec.server.username)
  url.password = encodeURIComponent(spec.server.password)
  const server = Nano({ url: url.toString().replace(/\/$/, "") })
  const db = server.db.use<Record<string, unknown>>(spec.db)
  return {
    ...getLoops(async () => {
      const doc = await db.get(spec.docId)
      check("_id", doc._id, spec.docId)
    }),
    bulkInsert: (prefix, from, n) => bulkPool(spec, prefix, from, n, async (docs) => countWritten(await db.bulk({ docs }))),
    changes: async (limit) => (await db.changes(limit === undefined ? {} : { limit })).results.length,
    allDocs: async (limit) => {
      const answer = await db.list({ include_docs: true, ...(limit === undefined ? {} : { limit }) })
      return answer.rows.filter((row) => row.doc != null).length
    },
    attachments: {
      put: async (docId, chunks) => {
        // a Buffer is nano's documented way to send an attachment
        const body = Buffer.concat(Array.from({ length: chunks }, () => block))
        await db.attachment.insert(docId, attachmentName, body, "application/octet-stream")
      },
      get: async (docId) => (await db.attachment.get(docId, attachmentName)).length
    },
    close: async () => {}
  }
}
