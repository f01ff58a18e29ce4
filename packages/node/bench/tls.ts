/**
 * TLS benchmark: full handshakes/s, resumed handshakes/s and bulk MB/s in 16 KiB writes, for
 * TLS 1.3 with a P-256 ECDSA certificate and TLS_AES_256_GCM_SHA384, both ends in one process
 * on one core, side by side: C (c/tls.c, the same OpenSSL), raw koffi, node:tls and the library.
 */
import { loadCReference } from "./cReference.js"
import { loadTlsFixture, type TlsFixture } from "./fixture.js"
import { interleavedMedians, printTable, type Row } from "./measure.js"
import { rawKoffiColumn } from "./tlsKoffi.js"
import { nodeTlsColumn } from "./tlsNode.js"

/**
 * One column of the table. Every connection is set up the same way in every column: TLS 1.3
 * only, `fixture.cipher` only, on both sides; OpenSSL's default key exchange groups; one context
 * per side; the server presents `fixture.certPem`; the client sends `fixture.host` as SNI and
 * verifies the chain against `fixture.caPem` and the host name; the client reads the
 * NewSessionTickets of every connection. Connections run one after another.
 *
 * Each function runs its loop, times it itself (setup left out) and returns its metric. It
 * throws when a connection negotiates anything but TLS 1.3 with `fixture.cipher`, or when a
 * handshake is resumed when it should not be, or the reverse.
 */
export interface TlsColumn {
  /** `n` connections, each a full handshake on fresh objects: handshakes per second. */
  readonly fullHandshake: (n: number) => number | Promise<number>
  /** `n` connections offering the ticket one earlier connection received: handshakes per second. */
  readonly resumed: (n: number) => number | Promise<number>
  /**
   * `bytes` of application data from client to server over one established connection, in
   * `fixture.recordSize` writes: MB/s (10^6 bytes per second).
   */
  readonly bulk: (bytes: number) => number | Promise<number>
  /** Release what the column set up. */
  readonly close?: () => void | Promise<void>
}

export interface TlsOptions {
  readonly quick: boolean
  /** The library's column; printed as "–" while absent. */
  readonly library?: (fixture: TlsFixture) => TlsColumn | Promise<TlsColumn>
}

/** The C column, and the key exchange group its handshakes negotiate (for the table title). */
const cColumn = (fixture: TlsFixture): { column: TlsColumn; group: string } | { unavailable: string } => {
  const c = loadCReference("tls.c")
  if (c._tag === "Unavailable") return { unavailable: c.reason }
  const create = c.lib.func("void *c_tls_new(const char *cert, const char *key, const char *ca)")
  const error = c.lib.func("const char *c_tls_error()")
  const free = c.lib.func("void c_tls_free(void *bench)")
  const group = c.lib.func("int c_tls_group(void *bench, void *out, int size)")
  const bench: bigint | null = create(fixture.certPem, fixture.keyPem, fixture.caPem)
  if (bench === null) throw new Error(`C: ${error()}`)
  const metric = (name: string) => {
    const f = c.lib.func(`double ${name}(void *bench, long n)`)
    return (n: number): number => {
      const value: number = f(bench, n)
      if (value < 0) throw new Error(`C ${name}: ${error()}`)
      return value
    }
  }
  const name = Buffer.alloc(64)
  if (group(bench, name, name.length) !== 1) throw new Error(`C: ${error()}`)
  return {
    column: {
      fullHandshake: metric("c_tls_full"),
      resumed: metric("c_tls_resumed"),
      bulk: metric("c_tls_bulk"),
      close: () => free(bench)
    },
    group: name.toString("latin1").replace(/\0.*$/s, "")
  }
}

type Key = "fullHandshake" | "resumed" | "bulk"

/** Library targets: at least `c` times C and `node` times node:tls. */
const targets: ReadonlyArray<readonly [Key, label: string, c: number, node: number]> = [
  ["fullHandshake", "full handshakes", 0.85, 1.5],
  ["resumed", "resumed handshakes", 0.85, 1.5],
  ["bulk", "bulk", 0.85, 2]
]

export const runTls = async (options: TlsOptions): Promise<{ table: string; note: string }> => {
  const fixture = loadTlsFixture()
  const { handshakes, bytes, rounds } = options.quick
    ? { handshakes: 200, bytes: 64 * 1024 * 1024, rounds: 3 }
    : { handshakes: 1000, bytes: 256 * 1024 * 1024, rounds: 7 }

  const c = cColumn(fixture)
  const columns: Array<readonly [string, TlsColumn]> = []
  if ("column" in c) columns.push(["C", c.column])
  columns.push(["raw koffi", rawKoffiColumn(fixture)], ["node:tls", nodeTlsColumn(fixture)])
  if (options.library !== undefined) columns.push(["library", await options.library(fixture)])

  const measure = (key: Key, n: number) =>
    interleavedMedians(columns.map(([name, column]) => [name, (k: number) => column[key](k)] as const), n, rounds)
  const results: Record<Key, Map<string, number>> = {
    fullHandshake: await measure("fullHandshake", handshakes),
    resumed: await measure("resumed", handshakes),
    bulk: await measure("bulk", bytes)
  }
  for (const [, column] of columns) await column.close?.()

  const names = ["C", "raw koffi", "node:tls", "library"]
  const rows: Array<Row> = ([
    ["full handshakes", "fullHandshake", "hs/s"],
    ["resumed handshakes", "resumed", "hs/s"],
    ["bulk, 16 KiB writes", "bulk", "MB/s"]
  ] as const).map(([name, key, unit]) => ({
    name,
    unit,
    values: Object.fromEntries(names.map((column) => [column, results[key].get(column)]))
  }))
  const group = "group" in c ? `, ${c.group}` : ""
  const table = printTable(
    `TLS 1.3 in memory, one core (rates: higher is better, ratios are value / reference; P-256 ECDSA, ${fixture.cipher}${group}; OpenSSL ${process.versions.openssl}, Node ${process.versions.node})`,
    names,
    "C",
    rows,
    [["raw koffi", "C"], ["node:tls", "C"], ["library", "C"], ["library", "node:tls"]]
  )

  const notes = "unavailable" in c ? [`C column skipped: ${c.unavailable}`] : []
  if (options.library === undefined) notes.push("library column: not plugged in yet")
  else {
    for (const [key, label, cTarget, nodeTarget] of targets) {
      const value = results[key].get("library")!
      const against = (reference: string, target: number) => {
        const ref = results[key].get(reference)
        if (ref === undefined) return `${reference} not measured`
        const ratio = value / ref
        return `${ratio.toFixed(2)}× ${reference} (target ≥ ${target}×: ${ratio >= target ? "met" : "not met"})`
      }
      notes.push(`library ${label}: ${against("C", cTarget)}, ${against("node:tls", nodeTarget)}`)
    }
  }
  return { table, note: notes.join("\n") }
}
