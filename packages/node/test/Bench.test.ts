/**
 * The benchmark harness runs and prints sane figures. Benchmarks are not timed tests: nothing
 * here says how fast anything is, only that every figure was measured (finite, positive, its
 * spread around its median, its ratio the ratio of the medians).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import * as https from "node:https"
import type * as net from "node:net"
import * as tls from "node:tls"
import { fileURLToPath } from "node:url"
import type { EchoResult, HttpResult, Job } from "../bench/loopback/loadClient.js"
import { fixture } from "./util.js"

const root = fileURLToPath(new URL("../../..", import.meta.url))

/** Run `command` from the repository root: its standard output, or its failure. */
const run = (command: string, args: ReadonlyArray<string>, timeout: number) =>
  Effect.async<string, Error>((resume) => {
    const child = execFile(
      command,
      args,
      { cwd: root, timeout, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resume(error === null ? Effect.succeed(stdout) : Effect.fail(new Error(`${error.message}\n${stderr}`)))
    )
    return Effect.sync(() => child.kill())
  })

/** A cell `<median> <unit> (<min>–<max>)`, numbers possibly in thousands (`12.3k`). */
const parseCell = (cell: string) => {
  const match = /^([\d.]+k?) (\S+) \(([\d.]+k?)–([\d.]+k?)\)$/.exec(cell)
  assert.isNotNull(match, `not a median with its spread: "${cell}"`)
  const number = (s: string) => s.endsWith("k") ? Number(s.slice(0, -1)) * 1000 : Number(s)
  return { median: number(match![1]!), unit: match![2]!, min: number(match![3]!), max: number(match![4]!) }
}

/** The rows of the table under the title that starts with `title`: cells, header and separator left out. */
const tableRows = (out: string, title: string) => {
  const lines = out.split("\n")
  const start = lines.findIndex((line) => line.startsWith(`### ${title}`))
  assert.isAtLeast(start, 0, `no table "${title}" in:\n${out}`)
  const rows: Array<Array<string>> = []
  for (const line of lines.slice(start + 4)) {
    if (!line.startsWith("|")) break
    rows.push(line.split("|").slice(1, -1).map((cell) => cell.trim()))
  }
  return rows
}

const expectedRows = [
  /^HTTPS keep-alive, \d+ connections: requests\/s$/,
  /^HTTPS keep-alive: server CPU per request/,
  /^HTTPS new TLS connection per request \(Connection: close\), \d+ connections: requests\/s$/,
  /^HTTPS new TLS connection per request \(Connection: close\): server CPU per request/,
  /^HTTPS latency, keep-alive, \d+ connections: p50/,
  /^HTTPS latency, keep-alive, \d+ connections: p99/,
  /^HTTPS, @effect\/platform app, keep-alive, \d+ connections: requests\/s$/,
  /^HTTPS, @effect\/platform app, keep-alive: server CPU per request/,
  /^HTTPS, @effect\/platform app, new TLS connection per request \(Connection: close\), \d+ connections: requests\/s$/,
  /^HTTPS, @effect\/platform app, new TLS connection per request \(Connection: close\): server CPU per request/,
  /^server CPU per TLS 1\.3 handshake, TlsConnection over NodeTransport vs node:tls/,
  /^server CPU per TLS 1\.3 handshake, TlsSocket over NodeSocket vs node:tls/,
  /^server CPU per TLS 1\.3 handshake, NodeTlsSocketServer \(.*\) vs node:tls/,
  /^server CPU per TLS 1\.3 handshake, no library \(.*the floor\) vs node:tls/,
  /^echo throughput, 16 KiB writes, TlsConnection over NodeTransport vs node:tls$/,
  /^echo throughput, 16 KiB writes, TlsSocket over NodeSocket vs node:tls$/,
  /^echo throughput, 16 KiB writes, NodeTlsSocketServer \(.*\) vs node:tls$/,
  /^echo throughput, 16 KiB writes, no library \(.*the floor\) vs node:tls$/
]

/** Run the in-repo load client (from source) with `job`. */
const loadClient = <A>(job: Job) =>
  Effect.map(
    run(
      process.execPath,
      ["--import", "tsx", "packages/node/bench/loopback/loadClient.ts", JSON.stringify(job)],
      30_000
    ),
    (out) => JSON.parse(out) as A
  )

/** Listen on a free loopback port for the rest of the scope. */
const listening = (server: net.Server) =>
  Effect.acquireRelease(
    Effect.async<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
    }),
    () => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

describe("pnpm bench", () => {
  it.live(
    "--quick loopback prints every row of the loopback table with finite, positive figures",
    () =>
      Effect.gen(function*() {
        const out = yield* run("bash", ["scripts/bench.sh", "--quick", "loopback"], 240_000)
        const rows = tableRows(out, "Loopback:")
        assert.strictEqual(rows.length, expectedRows.length, out)
        rows.forEach(([name, ours, node, ratio], i) => {
          assert.match(name!, expectedRows[i]!)
          const cells = [parseCell(ours!), parseCell(node!)]
          for (const { max, median, min } of cells) {
            for (const x of [min, median, max]) assert.isTrue(Number.isFinite(x) && x > 0, `${name}: ${x}`)
            assert.isTrue(min <= median && median <= max, `${name}: ${min} ≤ ${median} ≤ ${max}`)
          }
          const printed = Number(/^([\d.]+)×$/.exec(ratio!)?.[1])
          assert.isTrue(printed > 0, `${name}: ratio "${ratio}"`)
          // The ratio is of the medians, which are printed rounded to three significant digits.
          assert.approximately(printed, cells[0]!.median / cells[1]!.median, 0.02 * printed + 0.01, name)
        })
        assert.match(out, /HTTP load: (wrk \S+, one thread|the in-repo Node client)/)
      }),
    300_000
  )

  it.scoped(
    "the in-repo load client measures a node:https server and a node:tls echo server",
    () =>
      Effect.gen(function*() {
        const options = { cert: fixture("server.pem"), key: fixture("server.key") }
        const httpsPort = yield* listening(https.createServer(options, (_req, res) => res.end("hello\n")))
        const echoPort = yield* listening(tls.createServer(options, (socket) => {
          socket.on("error", () => {}) // the client resets the connection when it is done
          socket.pipe(socket)
        }))
        const target = { host: "localhost", ca: fixture("ca.pem"), seconds: 1 }
        for (const newConnections of [false, true]) {
          const result = yield* loadClient<HttpResult>({
            mode: "http",
            ...target,
            port: httpsPort,
            connections: 4,
            newConnections
          })
          assert.isAbove(result.requests, 0)
          assert.strictEqual(result.errors, 0)
          assert.isTrue(result.requestsPerSecond > 0 && Number.isFinite(result.requestsPerSecond))
          assert.isTrue(result.p50Ms > 0 && result.p50Ms <= result.p99Ms && Number.isFinite(result.p99Ms))
        }
        const echo = yield* loadClient<EchoResult>({ mode: "echo", ...target, port: echoPort, recordSize: 16384 })
        assert.isTrue(echo.mbPerSecond > 0 && Number.isFinite(echo.mbPerSecond))
      }),
    60_000
  )
})
