/**
 * The HTTP load generator of the loopback table: `wrk` (written in C; Debian package `wrk`,
 * installed by scripts/system-deps.sh) when it is on the PATH, else the in-repo Node client.
 */
import * as path from "node:path"
import { benchDir, type TlsFixture } from "../fixture.js"
import { firstLine, installed, output } from "./command.js"
import type { HttpResult, Job } from "./loadClient.js"

export type { HttpResult }

export interface HttpRun {
  readonly port: number
  readonly connections: number
  readonly seconds: number
  /** A new TLS connection for each request (`Connection: close`). */
  readonly newConnections: boolean
}

export interface HttpLoad {
  /** What generated the load, for the output. */
  readonly description: string
  readonly run: (options: HttpRun) => Promise<HttpResult>
}

export type HttpClient = "wrk" | "node"

/** `wrk` unless absent or `choice` says otherwise. */
export const httpLoad = (fixture: TlsFixture, choice: HttpClient | undefined): HttpLoad => {
  if (choice === "wrk" || (choice === undefined && installed("wrk"))) {
    const version = firstLine("wrk", ["--version"]).split(" ").slice(0, 2).join(" ")
    return { description: `${version}, one thread`, run: runWrk }
  }
  return {
    description: `the in-repo Node client (bench/loopback/loadClient.ts, node:tls, one process)${
      choice === undefined ? "; wrk is not installed (bash scripts/system-deps.sh installs it)" : ""
    }`,
    run: (options) => runLoadClient({ mode: "http", ...target(fixture, options.port, options.seconds), ...options })
  }
}

/** A sentence for the output when some of `results` saw errors. */
export const errorNote = (results: ReadonlyArray<HttpResult>): string => {
  const errors = results.reduce((sum, result) => sum + result.errors, 0)
  return errors === 0 ? "" : ` The load generator reported ${errors} errors (failed connections or non-200 answers).`
}

/** What the Node client needs to reach a server. */
export const target = (fixture: TlsFixture, port: number, seconds: number) => ({
  port,
  host: fixture.host,
  ca: fixture.caPem,
  seconds
})

/** Run the Node client (bundled next to the bench) with `job`: its JSON result. */
export const runLoadClient = async <A>(job: Job): Promise<A> =>
  JSON.parse(await output(process.execPath, [path.join(benchDir, ".build", "loadClient.mjs"), JSON.stringify(job)]))

const runWrk = async (options: HttpRun): Promise<HttpResult> => {
  const args = ["-t1", `-c${options.connections}`, `-d${options.seconds}s`, "--latency"]
  if (options.newConnections) args.push("-H", "Connection: close")
  const out = await output("wrk", [...args, `https://127.0.0.1:${options.port}/`])
  const number = (pattern: RegExp) => {
    const match = pattern.exec(out)
    return match === null ? 0 : Number(match[1])
  }
  const percentileMs = (p: number) => {
    const match = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)$`, "m").exec(out)
    if (match === null) throw new Error(`wrk printed no ${p}th percentile:\n${out}`)
    return Number(match[1]) * { us: 0.001, ms: 1, s: 1000 }[match[2] as "us" | "ms" | "s"]
  }
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    requests: number(/^\s*(\d+) requests in /m),
    requestsPerSecond: number(/^Requests\/sec:\s+([\d.]+)/m),
    p50Ms: percentileMs(50),
    p99Ms: percentileMs(99),
    errors: number(/Non-2xx or 3xx responses: (\d+)/) +
      (socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0))
  }
}
