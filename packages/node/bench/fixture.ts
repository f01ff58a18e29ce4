/** Where the benchmark runs from, and the certificate every measured connection uses. */
import { readFileSync } from "node:fs"
import * as path from "node:path"

/** packages/node/bench: every bench program runs bundled from bench/.build/, one level below. */
export const benchDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")

/** What every column connects with: the test PKI of packages/node/test/fixtures. */
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

const fixtureDir = path.join(benchDir, "..", "test", "fixtures")

export const loadTlsFixture = (): TlsFixture => ({
  certPem: readFileSync(path.join(fixtureDir, "server.pem"), "utf8"),
  keyPem: readFileSync(path.join(fixtureDir, "server.key"), "utf8"),
  caPem: readFileSync(path.join(fixtureDir, "ca.pem"), "utf8"),
  host: "localhost",
  cipher: "TLS_AES_256_GCM_SHA384",
  recordSize: 16384
})
