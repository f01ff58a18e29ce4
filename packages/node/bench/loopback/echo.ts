/**
 * Echo throughput over loopback: one connection from the in-repo Node client writing 16 KiB
 * records as fast as the socket takes them, counting the bytes echoed back.
 */
import { interleavedSamples } from "../../src/internal/bench/measure.js"
import type { TlsFixture } from "../fixture.js"
import { runLoadClient, target } from "./httpLoad.js"
import type { EchoResult } from "./loadClient.js"
import { echoServerKeys, type EchoServers, ourEchoServers } from "./server.js"
import type { Settings } from "./settings.js"
import type { Section } from "./table.js"

export const echo = async (servers: EchoServers, fixture: TlsFixture, settings: Settings): Promise<Section> => {
  const samples = await interleavedSamples(
    echoServerKeys.map((key) =>
      [key, async () => {
        const result = await runLoadClient<EchoResult>({
          mode: "echo",
          ...target(fixture, servers[key].port, settings.echoSeconds),
          recordSize: fixture.recordSize
        })
        return result.mbPerSecond
      }] as const
    ),
    settings.rounds,
    settings.warmUp
  )
  return {
    rows: ourEchoServers.map(([key, label]) => ({
      name: `echo throughput, ${fixture.recordSize / 1024} KiB writes, ${label} vs node:tls`,
      unit: "MB/s",
      ours: samples.get(key)!,
      node: samples.get("node")!
    })),
    limits: "Echo: the client is node:tls in a process of its own (bench/loopback/loadClient.ts), the same for " +
      "every server, on the same cores; a server faster than that client shows the client's limit. MB/s is " +
      "payload echoed back per second (10^6 bytes; each byte crosses the loopback once each way)."
  }
}
