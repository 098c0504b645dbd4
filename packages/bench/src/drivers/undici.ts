/** Raw undici: `request` with a keep-alive `Agent`, the status checked and the JSON parsed; the baseline. */
import { Readable } from "node:stream"
import { Agent, request } from "undici"
import { basicAuth } from "../shared.js"
import { attachmentUrl, block, check, dbPath, jsonDriver, type MakeDriver } from "./common.js"

export const make: MakeDriver = async (spec) => {
  const agent = new Agent({ keepAliveTimeout: 60_000 })
  const headers = { authorization: basicAuth(spec.server), accept: "application/json" }
  const jsonHeaders = { ...headers, "content-type": "application/json" }
  const driver = jsonDriver(
    spec,
    async <A>(method: "GET" | "POST", path: string, body?: string): Promise<A> => {
      const response = await request(spec.server.url + path, {
        dispatcher: agent,
        method,
        headers: body === undefined ? headers : jsonHeaders,
        body: body ?? null
      })
      if (response.statusCode < 200 || response.statusCode >= 300) {
        throw new Error(`${method} ${path}: ${response.statusCode} ${(await response.body.text()).slice(0, 200)}`)
      }
      return await response.body.json() as A
    },
    {
      put: async (docId, chunks) => {
        const response = await request(attachmentUrl(spec, docId), {
          dispatcher: agent,
          method: "PUT",
          headers: { ...headers, "content-type": "application/octet-stream" },
          body: Readable.from(function*() {
            for (let i = 0; i < chunks; i++) yield block
          }())
        })
        const text = await response.body.text()
        if (response.statusCode !== 201) throw new Error(`attachment PUT: ${response.statusCode} ${text}`)
      },
      get: async (docId) => {
        const response = await request(attachmentUrl(spec, docId), { dispatcher: agent, headers })
        let length = 0
        for await (const chunk of response.body) length += (chunk as Buffer).length
        check("attachment status", response.statusCode, 200)
        return length
      }
    },
    () => agent.close()
  )
  if (spec.contender.variant === "paged") {
    // pages of `--page-size` read whole and parsed, each request after the last: what paging costs at all
    const get = async <A>(path: string): Promise<A> => {
      const response = await request(spec.server.url + path, { dispatcher: agent, headers })
      check("page status", response.statusCode, 200)
      return await response.body.json() as A
    }
    const size = spec.pageSize
    return {
      ...driver,
      changes: async (limit) => {
        let since = "0"
        let count = 0
        for (;;) {
          const want = Math.min(size, (limit ?? Infinity) - count)
          const page = await get<{ results: Array<unknown>; last_seq: string }>(
            `${dbPath(spec)}/_changes?limit=${want}&since=${encodeURIComponent(since)}`
          )
          count += page.results.length
          since = page.last_seq
          if (page.results.length < want || count === limit) return count
        }
      },
      allDocs: async (limit) => {
        let start: string | undefined = undefined
        let count = 0
        for (;;) {
          const want = Math.min(size, (limit ?? Infinity) - count)
          const from: string = start === undefined ? "" : `&startkey=${encodeURIComponent(JSON.stringify(start))}`
          const page: { rows: Array<{ id: string; doc?: unknown }> } = await get(
            `${dbPath(spec)}/_all_docs?include_docs=true&limit=${want + 1}${from}`
          )
          const rows = page.rows.slice(0, want)
          count += rows.filter((row) => row.doc != null).length
          if (page.rows.length <= want || count === limit) return count
          start = page.rows[want].id
        }
      }
    }
  }
  if (spec.contender.variant !== "continuous") return driver
  // the continuous feed read line by line, each line parsed: how fast the server's feed can be read at all
  return {
    ...driver,
    changes: async (limit) => {
      const response = await request(
        `${spec.server.url}${dbPath(spec)}/_changes?feed=continuous&limit=${limit ?? spec.count}`,
        { dispatcher: agent, headers }
      )
      check("changes status", response.statusCode, 200)
      let changes = 0
      let rest = ""
      response.body.setEncoding("utf8")
      for await (const text of response.body) {
        const lines = (rest + (text as string)).split("\n")
        rest = lines.pop() ?? ""
        for (const line of lines) if (line.trim() !== "" && "id" in JSON.parse(line)) changes++
      }
      return changes
    }
  }
}
