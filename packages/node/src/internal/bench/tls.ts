/**
 * The in-memory TLS table: full handshakes/s, resumed handshakes/s and bulk MB/s in 16 KiB
 * writes, for TLS 1.3 with a P-256 ECDSA certificate and TLS_AES_256_GCM_SHA384, both ends in
 * one process on one core, side by side: raw koffi, node:tls and the library, and a reference
 * column when the caller has one (the repository's bench adds C, c/tls.c on the same OpenSSL).
 * `effect-openssl bench` runs it as installed; `pnpm bench` runs it with the C column.
 */
import { interleavedMedians, ratioTable, type Row } from "./measure.js"
import { rawKoffiColumn } from "./tlsKoffi.js"
import { libraryColumn } from "./tlsLibrary.js"
import { nodeTlsColumn } from "./tlsNode.js"

/** What every column connects with. */
export interface TlsFixture {
  /** The server's leaf certificate (P-256 ECDSA, for `host`), PEM. */
  readonly certPem: string
  /** Its private key, unencrypted PEM. */
  readonly keyPem: string
  /** The CA the client trusts, PEM. */
  readonly caPem: string
  readonly host: string
  /** The only TLS 1.3 cipher suite every side allows. */
  readonly cipher: string
  /** Bytes per application write in the bulk and echo tests. */
  readonly recordSize: number
}

/** Everything of a fixture but its certificate: the same for every fixture. */
export const fixtureSettings = {
  host: "localhost",
  cipher: "TLS_AES_256_GCM_SHA384",
  recordSize: 16384
} as const

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

/** A column the caller adds in front (the C reference), or why it could not. */
export type ReferenceColumn =
  | { readonly name: string; readonly column: TlsColumn; readonly detail: string }
  | { readonly name: string; readonly unavailable: string }

export interface TlsOptions {
  readonly quick: boolean
  readonly fixture: TlsFixture
  readonly reference?: ReferenceColumn | undefined
}

/** The measured table: rows of rates per column, rendered as Markdown too. */
export interface TlsTable {
  readonly title: string
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<Row>
  readonly table: string
  readonly notes: ReadonlyArray<string>
}

type Key = "fullHandshake" | "resumed" | "bulk"

/** Library targets: at least `reference` times the reference column and `node` times node:tls. */
const targets: ReadonlyArray<readonly [Key, label: string, reference: number, node: number]> = [
  ["fullHandshake", "full handshakes", 0.85, 1.5],
  ["resumed", "resumed handshakes", 0.85, 1.5],
  ["bulk", "bulk", 0.85, 2]
]

export const runTls = async (options: TlsOptions): Promise<TlsTable> => {
  const { fixture, reference } = options
  const { bytes, handshakes, rounds } = options.quick
    ? { handshakes: 200, bytes: 64 * 1024 * 1024, rounds: 3 }
    : { handshakes: 1000, bytes: 256 * 1024 * 1024, rounds: 7 }

  const columns: Array<readonly [string, TlsColumn]> = []
  if (reference !== undefined && "column" in reference) columns.push([reference.name, reference.column])
  columns.push(
    ["raw koffi", rawKoffiColumn(fixture)],
    ["node:tls", nodeTlsColumn(fixture)],
    ["library", await libraryColumn(fixture)]
  )

  const measure = (key: Key, n: number) =>
    interleavedMedians(columns.map(([name, column]) => [name, (k: number) => column[key](k)] as const), n, rounds)
  const results: Record<Key, Map<string, number>> = {
    fullHandshake: await measure("fullHandshake", handshakes),
    resumed: await measure("resumed", handshakes),
    bulk: await measure("bulk", bytes)
  }
  for (const [, column] of columns) await column.close?.()

  const names = columns.map(([name]) => name)
  const rows: Array<Row> = ([
    ["full handshakes", "fullHandshake", "hs/s"],
    ["resumed handshakes", "resumed", "hs/s"],
    ["bulk, 16 KiB writes", "bulk", "MB/s"]
  ] as const).map(([name, key, unit]) => ({
    name,
    unit,
    values: Object.fromEntries(names.map((column) => [column, results[key].get(column)]))
  }))
  const base = reference !== undefined && "column" in reference ? reference.name : "node:tls"
  const ratios = names.filter((name) => name !== base).map((name) => [name, base] as const)
  if (base !== "node:tls") ratios.push(["library", "node:tls"])
  const detail = reference !== undefined && "column" in reference ? `, ${reference.detail}` : ""
  const title = `TLS 1.3 in memory, one core (rates: higher is better, ratios are value / reference; ` +
    `P-256 ECDSA, ${fixture.cipher}${detail}; OpenSSL ${process.versions.openssl}, Node ${process.versions.node})`

  const notes: Array<string> = []
  if (reference !== undefined && "unavailable" in reference) {
    notes.push(`${reference.name} column skipped: ${reference.unavailable}`)
  }
  for (const [key, label, referenceTarget, nodeTarget] of targets) {
    const value = results[key].get("library")!
    const against = (name: string, target: number) => {
      const measured = results[key].get(name)
      if (measured === undefined) return undefined
      const ratio = value / measured
      return `${ratio.toFixed(2)}× ${name} (target ≥ ${target}×: ${ratio >= target ? "met" : "not met"})`
    }
    const referenceNote = reference === undefined ? undefined : against(reference.name, referenceTarget)
    const parts = [referenceNote, against("node:tls", nodeTarget)].filter((part) => part !== undefined)
    notes.push(`library ${label}: ${parts.join(", ")}`)
  }
  return { title, columns: names, rows, table: ratioTable(title, names, base, rows, ratios), notes }
}
