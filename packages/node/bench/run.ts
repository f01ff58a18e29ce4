/**
 * `pnpm bench [--quick] [--client=wrk|node] [lifecycle] [tls] [loopback]`: the suites named (all
 * by default). The in-memory suites run side by side with the C reference (same OpenSSL,
 * compiled from this repo with `cc`) in the same run, as ratios; the loopback suite runs our
 * servers against Node's over TCP. `--quick` runs fewer and shorter rounds; `--client` picks the
 * HTTP load generator of the loopback suite (default: wrk when installed). scripts/bench.sh builds
 * this and handles `--lines` (every supported Node line in turn).
 */
import { runTls } from "../src/internal/bench/tls.js"
import { loadTlsFixture } from "./fixture.js"
import { runLifecycle } from "./lifecycle.js"
import { runLoopback } from "./loopback.js"
import type { HttpClient } from "./loopback/httpLoad.js"
import { cColumn } from "./tls.js"

const suites = ["lifecycle", "tls", "loopback"] as const
const args = process.argv.slice(2)
const quick = args.includes("--quick")
const client = args.find((arg) => arg.startsWith("--client="))?.slice("--client=".length)
const named = args.filter((arg) => !arg.startsWith("--"))
const unknown = [
  ...named.filter((name) => !(suites as ReadonlyArray<string>).includes(name)),
  ...args.filter((arg) => arg.startsWith("--") && arg !== "--quick" && !/^--client=(wrk|node)$/.test(arg))
]
if (unknown.length > 0) {
  console.error(
    `unknown argument ${unknown.join(", ")}; usage: pnpm bench [--lines] [--quick] [--client=wrk|node] [${
      suites.join("] [")
    }]`
  )
  process.exit(2)
}
const selected = named.length === 0 ? suites : suites.filter((suite) => named.includes(suite))

console.log(`effect-openssl benchmarks — Node ${process.versions.node}, OpenSSL ${process.versions.openssl}\n`)
if (selected.includes("lifecycle")) {
  const lifecycle = runLifecycle(quick ? 20_000 : 200_000)
  console.log(`${lifecycle.table}\n\n${lifecycle.note}\n`)
}
if (selected.includes("tls")) {
  const fixture = loadTlsFixture()
  const tls = await runTls({ quick, fixture, reference: cColumn(fixture) })
  console.log(`${tls.table}\n\n${tls.notes.join("\n")}\n`)
}
if (selected.includes("loopback")) {
  const loopback = await runLoopback({ quick, client: client as HttpClient | undefined })
  console.log(loopback.note)
}
