/**
 * `effect-openssl bench [--quick] [--json]`: the in-memory TLS table as installed (raw koffi,
 * node:tls and the library, on Node's own OpenSSL), with a certificate issued in memory. The
 * repository's `pnpm bench` runs the same table with a C column, and the loopback suite.
 */
import * as Pki from "@effect-openssl/core/Pki"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { fixtureSettings, runTls, type TlsFixture } from "../bench/tls.js"
import { failure } from "./failure.js"

const quick = Options.boolean("quick").pipe(
  Options.withDescription("fewer, shorter rounds: a check that it runs, not figures to compare")
)
const json = Options.boolean("json").pipe(Options.withDescription("print the table as JSON"))

/** A CA and a P-256 server certificate for the fixture's host, issued now. */
const issuedFixture = Effect.gen(function*() {
  const ca = yield* Pki.rootCa({ commonName: "effect-openssl bench CA" })
  const server = yield* Pki.server(ca, { hostNames: [fixtureSettings.host] })
  const fixture: TlsFixture = {
    certPem: server.certificate,
    keyPem: Redacted.value(server.key),
    caPem: ca.certificate,
    ...fixtureSettings
  }
  return fixture
}).pipe(Effect.mapError((error) => failure(`cannot issue the benchmark's certificate: ${error.message}`)))

const run = (options: { readonly quick: boolean; readonly json: boolean }) =>
  Effect.gen(function*() {
    const fixture = yield* issuedFixture
    if (!options.json) {
      yield* Console.log(
        `effect-openssl bench: Node ${process.versions.node}, OpenSSL ${process.versions.openssl}${
          options.quick ? " (--quick: short rounds, a check rather than figures to compare)" : ""
        }`
      )
    }
    const table = yield* Effect.tryPromise({
      try: () => runTls({ quick: options.quick, fixture }),
      catch: (cause) => failure(`the benchmark failed: ${cause instanceof Error ? cause.message : String(cause)}`)
    })
    yield* Console.log(
      options.json
        ? JSON.stringify({
          node: process.versions.node,
          openssl: process.versions.openssl,
          quick: options.quick,
          title: table.title,
          columns: table.columns,
          rows: table.rows,
          notes: table.notes
        })
        // A line's trailing blank lines are trimmed (output.ts): the blank line goes before.
        : `\n${table.table}\n\n${table.notes.join("\n")}`
    )
  })

export const bench = Command.make("bench", { quick, json }, run).pipe(
  Command.withDescription(
    "TLS 1.3 in memory: handshakes and bulk throughput, the library against node:tls and raw koffi"
  )
)
