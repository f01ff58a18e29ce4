/** HTTPS latency of a small keep-alive request at 10 connections: p50 and p99. */
import { interleavedSamples } from "../../src/internal/bench/measure.js"
import { errorNote, type HttpLoad } from "./httpLoad.js"
import type { HttpsServers, Server } from "./server.js"
import type { Settings } from "./settings.js"
import type { Section } from "./table.js"

const CONNECTIONS = 10

export const latency = async (
  servers: HttpsServers,
  load: HttpLoad,
  settings: Settings
): Promise<Section> => {
  const sample = (server: Server) => () =>
    load.run({ port: server.port, connections: CONNECTIONS, seconds: settings.httpSeconds, newConnections: false })
  const samples = await interleavedSamples(
    [["ours", sample(servers.ours)], ["node", sample(servers.node)]] as const,
    settings.rounds,
    settings.warmUp
  )
  const row = (p: "p50Ms" | "p99Ms") => ({
    name: `HTTPS latency, keep-alive, ${CONNECTIONS} connections: ${p.slice(0, 3)} (lower is better)`,
    unit: "ms",
    ours: samples.get("ours")!.map((result) => result[p]),
    node: samples.get("node")!.map((result) => result[p])
  })
  return {
    rows: [row("p50Ms"), row("p99Ms")],
    limits: `Latency: the load generator is closed-loop (each connection sends its next request when the answer ` +
      `came), so this is the latency with ${CONNECTIONS} requests in flight at the rate the server reaches, not ` +
      "at a fixed offered rate; p50 follows the requests/s, and p99 shows the pauses (GC, scheduling, other " +
      "processes on the machine)." + errorNote([...samples.values()].flat())
  }
}
