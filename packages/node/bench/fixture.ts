/** Where the benchmark runs from, and the certificate every measured connection uses. */
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { fixtureSettings, type TlsFixture } from "../src/internal/bench/tls.js"

export type { TlsFixture }

/** packages/node/bench: every bench program runs bundled from bench/.build/, one level below. */
export const benchDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")

const fixtureDir = path.join(benchDir, "..", "test", "fixtures")

export const loadTlsFixture = (): TlsFixture => ({
  certPem: readFileSync(path.join(fixtureDir, "server.pem"), "utf8"),
  keyPem: readFileSync(path.join(fixtureDir, "server.key"), "utf8"),
  caPem: readFileSync(path.join(fixtureDir, "ca.pem"), "utf8"),
  ...fixtureSettings
})
