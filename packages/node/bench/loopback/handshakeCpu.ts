/**
 * Server CPU per TLS 1.3 handshake: the server's process CPU time over the handshakes of an
 * `openssl s_time -new` run (one full handshake per connection, one connection at a time).
 */
import { interleavedSamples } from "../../src/internal/bench/measure.js"
import type { TlsFixture } from "../fixture.js"
import { installed, output } from "./command.js"
import { echoServerKeys, type EchoServers, ourEchoServers, type Server, withCpu } from "./server.js"
import type { Settings } from "./settings.js"
import type { Section } from "./table.js"

export const handshakeCpu = async (servers: EchoServers, fixture: TlsFixture, settings: Settings): Promise<Section> => {
  const sTime = async (server: Server) => {
    const out = await output("openssl", [
      "s_time",
      "-connect",
      `127.0.0.1:${server.port}`,
      "-new",
      "-time",
      String(settings.handshakeSeconds),
      "-tls1_3",
      "-ciphersuites",
      fixture.cipher
    ])
    const match = /(\d+) connections in [\d.]+s;/.exec(out)
    if (match === null) throw new Error(`openssl s_time printed no connection count:\n${out}`)
    return Number(match[1])
  }
  const available = installed("openssl")
  const samples = available ?
    await interleavedSamples(
      echoServerKeys.map((key) =>
        [key, async () => {
          const { cpuMicros, result: handshakes } = await withCpu(servers[key], () => sTime(servers[key]))
          return cpuMicros / handshakes
        }] as const
      ),
      settings.rounds,
      settings.warmUp
    ) :
    undefined
  return {
    rows: ourEchoServers.map(([key, label]) => ({
      name: `server CPU per TLS 1.3 handshake, ${label} vs node:tls (lower is better)`,
      unit: "µs",
      ours: samples?.get(key) ?? [],
      node: samples?.get("node") ?? []
    })),
    limits: available ?
      "Handshake CPU: openssl s_time makes one connection at a time, so the server waits while the client " +
      "does its half; the figure counts only the server's own CPU time (every thread, GC included), " +
      "not that waiting. Each connection is a full handshake (the servers resume no sessions)." :
      "Handshake CPU: not measured, the openssl command is not installed (bash scripts/system-deps.sh)."
  }
}
