/**
 * HTTPS requests/s with 20 connections, keep-alive and with a new TLS connection for each request
 * (`Connection: close`), with the server's CPU time per request in the same runs.
 */
import { interleavedSamples } from "../../src/internal/bench/measure.js"
import { errorNote, type HttpLoad, type HttpResult } from "./httpLoad.js"
import { type HttpsServers, type Server, withCpu } from "./server.js"
import type { Settings } from "./settings.js"
import type { Comparison, Section } from "./table.js"

const CONNECTIONS = 20

/**
 * `servers` are named `name` in the rows: "HTTPS" for the `node:http` app on both TLS stacks,
 * and a name of their own for other pairs.
 */
export const requestRate = async (
  servers: HttpsServers,
  load: HttpLoad,
  settings: Settings,
  name = "HTTPS"
): Promise<Section> => {
  const rows: Array<Comparison> = []
  const results: Array<HttpResult> = []
  for (const newConnections of [false, true]) {
    const sample = (server: Server) => () =>
      withCpu(
        server,
        () => load.run({ port: server.port, connections: CONNECTIONS, seconds: settings.httpSeconds, newConnections })
      )
    const samples = await interleavedSamples(
      [["ours", sample(servers.ours)], ["node", sample(servers.node)]] as const,
      settings.rounds,
      settings.warmUp
    )
    const runs = { ours: samples.get("ours")!, node: samples.get("node")! }
    results.push(...[...runs.ours, ...runs.node].map(({ result }) => result))
    const label = newConnections ? "new TLS connection per request (Connection: close)" : "keep-alive"
    rows.push({
      name: `${name} ${label}, ${CONNECTIONS} connections: requests/s`,
      unit: "req/s",
      ours: runs.ours.map(({ result }) => result.requestsPerSecond),
      node: runs.node.map(({ result }) => result.requestsPerSecond)
    }, {
      name: `${name} ${label}: server CPU per request (lower is better)`,
      unit: "µs",
      ours: runs.ours.map(({ cpuMicros, result }) => cpuMicros / result.requests),
      node: runs.node.map(({ cpuMicros, result }) => cpuMicros / result.requests)
    })
  }
  return {
    rows,
    limits: "HTTPS requests/s: the load generator runs on the same machine and takes a core of its own; a " +
      "server it cannot saturate shows the generator's limit, not its own. The server CPU per request " +
      "(process CPU time over requests answered, every thread) does not depend on that." + errorNote(results)
  }
}
