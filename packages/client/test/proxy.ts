import * as Effect from "effect/Effect"
import * as Net from "node:net"

/** A TCP proxy on 127.0.0.1 in front of a server, that can cut every connection it carries. */
export interface Proxy {
  /** The proxy's base URL (same scheme and path as the target). */
  readonly url: string
  /** Destroys every open connection, both sides. */
  readonly cut: Effect.Effect<number>
  /** How many connections are open now. */
  readonly open: Effect.Effect<number>
  /** The most connections that were open at once. */
  readonly peak: Effect.Effect<number>
  /** Goes away: cuts every connection and refuses new ones (as a stopped server would) until `restore`. */
  readonly goAway: Effect.Effect<void>
  /** Comes back. */
  readonly restore: Effect.Effect<void>
}

/** Starts a proxy for the server at `target` for the life of the scope. */
export const proxy = (target: string) =>
  Effect.acquireRelease(
    Effect.async<{
      readonly server: Net.Server
      readonly sockets: Set<Net.Socket>
      readonly url: string
      readonly away: { value: boolean }
      readonly peak: { value: number }
    }>((resume) => {
      const upstream = new URL(target)
      const sockets = new Set<Net.Socket>()
      const away = { value: false }
      const peak = { value: 0 }
      const server = Net.createServer((client) => {
        if (away.value) {
          client.destroy()
          return
        }
        const remote = Net.connect(Number(upstream.port), upstream.hostname)
        sockets.add(client)
        sockets.add(remote)
        peak.value = Math.max(peak.value, sockets.size / 2)
        const close = () => {
          sockets.delete(client)
          sockets.delete(remote)
          client.destroy()
          remote.destroy()
        }
        client.on("error", close).on("close", close)
        remote.on("error", close).on("close", close)
        client.pipe(remote)
        remote.pipe(client)
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as Net.AddressInfo
        const url = new URL(target)
        url.port = String(address.port)
        url.hostname = "127.0.0.1"
        resume(Effect.succeed({ server, sockets, away, peak, url: url.href.replace(/\/$/, "") }))
      })
    }),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ away, peak, sockets, url }): Proxy => ({
    url,
    cut: Effect.sync(() => {
      const count = sockets.size
      for (const socket of [...sockets]) socket.destroy()
      return count
    }),
    open: Effect.sync(() => [...sockets].filter((socket) => !socket.destroyed).length / 2),
    peak: Effect.sync(() => peak.value),
    goAway: Effect.sync(() => {
      away.value = true
      for (const socket of [...sockets]) socket.destroy()
    }),
    restore: Effect.sync(() => {
      away.value = false
    })
  })))
