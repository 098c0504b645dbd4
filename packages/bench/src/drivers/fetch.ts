/** Node's global `fetch` (undici inside Node), the status checked and the JSON parsed. */
import { basicAuth } from "../shared.js"
import { attachmentUrl, block, check, jsonDriver, type MakeDriver } from "./common.js"

export const make: MakeDriver = async (spec) => {
  const headers = { authorization: basicAuth(spec.server), accept: "application/json" }
  const jsonHeaders = { ...headers, "content-type": "application/json" }
  return jsonDriver(
    spec,
    async <A>(method: "GET" | "POST", path: string, body?: string): Promise<A> => {
      const response = await fetch(spec.server.url + path, {
        method,
        headers: body === undefined ? headers : jsonHeaders,
        body: body ?? null
      })
      if (!response.ok) {
        throw new Error(`${method} ${path}: ${response.status} ${(await response.text()).slice(0, 200)}`)
      }
      return await response.json() as A
    },
    {
      put: async (docId, chunks) => {
        const response = await fetch(attachmentUrl(spec, docId), {
          method: "PUT",
          headers: { ...headers, "content-type": "application/octet-stream" },
          body: Buffer.concat(Array.from({ length: chunks }, () => block))
        })
        const text = await response.text()
        if (response.status !== 201) throw new Error(`attachment PUT: ${response.status} ${text}`)
      },
      get: async (docId) => {
        const response = await fetch(attachmentUrl(spec, docId), { headers })
        check("attachment status", response.status, 200)
        let length = 0
        const reader = response.body!.getReader()
        for (let read = await reader.read(); !read.done; read = await reader.read()) length += read.value.length
        return length
      }
    },
    async () => {}
  )
}
