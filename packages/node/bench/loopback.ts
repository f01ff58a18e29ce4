/**
 * The loopback table: our servers against Node's over TCP on 127.0.0.1, each server a `node`
 * process of its own (bench/loopback/servers/*.ts), driven by external clients:
 *
 * - HTTPS requests/s, keep-alive and with a new connection per request, and the server CPU per
 *   request (`requestRate.ts`); p50 / p99 latency at 10 connections (`latency.ts`): ours is
 *   `NodeTlsDuplex.listen(http.createServer(app))`, Node's `https.createServer(app)`; load from
 *   wrk, or the in-repo Node client where wrk is not installed; and requests/s of an
 *   `@effect/platform` app behind `NodeTlsHttpServer` and behind `NodeHttpServer` over
 *   `https.createServer`;
 * - server CPU per TLS 1.3 handshake under `openssl s_time -new` (`handshakeCpu.ts`) and echo
 *   MB/s in 16 KiB writes (`echo.ts`): ours are `TlsConnection` over `NodeTransport`,
 *   `TlsSocket` over `NodeSocket` and `NodeTlsSocketServer`, Node's a `node:tls` echo server.
 *
 * Every pair is sampled in interleaved rounds; every server uses the same certificate, protocol
 * and cipher (checked when it starts).
 */
import * as os from "node:os"
import { loadTlsFixture } from "./fixture.js"
import { echo } from "./loopback/echo.js"
import { handshakeCpu } from "./loopback/handshakeCpu.js"
import { type HttpClient, httpLoad } from "./loopback/httpLoad.js"
import { latency } from "./loopback/latency.js"
import { requestRate } from "./loopback/requestRate.js"
import { startServers, stopServers } from "./loopback/server.js"
import { settingsFor } from "./loopback/settings.js"
import { renderComparisons, type Section } from "./loopback/table.js"

export interface LoopbackOptions {
  readonly quick: boolean
  /** The HTTP load generator; default wrk when installed. */
  readonly client?: HttpClient | undefined
}

const legend = "ours: HTTPS = NodeTlsDuplex.listen(http.createServer(app)); echo = TlsConnection.accept over " +
  "NodeTransport.fromDuplex(socket), and TlsSocket.makeServer over NodeSocket.fromDuplex(socket), for each socket " +
  "of a net.Server; NodeTlsSocketServer with its default limits, running the socket's writer. The floor: the same echo with no library, koffi and OpenSSL driven straight from the " +
  "socket's callbacks (what the library's own work adds is the difference to it). node: https.createServer(app); " +
  "a node:tls echo server (socket.pipe(socket))."

export const runLoopback = async (options: LoopbackOptions): Promise<{ table: string; note: string }> => {
  const fixture = loadTlsFixture()
  const settings = settingsFor(options.quick)
  const load = httpLoad(fixture, options.client)
  const machine = `${os.availableParallelism()} cores, load average ${os.loadavg()[0]!.toFixed(1)} at the start`
  const sections: Array<Section> = []

  const servers = await startServers(
    [
      "httpsOurs",
      "httpsNode",
      "httpsPlatformOurs",
      "httpsPlatformNode",
      "echoConnection",
      "echoSocket",
      "echoSocketServer",
      "echoFloor",
      "echoNode"
    ],
    fixture
  )
  try {
    const https = { ours: servers.httpsOurs, node: servers.httpsNode }
    const echoServers = {
      connection: servers.echoConnection,
      socket: servers.echoSocket,
      socketServer: servers.echoSocketServer,
      floor: servers.echoFloor,
      node: servers.echoNode
    }
    const platform = { ours: servers.httpsPlatformOurs, node: servers.httpsPlatformNode }
    sections.push(
      await requestRate(https, load, settings),
      await latency(https, load, settings),
      {
        ...await requestRate(platform, load, settings, "HTTPS, @effect/platform app,"),
        limits: "@effect/platform app: the same app (HttpServerResponse.text) behind NodeTlsHttpServer (ours, with " +
          "its default limits, metrics and spans) and behind NodeHttpServer over https.createServer (node): what " +
          "an app that swaps the one layer for the other sees. The platform's own work per request is in both."
      },
      await handshakeCpu(echoServers, fixture, settings),
      await echo(echoServers, fixture, settings)
    )
  } finally {
    await stopServers(servers)
  }

  const table = renderComparisons(
    `Loopback: TLS 1.3 over TCP on 127.0.0.1, each server a process of its own (medians of ${settings.rounds} ` +
      `interleaved rounds, min–max; ratios are ours / node; P-256 ECDSA, ${fixture.cipher}; OpenSSL ` +
      `${process.versions.openssl}, Node ${process.versions.node})`,
    sections.flatMap((section) => section.rows)
  )
  console.log(`${table}\n`)
  const note = [
    legend,
    `HTTP load: ${load.description}. Machine: ${machine}.`,
    ...sections.map((section) => section.limits),
    ...(options.quick
      ? ["--quick: short runs without a warm-up round, a check of the harness, not figures to compare."]
      : [])
  ].join("\n")
  return { table, note }
}
